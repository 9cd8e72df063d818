import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { ContainerService } from "../../src/services/ContainerService.js"
import { ProjectService } from "../../src/services/ProjectService.js"
import { SessionService } from "../../src/services/SessionService.js"
import { BUSYBOX, engines, removeQuietly, scopedTempDir, servicesFor } from "./engines.js"

/** The files of `dir`, name → content. */
const readLogs = (dir: string) =>
  Effect.promise(async () => {
    const names = (await Fs.readdir(dir)).sort()
    const files: Record<string, string> = {}
    for (const name of names) files[name] = await Fs.readFile(Path.join(dir, name), "utf8")
    return files
  })

/** A persistent busybox container in a new project whose configuration has `settings`. */
const instance = (name: string, settings: string) =>
  Effect.gen(function* () {
    const projects = yield* ProjectService
    const service = yield* ContainerService
    const dir = yield* scopedTempDir("pd-autolog-")
    yield* projects.initProject(dir, { projectName: name })
    yield* Effect.promise(() =>
      Fs.writeFile(Path.join(dir, ".pocketdock", "pocketdock.yaml"), `project_name: ${name}\n${settings}`)
    )
    yield* Effect.addFinalizer(() => removeQuietly(name))
    const sandbox = yield* service.create({
      image: BUSYBOX,
      name,
      persist: true,
      memLimit: "64m",
      projectRoot: dir
    })
    yield* Effect.addFinalizer(() => service.destroy(name).pipe(Effect.ignore))
    return { sandbox, logs: Path.join(sandbox.dataPath, "logs") }
  })

for (const engine of engines) {
  const tag = `${engine.name}-${process.pid}`

  layer(servicesFor(engine), { excludeTestServices: true })(`auto_log [${engine.name}]`, (it) => {
    describe("with auto_log on", () => {
      it.scoped("session output (sendAndWait and send) and detached output go to logs/", () =>
        Effect.gen(function* () {
          const { sandbox, logs } = yield* instance(`pd-test-autolog-on-${tag}`, "auto_log: true\n")
          expect(yield* sandbox.logging).toBe(true)

          const session = yield* Effect.flatMap(SessionService, (sessions) => sessions.open(sandbox))
          const answered = yield* session.sendAndWait("echo session-out; echo session-err >&2")
          expect(answered.stdout).toBe("session-out\n")
          yield* session.send("echo sent-out")
          yield* session.sendAndWait("echo last")
          yield* session.close

          const detached = yield* sandbox.runDetached("echo detached-out; echo detached-err >&2")
          expect((yield* detached.wait()).exitCode).toBe(0)

          const files = yield* readLogs(logs)
          expect(Object.keys(files)).toEqual(["detached.log", "session.log"])
          const session_ = files["session.log"] ?? ""
          for (const expected of [
            "$ echo session-out; echo session-err >&2\n",
            "session-out\n",
            "session-err\n",
            "$ echo sent-out\nsent-out\n",
            "$ echo last\nlast\n"
          ]) {
            expect(session_).toContain(expected)
          }
          // commands in order, and nothing of the session protocol
          expect(session_.indexOf("sent-out")).toBeLessThan(session_.indexOf("last"))
          expect(session_.split("\n").filter((line) => line !== "")).toHaveLength(7)
          const detachedLog = files["detached.log"] ?? ""
          expect(detachedLog).toContain("detached-out\n")
          expect(detachedLog).toContain("detached-err\n")
          expect(detachedLog).toHaveLength("detached-out\ndetached-err\n".length)
        })
      )

      it.scoped("max_log_size rotates and max_logs_per_instance prunes", () =>
        Effect.gen(function* () {
          const { sandbox, logs } = yield* instance(
            `pd-test-autolog-rot-${tag}`,
            "auto_log: true\nmax_log_size: 100\nmax_logs_per_instance: 2\n"
          )
          const detached = yield* sandbox.runDetached("seq 1 300")
          yield* detached.wait()
          const files = yield* readLogs(logs)
          const names = Object.keys(files)
          const rotated = names.filter((name) => name !== "detached.log")
          expect(rotated).toHaveLength(2)
          for (const name of rotated) expect(name).toMatch(/^detached-.+\.log$/)
          for (const content of Object.values(files)) expect(content.length).toBeLessThanOrEqual(100)
          // the newest output is kept whole, in order, across the files
          const kept = [...rotated.sort(), "detached.log"].map((name) => files[name]).join("")
          const full = `${Array.from({ length: 300 }, (_, i) => i + 1).join("\n")}\n`
          expect(full.endsWith(kept)).toBe(true)
          expect(kept.length).toBeGreaterThan(200)
        })
      )
    })

    it.scoped("with auto_log off nothing is written", () =>
      Effect.gen(function* () {
        const { sandbox, logs } = yield* instance(`pd-test-autolog-off-${tag}`, "auto_log: false\n")
        expect(yield* sandbox.logging).toBe(false)
        const session = yield* Effect.flatMap(SessionService, (sessions) => sessions.open(sandbox))
        expect((yield* session.sendAndWait("echo quiet")).stdout).toBe("quiet\n")
        yield* session.send("echo quieter")
        yield* session.sendAndWait("true")
        yield* session.close
        const detached = yield* sandbox.runDetached("echo detached-quiet")
        expect((yield* detached.wait()).stdout).toBe("detached-quiet\n")
        expect(yield* readLogs(logs)).toEqual({})
      })
    )
  })
}
