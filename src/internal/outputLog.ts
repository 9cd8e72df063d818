/**
 * Output of sessions and detached processes on its way to an instance's
 * `logs/` (`auto_log`): chunks are queued without blocking the reader and
 * appended in order by one writer fiber, in batches.
 */
import { Chunk, Deferred, Effect, Fiber, Queue, type Scope } from "effect"
import type { Container } from "../services/ContainerService.js"
import type { LogKind } from "../services/ProjectService.js"

/** The writer of one session's or process's output. */
export interface OutputLog {
  /** Queues a chunk; never blocks or fails. */
  readonly push: (data: Uint8Array) => void
  /** Waits until everything pushed so far is written. */
  readonly flush: Effect.Effect<void>
}

/** Asks the writer to answer once what was queued before it is written. */
class Barrier {
  constructor(readonly done: Deferred.Deferred<void>) {}
}

/** How long closing waits for the last output to be written. */
const CLOSE_GRACE = "5 seconds"

/**
 * A writer to `container.log(kind, …)` living in the current scope, which
 * flushes it when closed; `undefined` when the container logs nothing (outside
 * a project instance, or `auto_log` off), so readers pay one check per chunk.
 */
export const openOutputLog = (
  container: Container,
  kind: LogKind
): Effect.Effect<OutputLog | undefined, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (!(yield* container.logging)) return undefined
    const queue = yield* Queue.unbounded<Uint8Array | Barrier>()
    const write = (pieces: Array<Uint8Array>) =>
      pieces.length === 0
        ? Effect.void
        : container.log(kind, pieces.length === 1 ? (pieces[0] as Uint8Array) : Buffer.concat(pieces))
    const writer = Queue.takeBetween(queue, 1, Number.POSITIVE_INFINITY).pipe(
      Effect.flatMap((items) =>
        Effect.gen(function* () {
          let batch: Array<Uint8Array> = []
          for (const item of Chunk.toReadonlyArray(items)) {
            if (item instanceof Barrier) {
              yield* write(batch)
              batch = []
              yield* Deferred.succeed(item.done, undefined)
            } else {
              batch.push(item)
            }
          }
          yield* write(batch)
        }).pipe(
          // a batch taken is written whole: interruption waits for it (but not for the next take)
          Effect.uninterruptible
        )
      ),
      Effect.forever
    )
    const flush = Effect.gen(function* () {
      const done = yield* Deferred.make<void>()
      yield* Queue.offer(queue, new Barrier(done))
      yield* Deferred.await(done)
    })
    let fiber: Fiber.RuntimeFiber<never> | undefined
    yield* Effect.addFinalizer(() =>
      flush.pipe(
        Effect.timeoutOption(CLOSE_GRACE),
        Effect.zipRight(fiber === undefined ? Effect.void : Fiber.interrupt(fiber)),
        Effect.zipRight(Queue.shutdown(queue))
      )
    )
    fiber = yield* Effect.forkDaemon(writer)
    return {
      push: (data: Uint8Array) => {
        if (data.length > 0) queue.unsafeOffer(data)
      },
      flush
    }
  })
