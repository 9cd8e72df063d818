/**
 * The root of pocketdock's error family.
 *
 * Every error pocketdock raises is a `Schema.TaggedError` (so it has a `_tag`,
 * typed fields and a readable `message`) and is also `instanceof PocketDockError`,
 * which is what Promise users catch.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** @since 0.1.0 */
export const PocketDockErrorTypeId: unique symbol = Symbol.for("pocketdock/PocketDockError")

/**
 * `err instanceof PocketDockError` is true for every error pocketdock raises.
 *
 * @since 0.1.0
 */
// biome-ignore lint/complexity/noStaticOnlyClass: a class is what `instanceof` needs
export abstract class PocketDockError {
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && PocketDockErrorTypeId in value
  }
}

/**
 * `Schema.TaggedError`, marked as a member of the pocketdock error family.
 *
 * @internal
 */
export const TaggedError =
  <Self>() =>
  <Tag extends string, Fields extends Schema.Struct.Fields>(tag: Tag, fields: Fields) => {
    const base = Schema.TaggedError<Self>()(tag, fields)
    if (typeof base === "function") {
      Object.defineProperty(base.prototype, PocketDockErrorTypeId, { value: PocketDockErrorTypeId })
    }
    return base
  }
