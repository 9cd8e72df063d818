/**
 * A warm pool: sandboxes started ahead of time, handed out at once.
 *
 * The pool keeps `size` sandboxes started and ready, and starts a new one in
 * the background whenever one is handed out. Each sandbox is handed out once:
 * when its user is done it is destroyed, never put back. Closing the pool's
 * scope destroys everything it created, handed out or not.
 *
 * @since 0.1.0
 */
import type { Effect, Scope } from "effect"
import { Context, Schema } from "effect"
import type { Container, CreateError, CreateOptions } from "./ContainerService.js"
import { TaggedError } from "./PocketDockError.js"

/**
 * The pool was closed: nothing more is handed out.
 *
 * @since 0.1.0
 */
export class PoolClosed extends TaggedError<PoolClosed>()("PoolClosed", {
  namePrefix: Schema.String
}) {
  override get message(): string {
    return `the pool ${this.namePrefix} is closed`
  }
}

/**
 * What acquiring from a pool can fail with: the pool is closed, or starting
 * the sandbox that would have been handed out failed.
 *
 * @since 0.1.0
 */
export type PoolError = PoolClosed | CreateError

/**
 * How to build a pool: how many sandboxes to keep ready, and how to create
 * each (every option of `create` except `name` and `persist`: a pool names
 * its sandboxes, and they never outlive it).
 *
 * @since 0.1.0
 */
export interface PoolOptions extends Omit<CreateOptions, "name" | "persist"> {
  /** Sandboxes kept started and ready. At least 1. */
  readonly size: number
  /** Sandboxes are named `<namePrefix>-<n>`. Default `pd-pool-<8 hex>`. */
  readonly namePrefix?: string | undefined
  /** How many sandboxes may be starting at once. Default `min(size, 4)`. */
  readonly concurrency?: number | undefined
}

/**
 * Counts of a pool at one moment.
 *
 * @since 0.1.0
 */
export interface PoolStats {
  /** Started, waiting to be handed out. */
  readonly ready: number
  /** Being created and started. */
  readonly starting: number
  /** Handed out and not yet shut down. */
  readonly inUse: number
  /** Acquisitions waiting for a sandbox. */
  readonly waiting: number
}

/**
 * A warm pool of sandboxes.
 *
 * @since 0.1.0
 */
export interface ContainerPool {
  readonly size: number
  /** Names of the pool's sandboxes start with `<namePrefix>-`. */
  readonly namePrefix: string
  /**
   * A started sandbox, at once when one is ready (otherwise as soon as one
   * is). It is destroyed when the scope closes.
   */
  readonly acquire: Effect.Effect<Container, PoolError, Scope.Scope>
  /**
   * Like `acquire`, but the caller owns the sandbox and must `shutdown` it
   * (the pool still destroys it when the pool closes).
   */
  readonly take: Effect.Effect<Container, PoolError>
  /**
   * Waits until `size` sandboxes are ready. Fails when starting one fails
   * meanwhile (a missing image, an engine refusal).
   */
  readonly warm: Effect.Effect<void, PoolError>
  readonly stats: Effect.Effect<PoolStats>
  /** Closes the pool now: destroys every sandbox it created. Idempotent. */
  readonly shutdown: Effect.Effect<void>
}

/**
 * One pool provided by a Layer (`ContainerPoolLive.layer(options)`).
 *
 * @since 0.1.0
 */
export const ContainerPool: Context.Tag<ContainerPool, ContainerPool> =
  Context.GenericTag<ContainerPool>("pocketdock/ContainerPool")
