import { describe, expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"
import { BUSYBOX, containerExists, engines, PYTHON, Sandbox, servicesFor, withSandbox } from "./engines.js"

for (const engine of engines) {
  layer(withSandbox(engine), { excludeTestServices: true })(`Container.run [${engine.name}]`, (it) => {
    it.effect("returns exit code, stdout and stderr apart", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const result = yield* sandbox.run("echo out; echo err >&2; exit 3")
        expect(result.exitCode).toBe(3)
        expect(result.stdout).toBe("out\n")
        expect(result.stderr).toBe("err\n")
        expect(result.ok).toBe(false)
        expect(result.timedOut).toBe(false)
        expect(result.durationMs).toBeGreaterThan(0)
      })
    )

    it.effect("runs an argv array without a shell", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const result = yield* sandbox.run(["printf", "%s|", "a b", "$HOME;rm -rf /", "'q'"])
        expect(result.stdout).toBe("a b|$HOME;rm -rf /|'q'|")
        expect(result.ok).toBe(true)
      })
    )

    it.effect("keeps binary-safe UTF-8 and large output exactly", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const result = yield* sandbox.run("printf 'héllo ✓ 😀\\n'; seq 1 200000")
        const expected = `héllo ✓ 😀\n${Array.from({ length: 200000 }, (_, i) => i + 1).join("\n")}\n`
        expect(result.stdout).toBe(expected)
      })
    )

    it.effect("passes env, workdir and user", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const result = yield* sandbox.run('echo "$GREETING $(pwd) $(id -u)"', {
          env: { GREETING: "hi there" },
          workdir: "/tmp",
          user: "1000"
        })
        expect(result.stdout).toBe("hi there /tmp 1000\n")
      })
    )

    it.effect("an unknown language is a typed error, not a shell run", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const error = yield* Effect.flip(sandbox.run("print(1)", { lang: "cobol" }))
        expect(error._tag).toBe("InvalidOption")
      })
    )

    it.effect("a timeout kills the command inside the container and keeps its output", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const error = yield* Effect.flip(sandbox.run("echo started; sleep 37; echo never", { timeout: 1 }))
        expect(error._tag).toBe("CommandTimeout")
        if (error._tag !== "CommandTimeout") return
        expect(error.result.timedOut).toBe(true)
        expect(error.result.ok).toBe(false)
        expect(error.result.stdout).toBe("started\n")
        const ps = yield* sandbox.run("ps -o args")
        expect(ps.stdout).not.toContain("sleep 37")
      })
    )

    it.effect("output past maxOutput is cut and the command stopped", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const error = yield* Effect.flip(
          sandbox.run("while :; do echo 0123456789; done", { maxOutput: 1000 })
        )
        expect(error._tag).toBe("OutputTruncated")
        if (error._tag !== "OutputTruncated") return
        expect(error.result.truncated).toBe(true)
        expect(error.result.stdout.length).toBe(1000)
        expect(error.result.stdout.startsWith("0123456789\n0123456789\n")).toBe(true)
        const ps = yield* sandbox.run("ps -o args")
        expect(ps.stdout).not.toContain("while")
      })
    )

    it.effect("50 concurrent runs each get their own output", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const results = yield* Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i),
          (i) => sandbox.run(`echo out-${i}; echo err-${i} >&2; exit ${i % 7}`),
          { concurrency: "unbounded" }
        )
        results.forEach((result, i) => {
          expect(result.stdout).toBe(`out-${i}\n`)
          expect(result.stderr).toBe(`err-${i}\n`)
          expect(result.exitCode).toBe(i % 7)
        })
      })
    )
  })

  layer(servicesFor(engine), { excludeTestServices: true })(`ContainerService [${engine.name}]`, (it) => {
    it.effect("runs Python with lang: python", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.scoped({ image: PYTHON }))
          const result = yield* sandbox.run("import sys; print(sys.version_info[0] * 7)", { lang: "python" })
          expect(result.stdout).toBe("21\n")
        })
      )
    )

    it.effect("applies memory, CPU and network limits (checked inside)", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const sandbox = yield* Effect.flatMap(ContainerService, (s) =>
            s.scoped({ image: BUSYBOX, memLimit: "64m", cpuPercent: 50, network: false })
          )
          const memory = yield* sandbox.run(
            "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
          )
          expect(memory.stdout.trim()).toBe(String(64 * 1024 * 1024))
          const cpu = yield* sandbox.run(
            "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
          )
          expect(cpu.stdout.trim().split(" ")[0]).toBe("50000")
          const interfaces = yield* sandbox.run("ls /sys/class/net")
          expect(interfaces.stdout.trim()).toBe("lo")
        })
      )
    )

    it.effect("closing the scope removes the container", () =>
      Effect.gen(function* () {
        const id = yield* Effect.scoped(
          Effect.flatMap(ContainerService, (s) => s.scoped({ image: BUSYBOX })).pipe(Effect.map((c) => c.id))
        )
        expect(yield* containerExists(id)).toBe(false)
      })
    )

    it.effect("a scope that fails removes the container", () =>
      Effect.gen(function* () {
        let id = ""
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.scoped({ image: BUSYBOX }))
              id = sandbox.id
              return yield* Effect.fail("boom")
            })
          )
        )
        expect(Exit.isFailure(exit)).toBe(true)
        expect(id).not.toBe("")
        expect(yield* containerExists(id)).toBe(false)
      })
    )

    it.effect("interrupting a fiber mid-run removes the container and kills the command", () =>
      Effect.gen(function* () {
        let id = ""
        const started = yield* Effect.makeLatch(false)
        const fiber = yield* Effect.fork(
          Effect.scoped(
            Effect.gen(function* () {
              const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.scoped({ image: BUSYBOX }))
              id = sandbox.id
              yield* started.open
              return yield* sandbox.run("sleep 300")
            })
          )
        )
        yield* started.await
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(fiber)
        expect(yield* containerExists(id)).toBe(false)
      })
    )

    it.effect("Effect.timeout around run stops the command but keeps the sandbox usable", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.scoped({ image: BUSYBOX }))
          const timedOut = yield* sandbox.run("sleep 41").pipe(Effect.timeout("500 millis"), Effect.flip)
          expect(timedOut._tag).toBe("TimeoutException")
          const ps = yield* sandbox.run("ps -o args")
          expect(ps.stdout).not.toContain("sleep 41")
        })
      )
    )

    it.effect("a missing image is ImageNotFound", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Effect.flatMap(ContainerService, (s) => s.create({ image: "pocketdock/no-such-image:1" }))
        )
        expect(error._tag).toBe("ImageNotFound")
        if (error._tag === "ImageNotFound") expect(error.image).toBe("pocketdock/no-such-image:1")
      })
    )

    it.effect("a name already taken is NameConflict, and the first container is untouched", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const service = yield* ContainerService
          const name = `pd-test-conflict-${engine.name}-${process.pid}`
          const first = yield* service.scoped({ image: BUSYBOX, name })
          const error = yield* Effect.flip(service.create({ image: BUSYBOX, name }))
          expect(error._tag).toBe("NameConflict")
          expect((yield* first.run("echo alive")).stdout).toBe("alive\n")
        })
      )
    )

    it.effect("invalid options are rejected before reaching the engine", () =>
      Effect.gen(function* () {
        const service = yield* ContainerService
        for (const options of [
          { name: "../x?y" },
          { image: "Bad Image" },
          { memLimit: "lots" },
          { cpuPercent: -5 },
          { ports: { 70000: 80 } },
          { volumes: { "/tmp": "relative/path" } }
        ]) {
          const error = yield* Effect.flip(service.create(options))
          expect(error._tag).toBe("InvalidOption")
        }
      })
    )

    it.effect("a container removed behind our back is ContainerGone, and shutdown still succeeds", () =>
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.create({ image: BUSYBOX })
        yield* Effect.flatMap(Engine, (e) => e.removeContainer(sandbox.id))
        const error = yield* Effect.flip(sandbox.run("echo hi"))
        expect(error._tag).toBe("ContainerGone")
        yield* sandbox.shutdown()
      })
    )

    it.effect("shutdown is idempotent, and a shut-down sandbox says ContainerGone", () =>
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.create({ image: BUSYBOX })
        yield* sandbox.shutdown()
        yield* sandbox.shutdown()
        expect(yield* containerExists(sandbox.id)).toBe(false)
        const error = yield* Effect.flip(sandbox.run("true"))
        expect(error._tag).toBe("ContainerGone")
      })
    )

    it.effect("a stopped persistent container is ContainerNotRunning; shutdown leaves it stopped", () =>
      Effect.gen(function* () {
        const service = yield* ContainerService
        const engineService = yield* Engine
        const sandbox = yield* service.create({ image: BUSYBOX, persist: true })
        yield* Effect.addFinalizer(() => engineService.removeContainer(sandbox.id).pipe(Effect.ignore))
        yield* engineService.stopContainer(sandbox.id, 0)
        const error = yield* Effect.flip(sandbox.run("true"))
        expect(error._tag).toBe("ContainerNotRunning")
        yield* sandbox.shutdown()
        const inspect = yield* engineService.inspectContainer(sandbox.id)
        expect(inspect.State.Running).toBe(false)
      }).pipe(Effect.scoped)
    )
  })

  describe(`engine socket [${engine.name}]`, () => {
    layer(servicesFor({ ...engine, socketPath: "/tmp/pocketdock-no-such.sock" }), {
      excludeTestServices: true
    })("a socket that does not exist", (it) => {
      it.effect("is SocketConnectionError naming the path", () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(
            Effect.flatMap(ContainerService, (s) => s.create({ image: BUSYBOX }))
          )
          expect(error._tag).toBe("SocketConnectionError")
          if (error._tag === "SocketConnectionError") {
            expect(error.socketPath).toBe("/tmp/pocketdock-no-such.sock")
          }
        })
      )
    })
  })
}
