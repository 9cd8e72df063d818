/**
 * Files in and out of a container, over the engine's archive endpoints.
 *
 * Engine differences handled here: Docker refuses to extract into a missing
 * directory and Podman creates it, owned by root with mode 0755. So the
 * parent is tried first on Docker, and on Podman outside /home/sandbox
 * (where root's 0755 is what pocketdock makes too); otherwise missing
 * parents are found with `HEAD` and sent in the tar, owned by the sandbox
 * user. The tar never names a directory that already exists, so `/tmp`
 * keeps its mode and `/home/sandbox` its owner.
 * Podman follows a symlink on `GET`, Docker hands back the link: both are
 * followed here.
 */
import * as FsP from "node:fs/promises"
import * as Path from "node:path"
import { Effect } from "effect"
import type { PathStat } from "../schemas/EngineApi.js"
import { HostPathError, InvalidOption, PathNotFound, UnsafeArchive } from "../services/ContainerService.js"
import {
  ContainerNotFound,
  type Engine,
  type EngineRequestError,
  SocketCommunicationError
} from "../services/Engine.js"
import {
  addDirs,
  addFile,
  addHostTree,
  extractTree,
  type Owner,
  packPieces,
  readFirstEntry,
  withEntries,
  withEntriesFrom
} from "./tar.js"

/** The sandbox user of pocketdock images; it owns `/home/sandbox`. */
export const SANDBOX_HOME = "/home/sandbox"
const SANDBOX_OWNER: Owner = { uid: 1000, gid: 1000 }
const ROOT_OWNER: Owner = { uid: 0, gid: 0 }
const MAX_SYMLINKS = 8

/** An absolute container path, normalized; `/` itself only when `allowRoot`. */
export const containerPath = (path: string, allowRoot = false): Effect.Effect<string, InvalidOption> => {
  const normalized = Path.posix.normalize(path)
  return path.startsWith("/") && !path.includes("\0") && (allowRoot || normalized !== "/")
    ? Effect.succeed(normalized.length > 1 ? normalized.replace(/\/+$/, "") : normalized)
    : Effect.fail(
        new InvalidOption({ option: "path", detail: `${JSON.stringify(path)} must be an absolute path` })
      )
}

const ownerFor = (path: string): Owner =>
  path === SANDBOX_HOME || path.startsWith(`${SANDBOX_HOME}/`) ? SANDBOX_OWNER : ROOT_OWNER

// Go's os.FileMode bits, as both engines put them in the path stat
const MODE_DIR = 2 ** 31
const MODE_SYMLINK = 2 ** 27
const hasBit = (mode: number, bit: number) => Math.floor(mode / bit) % 2 === 1
export const isDirectory = (stat: PathStat): boolean => hasBit(stat.mode, MODE_DIR)
export const isSymlink = (stat: PathStat): boolean => hasBit(stat.mode, MODE_SYMLINK)

/** An `EngineRequestError` with one of `statuses`. */
const refusedWith =
  (...statuses: ReadonlyArray<number>) =>
  (error: unknown): error is EngineRequestError =>
    typeof error === "object" &&
    error !== null &&
    "_tag" in error &&
    error._tag === "EngineRequestError" &&
    "status" in error &&
    typeof error.status === "number" &&
    statuses.includes(error.status)

/** A 404 from the archive endpoints (the container exists: that is a different error) is a missing path. */
const notFoundAsPath =
  (containerId: string, path: string) =>
  <A, E, R>(
    effect: Effect.Effect<A, E | EngineRequestError, R>
  ): Effect.Effect<A, E | EngineRequestError | PathNotFound, R> =>
    Effect.catchIf(effect, refusedWith(404), () => Effect.fail(new PathNotFound({ containerId, path })))

/**
 * The deepest existing directory above `path` and the names of the missing
 * directories between it and `path` (top first).
 */
const existingParent = (engine: Engine, containerId: string, path: string) =>
  Effect.gen(function* () {
    const missing: Array<string> = []
    let current = Path.posix.dirname(path)
    for (;;) {
      const stat = yield* engine.statPath(containerId, current)
      if (stat !== undefined) {
        if (!isDirectory(stat) && !isSymlink(stat)) {
          return yield* new InvalidOption({ option: "path", detail: `${current} is not a directory` })
        }
        return { base: current, missing: missing.reverse() }
      }
      // "/" always exists: a 404 for it means the container is gone
      if (current === "/") return yield* new ContainerNotFound({ containerId })
      missing.push(Path.posix.basename(current))
      current = Path.posix.dirname(current)
    }
  })

/** Docker's answer to a `PUT` into a missing directory (404) or a file (500): the parent needs a look. */
const refusedExtraction = refusedWith(404, 500)

/** Sends a tar built by `build(pack, prefix)` so that it lands at `path`'s parent, creating missing parents. */
const putAt = (
  engine: Engine,
  containerId: string,
  path: string,
  build: (pack: Parameters<Parameters<typeof packPieces>[0]>[0], name: string, owner: Owner) => Promise<void>,
  onPackError: (error: unknown) => HostPathError
) => {
  const owner = ownerFor(path)
  const send = (base: string, missing: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const prefix = missing.map((_, i) => missing.slice(0, i + 1).join("/"))
      const name = [...missing, Path.posix.basename(path)].join("/")
      const tar = yield* Effect.tryPromise({
        try: () =>
          packPieces(async (pack) => {
            await addDirs(pack, prefix, owner)
            await build(pack, name, owner)
          }),
        catch: onPackError
      })
      yield* engine.putArchive(containerId, base, tar)
    })
  const walkThenSend = Effect.flatMap(existingParent(engine, containerId, path), ({ base, missing }) =>
    send(base, missing)
  )
  return Effect.flatMap(engine.info, (info) =>
    // One call where a missing parent ends as it would here: Docker refuses it (then the walk), Podman
    // makes it root's with mode 0755, as pocketdock does outside /home/sandbox. Inside, Podman's root-owned
    // parent would be wrong: look first.
    info.kind === "docker" || owner === ROOT_OWNER
      ? send(Path.posix.dirname(path), []).pipe(Effect.catchIf(refusedExtraction, () => walkThenSend))
      : walkThenSend
  )
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** `Container.writeFile`. */
export const writeFile = (engine: Engine, containerId: string, path: string, content: string | Uint8Array) =>
  Effect.gen(function* () {
    const target = yield* containerPath(path)
    const data = typeof content === "string" ? new TextEncoder().encode(content) : content
    yield* putAt(
      engine,
      containerId,
      target,
      (pack, name, owner) => addFile(pack, name, data, owner),
      (error) => new HostPathError({ path: "<memory>", detail: describe(error) })
    ).pipe(
      // packing bytes in memory does not touch the host
      Effect.catchTag("HostPathError", (error) => Effect.die(error))
    )
  })

/** `Container.push`. */
export const push = (engine: Engine, containerId: string, src: string, dest: string) =>
  Effect.gen(function* () {
    const target = yield* containerPath(dest)
    const source = Path.resolve(src)
    yield* Effect.tryPromise({
      try: () => FsP.lstat(source),
      catch: (error) => new HostPathError({ path: source, detail: describe(error) })
    })
    yield* putAt(
      engine,
      containerId,
      target,
      (pack, name, owner) => addHostTree(pack, source, name, owner),
      (error) => new HostPathError({ path: source, detail: describe(error) })
    )
  })

/** A malformed archive from the engine is the engine talking nonsense. */
const garbled = (error: UnsafeArchive | HostPathError) =>
  new SocketCommunicationError({ detail: `archive: ${error.message}` })

/** `Container.readFile`: the file's bytes; symlinks followed on both engines. */
export const readFile = (engine: Engine, containerId: string, path: string) =>
  Effect.gen(function* () {
    let current = yield* containerPath(path)
    for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
      const source = current
      const first = yield* withEntriesFrom(
        (extract) =>
          engine.pipeArchive(containerId, source, extract).pipe(notFoundAsPath(containerId, source)),
        readFirstEntry,
        (error) => new UnsafeArchive({ entry: "", detail: describe(error) })
      ).pipe(
        Effect.mapError((error) =>
          error instanceof UnsafeArchive || error instanceof HostPathError ? garbled(error) : error
        )
      )
      switch (first._tag) {
        case "file":
          return first.data
        case "symlink":
          current = Path.posix.resolve(Path.posix.dirname(source), first.target)
          continue
        case "other":
          return yield* new InvalidOption({ option: "path", detail: `${path} is not a file (${first.type})` })
      }
    }
    return yield* new InvalidOption({ option: "path", detail: `${path}: too many levels of symlinks` })
  })

/** `Container.pull`: `dest` becomes a copy of `src`; a symlink `src` is followed on both engines. */
export const pull = (engine: Engine, containerId: string, src: string, dest: string) =>
  Effect.gen(function* () {
    const source = yield* containerPath(src, true)
    const target = Path.resolve(dest)
    yield* Effect.scoped(
      Effect.gen(function* () {
        let archive = yield* engine.getArchive(containerId, source).pipe(notFoundAsPath(containerId, source))
        const link = archive.stat.linkTarget ?? ""
        if (isSymlink(archive.stat) && link !== "" && link !== source) {
          const resolved = Path.posix.resolve(Path.posix.dirname(source), link)
          archive = yield* engine
            .getArchive(containerId, resolved)
            .pipe(notFoundAsPath(containerId, resolved))
        }
        yield* withEntries(
          archive.tar,
          (entries) => extractTree(entries, target),
          (error) => new HostPathError({ path: target, detail: describe(error) })
        )
      })
    )
  })

// --- listing -------------------------------------------------------------------

/**
 * Lists one directory as NUL-terminated names (`name/` for directories, not
 * following symlinks). Exit 3: missing; 4: not a directory. POSIX sh only.
 */
export const LIST_SCRIPT = [
  '[ -e "$1" ] || [ -L "$1" ] || exit 3',
  '[ -d "$1" ] || exit 4',
  'cd -- "$1" || exit 4',
  "for f in * .*; do",
  '  case "$f" in .|..) continue ;; esac',
  '  [ -e "$f" ] || [ -L "$f" ] || continue',
  `  if [ -d "$f" ] && [ ! -L "$f" ]; then printf '%s/\\0' "$f"; else printf '%s\\0' "$f"; fi`,
  "done"
].join("\n")

/** The argv of the listing of `path`. */
export const listCommand = (path: string): ReadonlyArray<string> => [
  "/bin/sh",
  "-c",
  LIST_SCRIPT,
  "pocketdock-ls",
  path
]

/** Names from the NUL-separated output, sorted. */
export const parseListing = (stdout: string): ReadonlyArray<string> =>
  stdout
    .split("\0")
    .filter((name) => name !== "")
    .sort()
