import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  ContainerNotFound,
  createNewContainer,
  destroyContainer,
  InvalidOption,
  listContainers,
  prune,
  resumeContainer,
  stopContainer
} from "../../src/index.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"
import { BUSYBOX, engines, removeQuietly, servicesFor } from "./engines.js"

const exists = (name: string) =>
  Effect.flatMap(Engine, (engine) => engine.inspectContainer(name)).pipe(
    Effect.map((inspect) => (inspect.State.Running ? "running" : "stopped")),
    Effect.catchTag("ContainerNotFound", () => Effect.succeed("gone" as const))
  )

for (const engine of engines) {
  const tag = `${engine.name}-${process.pid}`

  layer(servicesFor(engine), { excludeTestServices: true })(
    `persistence, Effect API [${engine.name}]`,
    (it) => {
      it.scoped("a persistent container keeps its files, ports and limits across stop and resume", () =>
        Effect.gen(function* () {
          const service = yield* ContainerService
          const name = `pd-test-persist-${tag}`
          const project = `pdtest-persist-${tag}`
          const first = yield* service.create({
            image: BUSYBOX,
            name,
            persist: true,
            project,
            memLimit: "64m",
            timeout: 45,
            ports: { 0: 8080 }
          })
          yield* Effect.addFinalizer(() => removeQuietly(name))
          expect(first.persist).toBe(true)
          yield* first.run("echo kept > /home/sandbox/file.txt")
          yield* first.shutdown()
          expect(yield* exists(name)).toBe("stopped")

          const listed = yield* service.list({ project })
          expect(listed.map((item) => [item.name, item.status, item.persist, item.project])).toEqual([
            [name, "exited", true, project]
          ])
          expect(Date.parse(listed[0]?.createdAt ?? "")).toBeGreaterThan(0)

          const again = yield* service.resume(name)
          expect(again.id).toBe(first.id)
          expect(again.timeout).toBe(45)
          expect(again.project).toBe(project)
          expect((yield* again.run("cat /home/sandbox/file.txt")).stdout).toBe("kept\n")
          const inspect = yield* Effect.flatMap(Engine, (e) => e.inspectContainer(name))
          expect(inspect.HostConfig.Memory).toBe(64 * 1024 * 1024)
          expect(Object.keys(inspect.HostConfig.PortBindings ?? {})).toEqual(["8080/tcp"])
          expect(inspect.NetworkSettings?.Ports?.["8080/tcp"]?.[0]?.HostPort ?? "").toMatch(/^\d+$/)
          const overridden = yield* service.resume(name, { timeout: 50 })
          expect(overridden.timeout).toBe(50)
          // the resumed handle's shutdown stops it again, without removing it
          yield* again.shutdown()
          expect(yield* exists(name)).toBe("stopped")
          yield* service.destroy(name)
          expect(yield* exists(name)).toBe("gone")
        })
      )

      it.effect("stop, destroy and resume of unknown names are ContainerNotFound", () =>
        Effect.gen(function* () {
          const service = yield* ContainerService
          const missing = `pd-test-nope-${tag}`
          expect((yield* Effect.flip(service.stop(missing)))._tag).toBe("ContainerNotFound")
          expect((yield* Effect.flip(service.destroy(missing)))._tag).toBe("ContainerNotFound")
          expect((yield* Effect.flip(service.resume(missing)))._tag).toBe("ContainerNotFound")
        })
      )

      it.scoped("prune removes only stopped containers of the project, list sees only pocketdock's", () =>
        Effect.gen(function* () {
          const service = yield* ContainerService
          const project = `pdtest-prune-${tag}`
          const names = [`pd-test-p1-${tag}`, `pd-test-p2-${tag}`, `pd-test-p3-${tag}`]
          yield* Effect.addFinalizer(() => Effect.forEach(names, removeQuietly))
          const running = yield* service.create({ image: BUSYBOX, name: names[0], persist: true, project })
          const stopped1 = yield* service.create({ image: BUSYBOX, name: names[1], persist: true, project })
          const stopped2 = yield* service.create({ image: BUSYBOX, name: names[2], persist: true, project })
          yield* service.stop(stopped1.name)
          yield* stopped2.shutdown()
          expect(yield* exists(running.name)).toBe("running")
          const before = yield* service.list({ project })
          expect(before.map((i) => i.name).sort()).toEqual([...names].sort())
          expect(yield* service.prune({ project })).toBe(2)
          expect((yield* service.list({ project })).map((i) => i.name)).toEqual([running.name])
          expect(yield* service.prune({ project })).toBe(0)
          // an ephemeral container cannot be resumed
          const ephemeral = yield* service.scoped({ image: BUSYBOX, project })
          const error = yield* Effect.flip(service.resume(ephemeral.name))
          expect(error._tag).toBe("InvalidOption")
          yield* service.destroy(running.name)
          expect(yield* exists(running.name)).toBe("gone")
        })
      )

      it.scoped("a container that is not pocketdock's is not seen", () =>
        Effect.gen(function* () {
          const e = yield* Engine
          const service = yield* ContainerService
          const name = `pd-test-foreign-${tag}`
          yield* e.createContainer({
            image: BUSYBOX,
            name,
            cmd: ["sleep", "infinity"],
            labels: {},
            network: false,
            autoRemove: false,
            init: true
          })
          yield* Effect.addFinalizer(() => removeQuietly(name))
          expect((yield* service.list()).some((i) => i.name === name)).toBe(false)
          expect((yield* Effect.flip(service.destroy(name)))._tag).toBe("ContainerNotFound")
          expect(yield* exists(name)).toBe("stopped")
        })
      )
    }
  )

  describe(`persistence facade [${engine.name}]`, () => {
    const socketPath = engine.socketPath
    it("resumeContainer, listContainers, stopContainer, destroyContainer, prune; volumes outlive the container", async () => {
      const name = `pd-test-facade-persist-${tag}`
      const project = `pdtest-facade-${tag}`
      const host = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-vol-"))
      await Fs.chmod(host, 0o777)
      try {
        const sandbox = await createNewContainer({
          image: BUSYBOX,
          name,
          persist: true,
          project,
          socketPath,
          volumes: { [host]: "/data" }
        })
        await sandbox.run("echo on-volume > /data/v.txt && echo inside > /tmp/t.txt")
        await sandbox.shutdown()
        const resumed = await resumeContainer(name, { socketPath })
        expect((await resumed.run("cat /tmp/t.txt /data/v.txt")).stdout).toBe("inside\non-volume\n")
        await stopContainer(name, { socketPath })
        const items = await listContainers({ socketPath, project })
        expect(items.map((i) => [i.name, i.status])).toEqual([[name, "exited"]])
        expect(await prune({ socketPath, project })).toBe(1)
        expect(await listContainers({ socketPath, project })).toEqual([])
        expect(await Fs.readFile(Path.join(host, "v.txt"), "utf8")).toBe("on-volume\n")

        const missing = await resumeContainer(name, { socketPath }).catch((e: unknown) => e)
        expect(missing).toBeInstanceOf(ContainerNotFound)
        expect(await destroyContainer(name, { socketPath }).catch((e: unknown) => e)).toBeInstanceOf(
          ContainerNotFound
        )
        expect(await stopContainer(name, { socketPath }).catch((e: unknown) => e)).toBeInstanceOf(
          ContainerNotFound
        )

        const ephemeral = await createNewContainer({ image: BUSYBOX, socketPath })
        try {
          expect(
            await resumeContainer(ephemeral.name, { socketPath }).catch((e: unknown) => e)
          ).toBeInstanceOf(InvalidOption)
        } finally {
          await ephemeral.shutdown()
        }
      } finally {
        await destroyContainer(name, { socketPath }).catch(() => undefined)
        await Fs.rm(host, { recursive: true, force: true })
      }
    })
  })
}
