/**
 * The live warm pool, on top of `ContainerService`.
 *
 * Effect's own `Pool` lends items and takes them back, and counts the lent
 * ones in its size; a sandbox pool must instead keep `size` *ready* ones while
 * any number are out, and never take one back. So this is a small pool of its
 * own: a list of ready sandboxes, a FIFO of waiting acquisitions, and starter
 * fibers in a `FiberSet` that the pool's scope interrupts.
 *
 * Every sandbox the pool creates is tracked until it is shut down (its own
 * scope's finalizer forgets it), so closing the pool destroys the handed-out
 * ones too. A sandbox handed to an acquisition that is interrupted at that
 * very moment goes back to the pool instead of being lost.
 *
 * @since 0.1.0
 */
import * as Crypto from "node:crypto"
import { Cause, Deferred, Duration, Effect, Exit, FiberId, FiberSet, Layer, Option, Scope } from "effect"
import { DEFAULT_IMAGE, resolveCreate, validateName } from "../internal/options.js"
import {
  ContainerPool,
  PoolClosed,
  type PoolError,
  type PoolOptions,
  type PoolStats
} from "../services/ContainerPool.js"
import {
  type Container,
  ContainerService,
  type CreateError,
  InvalidOption
} from "../services/ContainerService.js"
import { Engine, type ImageNotFound, type TransportError } from "../services/Engine.js"

interface Waiter {
  readonly deferred: Deferred.Deferred<Container, PoolError>
  /** Set when a sandbox is handed to this waiter, before the deferred completes. */
  handed: Container | undefined
}

const shutdownQuietly = (container: Container) =>
  container.shutdown({ force: true }).pipe(
    Effect.timeoutOption("30 seconds"),
    Effect.catchAllCause((cause) => Effect.logWarning("pocketdock: pool sandbox shutdown failed", cause))
  )

const isCreateError = (error: unknown): error is CreateError =>
  typeof error === "object" && error !== null && "_tag" in error

/**
 * Builds a pool that lives as long as the scope; it starts filling at once,
 * in the background (`warm` waits until it is full). Fails fast, before
 * creating anything, on invalid options or a missing image.
 *
 * @since 0.1.0
 */
export const make = (
  options: PoolOptions
): Effect.Effect<
  ContainerPool,
  InvalidOption | ImageNotFound | TransportError,
  ContainerService | Engine | Scope.Scope
> =>
  Effect.gen(function* () {
    const containers = yield* ContainerService
    const engine = yield* Engine
    const { size, namePrefix: prefixOption, concurrency: concurrencyOption, ...createOptions } = options
    if ("name" in createOptions || "persist" in createOptions) {
      return yield* new InvalidOption({
        option: "pool",
        detail: "a pool names its sandboxes and never keeps them: use namePrefix, not name or persist"
      })
    }
    if (!Number.isInteger(size) || size < 1) {
      return yield* new InvalidOption({ option: "size", detail: `${size}: must be a whole number ≥ 1` })
    }
    const concurrency = concurrencyOption ?? Math.min(size, 4)
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      return yield* new InvalidOption({
        option: "concurrency",
        detail: `${concurrency}: must be a whole number ≥ 1`
      })
    }
    const namePrefix = yield* validateName(
      prefixOption ?? `pd-pool-${Crypto.randomBytes(4).toString("hex")}`
    ).pipe(Effect.mapError((e) => new InvalidOption({ option: "namePrefix", detail: e.detail })))
    // the same validation `create` does, once, so that bad options fail here
    const resolved = yield* resolveCreate(
      { ...createOptions, name: `${namePrefix}-0` },
      { image: DEFAULT_IMAGE, network: true }
    )
    if (createOptions.profile === undefined) yield* engine.inspectImage(resolved.spec.image)

    const ready: Array<Container> = []
    const waiters: Array<Waiter> = []
    const warmWaiters: Array<Deferred.Deferred<void, PoolError>> = []
    /** Every sandbox created and not yet shut down: ready and handed out. */
    const alive = new Set<Container>()
    let starting = 0
    let counter = 0
    let failures = 0
    let closed = false

    const fibers = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(fibers)<never>()

    const settleWarm = () => {
      if (ready.length < size) return
      for (const deferred of warmWaiters.splice(0)) Deferred.unsafeDone(deferred, Exit.void)
    }

    /** Gives a sandbox to the oldest waiter, or puts it among the ready ones. */
    const deliver = (container: Container): void => {
      const waiter = waiters.shift()
      if (waiter !== undefined) {
        waiter.handed = container
        Deferred.unsafeDone(waiter.deferred, Exit.succeed(container))
        return
      }
      ready.push(container)
      settleWarm()
    }

    const created = (container: Container): Effect.Effect<void> =>
      Effect.suspend(() => {
        starting--
        failures = 0
        alive.add(container)
        return Scope.addFinalizer(
          container.scope,
          Effect.sync(() => alive.delete(container))
        ).pipe(
          Effect.zipRight(
            Effect.suspend(() => {
              if (closed) return shutdownQuietly(container)
              deliver(container)
              // handed straight to a waiter, it leaves the pool short of `size`
              refill()
              return Effect.void
            })
          )
        )
      })

    const failed = (cause: Cause.Cause<CreateError>): Effect.Effect<void> =>
      Effect.gen(function* () {
        failures++
        const error = Cause.failureOption(cause)
        if (Option.isSome(error) && isCreateError(error.value)) {
          // nobody should wait for ever on a pool that cannot start sandboxes
          const waiter = waiters.shift()
          if (waiter !== undefined) Deferred.unsafeDone(waiter.deferred, Exit.fail(error.value))
          for (const deferred of warmWaiters.splice(0)) Deferred.unsafeDone(deferred, Exit.fail(error.value))
        }
        yield* Effect.logWarning("pocketdock: pool could not start a sandbox", cause)
        yield* Effect.sleep(Duration.millis(Math.min(30_000, 250 * 2 ** Math.min(failures, 7))))
      }).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            starting--
            refill()
          })
        )
      )

    const startOne = (): void => {
      starting++
      const name = `${namePrefix}-${counter++}`
      runFork(
        // not interruptible until it is delivered: a sandbox being started is
        // always handed out, kept ready or shut down, never dropped half-way
        Effect.uninterruptibleMask((restore) =>
          containers
            .create({ ...createOptions, name })
            .pipe(
              Effect.matchCauseEffect({ onSuccess: created, onFailure: (cause) => restore(failed(cause)) })
            )
        ).pipe(Effect.withSpan("ContainerPool.start", { attributes: { name } }))
      )
    }

    /** Starts sandboxes until `size` (plus one per waiting acquisition) are ready or starting. */
    function refill(): void {
      if (closed) return
      while (starting < concurrency && ready.length + starting < size + waiters.length) startOne()
    }

    /**
     * Takes a ready sandbox or waits for one. Runs uninterruptibly except for
     * the wait (`restore`), so a sandbox taken is always returned.
     */
    const takeWith = (
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ): Effect.Effect<Container, PoolError> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new PoolClosed({ namePrefix }))
        const container = ready.shift()
        if (container !== undefined) {
          refill()
          return Effect.succeed(container)
        }
        const waiter: Waiter = { deferred: Deferred.unsafeMake(FiberId.none), handed: undefined }
        waiters.push(waiter)
        refill()
        return restore(Deferred.await(waiter.deferred)).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              const index = waiters.indexOf(waiter)
              if (index !== -1) waiters.splice(index, 1)
              // handed over just as we were interrupted: back to the pool
              if (waiter.handed !== undefined && !closed) deliver(waiter.handed)
            })
          )
        )
      })

    const shutdown: Effect.Effect<void> = Effect.gen(function* () {
      if (closed) return
      closed = true
      for (const waiter of waiters.splice(0)) {
        Deferred.unsafeDone(waiter.deferred, Exit.fail(new PoolClosed({ namePrefix })))
      }
      for (const deferred of warmWaiters.splice(0)) {
        Deferred.unsafeDone(deferred, Exit.fail(new PoolClosed({ namePrefix })))
      }
      ready.length = 0
      // starters finish what they began (and shut it down, the pool being closed)
      yield* FiberSet.clear(fibers)
      yield* Effect.forEach([...alive], shutdownQuietly, { concurrency: 8, discard: true })
    }).pipe(Effect.withSpan("ContainerPool.shutdown", { attributes: { namePrefix } }))

    yield* Effect.addFinalizer(() => shutdown)

    const pool: ContainerPool = {
      size,
      namePrefix,
      take: Effect.uninterruptibleMask(takeWith).pipe(
        Effect.withSpan("ContainerPool.take", { attributes: { namePrefix } })
      ),
      acquire: Effect.uninterruptibleMask((restore) =>
        Effect.tap(takeWith(restore), (container) => Effect.addFinalizer(() => shutdownQuietly(container)))
      ).pipe(Effect.withSpan("ContainerPool.acquire", { attributes: { namePrefix } })),
      warm: Effect.suspend(() => {
        if (closed) return Effect.fail(new PoolClosed({ namePrefix }))
        if (ready.length >= size) return Effect.void
        const deferred = Deferred.unsafeMake<void, PoolError>(FiberId.none)
        warmWaiters.push(deferred)
        return Deferred.await(deferred)
      }),
      stats: Effect.sync(
        (): PoolStats => ({
          ready: ready.length,
          starting,
          inUse: alive.size - ready.length,
          waiting: waiters.length
        })
      ),
      shutdown
    }
    refill()
    return pool
  }).pipe(Effect.withSpan("ContainerPool.make", { attributes: { size: options.size } }))

/**
 * A `ContainerPool` for the life of the Layer.
 *
 * @since 0.1.0
 */
export const layer = (
  options: PoolOptions
): Layer.Layer<ContainerPool, InvalidOption | ImageNotFound | TransportError, ContainerService | Engine> =>
  Layer.scoped(ContainerPool, make(options))
