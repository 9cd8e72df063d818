/**
 * Reading an instance's record: `history.jsonl` (one `HistoryEntry` a line)
 * and the output logs in `logs/` (rotated files first, oldest first, then
 * the current `KIND.log`).
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { Effect, Option, Schema } from "effect"
import { HistoryEntry } from "../schemas/Project.js"
import { Engine } from "../services/Engine.js"
import { ProjectIOError } from "../services/ProjectService.js"
import { Labels } from "./options.js"
import { HISTORY_FILE } from "./projectFiles.js"

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** One line of `history.jsonl`, or none when it does not decode. */
export const decodeHistoryLine = Schema.decodeUnknownOption(Schema.parseJson(HistoryEntry))

/**
 * The instance directory of container `nameOrId` (its `pocketdock.data-path`
 * label), or none when it has none (ephemeral, or made outside a project).
 */
export const instanceDirOf = (nameOrId: string) =>
  Effect.flatMap(Engine, (engine) => engine.inspectContainer(nameOrId)).pipe(
    Effect.map((inspect) =>
      Option.fromNullable(inspect.Config.Labels?.[Labels.dataPath]).pipe(Option.filter((path) => path !== ""))
    )
  )

/** The text of `file`, or "" when it does not exist. */
const readText = (file: string) =>
  Effect.tryPromise({
    try: () =>
      Fs.readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return ""
        throw error
      }),
    catch: (error) => new ProjectIOError({ path: file, detail: describe(error) })
  })

/**
 * The history of the instance at `dataPath`, oldest first; the last `limit`
 * entries when given. Lines that do not decode (a crash mid-write) are skipped.
 */
export const readHistory = (dataPath: string, limit?: number) =>
  readText(Path.join(dataPath, HISTORY_FILE)).pipe(
    Effect.map((text) => {
      const entries = text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .flatMap((line) => Option.toArray(decodeHistoryLine(line)))
      return limit === undefined ? entries : entries.slice(Math.max(0, entries.length - limit))
    })
  )

/** The path of the history file of an instance. */
export const historyFileOf = (dataPath: string) => Path.join(dataPath, HISTORY_FILE)

/** The log files of the instance, in the order their content was written. */
export const logFilesOf = (dataPath: string) =>
  Effect.tryPromise({
    try: async () => {
      const dir = Path.join(dataPath, "logs")
      const names = await Fs.readdir(dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return []
        throw error
      })
      const logs = names.filter((name) => name.endsWith(".log"))
      // rotated `KIND-<time>-<rand>.log` sort by time; the current `KIND.log` is last
      const current = logs.filter((name) => /^[a-z]+\.log$/.test(name)).sort()
      const rotated = logs.filter((name) => !current.includes(name)).sort()
      return [...rotated, ...current].map((name) => Path.join(dir, name))
    },
    catch: (error) => new ProjectIOError({ path: Path.join(dataPath, "logs"), detail: describe(error) })
  })
