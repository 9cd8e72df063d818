/**
 * The CLI's sandbox, file, project, profile and shell commands: the built
 * binary as a child process (and on a pseudo-terminal for `shell`), against
 * both engines.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect, ManagedRuntime } from "effect"
import pty from "node-pty"
import { afterAll, describe, expect, it } from "vitest"
import * as PocketDock from "../../src/layers/PocketDock.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"
import { BIN, buildBeforeAll, type Ran, ROOT, runCli } from "./cliHarness.js"
import { BUSYBOX, engines } from "./engines.js"

const SLOW = 300_000

buildBeforeAll()

/** Runs the binary with `args` in `cwd`, stdin closed (not a TTY). */
const cli = (args: ReadonlyArray<string>, cwd: string = ROOT): Promise<Ran> => runCli(args, { cwd })

/** Runs the binary on a pseudo-terminal, typing the next of `keys` each time `ready` (a prompt) shows up again. */
const onTty = (
  args: ReadonlyArray<string>,
  ready: string,
  keys: ReadonlyArray<string>
): Promise<{ readonly code: number; readonly output: string }> =>
  new Promise((resolve) => {
    const term = pty.spawn(process.execPath, [BIN, ...args], {
      cols: 100,
      rows: 30,
      cwd: ROOT,
      env: { ...process.env, TERM: "xterm", POCKETDOCK_SOCKET: "" } as Record<string, string>
    })
    let output = ""
    let typed = 0
    let prompts = 0
    term.onData((data) => {
      output += data
      const seen = ready === "" ? 0 : output.split(ready).length - 1
      if (seen > prompts && typed < keys.length) {
        prompts = seen
        term.write(keys[typed] ?? "")
        typed++
      }
    })
    term.onExit(({ exitCode }) => resolve({ code: exitCode, output }))
  })

const ok = (ran: Ran) => {
  expect(ran.stderr).toBe("")
  expect(ran.code).toBe(0)
  return ran
}

for (const engine of engines) {
  describe(`pocketdock CLI commands [${engine.name}]`, () => {
    const socket = ["--socket", engine.socketPath]
    const runtime = ManagedRuntime.make(PocketDock.layer({ socketPath: engine.socketPath }))
    const tag = `pdcli2-${process.pid}-${engine.name}`
    const names: Array<string> = []
    const images: Array<string> = []
    const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), `${tag}-`))
    const newName = (suffix: string) => {
      const name = `${tag}-${suffix}`
      names.push(name)
      return name
    }
    const exists = (name: string) =>
      runtime.runPromise(
        Effect.flatMap(Engine, (e) => e.inspectContainer(name)).pipe(
          Effect.as(true),
          Effect.catchTag("ContainerNotFound", () => Effect.succeed(false))
        )
      )

    afterAll(async () => {
      await runtime.runPromise(
        Effect.flatMap(Engine, (e) =>
          Effect.zipRight(
            Effect.forEach(names, (name) => e.removeContainer(name).pipe(Effect.ignore)),
            Effect.forEach(images, (image) => e.removeImage(image, true).pipe(Effect.ignore))
          )
        )
      )
      await runtime.dispose()
      Fs.rmSync(tmp, { recursive: true, force: true })
    }, SLOW)

    it(
      "init, create in the project, list, info, stop/resume, reboot, snapshot, logs, doctor, prune",
      async () => {
        const project = Path.join(tmp, "proj")
        const initialised = ok(await cli([...socket, "init", project, "--name", tag, "--json"]))
        expect(JSON.parse(initialised.stdout)).toMatchObject({ root: project })
        expect(Fs.existsSync(Path.join(project, ".pocketdock", "pocketdock.yaml"))).toBe(true)

        const name = newName("life")
        ok(await cli([...socket, "create", "--image", BUSYBOX, "--name", name], project))

        const listed = JSON.parse(ok(await cli([...socket, "list", "--project", tag, "--json"])).stdout)
        expect(listed).toEqual([
          expect.objectContaining({ name, status: "running", persist: true, project: tag })
        ])
        const table = ok(await cli([...socket, "list", "--project", tag]))
        expect(table.stdout).toMatch(/^NAME\s+STATUS/)
        expect(table.stdout).toContain("running")

        const info = JSON.parse(ok(await cli([...socket, "info", name, "--json"])).stdout)
        expect(info).toMatchObject({ name, status: "running" })
        expect(typeof info.memoryUsage).toBe("string")
        expect(Array.isArray(info.processes)).toBe(true)

        ok(await cli([...socket, "run", name, "echo kept > /tmp/kept"]))
        expect(ok(await cli([...socket, "stop", name])).stdout).toContain("stopped")
        const stopped = JSON.parse(ok(await cli([...socket, "list", "--project", tag, "--json"])).stdout)
        expect(stopped[0].status).not.toBe("running")
        ok(await cli([...socket, "resume", name]))
        expect(ok(await cli([...socket, "run", name, "cat /tmp/kept"])).stdout).toBe("kept\n")

        ok(await cli([...socket, "reboot", name]))
        expect(ok(await cli([...socket, "run", name, "cat /tmp/kept"])).stdout).toBe("kept\n")
        const image = `${tag}-snap:v1`
        images.push(image)
        expect(ok(await cli([...socket, "snapshot", name, image])).stdout).toContain(image)
        ok(await cli([...socket, "reboot", "--fresh", name]))
        expect((await cli([...socket, "run", name, "cat /tmp/kept"])).code).not.toBe(0)

        // history records every run of the instance, the CLI's own included; logs come from the library
        await runtime.runPromise(
          Effect.gen(function* () {
            const service = yield* ContainerService
            const sandbox = yield* service.resume(name)
            yield* sandbox.run("echo one")
            yield* sandbox.run("exit 4")
            yield* sandbox.log("session", "session line 1\nsession line 2\n")
          })
        )
        const history = JSON.parse(ok(await cli([...socket, "logs", name, "--history", "--json"])).stdout)
        const commands: Array<string> = history.map((entry: { command: string }) => entry.command)
        expect(commands).toContain("echo kept > /tmp/kept")
        expect(commands.slice(-2)).toEqual(["echo one", "exit 4"])
        // pocketdock's own commands (the `ps` behind info) are not the user's history
        expect(commands.some((command) => command.includes("pid,user,args"))).toBe(false)
        expect(history[history.length - 1]).toMatchObject({ exitCode: 4 })
        const text = ok(await cli([...socket, "logs", name, "--history", "--limit", "1"])).stdout
        expect(text).toContain("exit 4")
        expect(text).not.toContain("echo one")
        expect(ok(await cli([...socket, "logs", name, "--limit", "1"])).stdout).toBe("session line 2\n")

        // --follow prints what is appended after it started
        const follow = execFile(BIN, [...socket, "logs", name, "--follow"], { cwd: ROOT })
        let followed = ""
        follow.stdout?.on("data", (data) => {
          followed += String(data)
        })
        await new Promise((resolve) => setTimeout(resolve, 2000))
        await runtime.runPromise(
          Effect.gen(function* () {
            const sandbox = yield* (yield* ContainerService).resume(name)
            yield* sandbox.log("session", "appended\n")
          })
        )
        for (let i = 0; i < 100 && !followed.includes("appended"); i++) {
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        follow.kill("SIGINT")
        expect(followed).toContain("appended")

        const doctor = JSON.parse(ok(await cli([...socket, "doctor", "--json"], project)).stdout)
        expect(doctor).toEqual({ orphanedContainers: [], staleInstanceDirs: [], healthy: 1 })

        ok(await cli([...socket, "stop", name]))
        const refused = await cli([...socket, "prune", "--project", tag])
        expect(refused.code).toBe(2)
        expect(refused.stderr).toContain("pass --yes")
        expect(await exists(name)).toBe(true)
        const pruned = JSON.parse(
          ok(await cli([...socket, "prune", "--yes", "--project", tag, "--json"])).stdout
        )
        expect(pruned).toEqual({ removed: 1 })
        expect(await exists(name)).toBe(false)
        expect(JSON.parse(ok(await cli([...socket, "list", "--project", tag, "--json"])).stdout)).toEqual([])

        const unknown = await cli([...socket, "info", name])
        expect(unknown.code).toBe(1)
        expect(unknown.stderr).toContain(`container not found: ${name}`)
      },
      SLOW
    )

    it(
      "run --stream / --detach, push / pull, and shell on a TTY",
      async () => {
        const name = newName("run")
        ok(await cli([...socket, "create", "--image", BUSYBOX, "--name", name]))

        const streamed = await cli([...socket, "run", "--stream", name, "echo out; echo err >&2; exit 5"])
        expect(streamed).toEqual({ code: 5, stdout: "out\n", stderr: "err\n" })
        const chunks = await cli([...socket, "run", "--stream", "--json", name, "echo a"])
        const events = chunks.stdout
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line))
        expect(events[0]).toEqual({ stream: "stdout", data: "a\n" })
        expect(events.at(-1)?.exit).toMatchObject({ exitCode: 0, stdout: "a\n" })
        const streamTimeout = await cli([...socket, "run", "--stream", "--timeout", "1", name, "sleep 30"])
        expect(streamTimeout.code).toBe(124)

        // --detach: the process outlives the CLI that started it
        const detached = JSON.parse(
          ok(
            await cli([
              ...socket,
              "run",
              "--detach",
              "--json",
              name,
              "--",
              "sh",
              "-c",
              "echo started; sleep 60"
            ])
          ).stdout
        )
        expect(detached.pid).toBeGreaterThan(0)
        expect(ok(await cli([...socket, "run", name, `kill -0 ${detached.pid} && echo alive`])).stdout).toBe(
          "alive\n"
        )
        let log = ""
        for (let i = 0; i < 20 && log === ""; i++)
          log = (await cli([...socket, "run", name, `cat ${detached.log}`])).stdout
        expect(log).toBe("started\n")
        const mixed = await cli([...socket, "run", "--detach", "--stream", name, "true"])
        expect(mixed.code).toBe(2)

        const src = Path.join(tmp, "push-src")
        Fs.mkdirSync(src, { recursive: true })
        Fs.writeFileSync(Path.join(src, "a.txt"), "alpha\n")
        ok(await cli([...socket, "push", name, src, "/tmp/pushed"]))
        expect(ok(await cli([...socket, "run", name, "cat /tmp/pushed/a.txt"])).stdout).toBe("alpha\n")
        const back = Path.join(tmp, "pulled")
        ok(await cli([...socket, "pull", name, "/tmp/pushed", back]))
        expect(Fs.readFileSync(Path.join(back, "a.txt"), "utf8")).toBe("alpha\n")
        const missing = await cli([...socket, "pull", name, "/no/such/path", Path.join(tmp, "x")])
        expect(missing.code).toBe(1)
        expect(missing.stderr).toMatch(/^pocketdock: .*\/no\/such\/path/)

        // push on a TTY shows its progress line
        const progress = await onTty([...socket, "push", name, src, "/tmp/pushed2"], "", [])
        expect(progress.code).toBe(0)
        expect(progress.output).toContain("done")

        const shell = await onTty([...socket, "shell", name], "$ ", ["echo hi-$((1+1))\r", "exit 3\r"])
        expect(shell.output).toContain("hi-2")
        expect(shell.code).toBe(3)

        ok(await cli([...socket, "shutdown", "--yes", name]))
      },
      SLOW
    )

    it(
      "profiles, build, export / import",
      async () => {
        const profiles = JSON.parse(ok(await cli([...socket, "profiles", "--json"])).stdout)
        expect(profiles).toContainEqual(
          expect.objectContaining({ name: "minimal-python", image: "pocketdock/minimal-python", built: true })
        )
        expect(ok(await cli([...socket, "profiles"])).stdout).toMatch(/^PROFILE\s+IMAGE/)

        const unknown = await cli([...socket, "build", "no-such-profile"])
        expect(unknown.code).toBe(1)
        expect(unknown.stderr).toContain("no-such-profile")
        // built by engine-setup with the same content hash: nothing to build
        const cached = ok(await cli([...socket, "build", "minimal-python"]))
        expect(cached.stdout).toContain("pocketdock/minimal-python")

        const archive = Path.join(tmp, "busybox.tar")
        ok(await cli([...socket, "export", BUSYBOX, archive]))
        expect(Fs.statSync(archive).size).toBeGreaterThan(1024)
        const loaded = JSON.parse(ok(await cli([...socket, "import", archive, "--json"])).stdout)
        expect(loaded.images.join(" ")).toContain("pocketdock/busybox")
        const notFound = await cli([...socket, "export", "pocketdock/no-such-image", Path.join(tmp, "n.tar")])
        expect(notFound.code).toBe(1)
      },
      SLOW
    )
  })
}
