import { execFile } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import {
  createNewContainer,
  destroyContainer,
  doctor,
  findProjectRoot,
  initProject,
  ProjectConfigInvalid,
  ProjectNotInitialized
} from "../../src/index.js"
import { decodeConfig } from "../../src/internal/projectFiles.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { ProjectService } from "../../src/services/ProjectService.js"
import { BUSYBOX, engines, removeQuietly, scopedTempDir, servicesFor } from "./engines.js"

const readFile = (path: string) => Effect.promise(() => Fs.readFile(path, "utf8"))
const pathExists = (path: string) =>
  Effect.promise(() =>
    Fs.access(path).then(
      () => true,
      () => false
    )
  )

for (const engine of engines) {
  const tag = `${engine.name}-${process.pid}`

  layer(servicesFor(engine), { excludeTestServices: true })(`projects, Effect API [${engine.name}]`, (it) => {
    it.scoped("initProject writes the config once; findProjectRoot walks up; loadConfig precedence", () =>
      Effect.gen(function* () {
        const projects = yield* ProjectService
        const dir = yield* scopedTempDir("pd-project-")
        expect(Option.isNone(yield* projects.findProjectRoot(dir))).toBe(true)
        const root = yield* projects.initProject(dir, { projectName: "demo" })
        expect(root).toBe(dir)
        const file = Path.join(dir, ".pocketdock", "pocketdock.yaml")
        const text = yield* readFile(file)
        expect((yield* decodeConfig(file, text)).projectName).toBe("demo")
        // a second init keeps an edited file
        yield* Effect.promise(() =>
          Fs.writeFile(file, "project_name: demo\nsocket: /run/from-project.sock\n")
        )
        yield* projects.initProject(dir, { projectName: "other" })
        expect(yield* readFile(file)).toContain("from-project")

        const nested = Path.join(dir, "a", "b")
        yield* Effect.promise(() => Fs.mkdir(nested, { recursive: true }))
        expect(yield* projects.findProjectRoot(nested)).toEqual(Option.some(dir))

        const saved = process.env.POCKETDOCK_SOCKET
        try {
          delete process.env.POCKETDOCK_SOCKET
          const fromProject = yield* projects.loadConfig({ start: nested })
          expect([fromProject.socketPath, fromProject.socketSource]).toEqual([
            "/run/from-project.sock",
            "project"
          ])
          process.env.POCKETDOCK_SOCKET = "/run/from-env.sock"
          const fromEnv = yield* projects.loadConfig({ start: nested })
          expect([fromEnv.socketPath, fromEnv.socketSource]).toEqual(["/run/from-env.sock", "env"])
          const explicit = yield* projects.loadConfig({ start: nested, socketPath: "/run/x.sock" })
          expect([explicit.socketPath, explicit.socketSource]).toEqual(["/run/x.sock", "explicit"])
          delete process.env.POCKETDOCK_SOCKET
          const outside = yield* projects.loadConfig({ start: Os.tmpdir() })
          expect(outside.socketSource).toBe("auto")
        } finally {
          if (saved === undefined) delete process.env.POCKETDOCK_SOCKET
          else process.env.POCKETDOCK_SOCKET = saved
        }

        yield* Effect.promise(() => Fs.writeFile(file, "project_name: demo\nretention_days: soon\n"))
        const invalid = yield* Effect.flip(projects.loadConfig({ start: nested }))
        expect(invalid._tag).toBe("ProjectConfigInvalid")
        if (invalid._tag === "ProjectConfigInvalid") expect(invalid.field).toBe("retention_days")
        const service = yield* ContainerService
        const refused = yield* Effect.flip(service.create({ image: BUSYBOX, projectRoot: nested }))
        expect(refused._tag).toBe("ProjectConfigInvalid")
      })
    )

    it.scoped(
      "a persistent container in a project gets instance.toml, history.jsonl and logs, read by another process",
      () =>
        Effect.gen(function* () {
          const projects = yield* ProjectService
          const service = yield* ContainerService
          const dir = yield* scopedTempDir("pd-project-")
          const project = `pdtest-proj-${tag}`
          yield* projects.initProject(dir, { projectName: project })
          const name = `pd-test-inst-${tag}`
          yield* Effect.addFinalizer(() => removeQuietly(name))
          const sandbox = yield* service.create({
            image: BUSYBOX,
            name,
            persist: true,
            memLimit: "64m",
            projectRoot: dir
          })
          expect(sandbox.project).toBe(project)
          const dataPath = Path.join(dir, ".pocketdock", "instances", name)
          expect(sandbox.dataPath).toBe(dataPath)
          yield* sandbox.run("echo one")
          yield* sandbox.run("exit 3")
          yield* Effect.flip(sandbox.run("sleep 5", { timeout: 1 }))
          yield* sandbox.log("session", "$ echo hi\nhi\n")
          expect(yield* readFile(Path.join(dataPath, "logs", "session.log"))).toBe("$ echo hi\nhi\n")

          const { stdout } = yield* Effect.promise(() =>
            promisify(execFile)(process.execPath, [
              "--import",
              "tsx",
              Path.join(import.meta.dirname, "fixtures", "read-instance.ts"),
              dataPath
            ])
          )
          const read = JSON.parse(stdout) as {
            instance: Record<string, unknown>
            history: Array<{ command: string; exitCode: number; timedOut: boolean }>
          }
          expect(read.instance).toMatchObject({
            containerId: sandbox.id,
            name,
            image: BUSYBOX,
            persist: true,
            project,
            memLimit: "64m"
          })
          expect(read.history.map((h) => [h.command, h.exitCode, h.timedOut])).toEqual([
            ["echo one", 0, false],
            ["exit 3", 3, false],
            ["sleep 5", read.history[2]?.exitCode, true]
          ])

          // resumed, it keeps recording to the same instance
          yield* sandbox.shutdown()
          const again = yield* service.resume(name)
          expect(again.dataPath).toBe(dataPath)
          yield* again.run("echo back")
          const lines = (yield* readFile(Path.join(dataPath, "history.jsonl"))).trim().split("\n")
          expect(lines.length).toBe(4)

          const report = yield* projects.doctor({ projectRoot: dir })
          expect(report.healthy).toBe(1)
          yield* Effect.promise(() => Fs.mkdir(Path.join(dir, ".pocketdock", "instances", "ghost")))
          const withStale = yield* projects.doctor({ projectRoot: dir })
          expect(withStale.staleInstanceDirs).toEqual(["ghost"])

          yield* service.destroy(name)
          expect(yield* pathExists(dataPath)).toBe(false)
          const notInit = yield* Effect.flip(projects.doctor({ projectRoot: Os.tmpdir() }))
          expect(notInit._tag).toBe("ProjectNotInitialized")
        })
    )

    it.scoped(
      "ephemeral, opted-out and other-project containers write no instance files; auto_log off logs nothing",
      () =>
        Effect.gen(function* () {
          const projects = yield* ProjectService
          const service = yield* ContainerService
          const dir = yield* scopedTempDir("pd-project-")
          const project = `pdtest-eph-${tag}`
          yield* projects.initProject(dir, { projectName: project })
          const file = Path.join(dir, ".pocketdock", "pocketdock.yaml")
          yield* Effect.promise(() => Fs.writeFile(file, `project_name: ${project}\nauto_log: false\n`))
          const ephemeral = yield* service.scoped({ image: BUSYBOX, projectRoot: dir })
          expect([ephemeral.project, ephemeral.dataPath]).toEqual([project, ""])
          const none = yield* service.scoped({ image: BUSYBOX, projectRoot: dir, project: "" })
          expect(none.project).toBe("")
          const other = yield* service.scoped({
            image: BUSYBOX,
            projectRoot: dir,
            project: "elsewhere",
            persist: true
          })
          yield* Effect.addFinalizer(() => removeQuietly(other.name))
          expect([other.project, other.dataPath]).toEqual(["elsewhere", ""])

          const name = `pd-test-nolog-${tag}`
          yield* Effect.addFinalizer(() => removeQuietly(name))
          const quiet = yield* service.create({ image: BUSYBOX, name, persist: true, projectRoot: dir })
          yield* quiet.log("detached", "nothing")
          expect(yield* pathExists(Path.join(quiet.dataPath, "logs", "detached.log"))).toBe(false)
          // a persistent container of the project without its directory is an orphan
          yield* Effect.promise(() => Fs.rm(quiet.dataPath, { recursive: true }))
          const report = yield* projects.doctor({ projectRoot: dir })
          expect(report.orphanedContainers).toEqual([name])
          expect(report.healthy).toBe(0)
          yield* service.destroy(name)
        })
    )
  })

  describe(`projects, Promise facade [${engine.name}]`, () => {
    const socketPath = engine.socketPath
    it("initProject, findProjectRoot, createNewContainer in a project, doctor, destroyContainer", async () => {
      const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-project-"))
      const name = `pd-test-facade-proj-${tag}`
      try {
        expect(await findProjectRoot(dir)).toBeUndefined()
        expect(await initProject(dir, { projectName: "facade" })).toBe(dir)
        expect(await findProjectRoot(Path.join(dir, ".pocketdock"))).toBe(dir)
        const sandbox = await createNewContainer({
          image: BUSYBOX,
          name,
          persist: true,
          projectRoot: dir,
          socketPath
        })
        expect(sandbox.project).toBe("facade")
        expect(sandbox.dataPath).toBe(Path.join(dir, ".pocketdock", "instances", name))
        await sandbox.run("true")
        expect((await doctor({ projectRoot: dir, socketPath })).healthy).toBe(1)
        await destroyContainer(name, { socketPath })
        expect((await doctor({ projectRoot: dir, socketPath })).healthy).toBe(0)
        expect(
          await doctor({ projectRoot: Os.tmpdir(), socketPath }).catch((e: unknown) => e)
        ).toBeInstanceOf(ProjectNotInitialized)
        await Fs.writeFile(Path.join(dir, ".pocketdock", "pocketdock.yaml"), "default_persist: maybe\n")
        const invalid = await createNewContainer({ image: BUSYBOX, projectRoot: dir, socketPath }).catch(
          (e: unknown) => e
        )
        expect(invalid).toBeInstanceOf(ProjectConfigInvalid)
      } finally {
        await destroyContainer(name, { socketPath }).catch(() => undefined)
        await Fs.rm(dir, { recursive: true, force: true })
      }
    })
  })
}
