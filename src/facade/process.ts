/**
 * The facade's streaming and detached runs: `ExecStream` (an async iterable
 * of chunks) and `Process`, thin wrappers over the Effect API's
 * `Container.runStream` / `Container.runDetached` run through the facade's
 * `ManagedRuntime`.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Option, type Runtime, Scope, Stream } from "effect"
import type { BufferSnapshot, ExecResult, StreamChunk } from "../schemas/ExecResult.js"
import type { RunError } from "../services/ContainerService.js"
import type { Process as ProcessHandle, Signal } from "../services/Process.js"

/** Runs an effect on the facade's runtime, throwing our errors as they are. */
export type Runner = <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

/**
 * The output of `run(cmd, { stream: true })`, as it arrives.
 *
 * ```ts
 * const s = sandbox.run("make", { stream: true })
 * for await (const chunk of s) process.stdout.write(chunk.data)
 * console.log(s.result.exitCode)
 * ```
 *
 * The command starts when iteration starts; leaving the loop early
 * (`break`, `return`, a throw) kills it inside the container. A timeout or
 * an output past `maxOutput` ends the iteration; `result` then says
 * `timedOut` / `truncated`. An `ExecStream` can be iterated once.
 */
export class ExecStream implements AsyncIterable<StreamChunk> {
  readonly #stream: Stream.Stream<StreamChunk, RunError>
  readonly #result: Deferred.Deferred<ExecResult>
  readonly #runtime: () => Promise<Runtime.Runtime<never>>
  #started = false

  /** @internal use `container.run(cmd, { stream: true })` */
  constructor(
    stream: Stream.Stream<StreamChunk, RunError>,
    result: Deferred.Deferred<ExecResult>,
    runtime: () => Promise<Runtime.Runtime<never>>
  ) {
    this.#stream = stream.pipe(
      Stream.catchTags({ CommandTimeout: () => Stream.empty, OutputTruncated: () => Stream.empty })
    )
    this.#result = result
    this.#runtime = runtime
  }

  /**
   * The command's result once iteration has ended (normally, on timeout or
   * truncation, or by leaving the loop: then the command was killed).
   * Throws when read before.
   */
  get result(): ExecResult {
    const done = Effect.runSync(Deferred.poll(this.#result))
    if (Option.isNone(done)) throw new Error("ExecStream.result is known once iteration has ended")
    return Effect.runSync(done.value)
  }

  /** Resolves with the result when the command ends (iterate the stream to run it). */
  get done(): Promise<ExecResult> {
    return Effect.runPromise(Deferred.await(this.#result))
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StreamChunk, void, undefined> {
    if (this.#started) throw new Error("an ExecStream can be iterated only once")
    this.#started = true
    const runtime = await this.#runtime()
    // one hand-over between the stream's fiber and this loop per batch of chunks, not per chunk
    for await (const batch of Stream.toAsyncIterableRuntime(Stream.chunks(this.#stream), runtime)) {
      yield* batch
    }
  }
}

/**
 * A command running in the background (`run(cmd, { detach: true })`). Its
 * output goes to a ring buffer (the newest `bufferSize` bytes, 1 MiB by
 * default) and to the container's `onStdout` / `onStderr` callbacks. It is
 * killed by `kill()`, by `[Symbol.asyncDispose]` and when its container shuts
 * down.
 */
export class Process implements AsyncDisposable {
  readonly #handle: ProcessHandle
  readonly #scope: Scope.CloseableScope
  readonly #run: Runner

  /** @internal use `container.run(cmd, { detach: true })` */
  constructor(handle: ProcessHandle, scope: Scope.CloseableScope, run: Runner) {
    this.#handle = handle
    this.#scope = scope
    this.#run = run
  }

  /** Exec id. */
  get id(): string {
    return this.#handle.id
  }
  /** Bytes in the buffer now. */
  get bufferSize(): number {
    return this.#handle.bufferSize
  }
  /** Whether output was evicted because the buffer was full. */
  get bufferOverflow(): boolean {
    return this.#handle.bufferOverflow
  }

  /** Whether the process is still running. */
  isRunning(): Promise<boolean> {
    return this.#run(this.#handle.isRunning)
  }

  /** Sends a signal (default 15, SIGTERM; a number or a name) to the process inside the container. */
  kill(signal?: Signal): Promise<void> {
    return this.#run(this.#handle.kill(signal))
  }

  /**
   * Waits for the process to end; its result holds the buffer's content.
   * With `timeout` (seconds) a process still running then is killed and the
   * result says `timedOut`.
   */
  wait(options: { readonly timeout?: number | undefined } = {}): Promise<ExecResult> {
    return this.#run(
      this.#handle
        .wait(options)
        .pipe(Effect.catchTag("CommandTimeout", (error) => Effect.succeed(error.result)))
    )
  }

  /** The buffered output; empties the buffer. */
  read(): Promise<BufferSnapshot> {
    return this.#run(this.#handle.read)
  }

  /** The buffered output, left in place. */
  peek(): Promise<BufferSnapshot> {
    return this.#run(this.#handle.peek)
  }

  /** Kills the process if it still runs. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#run(Scope.close(this.#scope, Exit.void))
  }
}
