import { spawn } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Schema } from "effect"
import * as fc from "fast-check"
import * as Toml from "smol-toml"
import * as Yaml from "yaml"
import * as InstanceLog from "../../src/internal/instanceLog.js"
import {
  decodeConfig,
  decodeInstance,
  encodeConfig,
  encodeInstance
} from "../../src/internal/projectFiles.js"
import { HistoryEntry, InstanceMetadata, ProjectConfig } from "../../src/schemas/Project.js"

const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)

describe("project config decoding", () => {
  it.effect("reads snake_case fields, fills defaults, ignores unknown fields", () =>
    Effect.gen(function* () {
      const config = yield* decodeConfig(
        "p.yaml",
        "project_name: demo\nauto_log: false\nmax_log_size: 1024\nsocket: /run/x.sock\nextra: 1\n"
      )
      expect(config.projectName).toBe("demo")
      expect(config.autoLog).toBe(false)
      expect(config.maxLogSize).toBe(1024)
      expect(config.socket).toBe("/run/x.sock")
      expect(config.maxLogsPerInstance).toBe(100)
      expect(config.logLevel).toBe("info")
      const toml = yield* decodeConfig("p.toml", 'project_name = "t"\ndefault_persist = true\n')
      expect(toml.defaultPersist).toBe(true)
      expect((yield* decodeConfig("p.yaml", "")).projectName).toBe("")
    })
  )

  it.effect("an invalid field is a typed error naming the field", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decodeConfig("p.yaml", "project_name: x\nmax_log_size: -5\n"))
      expect(error._tag).toBe("ProjectConfigInvalid")
      expect(error.field).toBe("max_log_size")
      const level = yield* Effect.flip(decodeConfig("p.yaml", "log_level: loud\n"))
      expect(level.field).toBe("log_level")
      const broken = yield* Effect.flip(decodeConfig("p.yaml", "project_name: [unclosed\n"))
      expect(broken.field).toBe("")
      const list = yield* Effect.flip(decodeConfig("p.yaml", "- a\n- b\n"))
      expect(list.detail).toContain("mapping")
    })
  )

  it("arbitrary or truncated YAML/TOML gives a config or a typed error, never a throw", () => {
    const good = encodeConfig(Schema.decodeUnknownSync(ProjectConfig)({ project_name: "demo", socket: "/s" }))
    const goodToml = Toml.stringify({ project_name: "demo", auto_log: true, max_log_size: 10 })
    const check = (path: string, text: string) => {
      const result = Effect.runSync(Effect.either(decodeConfig(path, text)))
      if (Either.isLeft(result)) expect(result.left._tag).toBe("ProjectConfigInvalid")
      else expect(result.right).toBeInstanceOf(ProjectConfig)
    }
    fc.assert(
      fc.property(fc.string(), fc.nat(), (junk, cut) => {
        check("p.yaml", junk)
        check("p.toml", junk)
        check("p.yaml", good.slice(0, cut % (good.length + 1)))
        check("p.toml", goodToml.slice(0, cut % (goodToml.length + 1)))
      }),
      { numRuns: 500 }
    )
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        check("p.yaml", Yaml.stringify(value))
        check("p.yaml", JSON.stringify(value) ?? "")
      }),
      { numRuns: 300 }
    )
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(
            "project_name",
            "max_log_size",
            "auto_log",
            "socket",
            "log_level",
            "retention_days"
          ),
          fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.nat()))
        ),
        (fields) => check("p.yaml", Yaml.stringify(fields))
      ),
      { numRuns: 300 }
    )
  })

  it.effect("instance.toml round-trips", () =>
    Effect.gen(function* () {
      const metadata = new InstanceMetadata({
        containerId: "abc",
        name: "box",
        image: "pocketdock/busybox",
        createdAt: "2026-01-01T00:00:00.000Z",
        persist: true,
        project: "demo",
        memLimit: "256m",
        ports: { "8080": 80 }
      })
      const text = encodeInstance(metadata)
      expect(text).toContain('container_id = "abc"')
      const back = yield* decodeInstance("instance.toml", text)
      expect(back).toEqual(metadata)
      const error = yield* Effect.flip(decodeInstance("instance.toml", 'name = "x"\n'))
      expect(error.field).toBe("container_id")
    })
  )
})

const limits = { maxLogSize: 100, maxLogsPerInstance: 3, retentionDays: 1 }

describe("instance logs", () => {
  it.live("rotates past max_log_size without losing bytes, keeps max_logs_per_instance", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-log-")))
      for (let i = 0; i < 5; i++) yield* InstanceLog.append(dir, "session", "a".repeat(60), limits)
      const names = (yield* Effect.promise(() => Fs.readdir(Path.join(dir, "logs")))).sort()
      const rotated = names.filter((n) => n.startsWith("session-"))
      // 300 bytes in 100-byte files: 3 rotated, the 4th... and pruning kept at most 3
      expect(rotated.length).toBeLessThanOrEqual(3)
      expect(names).toContain("session.log")
      const sizes = yield* Effect.promise(() =>
        Promise.all(names.map((n) => Fs.stat(Path.join(dir, "logs", n)).then((s) => s.size)))
      )
      for (const size of sizes) expect(size).toBeLessThanOrEqual(100)
      // 5 appends of 60 = 300 bytes: exactly 3 full files, nothing pruned yet
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(300)

      // one large chunk is split across files, and only 3 rotated files stay
      yield* InstanceLog.append(dir, "session", "b".repeat(450), limits)
      const after = (yield* Effect.promise(() => Fs.readdir(Path.join(dir, "logs")))).filter((n) =>
        n.startsWith("session-")
      )
      expect(after.length).toBe(3)
      // another kind has its own files
      yield* InstanceLog.append(dir, "detached", "x", limits)
      expect(yield* Effect.promise(() => Fs.readFile(Path.join(dir, "logs", "detached.log"), "utf8"))).toBe(
        "x"
      )
      yield* Effect.promise(() => Fs.rm(dir, { recursive: true }))
    }).pipe(Effect.provide(platform))
  )

  it.live("deletes rotated files older than retention_days", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-log-")))
      const logs = Path.join(dir, "logs")
      yield* Effect.promise(() => Fs.mkdir(logs))
      const old = Path.join(logs, "session-2020-01-01T00-00-00-000Z-aaaaaa.log")
      const recent = Path.join(logs, "session-2099-01-01T00-00-00-000Z-bbbbbb.log")
      yield* Effect.promise(() => Fs.writeFile(old, "old"))
      yield* Effect.promise(() => Fs.writeFile(recent, "recent"))
      const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000)
      yield* Effect.promise(() => Fs.utimes(old, twoDaysAgo, twoDaysAgo))
      yield* InstanceLog.append(dir, "session", "c".repeat(150), { ...limits, maxLogsPerInstance: 10 })
      const names = yield* Effect.promise(() => Fs.readdir(logs))
      expect(names).not.toContain(Path.basename(old))
      expect(names).toContain(Path.basename(recent))
      yield* Effect.promise(() => Fs.rm(dir, { recursive: true }))
    }).pipe(Effect.provide(platform))
  )
})

const runFixture = (args: ReadonlyArray<string>) =>
  new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", Path.join(import.meta.dirname, "fixtures", "append-history.ts"), ...args],
      { stdio: ["ignore", "inherit", "inherit"] }
    )
    child.once("exit", resolve)
  })

describe("history.jsonl", () => {
  it("two processes appending at once lose no line and tear none", async () => {
    const dataPath = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-history-"))
    try {
      const codes = await Promise.all([
        runFixture([dataPath, "300", "a"]),
        runFixture([dataPath, "300", "b"])
      ])
      expect(codes).toEqual([0, 0])
      const lines = (await Fs.readFile(Path.join(dataPath, "history.jsonl"), "utf8")).split("\n")
      expect(lines.pop()).toBe("")
      expect(lines.length).toBe(600)
      const decode = Schema.decodeUnknownSync(Schema.parseJson(HistoryEntry))
      const commands = new Set(lines.map((line) => decode(line).command.split(" ")[1]))
      expect(commands.size).toBe(600)
    } finally {
      await Fs.rm(dataPath, { recursive: true, force: true })
    }
    // two Node processes starting tsx on a loaded 2-core machine
  }, 180_000)
})
