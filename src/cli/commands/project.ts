/**
 * Projects: `init`, `doctor` (ProjectService) and `logs` (an instance's
 * `history.jsonl` and `logs/`).
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option, Schedule } from "effect"
import {
  decodeHistoryLine,
  historyFileOf,
  instanceDirOf,
  logFilesOf,
  readHistory
} from "../../internal/history.js"
import type { HistoryEntry } from "../../schemas/Project.js"
import { ProjectIOError, ProjectService } from "../../services/ProjectService.js"
import { CliError, ExitCodes } from "../errors.js"
import { action, jsonOption, withServices } from "../global.js"
import { json, line, style, table, write } from "../output.js"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))

export const initDefinition = Command.make("init", {
  path: Args.directory({ name: "path", exists: "either" }).pipe(
    Args.withDescription("Directory to initialise (default: the current one)"),
    Args.optional
  ),
  name: Options.text("name").pipe(
    Options.withDescription("Project name (default: the directory's)"),
    Options.optional
  ),
  json: jsonOption
}).pipe(Command.withDescription("Create .pocketdock/pocketdock.yaml in a directory"))

export const init = Command.withHandler(
  initDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const projects = yield* ProjectService
        const path = Option.getOrUndefined(config.path)
        if (path !== undefined) {
          yield* Effect.tryPromise({
            try: () => Fs.mkdir(path, { recursive: true }),
            catch: (error) => new ProjectIOError({ path, detail: String(error) })
          })
        }
        const root = yield* projects.initProject(path, { projectName: Option.getOrUndefined(config.name) })
        const configFile = Path.join(root, ".pocketdock", "pocketdock.yaml")
        if (config.json) return yield* json({ root, config: configFile })
        yield* line(`${style.green("initialised")} ${style.bold(root)}`)
        yield* line(style.dim(`edit ${configFile} to change the defaults`))
      })
    )
  )
)

export const doctorDefinition = Command.make("doctor", { json: jsonOption }).pipe(
  Command.withDescription("Cross-check instance directories with the engine: orphans and stale entries")
)

export const doctor = Command.withHandler(
  doctorDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const projects = yield* ProjectService
        const report = yield* projects.doctor()
        if (config.json) {
          return yield* json({
            orphanedContainers: report.orphanedContainers,
            staleInstanceDirs: report.staleInstanceDirs,
            healthy: report.healthy
          })
        }
        yield* line(`${style.bold("healthy".padEnd(10))}${report.healthy}`)
        yield* line(
          `${style.bold("orphaned".padEnd(10))}${report.orphanedContainers.length === 0 ? "-" : style.yellow(report.orphanedContainers.join(", "))} ${style.dim("(persistent containers without an instance directory)")}`
        )
        yield* line(
          `${style.bold("stale".padEnd(10))}${report.staleInstanceDirs.length === 0 ? "-" : style.yellow(report.staleInstanceDirs.join(", "))} ${style.dim("(instance directories without a container)")}`
        )
      })
    )
  )
)

export const logsDefinition = Command.make("logs", {
  container,
  history: Options.boolean("history").pipe(Options.withDescription("Show the command history")),
  follow: Options.boolean("follow").pipe(
    Options.withAlias("f"),
    Options.withDescription("Keep printing new entries (Ctrl-C ends)")
  ),
  limit: Options.integer("limit").pipe(
    Options.withDescription("At most this many entries (history) or lines (logs), the last ones"),
    Options.optional
  ),
  json: jsonOption
}).pipe(Command.withDescription("Show a sandbox's command history (--history) or its output logs"))

const entryJson = (entry: HistoryEntry) => ({
  command: entry.command,
  exitCode: entry.exitCode,
  durationMs: entry.durationMs,
  time: entry.time,
  timedOut: entry.timedOut,
  truncated: entry.truncated
})

const entryRow = (entry: HistoryEntry) => [
  entry.time.replace(/\.\d+Z$/, "Z"),
  String(entry.exitCode),
  `${entry.durationMs} ms`,
  entry.command
]

/** Bytes of `file` from `offset` on, and its size ("" / 0 when missing). */
const readFrom = (file: string, offset: number) =>
  Effect.tryPromise({
    try: async () => {
      const handle = await Fs.open(file, "r").catch(() => undefined)
      if (handle === undefined) return { text: "", size: 0 }
      try {
        const { size } = await handle.stat()
        const start = size < offset ? 0 : offset // rotated: the file started again
        const buffer = Buffer.alloc(size - start)
        await handle.read(buffer, 0, buffer.length, start)
        return { text: buffer.toString("utf8"), size }
      } finally {
        await handle.close()
      }
    },
    catch: (error) => new ProjectIOError({ path: file, detail: String(error) })
  })

const POLL = Schedule.spaced("300 millis")

export const logs = Command.withHandler(
  logsDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const dataPath = yield* instanceDirOf(config.container)
        if (Option.isNone(dataPath)) {
          return yield* new CliError({
            message: `${config.container} has no history or logs`,
            hint: "only persistent sandboxes created inside a project (pocketdock init) keep them",
            exitCode: ExitCodes.error
          })
        }
        const limit = Option.getOrUndefined(config.limit)
        if (config.history) {
          const entries = yield* readHistory(dataPath.value, limit)
          if (config.json && !config.follow) return yield* json(entries.map(entryJson))
          if (config.json) for (const entry of entries) yield* line(JSON.stringify(entryJson(entry)))
          else if (entries.length > 0)
            yield* line(table(["TIME", "EXIT", "DURATION", "COMMAND"], entries.map(entryRow)))
          if (!config.follow) return
          // new entries: whole lines appended after what was read
          const file = historyFileOf(dataPath.value)
          let offset = (yield* readFrom(file, 0)).size
          let partial = ""
          return yield* Effect.repeat(
            Effect.gen(function* () {
              const read = yield* readFrom(file, offset)
              offset = read.size
              const lines = (partial + read.text).split("\n")
              partial = lines.pop() ?? ""
              for (const text of lines.filter((l) => l.trim() !== "")) {
                const entry = decodeHistoryLine(text)
                if (Option.isNone(entry)) continue
                yield* line(
                  config.json ? JSON.stringify(entryJson(entry.value)) : entryRow(entry.value).join("  ")
                )
              }
            }),
            POLL
          )
        }
        const files = yield* logFilesOf(dataPath.value)
        const contents = yield* Effect.forEach(files, (file) =>
          Effect.map(readFrom(file, 0), (read) => ({ file: Path.basename(file), text: read.text }))
        )
        if (config.json && !config.follow) return yield* json(contents)
        const all = contents.map((c) => c.text).join("")
        const lines = all.split("\n")
        if (lines[lines.length - 1] === "") lines.pop()
        const shown = limit === undefined ? lines : lines.slice(Math.max(0, lines.length - limit))
        if (shown.length > 0) yield* write(process.stdout, `${shown.join("\n")}\n`)
        if (!config.follow) return
        // tail the current KIND.log files; a rotation starts them again
        const offsets = new Map<string, number>()
        for (const file of files) offsets.set(file, (yield* readFrom(file, 0)).size)
        return yield* Effect.repeat(
          Effect.gen(function* () {
            const current = (yield* logFilesOf(dataPath.value)).filter((f) => /\/[a-z]+\.log$/.test(f))
            for (const file of current) {
              const read = yield* readFrom(file, offsets.get(file) ?? 0)
              offsets.set(file, read.size)
              yield* write(process.stdout, read.text)
            }
          }),
          POLL
        )
      })
    )
  )
)
