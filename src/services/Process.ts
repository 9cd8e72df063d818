/**
 * Streaming and detached runs: their options, the `Process` handle of a
 * command running in the background, and the container's output callbacks.
 *
 * @since 0.1.0
 */
import type { Deferred, Effect } from "effect"
import type { BufferSnapshot, ExecResult } from "../schemas/ExecResult.js"
import type {
  CommandTimeout,
  Container,
  ContainerError,
  InvalidOption,
  RunOptions
} from "./ContainerService.js"

/**
 * Options of `runStream`: those of `run` (timeout, cap, language, env...),
 * and where to put the final result.
 *
 * @since 0.1.0
 */
export interface StreamOptions extends RunOptions {
  /**
   * Completed with the command's `ExecResult` when it ends: normally, on
   * timeout or truncation (flags set), or when the stream is closed early
   * (the command was killed).
   */
  readonly result?: Deferred.Deferred<ExecResult> | undefined
}

/**
 * Options of `runDetached`.
 *
 * @since 0.1.0
 */
export interface DetachOptions extends Omit<RunOptions, "maxOutput" | "timeout"> {
  /** Bytes of stdout + stderr kept (the newest). Default 1 MiB. */
  readonly bufferSize?: number | undefined
  /** Seconds after which the process is killed (`timedOut` in its result). Default: none. */
  readonly timeout?: number | undefined
}

/**
 * A signal: a number (`15`) or a name (`"SIGTERM"`, `"TERM"`).
 *
 * @since 0.1.0
 */
export type Signal = number | string

/**
 * A command running in the background. Its output goes to a ring buffer
 * (the newest `bufferSize` bytes are kept) and to the container's callbacks.
 * Acquired in a scope: closing the scope kills it.
 *
 * @since 0.1.0
 */
export interface Process {
  /** Exec id. */
  readonly id: string
  /** Bytes in the buffer now. */
  readonly bufferSize: number
  /** Whether output was ever evicted because the buffer was full. */
  readonly bufferOverflow: boolean
  /** The buffer's content; empties it. */
  readonly read: Effect.Effect<BufferSnapshot>
  /** The buffer's content, left in place. */
  readonly peek: Effect.Effect<BufferSnapshot>
  /** Whether the process is still running. */
  readonly isRunning: Effect.Effect<boolean>
  /**
   * Sends a signal (default 15, SIGTERM) to the process and its process group
   * inside the container. Nothing happens when it has already ended.
   */
  readonly kill: (signal?: Signal) => Effect.Effect<void, InvalidOption | ContainerError>
  /**
   * Waits for the process to end. Its result holds what the buffer holds then
   * (`truncated` when output was evicted). With `timeout` (seconds), a process
   * still running then is killed and the wait fails with `CommandTimeout`.
   */
  readonly wait: (options?: {
    readonly timeout?: number | undefined
  }) => Effect.Effect<ExecResult, CommandTimeout | ContainerError>
}

/**
 * Called with a detached process's output, decoded as UTF-8, as it arrives.
 *
 * @since 0.1.0
 */
export type OutputCallback = (container: Container, data: string) => void

/**
 * Called with a detached process's exit code when it ends.
 *
 * @since 0.1.0
 */
export type ExitCallback = (container: Container, exitCode: number) => void
