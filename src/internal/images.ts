/**
 * Building profile images through the engine's build API (with a cache keyed
 * by a hash of the profile's directory), and exporting/importing images to
 * `.tar` / `.tar.gz` files.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Zlib from "node:zlib"
import { Chunk, Effect, Stream } from "effect"
import * as TarStream from "tar-stream"
import type { ProgressLine } from "../schemas/EngineApi.js"
import type { ProfileInfo } from "../schemas/Project.js"
import {
  Engine,
  type EngineRequestError,
  type ImageNotFound,
  type TransportError
} from "../services/Engine.js"
import { type ProfileNotFound, ProfileUnavailable, ProjectIOError } from "../services/ProjectService.js"
import { resolveProfile } from "./profiles.js"

/** Labels of a built profile image. */
export const ImageLabels = { profile: "pocketdock.profile", hash: "pocketdock.profile-hash" } as const

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

const ioError = (path: string) => (error: unknown) => new ProjectIOError({ path, detail: describe(error) })

/** The files of a build context directory, relative paths sorted. */
const contextFiles = (dir: string) =>
  Effect.tryPromise({
    try: async () => {
      const entries = await Fs.readdir(dir, { recursive: true, withFileTypes: true })
      const files = entries
        .filter((entry) => entry.isFile())
        .map((entry) => Path.relative(dir, Path.join(entry.parentPath, entry.name)))
        .sort()
      return Promise.all(files.map(async (name) => ({ name, data: await Fs.readFile(Path.join(dir, name)) })))
    },
    catch: ioError(dir)
  })

/** sha256 of the context's names and contents: a change to any file rebuilds. */
const hashOf = (files: ReadonlyArray<{ readonly name: string; readonly data: Uint8Array }>) => {
  const hash = Crypto.createHash("sha256")
  for (const file of files) hash.update(`${file.name}\0${file.data.length}\0`).update(file.data)
  return hash.digest("hex")
}

const tarOf = (files: ReadonlyArray<{ readonly name: string; readonly data: Uint8Array }>) =>
  Effect.async<Uint8Array, ProjectIOError>((resume) => {
    const pack = TarStream.pack()
    const parts: Array<Buffer> = []
    pack.on("data", (part: Buffer) => parts.push(part))
    pack.on("end", () => resume(Effect.succeed(new Uint8Array(Buffer.concat(parts)))))
    pack.on("error", (error) => resume(Effect.fail(ioError("build context")(error))))
    for (const file of files) pack.entry({ name: file.name, mode: 0o644 }, Buffer.from(file.data))
    pack.finalize()
  })

/** The text of a progress line worth showing (`stream` of a build, `status` of a load). */
export const progressText = (line: ProgressLine): string =>
  (line.stream ?? line.status ?? "").replace(/\n$/, "")

/**
 * Options of `buildProfile`.
 */
export interface BuildOptions {
  /** Rebuild even when an image with the same hash exists. */
  readonly force?: boolean | undefined
  /** Try to build a profile that needs the internet (`minimal-bun`). */
  readonly allowOnline?: boolean | undefined
  /** Called with each progress line as the build goes. */
  readonly onProgress?: ((line: string) => Effect.Effect<void>) | undefined
}

/** What `buildProfile` did. */
export interface BuildResult {
  readonly profile: ProfileInfo
  readonly image: string
  /** Hash of the profile directory, stored in the image's labels. */
  readonly hash: string
  /** `false` when an up-to-date image already existed. */
  readonly built: boolean
}

/** What building a profile can fail with. */
export type BuildError =
  | ProfileNotFound
  | ProfileUnavailable
  | ProjectIOError
  | EngineRequestError
  | TransportError

/**
 * Builds the profile's image `pocketdock/NAME` from `profiles/NAME`, unless
 * one with the same content hash exists.
 */
export const buildProfile = (
  name: string,
  options: BuildOptions = {}
): Effect.Effect<BuildResult, BuildError, Engine> =>
  Effect.gen(function* () {
    const engine = yield* Engine
    const profile = yield* resolveProfile(name)
    if (!profile.buildsOffline && options.allowOnline !== true) {
      return yield* new ProfileUnavailable({
        name,
        detail: `${profile.description}. Pass allowOnline to try anyway, or import the image (importImage).`
      })
    }
    const files = yield* contextFiles(profile.dockerfileDir)
    const hash = hashOf(files)
    if (options.force !== true) {
      const existing = yield* engine.inspectImage(profile.imageTag).pipe(
        Effect.map((image) => image.Config?.Labels?.[ImageLabels.hash]),
        Effect.catchTag("ImageNotFound", () => Effect.succeed(undefined))
      )
      if (existing === hash) return { profile, image: profile.imageTag, hash, built: false }
    }
    const context = yield* tarOf(files)
    yield* engine
      .build(context, {
        tag: profile.imageTag,
        labels: { [ImageLabels.profile]: name, [ImageLabels.hash]: hash }
      })
      .pipe(
        Stream.runForEach((line) => {
          const text = progressText(line)
          return text === "" || options.onProgress === undefined ? Effect.void : options.onProgress(text)
        })
      )
    return { profile, image: profile.imageTag, hash, built: true }
  }).pipe(Effect.withSpan("Images.buildProfile", { attributes: { profile: name } }))

/** Writes the image to `file` (`docker save`), gzip'd when the name ends in `.gz`/`.tgz`. */
export const exportImage = (
  image: string,
  file: string
): Effect.Effect<void, ImageNotFound | TransportError | ProjectIOError, Engine> =>
  Effect.gen(function* () {
    const engine = yield* Engine
    const chunks = yield* engine.saveImage(image).pipe(Stream.runCollect)
    const tar = Buffer.concat(Chunk.toReadonlyArray(chunks))
    const data = /\.(gz|tgz)$/.test(file) ? Zlib.gzipSync(tar) : tar
    const temp = `${file}.${process.pid}.partial`
    yield* Effect.tryPromise({
      try: async () => {
        await Fs.writeFile(temp, data)
        await Fs.rename(temp, file)
      },
      catch: ioError(file)
    })
  }).pipe(Effect.withSpan("Images.exportImage", { attributes: { image } }))

/** Loads images from a `.tar` or `.tar.gz` file; the names the engine reports loading. */
export const importImage = (
  file: string
): Effect.Effect<ReadonlyArray<string>, EngineRequestError | TransportError | ProjectIOError, Engine> =>
  Effect.gen(function* () {
    const engine = yield* Engine
    const data = yield* Effect.tryPromise({ try: () => Fs.readFile(file), catch: ioError(file) })
    // gzip magic: the engines accept gzip'd archives, but Podman's compat load is pickier; unzip here
    const tar =
      data[0] === 0x1f && data[1] === 0x8b
        ? yield* Effect.try({ try: () => Zlib.gunzipSync(data), catch: ioError(file) })
        : data
    const lines = yield* engine.loadImage(new Uint8Array(tar)).pipe(Stream.runCollect)
    return Chunk.toReadonlyArray(lines)
      .map(progressText)
      .flatMap((text) => {
        const match = /Loaded image(?:\(s\))?(?: ID)?:\s*(.+)$/m.exec(text)
        return match?.[1] === undefined ? [] : match[1].split(",").map((s) => s.trim())
      })
  }).pipe(Effect.withSpan("Images.importImage", { attributes: { file } }))
