/**
 * Persistent shell sessions: one long-lived `/bin/sh` inside a sandbox whose
 * state (working directory, variables, functions) carries over from one
 * command to the next.
 *
 * A session is a scoped resource: it is opened in a child of the container's
 * scope, so it ends when the scope it was opened in closes *or* when the
 * sandbox shuts down, whichever comes first.
 *
 * @since 0.1.0
 */
import type { Effect, Scope } from "effect"
import { Context, Schema } from "effect"
import type { ExecResult, StreamChunk } from "../schemas/ExecResult.js"
import type { CommandTimeout, Container, ContainerError, InvalidOption } from "./ContainerService.js"
import { TaggedError } from "./PocketDockError.js"

// --- errors ------------------------------------------------------------------

/**
 * Why a session ended: `closed` by its owner (or its scope), the shell
 * `exited` (e.g. the command `exit`), the `container-stopped`, or the shell
 * became `unresponsive` and was given up.
 *
 * @since 0.1.0
 */
export const SessionEndReason = Schema.Literal("closed", "exited", "container-stopped", "unresponsive")

/** @since 0.1.0 */
export type SessionEndReason = typeof SessionEndReason.Type

/**
 * The session has ended; nothing more can be sent to it or read from it.
 * `exitCode` is the shell's exit code when it exited by itself.
 *
 * @since 0.1.0
 */
export class SessionClosed extends TaggedError<SessionClosed>()("SessionClosed", {
  sessionId: Schema.String,
  reason: SessionEndReason,
  exitCode: Schema.optional(Schema.Int)
}) {
  override get message(): string {
    const code = this.exitCode === undefined ? "" : ` (exit code ${this.exitCode})`
    return `session ${this.sessionId.slice(0, 12)} is closed: ${this.reason}${code}`
  }
}

/**
 * What opening a session can fail with.
 *
 * @since 0.1.0
 */
export type SessionOpenError = ContainerError | SessionClosed

// --- options and handle --------------------------------------------------------

/**
 * How to start the session's shell. Every field is optional.
 *
 * @since 0.1.0
 */
export interface SessionOptions {
  /** Extra environment variables of the shell. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Initial working directory. */
  readonly workdir?: string | undefined
  /** User to run the shell as (name or uid). */
  readonly user?: string | undefined
}

/**
 * Options of one `sendAndWait`.
 *
 * @since 0.1.0
 */
export interface SendOptions {
  /**
   * Seconds the command may run (counted from when it starts, not while it
   * waits behind earlier commands); default the container's `timeout`.
   */
  readonly timeout?: number | undefined
}

/**
 * A live shell session.
 *
 * Commands run one at a time, in the order they were sent, in the same shell:
 * `cd`, `export`, functions and aliases persist. A command's stdin is
 * `/dev/null`. Output of commands sent with `send` (and output of background
 * jobs) is kept until `read` drains it.
 *
 * @since 0.1.0
 */
export interface Session {
  /** The exec id of the shell. */
  readonly id: string
  readonly containerId: string

  /** Queues a command and returns at once; its output goes to `read` and `onOutput`. */
  readonly send: (command: string) => Effect.Effect<void, SessionClosed | InvalidOption>

  /**
   * Runs a command (after the ones queued before it) and waits for its
   * result. On timeout the command is interrupted inside the container, the
   * shell survives, and `CommandTimeout` carries the output so far. If the
   * calling fiber is interrupted, the command is interrupted the same way.
   */
  readonly sendAndWait: (
    command: string,
    options?: SendOptions
  ) => Effect.Effect<ExecResult, SessionClosed | CommandTimeout | InvalidOption>

  /** Drains the output no `sendAndWait` claimed (stdout and stderr in arrival order). */
  readonly read: Effect.Effect<string, SessionClosed>

  /**
   * Calls `fn` with every piece of output of every command as it arrives,
   * for as long as the session lives.
   */
  readonly onOutput: (fn: (chunk: StreamChunk) => void) => Effect.Effect<void, SessionClosed>

  /** Ends the shell (a running command is killed). Idempotent. */
  readonly close: Effect.Effect<void>
}

/**
 * Opens shell sessions in sandboxes.
 *
 * @since 0.1.0
 */
export interface SessionService {
  /**
   * Starts `/bin/sh` in the container. The session closes when the scope
   * closes or when the container shuts down.
   */
  readonly open: (
    container: Container,
    options?: SessionOptions
  ) => Effect.Effect<Session, SessionOpenError | InvalidOption, Scope.Scope>
}

/**
 * @since 0.1.0
 */
export const SessionService: Context.Tag<SessionService, SessionService> =
  Context.GenericTag<SessionService>("pocketdock/SessionService")
