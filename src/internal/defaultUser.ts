/**
 * The default user of a new sandbox: `sandbox` when the image has it. Found
 * with one archive read of /etc/passwd as it starts (no exec, no image
 * convention to trust), bounded, once per image id; when it cannot be read,
 * the image's user.
 */
import { Chunk, Effect, Stream } from "effect"
import type { Engine } from "../services/Engine.js"
import { SANDBOX_USER } from "./options.js"

/** /etc/passwd bigger than this is not read: the image keeps its own user. */
const MAX_TAR = 1024 * 1024

/** The content of the first regular file in a tar, or undefined. */
export const firstTarFile = (tar: Uint8Array): Uint8Array | undefined => {
  if (tar.length < 512) return undefined
  const type = tar[156]
  // '0' or NUL: a regular file (a symlinked /etc/passwd is not followed)
  if (type !== 0x30 && type !== 0) return undefined
  const size = Number.parseInt(
    Buffer.from(tar.subarray(124, 136)).toString("latin1").replace(/\0/g, "").trim(),
    8
  )
  if (!Number.isSafeInteger(size) || size < 0 || 512 + size > tar.length) return undefined
  return tar.subarray(512, 512 + size)
}

/** Whether a passwd file has an entry for `user`. */
export const hasUser = (passwd: string, user: string): boolean =>
  passwd.split("\n").some((line) => line.split(":")[0] === user)

/**
 * `"sandbox"` when the container's /etc/passwd (read capped) has that user,
 * else undefined; fails when it cannot be read.
 */
const lookupDefaultUser = (engine: Engine, containerId: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const archive = yield* engine.getArchive(containerId, "/etc/passwd")
      const parts = yield* archive.tar.pipe(
        Stream.mapAccum(0, (total, chunk) => [total + chunk.length, { total, chunk }] as const),
        Stream.takeWhile(({ total }) => total <= MAX_TAR),
        Stream.map(({ chunk }) => chunk),
        Stream.runCollect
      )
      const file = firstTarFile(Buffer.concat(Chunk.toArray(parts)))
      return file !== undefined && hasUser(Buffer.from(file).toString("utf8"), SANDBOX_USER)
        ? SANDBOX_USER
        : undefined
    })
  ).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "timed out" }))

/**
 * The default user of containers of one image, found once per image id:
 * an image id names its content, /etc/passwd included. The first container
 * of an image reads its /etc/passwd; on Podman that archive read takes about
 * 0.1 s and holds the container's lock, so the next ones do not.
 */
export class DefaultUsers {
  private readonly known = new Map<string, string | undefined>()

  /** `"sandbox"` when the container's image has it; undefined (the image's user) when not or unknown. */
  readonly of = (engine: Engine, containerId: string, image: string): Effect.Effect<string | undefined> => {
    const self = this
    return Effect.gen(function* () {
      const imageId = yield* engine.inspectImage(image).pipe(
        Effect.map((inspect) => inspect.Id),
        Effect.orElseSucceed(() => undefined)
      )
      if (imageId !== undefined && self.known.has(imageId)) return self.known.get(imageId)
      const user = yield* lookupDefaultUser(engine, containerId)
      if (imageId !== undefined) self.known.set(imageId, user)
      return user
    }).pipe(
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logDebug("pocketdock: /etc/passwd not readable, keeping the image's user", error),
          undefined
        )
      ),
      Effect.withSpan("Container.defaultUser", { attributes: { containerId, image } })
    )
  }
}
