import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { createPool, ImageNotFound, PocketDockError, PoolClosed, runtimeFor } from "../../src/index.js"
import * as ContainerPoolLive from "../../src/layers/ContainerPoolLive.js"
import type { PoolOptions } from "../../src/services/ContainerPool.js"
import { Engine } from "../../src/services/Engine.js"
import { BUSYBOX, engines, servicesFor } from "./engines.js"

/** The pool's containers that exist right now, found by name prefix. */
const named = (prefix: string) =>
  Effect.flatMap(Engine, (engine) => engine.listContainers(["pocketdock.managed=true"])).pipe(
    Effect.map((list) =>
      list.filter((c) => c.Names.some((name) => name.replace(/^\//, "").startsWith(`${prefix}-`)))
    ),
    Effect.orDie
  )

const prefix = (engineName: string, what: string) =>
  `pd-test-pool-${what}-${engineName}-${process.pid}-${Date.now() % 100000}`

const pool = (options: PoolOptions) => ContainerPoolLive.make({ image: BUSYBOX, ...options })

for (const engine of engines) {
  layer(servicesFor(engine), { excludeTestServices: true })(`ContainerPool [${engine.name}]`, (it) => {
    it.effect("keeps size ready, refills after acquire, and closing its scope removes all", () =>
      Effect.gen(function* () {
        const namePrefix = prefix(engine.name, "size")
        yield* Effect.scoped(
          Effect.gen(function* () {
            const p = yield* pool({ size: 2, namePrefix })
            yield* p.warm
            expect(yield* p.stats).toEqual({ ready: 2, starting: 0, inUse: 0, waiting: 0 })
            const first = yield* p.acquire
            expect((yield* first.run("echo hi")).stdout).toBe("hi\n")
            // refilled in the background: 2 ready again while 1 is out
            yield* p.warm
            expect(yield* p.stats).toEqual({ ready: 2, starting: 0, inUse: 1, waiting: 0 })
            expect((yield* named(namePrefix)).length).toBe(3)
          })
        )
        expect(yield* named(namePrefix)).toEqual([])
      })
    )

    it.effect("a sandbox handed straight to a waiting acquisition is replaced", () =>
      Effect.gen(function* () {
        const namePrefix = prefix(engine.name, "waiter")
        const p = yield* pool({ size: 1, namePrefix, concurrency: 1 })
        // nothing is ready yet: this acquisition waits for the first sandbox
        expect((yield* p.stats).ready).toBe(0)
        const sandbox = yield* p.acquire
        expect((yield* sandbox.run("echo hi")).stdout).toBe("hi\n")
        yield* p.warm.pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => "not refilled" }))
        expect(yield* p.stats).toEqual({ ready: 1, starting: 0, inUse: 1, waiting: 0 })
      }).pipe(Effect.scoped)
    )

    it.effect("hands each sandbox out once and destroys it on return", () =>
      Effect.gen(function* () {
        const namePrefix = prefix(engine.name, "once")
        const p = yield* pool({ size: 1, namePrefix })
        const firstId = yield* Effect.scoped(
          Effect.gen(function* () {
            const sandbox = yield* p.acquire
            yield* sandbox.run("echo secret > /tmp/mark")
            expect((yield* sandbox.run("cat /tmp/mark")).stdout).toBe("secret\n")
            return sandbox.id
          })
        )
        const ids = new Set([firstId])
        for (let i = 0; i < 3; i++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const sandbox = yield* p.acquire
              expect(ids.has(sandbox.id)).toBe(false)
              ids.add(sandbox.id)
              const check = yield* sandbox.run("cat /tmp/mark")
              expect(check.exitCode).not.toBe(0)
              expect(check.stdout).toBe("")
            })
          )
        }
        const left = (yield* named(namePrefix)).map((c) => c.Id)
        expect(left).not.toContain(firstId)
        yield* p.shutdown
        expect(yield* named(namePrefix)).toEqual([])
      }).pipe(Effect.scoped)
    )

    it.effect("closing the pool also destroys the sandboxes still handed out", () =>
      Effect.gen(function* () {
        const namePrefix = prefix(engine.name, "out")
        const p = yield* pool({ size: 1, namePrefix })
        const sandbox = yield* p.take
        yield* p.shutdown
        expect(yield* named(namePrefix)).toEqual([])
        const error = yield* Effect.flip(sandbox.run("true"))
        expect(error._tag).toBe("ContainerGone")
        const closed = yield* Effect.flip(p.take)
        expect(closed._tag).toBe("PoolClosed")
      }).pipe(Effect.scoped)
    )

    it.effect("an acquisition interrupted while it waits loses no sandbox", () =>
      Effect.gen(function* () {
        const namePrefix = prefix(engine.name, "intr")
        const p = yield* pool({ size: 1, namePrefix, concurrency: 1 })
        // interrupt acquisitions at different moments: waiting, handed over, done
        for (const delay of [0, 5, 20, 60, 150, 300]) {
          const fiber = yield* Effect.fork(Effect.scoped(Effect.flatMap(p.acquire, () => Effect.never)))
          yield* Effect.sleep(delay)
          yield* Fiber.interrupt(fiber)
        }
        yield* p.warm
        const stats = yield* p.stats
        expect(stats.waiting).toBe(0)
        expect(stats.inUse).toBe(0)
        expect(stats.ready).toBe(1)
        // only the ready one is left: nothing leaked
        expect((yield* named(namePrefix)).length).toBe(1)
        yield* p.shutdown
        expect(yield* named(namePrefix)).toEqual([])
      }).pipe(Effect.scoped)
    )

    it.effect("bad options and a missing image fail at once, creating nothing", () =>
      Effect.gen(function* () {
        const size = yield* Effect.flip(Effect.scoped(pool({ size: 0 })))
        expect(size._tag).toBe("InvalidOption")
        const named_ = yield* Effect.flip(
          Effect.scoped(pool({ size: 1, ...({ name: "x" } as Record<string, unknown>) }))
        )
        expect(named_._tag).toBe("InvalidOption")
        const missing = yield* Effect.flip(Effect.scoped(pool({ size: 1, image: "pocketdock/nope" })))
        expect(missing._tag).toBe("ImageNotFound")
      })
    )
  })

  describe(`createPool facade [${engine.name}]`, () => {
    it("acquires started sandboxes, destroys them on dispose, and closes with await using", async () => {
      const namePrefix = prefix(engine.name, "facade")
      let firstName = ""
      {
        await using p = await createPool({
          size: 2,
          image: BUSYBOX,
          socketPath: engine.socketPath,
          namePrefix
        })
        expect(await p.stats()).toMatchObject({ ready: 2, inUse: 0 })
        {
          await using sandbox = await p.acquire()
          firstName = sandbox.name
          expect(firstName.startsWith(`${namePrefix}-`)).toBe(true)
          expect((await sandbox.run("echo hi")).stdout).toBe("hi\n")
        }
        const second = await p.acquire()
        expect(second.name).not.toBe(firstName)
        await p.warm()
        expect(await p.stats()).toMatchObject({ ready: 2, inUse: 1 })
      }
      const left = await runtimeFor(engine.socketPath).runPromise(named(namePrefix))
      expect(left).toEqual([])
    })

    it("a closed pool throws PoolClosed; a missing image throws at creation", async () => {
      const p = await createPool({ size: 1, image: BUSYBOX, socketPath: engine.socketPath, warm: false })
      await p.shutdown()
      await p.shutdown()
      const error = await p.acquire().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PoolClosed)
      expect(error).toBeInstanceOf(PocketDockError)
      const missing = await createPool({
        size: 1,
        image: "pocketdock/nope",
        socketPath: engine.socketPath
      }).catch((e: unknown) => e)
      expect(missing).toBeInstanceOf(ImageNotFound)
    })
  })
}
