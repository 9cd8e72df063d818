/**
 * Fault tolerance: the engine going away mid-operation (a proxy in front of
 * the real socket is killed, never the shared engines), containers removed
 * or killed from outside, and signals to the host process. Load: test/load.
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import * as PocketDock from "../../src/layers/PocketDock.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"
import { BUSYBOX, containerExists, engines, servicesFor } from "./engines.js"

/** A Unix-socket proxy in front of the engine that can be killed and restarted. */
class EngineProxy {
  readonly path: string
  private server: Net.Server | undefined
  private readonly sockets = new Set<Net.Socket>()

  constructor(private readonly target: string) {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-proxy-"))
    this.path = Path.join(dir, "engine.sock")
  }

  start(): Promise<void> {
    const server = Net.createServer((client) => {
      const upstream = Net.connect({ path: this.target })
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on("close", () => this.sockets.delete(socket))
        socket.on("error", () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    this.server = server
    return new Promise((resolve) => server.listen(this.path, () => resolve()))
  }

  /** The engine "dies": every connection is cut and nothing accepts new ones. */
  kill(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    const server = this.server
    this.server = undefined
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()))
  }
}

const withProxy = <A, E, R>(target: string, body: (proxy: EngineProxy) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const proxy = new EngineProxy(target)
      await proxy.start()
      return proxy
    }),
    body,
    (proxy) => Effect.promise(() => proxy.kill())
  )

const direct = (socketPath: string) => PocketDock.layer({ socketPath })

const removeDirect = (socketPath: string, id: string) =>
  Effect.flatMap(Engine, (engine) => engine.removeContainer(id)).pipe(
    Effect.ignore,
    Effect.provide(direct(socketPath))
  )

/**
 * A child Node process (fixtures/signal-sandboxes.ts) holding one ephemeral
 * and one persistent sandbox, once it says READY. Killed, and both removed,
 * with the scope.
 */
const signalChild = (socketPath: string, ephemeral: string, persistent: string) =>
  Effect.gen(function* () {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        Path.join(import.meta.dirname, "fixtures", "signal-sandboxes.ts"),
        socketPath,
        ephemeral,
        persistent
      ],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    const output = { stdout: "" }
    child.stdout.on("data", (data: Buffer) => {
      output.stdout += data.toString()
    })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
      (resolve) => child.once("exit", (code, sig) => resolve({ code, signal: sig, at: performance.now() }))
    )
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => child.kill("SIGKILL")).pipe(
        Effect.zipRight(removeDirect(socketPath, persistent)),
        Effect.zipRight(removeDirect(socketPath, ephemeral))
      )
    )
    const ready = yield* Effect.promise(
      () =>
        new Promise<boolean>((resolve) => {
          const check = () => output.stdout.includes("READY") && resolve(true)
          check()
          child.stdout.on("data", check)
          child.once("exit", () => resolve(false))
        })
    )
    expect(ready).toBe(true)
    return { child, output, exited }
  })

/** Nothing in a fault test may hang: this bounds every wait on the system under test. */
const PROMPT = Duration.seconds(20)

for (const engine of engines) {
  describe(`engine going away [${engine.name}]`, () => {
    it.live("a run in flight ends with a typed error, calls fail fast while down, and work again after", () =>
      withProxy(engine.socketPath, (proxy) =>
        Effect.gen(function* () {
          const service = yield* ContainerService
          // persistent: no lease, so the container outlives the lost connection
          const sandbox = yield* service.create({ image: BUSYBOX, persist: true })
          yield* Effect.addFinalizer(() => removeDirect(engine.socketPath, sandbox.id))
          const running = yield* Effect.fork(sandbox.run("sleep 30", { timeout: 60 }))
          yield* Effect.sleep("1 second")
          yield* Effect.promise(() => proxy.kill())
          const error = yield* Effect.flip(Fiber.join(running)).pipe(Effect.timeout(PROMPT))
          expect(["SocketCommunicationError", "SocketConnectionError"]).toContain(error._tag)

          const down = yield* Effect.flip(sandbox.run("echo hi")).pipe(Effect.timeout(PROMPT))
          expect(down._tag).toBe("SocketConnectionError")

          yield* Effect.promise(() => proxy.start())
          // the pool's dead keep-alive connections must not poison the next calls
          for (let i = 0; i < 3; i++) {
            const back = yield* sandbox.run(`echo back ${i}`)
            expect(back.stdout).toBe(`back ${i}\n`)
          }
        }).pipe(Effect.scoped, Effect.provide(PocketDock.layer({ socketPath: proxy.path })))
      )
    )

    it.live("a lost connection ends an ephemeral sandbox (its lease); the handle then says so", () =>
      withProxy(engine.socketPath, (proxy) =>
        Effect.gen(function* () {
          const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.create({ image: BUSYBOX }))
          yield* Effect.promise(() => proxy.kill())
          yield* Effect.promise(() => proxy.start())
          const gone = yield* Effect.gen(function* () {
            for (let i = 0; i < 100; i++) {
              if (!(yield* containerExists(sandbox.id).pipe(Effect.provide(direct(engine.socketPath)))))
                return true
              yield* Effect.sleep("100 millis")
            }
            return false
          })
          expect(gone).toBe(true)
          const error = yield* Effect.flip(sandbox.run("echo hi")).pipe(Effect.timeout(PROMPT))
          expect(error._tag).toBe("ContainerGone")
          yield* sandbox.shutdown()
          // and a new sandbox works over the same (restarted) connection
          const fresh = yield* Effect.flatMap(ContainerService, (s) => s.create({ image: BUSYBOX }))
          expect((yield* fresh.run("echo new")).stdout).toBe("new\n")
          yield* fresh.shutdown()
        }).pipe(Effect.provide(PocketDock.layer({ socketPath: proxy.path })))
      )
    )
    it.live("a rebooted ephemeral sandbox keeps its lease: a lost connection still ends it", () =>
      withProxy(engine.socketPath, (proxy) =>
        Effect.gen(function* () {
          const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.create({ image: BUSYBOX }))
          yield* sandbox.reboot()
          expect((yield* sandbox.run("echo rebooted")).stdout).toBe("rebooted\n")
          yield* Effect.promise(() => proxy.kill())
          let gone = false
          for (let i = 0; i < 100 && !gone; i++) {
            gone = !(yield* containerExists(sandbox.id).pipe(Effect.provide(direct(engine.socketPath))))
            if (!gone) yield* Effect.sleep("100 millis")
          }
          expect(gone).toBe(true)
          yield* Effect.promise(() => proxy.start())
          yield* sandbox.shutdown()
        }).pipe(Effect.provide(PocketDock.layer({ socketPath: proxy.path })))
      )
    )
  })

  describe(`containers removed or killed from outside [${engine.name}]`, () => {
    it.live("a run in flight when the container is force-removed ends promptly with ContainerGone", () =>
      Effect.gen(function* () {
        const engineApi = yield* Engine
        const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.scoped({ image: BUSYBOX }))
        const running = yield* Effect.fork(sandbox.run("sleep 30", { timeout: 60 }))
        yield* Effect.sleep("1 second")
        yield* engineApi.removeContainer(sandbox.id)
        const error = yield* Effect.flip(Fiber.join(running)).pipe(Effect.timeout(PROMPT))
        expect(error._tag).toBe("ContainerGone")
        expect((yield* Effect.flip(sandbox.run("true")))._tag).toBe("ContainerGone")
      }).pipe(Effect.scoped, Effect.provide(servicesFor(engine)))
    )

    it.live("a run in flight when the container is killed ends promptly with a typed error", () =>
      Effect.gen(function* () {
        const engineApi = yield* Engine
        const sandbox = yield* Effect.flatMap(ContainerService, (s) =>
          s.scoped({ image: BUSYBOX, persist: true })
        )
        yield* Effect.addFinalizer(() => engineApi.removeContainer(sandbox.id).pipe(Effect.ignore))
        const running = yield* Effect.fork(sandbox.run("sleep 30", { timeout: 60 }))
        yield* Effect.sleep("1 second")
        yield* engineApi.killContainer(sandbox.id, "KILL")
        const error = yield* Effect.flip(Fiber.join(running)).pipe(Effect.timeout(PROMPT))
        expect(error._tag).toBe("ContainerNotRunning")
        expect((yield* Effect.flip(sandbox.run("true")))._tag).toBe("ContainerNotRunning")
      }).pipe(Effect.scoped, Effect.provide(servicesFor(engine)))
    )
  })

  describe(`host signals [${engine.name}]`, () => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      it.live(
        `${signal}: ephemeral sandboxes are removed before the process ends by ${signal}`,
        () =>
          Effect.gen(function* () {
            const ephemeral = `pd-test-sig-${engine.name}-${process.pid}-${signal}`
            const persistent = `pd-test-sigkeep-${engine.name}-${process.pid}-${signal}`
            const { child, output, exited } = yield* signalChild(engine.socketPath, ephemeral, persistent)
            expect(yield* containerExists(ephemeral)).toBe(true)
            const sent = performance.now()
            child.kill(signal)
            const exit = yield* Effect.promise(() => exited)
            // checked at once: the lease would remove it too, but only after the process is gone
            const ephemeralLeft = yield* containerExists(ephemeral)
            console.log(
              `[${engine.name}] ${signal}: process ended ${(exit.at - sent).toFixed(0)} ms after the signal`
            )
            expect(output.stdout).toContain(`RERAISE ${signal}`)
            expect(exit.signal).toBe(signal)
            expect(ephemeralLeft).toBe(false)
            expect(yield* containerExists(persistent)).toBe(true)
          }).pipe(Effect.scoped, Effect.provide(direct(engine.socketPath))),
        // a child Node process with tsx on a loaded 2-core machine starts slowly
        180_000
      )
    }

    it.live(
      "SIGKILL: the lease removes ephemeral sandboxes after the process is gone",
      () =>
        Effect.gen(function* () {
          const ephemeral = `pd-test-sigkill-${engine.name}-${process.pid}`
          const persistent = `pd-test-sigkillkeep-${engine.name}-${process.pid}`
          const { child } = yield* signalChild(engine.socketPath, ephemeral, persistent)
          const sent = performance.now()
          child.kill("SIGKILL")
          let gone = false
          for (let i = 0; i < 150 && !gone; i++) {
            gone = !(yield* containerExists(ephemeral))
            if (!gone) yield* Effect.sleep("100 millis")
          }
          console.log(
            `[${engine.name}] SIGKILL: ephemeral gone ${(performance.now() - sent).toFixed(0)} ms after`
          )
          expect(gone).toBe(true)
          expect(yield* containerExists(persistent)).toBe(true)
        }).pipe(Effect.scoped, Effect.provide(direct(engine.socketPath))),
      180_000
    )
  })
}
