/**
 * A command's output as a Stream of decoded chunks, as the process writes it.
 * Built on `driveExec` (timeout, cap, kill inside) like a blocking run.
 */
import { StringDecoder } from "node:string_decoder"
import { Deferred, Effect, Exit, Mailbox, Stream } from "effect"
import { type ExecResult, StreamChunk, type StreamName } from "../schemas/ExecResult.js"
import { CommandTimeout, OutputTruncated } from "../services/ContainerService.js"
import type { ContainerNotRunning, Engine, EngineRequestError, TransportError } from "../services/Engine.js"
import { driveExec, forkStoppable, OutputCollector, resultOf, type StopReason } from "./exec.js"

/**
 * One UTF-8 decoder per stream in streaming mode, so that a character split
 * across frames is decoded whole.
 */
export class Utf8Decoders {
  // StringDecoder, not TextDecoder: the same handling of characters split
  // across chunks and of invalid bytes (U+FFFD), several times faster on large output
  private readonly decoders: Record<StreamName, StringDecoder> = {
    stdout: new StringDecoder("utf8"),
    stderr: new StringDecoder("utf8")
  }

  decode(stream: StreamName, data: Uint8Array): string {
    return this.decoders[stream].write(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
  }

  /** What is left at the end (a truncated character becomes U+FFFD). */
  flush(stream: StreamName): string {
    return this.decoders[stream].end()
  }
}

export interface ExecStreamOptions {
  readonly timeoutSeconds: number
  readonly maxOutput: number
  readonly result?: Deferred.Deferred<ExecResult> | undefined
  /** The run's token (see `runTokenEnv`). */
  readonly token?: string | undefined
}

/**
 * Streams an exec created from `withPidReport(argv)`. The command starts when
 * the stream is run; closing the stream early (a `take`, an interruption, a
 * consumer's `break`) kills it inside the container and waits for it to end.
 * A timeout fails the stream with `CommandTimeout`, the cap with
 * `OutputTruncated`, each with the partial result.
 */
export const execStream = (
  engine: Engine,
  containerId: string,
  execId: string,
  options: ExecStreamOptions
): Stream.Stream<
  StreamChunk,
  CommandTimeout | OutputTruncated | ContainerNotRunning | EngineRequestError | TransportError
> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const mailbox = yield* Mailbox.make<
        StreamChunk,
        CommandTimeout | OutputTruncated | ContainerNotRunning | EngineRequestError | TransportError
      >()
      // the bytes are kept as they came (views of socket reads, outside the JS heap); the
      // result, one string per stream, is decoded only if someone reads it
      const output = new OutputCollector(options.maxOutput)
      const decoders = new Utf8Decoders()
      const stop = yield* Deferred.make<StopReason>()
      // What one socket read brings of one stream goes out as one chunk (Podman
      // frames are a few KiB each): frames are decoded in one synchronous pass
      // per read, so a microtask runs once the read is done.
      let pending: { stream: StreamName; text: string } | undefined
      let flushQueued = false
      const flush = () => {
        flushQueued = false
        if (pending === undefined) return
        mailbox.unsafeOffer(
          new StreamChunk({ stream: pending.stream, data: pending.text }, { disableValidation: true })
        )
        pending = undefined
      }
      const emit = (stream: StreamName, text: string) => {
        if (text.length === 0) return
        if (pending !== undefined && pending.stream !== stream) flush()
        if (pending === undefined) pending = { stream, text }
        else pending.text += text
        if (!flushQueued) {
          flushQueued = true
          queueMicrotask(flush)
        }
      }

      const run = Effect.gen(function* () {
        const driven = yield* driveExec(engine, containerId, execId, {
          timeoutSeconds: options.timeoutSeconds,
          token: options.token,
          stop,
          onOutput: (stream, data) => {
            emit(stream, decoders.decode(stream, output.keep(stream, data)))
            return !output.truncated
          }
        })
        emit("stdout", decoders.flush("stdout"))
        emit("stderr", decoders.flush("stderr"))
        let built: ExecResult | undefined
        const result = Effect.sync(() => {
          built ??= resultOf(driven, output)
          return built
        })
        if (options.result) yield* Deferred.completeWith(options.result, result)
        // a timeout or the cap fails the stream with the result in the error
        return driven.stopped === "timeout" || output.truncated ? yield* result : undefined
      }).pipe(
        Effect.exit,
        // what came before an end or a failure is delivered before it
        Effect.tap(() => Effect.sync(flush)),
        Effect.flatMap((exit) =>
          mailbox.done(
            Exit.flatMap(
              exit,
              (result): Exit.Exit<void, CommandTimeout | OutputTruncated> =>
                result === undefined
                  ? Exit.void
                  : result.timedOut
                    ? Exit.fail(new CommandTimeout({ timeoutSeconds: options.timeoutSeconds, result }))
                    : result.truncated
                      ? Exit.fail(new OutputTruncated({ maxOutput: options.maxOutput, result }))
                      : Exit.void
            )
          )
        )
      )

      yield* forkStoppable(run, stop)
      return Mailbox.toStream(mailbox)
    })
  )
