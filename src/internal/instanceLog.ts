/**
 * Output logs of an instance: `logs/KIND.log`, rotated to
 * `logs/KIND-<time>-<rand>.log` when it would pass `maxLogSize`. On each
 * rotation, rotated files older than `retentionDays` are deleted, then the
 * oldest beyond `maxLogsPerInstance`.
 */
import * as Crypto from "node:crypto"
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Option } from "effect"
import type { LogKind } from "../services/ProjectService.js"

/** The limits that apply, from the project's configuration. */
export interface LogLimits {
  /** Bytes per file; 0: no limit. */
  readonly maxLogSize: number
  /** Rotated files kept per kind. */
  readonly maxLogsPerInstance: number
  /** Rotated files older than this many days are deleted. */
  readonly retentionDays: number
}

const DAY_MS = 24 * 60 * 60 * 1000
const encoder = new TextEncoder()

// Several rotations can happen in one millisecond: the sequence keeps names in order (pruning sorts them).
let rotations = 0
const rotatedName = (kind: LogKind, now: number) =>
  `${kind}-${new Date(now).toISOString().replace(/[:.]/g, "-")}-${String(++rotations % 1e6).padStart(6, "0")}-${Crypto.randomBytes(3).toString("hex")}.log`

/** Deletes rotated files of `kind` past retention, then the oldest beyond the count. */
export const pruneRotated = (
  dir: string,
  kind: LogKind,
  limits: LogLimits,
  now: number
): Effect.Effect<void, PlatformError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const rotated = (yield* fs.readDirectory(dir))
      .filter((name) => name.startsWith(`${kind}-`) && name.endsWith(".log"))
      .sort()
    const kept: Array<string> = []
    for (const name of rotated) {
      const info = yield* fs.stat(path.join(dir, name))
      const mtime = Option.getOrElse(info.mtime, () => new Date(now)).getTime()
      if (now - mtime > limits.retentionDays * DAY_MS) yield* fs.remove(path.join(dir, name))
      else kept.push(name)
    }
    const excess = kept.length - limits.maxLogsPerInstance
    for (const name of kept.slice(0, Math.max(0, excess))) yield* fs.remove(path.join(dir, name))
  })

/**
 * Appends `data` to `DATAPATH/logs/KIND.log`, rotating as it fills. Output
 * longer than what fits is split across files, so no byte is dropped except
 * by pruning.
 */
export const append = (
  dataPath: string,
  kind: LogKind,
  data: string | Uint8Array,
  limits: LogLimits,
  now: number = Date.now()
): Effect.Effect<void, PlatformError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = path.join(dataPath, "logs")
    yield* fs.makeDirectory(dir, { recursive: true })
    const current = path.join(dir, `${kind}.log`)
    let size = yield* fs.stat(current).pipe(
      Effect.map((info) => Number(info.size)),
      Effect.catchTag("SystemError", (e) => (e.reason === "NotFound" ? Effect.succeed(0) : Effect.fail(e)))
    )
    let rest = typeof data === "string" ? encoder.encode(data) : data
    while (rest.length > 0) {
      const room = limits.maxLogSize === 0 ? rest.length : limits.maxLogSize - size
      if (room <= 0) {
        yield* fs.rename(current, path.join(dir, rotatedName(kind, now)))
        yield* pruneRotated(dir, kind, limits, now)
        size = 0
        continue
      }
      const piece = rest.subarray(0, room)
      yield* fs.writeFile(current, piece, { flag: "a" })
      size += piece.length
      rest = rest.subarray(piece.length)
    }
  })
