/**
 * Results of running commands in a sandbox.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * What a finished command produced.
 *
 * A non-zero exit code is a result, not an error: check `ok`.
 *
 * @since 0.1.0
 */
export class ExecResult extends Schema.Class<ExecResult>("ExecResult")({
  /** Exit code of the command; -1 when the engine could not tell (the container went away). */
  exitCode: Schema.Int,
  stdout: Schema.String,
  stderr: Schema.String,
  /** Wall-clock time from start to end, in milliseconds. */
  durationMs: Schema.Number,
  /** The command ran past its timeout and was killed inside the container. */
  timedOut: Schema.Boolean,
  /** The output went past `maxOutput`; what is here is the first `maxOutput` bytes. */
  truncated: Schema.Boolean
}) {
  /** `true` when the command exited with 0 and did not time out. */
  get ok(): boolean {
    return this.exitCode === 0 && !this.timedOut
  }
}

/**
 * Which output stream a piece of output came from.
 *
 * @since 0.1.0
 */
export const StreamName = Schema.Literal("stdout", "stderr")
export type StreamName = typeof StreamName.Type

/**
 * A piece of a command's output, as it arrived.
 *
 * @since 0.1.0
 */
export class StreamChunk extends Schema.Class<StreamChunk>("StreamChunk")({
  stream: StreamName,
  data: Schema.String
}) {}

/**
 * What a detached process's ring buffer held.
 *
 * @since 0.1.0
 */
export class BufferSnapshot extends Schema.Class<BufferSnapshot>("BufferSnapshot")({
  stdout: Schema.String,
  stderr: Schema.String
}) {}
