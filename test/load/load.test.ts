/**
 * Load: 20 sandboxes x 50 concurrent runs each (`POCKETDOCK_LOAD=CxR` to
 * change), on each engine. Every result must be correct and its own, and
 * nothing may be left over: no container, no socket.
 *
 * It runs as its own vitest project, after the rest of the suite: Podman
 * keeps the conmon of every exec started through its API for
 * `exit_command_delay` (300 s), then starts one `podman container cleanup`
 * process per exec. A thousand runs are a burst of a thousand such processes
 * five minutes later, which would land on whatever test runs then. Docker
 * goes first for the same reason.
 */

import * as Fs from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as PocketDock from "../../src/layers/PocketDock.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"
import { BUSYBOX, engines, servicesFor } from "../integration/engines.js"

const [containers = 20, runs = 50] = (process.env.POCKETDOCK_LOAD ?? "20x50").split("x").map(Number)

/** Open socket fds of this process (engine connections among them). */
const socketFds = (): number =>
  Fs.readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return Fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")
    } catch {
      return false
    }
  }).length

const dockerFirst = [...engines].sort((a, b) => (a.name === "docker" ? -1 : b.name === "docker" ? 1 : 0))

for (const engine of dockerFirst) {
  describe(`load [${engine.name}]`, () => {
    it.live(
      `${containers} sandboxes x ${runs} concurrent runs: every result its own, nothing leaked`,
      () =>
        Effect.gen(function* () {
          const project = `pd-load-${process.pid}-${engine.name}`
          const fdsBefore = socketFds()
          const started = performance.now()
          const durations: Array<number> = []
          yield* Effect.scoped(
            Effect.gen(function* () {
              const service = yield* ContainerService
              const sandboxes = yield* Effect.all(
                Array.from({ length: containers }, () => service.scoped({ image: BUSYBOX, project })),
                { concurrency: 5 }
              )
              // all at once: the engine's admission queue orders them, and a
              // run's timeout (the default 30 s) starts when its turn comes
              const results = yield* Effect.all(
                sandboxes.flatMap((sandbox, c) =>
                  Array.from({ length: runs }, (_, r) =>
                    Effect.map(sandbox.run(["echo", `${c}-${r}`]), (result) => ({ c, r, result }))
                  )
                ),
                { concurrency: "unbounded" }
              )
              for (const { c, r, result } of results) {
                expect(result.stdout).toBe(`${c}-${r}\n`)
                expect(result.stderr).toBe("")
                expect(result.exitCode).toBe(0)
                durations.push(result.durationMs)
              }
              expect(results.length).toBe(containers * runs)
            })
          ).pipe(
            // bounded below the test's own timeout, so that the scope (and the sandboxes) close
            Effect.timeout("400 seconds"),
            Effect.provide(servicesFor(engine))
          )
          const seconds = (performance.now() - started) / 1000
          durations.sort((a, b) => a - b)
          console.log(
            `[${engine.name}] load ${containers}x${runs}: ${seconds.toFixed(1)} s, ` +
              `${((containers * runs) / seconds).toFixed(1)} runs/s; ` +
              `run duration p50 ${durations[Math.floor(durations.length / 2)]?.toFixed(0)} ms, ` +
              `max ${durations.at(-1)?.toFixed(0)} ms`
          )
          const left = yield* Effect.flatMap(Engine, (e) =>
            e.listContainers([`pocketdock.project=${project}`])
          ).pipe(Effect.provide(PocketDock.layer({ socketPath: engine.socketPath })))
          expect(left.length).toBe(0)
          expect(socketFds()).toBeLessThanOrEqual(fdsBefore)
        }),
      480_000
    )
  })
}
