import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { type Container, ContainerService } from "../../src/services/ContainerService.js"
import { type Session, SessionService } from "../../src/services/SessionService.js"
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
describe.skip("placeholder", () => {})
