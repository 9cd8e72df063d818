/**
 * Tar archives for the engine's archive endpoints, with tar-stream: packing
 * (host files, bytes) and a safe, streaming extractor for `pull`.
 *
 * The extractor writes only below its destination. Every entry name must be
 * relative, without `..`, under the archive's one top-level name; every
 * parent on the way is checked with `lstat` and must be a real directory
 * (never a symlink); files are opened with `O_NOFOLLOW | O_EXCL` after any old
 * non-directory at that path is unlinked; hard links must point at a regular
 * file already extracted. Symlinks are recreated as they are (a symlink is
 * not a write outside) and never followed afterwards.
 */
import * as Fs from "node:fs"
import * as FsP from "node:fs/promises"
import * as Path from "node:path"
import { Effect, Stream } from "effect"
import * as TarStream from "tar-stream"
import { HostPathError, UnsafeArchive } from "../services/ContainerService.js"

// --- packing -------------------------------------------------------------------

/** Owner of entries written into the container. */
export interface Owner {
  readonly uid: number
  readonly gid: number
}

type Pack = TarStream.Pack

const addEntry = (pack: Pack, header: TarStream.Headers, data?: Uint8Array): Promise<void> =>
  new Promise((resolve, reject) => {
    const callback = (error?: Error | null) => (error ? reject(error) : resolve())
    if (data === undefined) pack.entry(header, callback)
    else pack.entry(header, Buffer.from(data.buffer, data.byteOffset, data.byteLength), callback)
  })

/** Runs `build` against a tar-stream pack and returns the finished archive. */
export const packWith = async (build: (pack: Pack) => Promise<void>): Promise<Uint8Array> =>
  Buffer.concat(await packPieces(build))

/**
 * Like `packWith`, but the archive in the pieces the pack made: a file's
 * bytes stay the caller's buffer, never copied into one archive.
 */
export const packPieces = async (build: (pack: Pack) => Promise<void>): Promise<Array<Buffer>> => {
  const pack = TarStream.pack()
  const chunks: Array<Buffer> = []
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk)
  })()
  try {
    await build(pack)
    pack.finalize()
  } catch (error) {
    pack.destroy(error instanceof Error ? error : new Error(String(error)))
    await collected.catch(() => undefined)
    throw error
  }
  await collected
  return chunks
}

/** Directory entries (`a/`, `a/b/`) for the relative `dirs`, in order. */
export const addDirs = async (pack: Pack, dirs: ReadonlyArray<string>, owner: Owner): Promise<void> => {
  for (const dir of dirs) {
    await addEntry(pack, { name: `${dir}/`, type: "directory", mode: 0o755, ...owner, mtime: new Date() })
  }
}

/** A file entry with the given bytes. */
export const addFile = (
  pack: Pack,
  name: string,
  data: Uint8Array,
  owner: Owner,
  mode = 0o644
): Promise<void> =>
  addEntry(pack, { name, type: "file", mode, size: data.byteLength, ...owner, mtime: new Date() }, data)

/**
 * Adds the host path `hostPath` (file, symlink or directory tree) as `name`.
 * Sockets, FIFOs and devices are skipped.
 */
export const addHostTree = async (
  pack: Pack,
  hostPath: string,
  name: string,
  owner: Owner
): Promise<void> => {
  const stat = await FsP.lstat(hostPath)
  const common = { ...owner, mode: stat.mode & 0o7777, mtime: stat.mtime }
  if (stat.isSymbolicLink()) {
    await addEntry(pack, { ...common, name, type: "symlink", linkname: await FsP.readlink(hostPath) })
  } else if (stat.isFile()) {
    const data = await FsP.readFile(hostPath)
    await addEntry(pack, { ...common, name, type: "file", size: data.byteLength }, data)
  } else if (stat.isDirectory()) {
    await addEntry(pack, { ...common, name: `${name}/`, type: "directory" })
    const children = await FsP.readdir(hostPath)
    children.sort()
    for (const child of children)
      await addHostTree(pack, Path.join(hostPath, child), `${name}/${child}`, owner)
  }
}

// --- reading -------------------------------------------------------------------

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Feeds an Effect stream into a tar-stream extractor, with backpressure. */
const feed = <E>(extract: TarStream.Extract, tar: Stream.Stream<Uint8Array, E>): Effect.Effect<void, E> =>
  Stream.runForEach(tar, (chunk) =>
    Effect.async<void>((resume) => {
      if (extract.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
        resume(Effect.void)
        return
      }
      const onDrain = () => resume(Effect.void)
      extract.once("drain", onDrain)
      return Effect.sync(() => {
        extract.off("drain", onDrain)
      })
    })
  ).pipe(Effect.andThen(Effect.sync(() => extract.end())))

/**
 * Runs `consume` over the entries of `tar` while the stream feeds them in.
 * A failure on either side stops both.
 */
export const withEntries = <A, E>(
  tar: Stream.Stream<Uint8Array, E>,
  consume: (entries: AsyncIterator<TarStream.Entry>) => Promise<A>,
  onError: (error: unknown) => UnsafeArchive | HostPathError
): Effect.Effect<A, E | UnsafeArchive | HostPathError> =>
  withEntriesFrom((extract) => feed(extract, tar), consume, onError)

/**
 * `withEntries`, with the archive written into the extractor by `fill` (as
 * `Engine.pipeArchive` does, with no Stream between the socket and it).
 */
export const withEntriesFrom = <A, E>(
  fill: (extract: TarStream.Extract) => Effect.Effect<void, E>,
  consume: (entries: AsyncIterator<TarStream.Entry>) => Promise<A>,
  onError: (error: unknown) => UnsafeArchive | HostPathError
): Effect.Effect<A, E | UnsafeArchive | HostPathError> =>
  Effect.suspend(() => {
    const extract = TarStream.extract()
    const iterator = extract[Symbol.asyncIterator]()
    const entries: AsyncIterator<TarStream.Entry> = {
      next: async () => {
        try {
          return await iterator.next()
        } catch (error) {
          throw new UnsafeArchive({ entry: "", detail: `malformed tar: ${describe(error)}` })
        }
      }
    }
    const consumed = Effect.tryPromise({
      try: () => consume(entries),
      catch: (error) =>
        error instanceof UnsafeArchive || error instanceof HostPathError ? error : onError(error)
    })
    return Effect.all([fill(extract), consumed], { concurrency: 2 }).pipe(
      Effect.map(([, result]) => result),
      Effect.onExit(() => Effect.sync(() => extract.destroy()))
    )
  })

const drain = async (entry: TarStream.Entry): Promise<void> => {
  for await (const _ of entry) {
    // discard
  }
}

const readAll = async (entry: TarStream.Entry): Promise<Uint8Array> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of entry) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** The first entry of an archive of one path: a file's bytes, a symlink's target, or a directory. */
export type FirstEntry =
  | { readonly _tag: "file"; readonly data: Uint8Array }
  | { readonly _tag: "symlink"; readonly target: string }
  | { readonly _tag: "other"; readonly type: string }

export const readFirstEntry = async (entries: AsyncIterator<TarStream.Entry>): Promise<FirstEntry> => {
  const step = await entries.next()
  if (step.done === true) throw new UnsafeArchive({ entry: "", detail: "empty archive" })
  const entry = step.value
  const type = entry.header.type ?? "file"
  let first: FirstEntry
  if (type === "file" || type === "contiguous-file") first = { _tag: "file", data: await readAll(entry) }
  else {
    await drain(entry)
    first =
      type === "symlink" ? { _tag: "symlink", target: entry.header.linkname ?? "" } : { _tag: "other", type }
  }
  // the rest of the archive is read (and dropped) so the stream ends cleanly
  for (let rest = await entries.next(); rest.done !== true; rest = await entries.next())
    await drain(rest.value)
  return first
}

// --- safe extraction -----------------------------------------------------------------

const unsafe = (entry: string, detail: string) => new UnsafeArchive({ entry, detail })

/** The components of an entry name; refuses absolute names, `..` and NUL. */
export const entryParts = (name: string): ReadonlyArray<string> => {
  if (name.startsWith("/")) throw unsafe(name, "absolute path")
  if (name.includes("\0")) throw unsafe(name, "NUL in name")
  const parts = name.split("/").filter((part) => part !== "" && part !== ".")
  if (parts.includes("..")) throw unsafe(name, "'..' in path")
  return parts
}

const lstatOrUndefined = async (path: string): Promise<Fs.Stats | undefined> => {
  try {
    return await FsP.lstat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

/**
 * Makes sure every directory from `root` down to the parent of `root/rel` is
 * a real directory (created when missing), never a symlink.
 */
const ensureParents = async (root: string, rel: ReadonlyArray<string>, name: string): Promise<void> => {
  let current = root
  for (let i = -1; i < rel.length - 1; i++) {
    if (i >= 0) current = Path.join(current, rel[i] ?? "")
    const stat = await lstatOrUndefined(current)
    if (stat === undefined) await FsP.mkdir(current, { mode: 0o700 })
    else if (stat.isSymbolicLink()) throw unsafe(name, "goes through a symlink")
    else if (!stat.isDirectory()) throw unsafe(name, "goes through a file")
  }
}

/** Clears `target` for a new non-directory entry: unlinks what is there, refuses a directory. */
const clearForFile = async (target: string, name: string): Promise<void> => {
  const stat = await lstatOrUndefined(target)
  if (stat === undefined) return
  if (stat.isDirectory()) throw unsafe(name, "would replace a directory")
  await FsP.unlink(target)
}

const writeEntryFile = async (entry: TarStream.Entry, target: string, mode: number): Promise<void> => {
  const handle = await FsP.open(
    target,
    Fs.constants.O_WRONLY | Fs.constants.O_CREAT | Fs.constants.O_EXCL | Fs.constants.O_NOFOLLOW,
    0o600
  )
  try {
    for await (const chunk of entry) await handle.write(chunk)
    await handle.chmod(mode)
    const mtime = entry.header.mtime
    if (mtime instanceof Date && !Number.isNaN(mtime.getTime())) await handle.utimes(mtime, mtime)
  } finally {
    await handle.close()
  }
}

/**
 * Extracts the archive of one container path so that `dest` becomes that
 * path: the archive's top-level name maps to `dest` itself. Refuses (with
 * `UnsafeArchive`) any entry that would land, or write through, outside.
 * Devices, FIFOs and unknown types are skipped.
 */
export const extractTree = async (entries: AsyncIterator<TarStream.Entry>, dest: string): Promise<void> => {
  const resolved = Path.resolve(dest)
  await FsP.mkdir(Path.dirname(resolved), { recursive: true })
  // the destination's own parents are the caller's: a symlink there is fine
  const root = Path.join(await FsP.realpath(Path.dirname(resolved)), Path.basename(resolved))
  let top: string | undefined
  const dirModes: Array<readonly [string, number]> = []
  for (let step = await entries.next(); step.done !== true; step = await entries.next()) {
    const entry = step.value
    const header = entry.header
    const name = header.name
    const type = header.type ?? "file"
    const parts = entryParts(name)
    const [first, ...rel] = parts
    if (first === undefined) {
      if (type !== "directory") throw unsafe(name, "empty name")
      await drain(entry)
      continue
    }
    if (top === undefined) top = first
    else if (first !== top) throw unsafe(name, `outside the archive's root ${JSON.stringify(top)}`)
    const target = rel.length === 0 ? root : Path.join(root, ...rel)
    if (rel.length > 0) await ensureParents(root, rel, name)
    const mode = (header.mode ?? 0o644) & 0o777
    switch (type) {
      case "directory": {
        const stat = await lstatOrUndefined(target)
        if (stat === undefined) await FsP.mkdir(target, { mode: 0o700 })
        else if (stat.isSymbolicLink()) throw unsafe(name, "a symlink is in the way")
        else if (!stat.isDirectory()) {
          if (rel.length === 0)
            throw new HostPathError({ path: root, detail: "exists and is not a directory" })
          await FsP.unlink(target)
          await FsP.mkdir(target, { mode: 0o700 })
        }
        dirModes.push([target, mode | 0o700])
        await drain(entry)
        break
      }
      case "file":
      case "contiguous-file": {
        await clearForFile(target, name)
        await writeEntryFile(entry, target, mode)
        break
      }
      case "symlink": {
        await clearForFile(target, name)
        await FsP.symlink(header.linkname ?? "", target)
        await drain(entry)
        break
      }
      case "link": {
        const linkParts = entryParts(header.linkname ?? "")
        const [linkTop, ...linkRel] = linkParts
        if (linkTop !== top || linkRel.length === 0) throw unsafe(name, "hard link outside the archive")
        await ensureParents(root, linkRel, name)
        const source = Path.join(root, ...linkRel)
        const stat = await lstatOrUndefined(source)
        if (stat === undefined || !stat.isFile()) throw unsafe(name, "hard link to something not a file")
        await clearForFile(target, name)
        await FsP.link(source, target)
        await drain(entry)
        break
      }
      default:
        await drain(entry)
    }
  }
  // directory modes last (deepest first), so a read-only directory still got its children
  for (const [dir, mode] of dirModes.reverse()) await FsP.chmod(dir, mode)
}

/** Turns an unexpected failure of the host file system into a `HostPathError`. */
export const hostError =
  (path: string) =>
  (error: unknown): HostPathError =>
    new HostPathError({ path, detail: describe(error) })
