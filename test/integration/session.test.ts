import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import { createNewContainer } from "../../src/index.js"
import type { StreamChunk } from "../../src/schemas/ExecResult.js"
import { type Container, ContainerService } from "../../src/services/ContainerService.js"
import { type Session, SessionClosed, SessionService } from "../../src/services/SessionService.js"
import { BUSYBOX, engines, PYTHON, servicesFor } from "./engines.js"

/** One busybox sandbox and one Debian (dash) sandbox, shared by the tests of an engine. */
class Sandboxes extends Context.Tag("test/Sandboxes")<
  Sandboxes,
  { readonly busybox: Container; readonly dash: Container }
>() {}

const withSandboxes = (engine: (typeof engines)[number]) =>
  Layer.scoped(
    Sandboxes,
    Effect.gen(function* () {
      const service = yield* ContainerService
      const [busybox, dash] = yield* Effect.all(
        [service.scoped({ image: BUSYBOX }), service.scoped({ image: PYTHON })],
        { concurrency: 2 }
      )
      return { busybox, dash }
    })
  ).pipe(Layer.provideMerge(servicesFor(engine)))

const openIn = (container: Container) => Effect.flatMap(SessionService, (service) => service.open(container))

/** The tests every shell must pass. */
const shellContract = (session: Session) =>
  Effect.gen(function* () {
    yield* session.sendAndWait("cd /tmp && export PD_X='a b' && greet() { echo \"hi $1\"; }")
    const state = yield* session.sendAndWait('pwd; echo "$PD_X"; greet you')
    expect(state.stdout).toBe("/tmp\na b\nhi you\n")
    expect(state.exitCode).toBe(0)

    const failed = yield* session.sendAndWait("echo out; echo err >&2; (exit 7)")
    expect([failed.exitCode, failed.stdout, failed.stderr]).toEqual([7, "out\n", "err\n"])

    const bare = yield* session.sendAndWait("printf abc; printf def >&2")
    expect([bare.stdout, bare.stderr]).toEqual(["abc", "def"])
    const empty = yield* session.sendAndWait("true")
    expect([empty.stdout, empty.stderr, empty.exitCode]).toEqual(["", "", 0])

    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
    const broken = yield* session.sendAndWait('echo before; echo "${PD_UNSET?is not set}"; echo never')
    expect(broken.exitCode).not.toBe(0)
    expect(broken.stdout).toBe("before\n")
    expect(broken.stderr).toContain("is not set")
    const syntax = yield* session.sendAndWait("if then fi")
    expect(syntax.exitCode).not.toBe(0)
    const after = yield* session.sendAndWait("pwd")
    expect(after.stdout).toBe("/tmp\n")

    const error = yield* Effect.flip(
      session.sendAndWait("echo started; sleep 37; echo never", { timeout: 1 })
    )
    expect(error._tag).toBe("CommandTimeout")
    if (error._tag === "CommandTimeout") {
      expect(error.result.timedOut).toBe(true)
      expect(error.result.stdout).toBe("started\n")
    }
    // a loop of shell builtins has no child process: the shell itself is interrupted
    const loop = yield* Effect.flip(session.sendAndWait("i=0; while :; do i=$((i+1)); done", { timeout: 1 }))
    expect(loop._tag).toBe("CommandTimeout")
    const alive = yield* session.sendAndWait('echo "$PD_X $(pwd)"; ps -o pid,args 2>/dev/null || ps ax')
    expect(alive.stdout.startsWith("a b /tmp\n")).toBe(true)
    expect(alive.stdout).not.toContain("sleep 37")
  })

for (const engine of engines) {
  layer(withSandboxes(engine), { excludeTestServices: true })(`Session [${engine.name}]`, (it) => {
    it.effect("busybox sh: state persists, exact output, exit codes, errors and timeouts", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { busybox } = yield* Sandboxes
          yield* shellContract(yield* openIn(busybox))
        })
      )
    )

    it.effect("output comes back exactly: sentinel-like text, no trailing newline, binary, 1 MB", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { busybox } = yield* Sandboxes
          const session = yield* openIn(busybox)
          const fake = yield* session.sendAndWait(
            "printf 'PD%032d:o:1:0;PD%032d:p:9;\\n' 0 0; echo '__pd_end; exit' >&2; printf 'no newline'"
          )
          const zeros = "0".repeat(32)
          expect(fake.stdout).toBe(`PD${zeros}:o:1:0;PD${zeros}:p:9;\nno newline`)
          expect(fake.stderr).toBe("__pd_end; exit\n")
          expect(fake.exitCode).toBe(0)

          const bytes = Array.from({ length: 127 }, (_, i) => i + 1)
          const octal = bytes.map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("")
          const binary = yield* session.sendAndWait(`printf '${octal}\\000é✓😀'`)
          expect(binary.stdout).toBe(`${String.fromCharCode(...bytes)}\u0000é✓😀`)

          const big = yield* session.sendAndWait("seq 1 160000; printf end")
          const expected = `${Array.from({ length: 160000 }, (_, i) => i + 1).join("\n")}\nend`
          expect(big.stdout.length).toBeGreaterThan(1_000_000)
          expect(big.stdout).toBe(expected)
          const mega = yield* session.sendAndWait("head -c 1048576 /dev/zero | tr '\\0' x")
          expect(mega.stdout).toBe("x".repeat(1048576))

          // set -x traces the user's command, never the session's bookkeeping
          const traced = yield* session.sendAndWait("set -x; echo traced")
          expect(traced.stdout).toBe("traced\n")
          const untraced = yield* session.sendAndWait("set +x")
          expect(`${traced.stderr}${untraced.stderr}`).not.toMatch(/PD[0-9a-f]{32}/)
        })
      )
    )

    it.effect("send queues in order; read drains unclaimed output; onOutput sees it live", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { busybox } = yield* Sandboxes
          const session = yield* openIn(busybox)
          const chunks: Array<StreamChunk> = []
          yield* session.onOutput((chunk) => chunks.push(chunk))
          yield* session.send("cd /tmp && rm -f order")
          for (let i = 0; i < 10; i++) yield* session.send(`echo ${i} >> order; echo sent-${i}`)
          yield* session.send("echo to-stderr >&2")
          const order = yield* session.sendAndWait("cat order")
          expect(order.stdout).toBe(`${Array.from({ length: 10 }, (_, i) => i).join("\n")}\n`)
          const unclaimed = yield* session.read
          expect(unclaimed.split("\n").filter(Boolean).sort()).toEqual(
            [...Array.from({ length: 10 }, (_, i) => `sent-${i}`), "to-stderr"].sort()
          )
          expect(yield* session.read).toBe("")
          const seen = chunks.map((c) => c.data).join("")
          expect(seen).toContain("sent-9")
          expect(seen).toContain("0\n1\n")
          expect(chunks.some((c) => c.stream === "stderr" && c.data.includes("to-stderr"))).toBe(true)

          // concurrent callers are served one at a time, each with its own output
          const results = yield* Effect.forEach(
            Array.from({ length: 12 }, (_, i) => i),
            (i) =>
              session.sendAndWait(`echo out-${i}; sleep 0.0$((${i} % 3)); echo err-${i} >&2; (exit ${i})`),
            { concurrency: "unbounded" }
          )
          results.forEach((result, i) => {
            expect([result.stdout, result.stderr, result.exitCode]).toEqual([`out-${i}\n`, `err-${i}\n`, i])
          })
        })
      )
    )

    it.effect(
      "a timeout spares background jobs of earlier commands; interrupting the caller interrupts the command",
      () =>
        Effect.scoped(
          Effect.gen(function* () {
            const { busybox } = yield* Sandboxes
            const session = yield* openIn(busybox)
            yield* session.sendAndWait("sleep 301 >/dev/null 2>&1 &")
            yield* Effect.flip(session.sendAndWait("sleep 302", { timeout: 1 }))
            const fiber = yield* Effect.fork(session.sendAndWait("sleep 303; echo never"))
            yield* Effect.sleep("500 millis")
            yield* Fiber.interrupt(fiber)
            const ps = yield* session.sendAndWait(
              "ps -o args | grep '^sleep 30'; kill %1 2>/dev/null || pkill -f 'sleep 301'"
            )
            expect(ps.stdout).toBe("sleep 301\n")
          })
        )
    )

    it.effect("closed, exited and stopped sessions fail with SessionClosed, never hang", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { busybox } = yield* Sandboxes
          const closed = yield* openIn(busybox)
          yield* closed.close
          yield* closed.close
          for (const call of [closed.send("true"), closed.sendAndWait("true"), closed.read]) {
            const error = yield* Effect.flip(call)
            expect(error).toBeInstanceOf(SessionClosed)
            expect(error._tag === "SessionClosed" && error.reason).toBe("closed")
          }

          const exiting = yield* openIn(busybox)
          const queued = yield* Effect.fork(exiting.sendAndWait("echo queued"))
          const exited = yield* Effect.flip(exiting.sendAndWait("exit 3"))
          expect(exited._tag).toBe("SessionClosed")
          if (exited._tag === "SessionClosed") {
            expect(exited.reason).toBe("exited")
            expect(exited.exitCode).toBe(3)
          }
          const afterExit = yield* Fiber.join(queued).pipe(Effect.flip)
          expect(afterExit._tag).toBe("SessionClosed")
          expect((yield* Effect.flip(exiting.send("true")))._tag).toBe("SessionClosed")

          // the container goes away under a running command: the session ends with it
          const doomed = yield* Effect.flatMap(ContainerService, (s) => s.create({ image: BUSYBOX }))
          const session = yield* openIn(doomed)
          const running = yield* Effect.fork(session.sendAndWait("sleep 60", { timeout: 50 }))
          yield* Effect.sleep("300 millis")
          yield* doomed.shutdown({ force: true })
          const stopped = yield* Fiber.join(running).pipe(Effect.flip)
          expect(stopped._tag).toBe("SessionClosed")
          expect((yield* Effect.flip(session.read))._tag).toBe("SessionClosed")
        })
      )
    )

    it.effect("dash: the same", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { dash } = yield* Sandboxes
          const session = yield* openIn(dash)
          const shell = yield* session.sendAndWait("readlink -f /bin/sh")
          expect(shell.stdout).toBe("/usr/bin/dash\n")
          yield* shellContract(session)
        })
      )
    )
  })
}

for (const engine of engines) {
  describe(`Session facade [${engine.name}]`, () => {
    it("sendAndWait resolves timedOut: true and the session goes on; await using closes it", async () => {
      await using sandbox = await createNewContainer({ image: BUSYBOX, socketPath: engine.socketPath })
      let id = ""
      {
        await using session = await sandbox.session({ env: { GREETING: "hello" }, workdir: "/tmp" })
        id = session.id
        expect(id).toMatch(/^[0-9a-f]{64}$/)
        const seen: Array<string> = []
        session.onOutput((data) => seen.push(data))
        const slow = await session.sendAndWait("printf partial; sleep 30", { timeout: 1 })
        expect(slow.timedOut).toBe(true)
        expect(slow.ok).toBe(false)
        expect(slow.stdout).toBe("partial")
        const greet = await session.sendAndWait('echo "$GREETING from $(pwd)"')
        expect(greet.stdout).toBe("hello from /tmp\n")
        await session.send("echo later")
        await session.sendAndWait("true")
        expect(session.read()).toBe("later\n")
        expect(seen.join("")).toContain("partial")
        await session.close()
        await expect(session.sendAndWait("true")).rejects.toBeInstanceOf(SessionClosed)
        expect(() => session.read()).toThrow(SessionClosed)
      }
      const other = await sandbox.session()
      await sandbox.shutdown()
      await expect(other.send("true")).rejects.toBeInstanceOf(SessionClosed)
    })
  })
}
