/**
 * The built `pocketdock` binary, run as a child process against both engines.
 */
import { Effect, ManagedRuntime } from "effect"
import pty from "node-pty"
import { afterAll, describe, expect, it } from "vitest"
import { VERSION } from "../../src/index.js"
import { generateName } from "../../src/internal/options.js"
import * as PocketDock from "../../src/layers/PocketDock.js"
import { Engine } from "../../src/services/Engine.js"
import { BIN, buildBeforeAll, type Ran, ROOT, runCli } from "./cliHarness.js"
import { BUSYBOX, engines } from "./engines.js"

buildBeforeAll()

/** Runs the binary with `args` and stdin closed (not a TTY). */
const cli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Promise<Ran> => runCli(args, { env })

/** Runs the binary on a pseudo-terminal; `answer` is typed when it asks. */
const onTty = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
  answer?: string
): Promise<{ readonly code: number; readonly output: string }> =>
  new Promise((resolve) => {
    const { NO_COLOR: _, ...inherited } = process.env
    const term = pty.spawn(process.execPath, [BIN, ...args], {
      cols: 100,
      rows: 30,
      cwd: ROOT,
      env: { ...inherited, TERM: "xterm", ...env } as Record<string, string>
    })
    let output = ""
    let answered = false
    term.onData((data) => {
      output += data
      if (answer !== undefined && !answered && output.includes("[y/N]")) {
        answered = true
        term.write(`${answer}\r`)
      }
    })
    term.onExit(({ exitCode }) => resolve({ code: exitCode, output }))
  })

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what this looks for
const ANSI = /\u001b\[/

/** Each test starts several Node processes: slow on a loaded 2-core machine. */
const SLOW = 300_000

/** A failure is one line on stderr, without a stack trace. */
const expectOneLineError = (ran: Ran, text: string) => {
  expect(ran.code).not.toBe(0)
  const lines = ran.stderr.trimEnd().split("\n")
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^pocketdock: /)
  expect(lines[0]).toContain(text)
  expect(ran.stderr).not.toMatch(/\n\s+at /)
}

describe("pocketdock CLI (no engine needed)", () => {
  it("--version prints the version", async () => {
    const ran = await cli(["--version"])
    expect(ran.code).toBe(0)
    expect(ran.stdout.trim()).toBe(VERSION)
  })

  it("--help lists the registered commands, without colour when not on a TTY", async () => {
    const ran = await cli(["--help"])
    expect(ran.code).toBe(0)
    for (const command of [
      "quickstart",
      "status",
      "create",
      "run",
      "shutdown",
      "list",
      "shell",
      "logs",
      "prune",
      "import"
    ]) {
      expect(ran.stdout).toContain(`- ${command}`)
    }
    expect(ran.stdout).not.toMatch(ANSI)
  })

  it("an unknown command is a usage error (exit 2)", async () => {
    const ran = await cli(["frobnicate"])
    expect(ran.code).toBe(2)
  })

  it("--completions prints a shell completion script", async () => {
    const ran = await cli(["--completions", "bash"])
    expect(ran.code).toBe(0)
    expect(ran.stdout).toContain("complete")
    expect(ran.stdout).toContain("pocketdock")
  })

  it("a missing socket is one line naming SocketConnectionError's path, exit 1", async () => {
    const ran = await cli(["--socket", "/tmp/pocketdock-cli-no-such.sock", "status"])
    expect(ran.code).toBe(1)
    expectOneLineError(ran, "cannot connect to the container engine at /tmp/pocketdock-cli-no-such.sock")
    expect(ran.stdout).toBe("")
  })

  it("--verbose adds the error's tag and fields, still without a stack trace", async () => {
    const ran = await cli(["--socket", "/tmp/pocketdock-cli-no-such.sock", "--verbose", "status"])
    expect(ran.code).toBe(1)
    expect(ran.stderr).toContain("SocketConnectionError")
    expect(ran.stderr).not.toMatch(/\n\s+at /)
  })
})

for (const engine of engines) {
  describe(`pocketdock CLI [${engine.name}]`, () => {
    const socket = ["--socket", engine.socketPath]
    const runtime = ManagedRuntime.make(PocketDock.layer({ socketPath: engine.socketPath }))
    const made: Array<string> = []
    const exists = (name: string) =>
      runtime.runPromise(
        Effect.flatMap(Engine, (e) => e.inspectContainer(name)).pipe(
          Effect.as(true),
          Effect.catchTag("ContainerNotFound", () => Effect.succeed(false))
        )
      )
    const newName = () => {
      const name = `pdcli-${generateName()}`
      made.push(name)
      return name
    }

    afterAll(async () => {
      await runtime.runPromise(
        Effect.flatMap(Engine, (e) =>
          Effect.forEach(made, (name) => e.removeContainer(name).pipe(Effect.ignore))
        )
      )
      await runtime.dispose()
    }, SLOW)

    it(
      "status --json describes the engine",
      async () => {
        const ran = await cli([...socket, "status", "--json"])
        expect(ran.code).toBe(0)
        const status = JSON.parse(ran.stdout)
        expect(status.version).toBe(VERSION)
        expect(status.engine.kind).toBe(engine.name)
        expect(status.engine.socketPath).toBe(engine.socketPath)
        expect(status.containers.total).toBe(status.containers.running + status.containers.stopped)
      },
      SLOW
    )

    it(
      "create -> run -> shutdown, with exit codes, --json and confirmation",
      async () => {
        const name = newName()
        const created = await cli([
          ...socket,
          "create",
          "--image",
          BUSYBOX,
          "--name",
          name,
          "-e",
          "GREETING=hi",
          "--json"
        ])
        expect(created.stderr).toBe("")
        expect(created.code).toBe(0)
        const sandbox = JSON.parse(created.stdout)
        expect(sandbox.name).toBe(name)
        expect(sandbox.persist).toBe(true)
        expect(sandbox.id).toMatch(/^[0-9a-f]{64}$/)
        // The sandbox outlives the command that made it.
        expect(await exists(name)).toBe(true)

        const ran = await cli([...socket, "run", name, 'echo "$GREETING out"; echo err >&2; exit 3'])
        expect(ran).toEqual({ code: 3, stdout: "hi out\n", stderr: "err\n" })

        const argv = await cli([...socket, "run", name, "--", "printf", "%s|", "a b", "$HOME", "-x"])
        expect(argv).toEqual({ code: 0, stdout: "a b|$HOME|-x|", stderr: "" })

        const asJson = await cli([...socket, "run", "--json", name, "echo hi; exit 5"])
        expect(asJson.code).toBe(5)
        expect(JSON.parse(asJson.stdout)).toMatchObject({
          exitCode: 5,
          ok: false,
          stdout: "hi\n",
          timedOut: false
        })

        const timedOut = await cli([...socket, "run", "--timeout", "2", name, "sleep 60"])
        expect(timedOut.code).toBe(124)
        expect(timedOut.stderr).toContain("timed out after 2 s")

        const refused = await cli([...socket, "shutdown", name])
        expect(refused.code).toBe(2)
        expectOneLineError(refused, "pass --yes")
        expect(await exists(name)).toBe(true)

        const removed = await cli([...socket, "shutdown", "--yes", "--json", name])
        expect(removed.code).toBe(0)
        expect(JSON.parse(removed.stdout)).toMatchObject({ name, removed: true })
        expect(await exists(name)).toBe(false)

        const gone = await cli([...socket, "run", name, "echo hi"])
        expect(gone.code).toBe(1)
        expectOneLineError(gone, `container not found: ${name}`)
      },
      SLOW
    )

    it(
      "invalid options and missing images are one-line errors",
      async () => {
        const badPort = await cli([...socket, "create", "--image", BUSYBOX, "-p", "80"])
        expectOneLineError(badPort, "invalid port")
        const noImage = await cli([
          ...socket,
          "create",
          "--image",
          "pocketdock/no-such-image",
          "--name",
          newName()
        ])
        expectOneLineError(noImage, "image not found: pocketdock/no-such-image")
      },
      SLOW
    )

    it(
      "quickstart runs the demo and removes its sandbox",
      async () => {
        const ran = await cli([...socket, "quickstart", "--image", BUSYBOX])
        expect(ran.stderr).toBe("")
        expect(ran.code).toBe(0)
        expect(ran.stdout).toContain("hello from")
        const name = /sandbox (pd-[0-9a-f]{8})/.exec(ran.stdout)?.[1]
        expect(name).toBeDefined()
        expect(await exists(name ?? "")).toBe(false)
      },
      SLOW
    )

    it("on a TTY: colour unless NO_COLOR, and a prompt that 'n' declines", async () => {
      const coloured = await onTty([...socket, "status"])
      expect(coloured.code).toBe(0)
      expect(coloured.output).toMatch(ANSI)
      const plain = await onTty([...socket, "status"], { NO_COLOR: "1" })
      expect(plain.code).toBe(0)
      expect(plain.output).not.toMatch(ANSI)
      expect(plain.output).toContain(engine.socketPath)

      const name = newName()
      expect((await cli([...socket, "create", "--image", BUSYBOX, "--name", name])).code).toBe(0)
      const declined = await onTty([...socket, "shutdown", name], {}, "n")
      expect(declined.code).toBe(1)
      expect(declined.output).toContain("cancelled")
      expect(await exists(name)).toBe(true)
      const accepted = await onTty([...socket, "shutdown", name], {}, "y")
      expect(accepted.code).toBe(0)
      expect(await exists(name)).toBe(false)
    })
  })
}
