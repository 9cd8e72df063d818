import { expect, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { generateName } from "../../src/internal/options.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"
import { BUSYBOX, engines, servicesFor } from "./engines.js"

for (const engine of engines) {
  layer(servicesFor(engine), { excludeTestServices: true })(
    `ContainerService.attach [${engine.name}]`,
    (it) => {
      it.scoped("attaches by name, runs, and leaves the container running when its scope closes", () =>
        Effect.gen(function* () {
          const service = yield* ContainerService
          const engineService = yield* Engine
          const made = yield* service.create({
            image: BUSYBOX,
            persist: true,
            timeout: 7,
            project: "attachp"
          })
          yield* Effect.addFinalizer(() => engineService.removeContainer(made.id).pipe(Effect.ignore))

          const attached = yield* service.attach(made.name).pipe(Effect.scoped)
          expect(attached.id).toBe(made.id)
          expect(attached.name).toBe(made.name)
          // Podman reports the normalised reference (localhost/...:latest)
          expect(attached.image).toContain(BUSYBOX)
          expect(attached.persist).toBe(true)
          expect(attached.project).toBe("attachp")
          expect(attached.timeout).toBe(7)

          const result = yield* service.attach(made.id).pipe(
            Effect.flatMap((handle) => handle.run("echo attached; exit 4")),
            Effect.scoped
          )
          expect(result.stdout).toBe("attached\n")
          expect(result.exitCode).toBe(4)

          const inspect = yield* engineService.inspectContainer(made.id)
          expect(inspect.State.Running).toBe(true)
        })
      )

      it.scoped("shutdown through an attached handle stops a persistent container", () =>
        Effect.gen(function* () {
          const service = yield* ContainerService
          const engineService = yield* Engine
          const made = yield* service.create({ image: BUSYBOX, persist: true })
          yield* Effect.addFinalizer(() => engineService.removeContainer(made.id).pipe(Effect.ignore))
          yield* service.attach(made.name).pipe(
            Effect.flatMap((handle) => handle.shutdown()),
            Effect.scoped
          )
          const inspect = yield* engineService.inspectContainer(made.id)
          expect(inspect.State.Running).toBe(false)
          const stopped = yield* service.attach(made.name).pipe(Effect.scoped, Effect.flip)
          expect(stopped._tag).toBe("ContainerNotRunning")
        })
      )

      it.scoped("an attached ephemeral sandbox rebooted fresh runs again, with a lease of its own", () =>
        Effect.gen(function* () {
          const service = yield* ContainerService
          const engineService = yield* Engine
          const made = yield* service.scoped({ image: BUSYBOX })
          const handle = yield* service.attach(made.name)
          yield* handle.reboot({ fresh: true })
          yield* Effect.addFinalizer(() => engineService.removeContainer(handle.id).pipe(Effect.ignore))
          expect(handle.id).not.toBe(made.id)
          expect((yield* handle.run("echo again")).stdout).toBe("again\n")
          const inspect = yield* engineService.inspectContainer(handle.id)
          expect(inspect.Config.OpenStdin).toBe(true)
          expect(inspect.State.Running).toBe(true)
        })
      )

      it.scoped(
        "a missing name, a bad name and a container pocketdock did not make are ContainerNotFound",
        () =>
          Effect.gen(function* () {
            const service = yield* ContainerService
            const engineService = yield* Engine
            const missing = yield* service
              .attach(`pd-nope-${generateName()}`)
              .pipe(Effect.scoped, Effect.flip)
            expect(missing._tag).toBe("ContainerNotFound")
            const bad = yield* service.attach("../../info").pipe(Effect.scoped, Effect.flip)
            expect(bad._tag).toBe("ContainerNotFound")

            const name = `pdcli-foreign-${generateName()}`
            const id = yield* engineService.createContainer({
              image: BUSYBOX,
              name,
              cmd: ["sleep", "infinity"],
              labels: { "pocketdock.test": "foreign" },
              network: false,
              autoRemove: false,
              init: true
            })
            yield* Effect.addFinalizer(() => engineService.removeContainer(id).pipe(Effect.ignore))
            yield* engineService.startContainer(id)
            const foreign = yield* Effect.exit(service.attach(name).pipe(Effect.scoped))
            expect(Exit.isFailure(foreign)).toBe(true)
            if (Exit.isFailure(foreign)) {
              expect(JSON.stringify(foreign.cause)).toContain("ContainerNotFound")
            }
          })
      )
    }
  )
}
