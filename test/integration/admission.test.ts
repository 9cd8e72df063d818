/**
 * The engine's admission of starting commands (`Engine.execAdmission`): a
 * burst of runs never has more than `maxStartingExecs` starts in flight at
 * once, and every run still completes with its own result.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as ContainerServiceLive from "../../src/layers/ContainerServiceLive.js"
import * as EngineLive from "../../src/layers/EngineLive.js"
import * as ProjectServiceLive from "../../src/layers/ProjectServiceLive.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine, type ExecFrame } from "../../src/services/Engine.js"
import { BUSYBOX, engines } from "./engines.js"

/** Counts exec starts sent whose first output has not come back yet. */
class StartingCounter {
  now = 0
  max = 0
  enter() {
    this.now++
    this.max = Math.max(this.max, this.now)
  }
  leave() {
    this.now--
  }
}

/** The real engine, with `execStart` watched by `counter`. */
const watchedEngine = (socketPath: string, maxStartingExecs: number, counter: StartingCounter) =>
  Layer.scoped(
    Engine,
    Effect.map(EngineLive.make({ socketPath, maxStartingExecs }), (engine) => ({
      ...engine,
      execStart: (execId: string, onFrame: (frame: ExecFrame) => void) =>
        Effect.suspend(() => {
          counter.enter()
          let started = true
          const leave = () => {
            if (started) counter.leave()
            started = false
          }
          return engine
            .execStart(execId, (frame) => {
              leave()
              onFrame(frame)
            })
            .pipe(Effect.ensuring(Effect.sync(leave)))
        })
    }))
  )

for (const engine of engines) {
  describe(`exec admission [${engine.name}]`, () => {
    it.live("a burst of 24 runs has at most 2 starts in flight, and each gets its own result", () => {
      const counter = new StartingCounter()
      const services = ContainerServiceLive.layer.pipe(
        Layer.provideMerge(ProjectServiceLive.layer),
        Layer.provideMerge(watchedEngine(engine.socketPath, 2, counter))
      )
      return Effect.gen(function* () {
        const sandbox = yield* Effect.flatMap(ContainerService, (s) => s.scoped({ image: BUSYBOX }))
        const results = yield* Effect.all(
          Array.from({ length: 24 }, (_, i) => sandbox.run(["echo", `run-${i}`])),
          { concurrency: "unbounded" }
        )
        expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 24 }, (_, i) => `run-${i}\n`))
        expect(counter.max).toBeGreaterThanOrEqual(1)
        expect(counter.max).toBeLessThanOrEqual(2)
        expect(counter.now).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(services))
    })
  })
}
