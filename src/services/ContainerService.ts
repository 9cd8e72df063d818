/**
 * Sandboxes: create one, run commands in it, shut it down.
 *
 * A `Container` is a handle whose operations are Effects that need nothing
 * further. Acquire it with `ContainerService.scoped` and it is shut down when
 * the scope closes: on success, failure and interruption alike.
 *
 * @since 0.1.0
 */
import type { Effect, Scope } from "effect"
import { Context, Schema } from "effect"
import { ExecResult } from "../schemas/ExecResult.js"
import type {
  ContainerNotFound,
  ContainerNotRunning,
  EngineRequestError,
  ImageNotFound,
  NameConflict,
  TransportError
} from "./Engine.js"
import { TaggedError } from "./PocketDockError.js"

// --- errors ------------------------------------------------------------------

/**
 * An option that cannot be used as given (a malformed name, memory size,
 * port, path, language...). Nothing reached the engine.
 *
 * @since 0.1.0
 */
export class InvalidOption extends TaggedError<InvalidOption>()("InvalidOption", {
  option: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.option}: ${this.detail}`
  }
}

/**
 * The container this handle refers to no longer exists: removed from outside,
 * or already shut down.
 *
 * @since 0.1.0
 */
export class ContainerGone extends TaggedError<ContainerGone>()("ContainerGone", {
  containerId: Schema.String
}) {
  override get message(): string {
    return `container ${this.containerId.slice(0, 12)} is gone (removed or shut down)`
  }
}

/**
 * The command ran past its timeout. It was killed inside the container;
 * `result` holds what it printed until then (`timedOut: true`).
 *
 * @since 0.1.0
 */
export class CommandTimeout extends TaggedError<CommandTimeout>()("CommandTimeout", {
  timeoutSeconds: Schema.Number,
  result: ExecResult
}) {
  override get message(): string {
    return `command timed out after ${this.timeoutSeconds} s`
  }
}

/**
 * The command printed more than `maxOutput` bytes. It was stopped; `result`
 * holds the first `maxOutput` bytes (`truncated: true`).
 *
 * @since 0.1.0
 */
export class OutputTruncated extends TaggedError<OutputTruncated>()("OutputTruncated", {
  maxOutput: Schema.Number,
  result: ExecResult
}) {
  override get message(): string {
    return `command output exceeded ${this.maxOutput} bytes and was cut`
  }
}

/**
 * What creating a container can fail with.
 *
 * @since 0.1.0
 */
export type CreateError =
  | InvalidOption
  | ImageNotFound
  | NameConflict
  | EngineRequestError
  | ContainerNotFound
  | ContainerNotRunning
  | TransportError

/**
 * What operating on an existing container can fail with.
 *
 * @since 0.1.0
 */
export type ContainerError = ContainerGone | ContainerNotRunning | EngineRequestError | TransportError

/**
 * What `run` can fail with. A non-zero exit code is not an error.
 *
 * @since 0.1.0
 */
export type RunError = ContainerError | InvalidOption | CommandTimeout | OutputTruncated

// --- options -------------------------------------------------------------------

/**
 * How to create a sandbox. Every field is optional.
 *
 * @since 0.1.0
 */
export interface CreateOptions {
  /** Image tag. Default `pocketdock/minimal-python` (or the profile's image). */
  readonly image?: string | undefined
  /** Container name; default `pd-<8 hex>`. Letters, digits, `_ . -`. */
  readonly name?: string | undefined
  /** Default timeout of `run`, in seconds. Default 30. */
  readonly timeout?: number | undefined
  /** Memory limit: `"256m"`, `"1g"`, or bytes. */
  readonly memLimit?: string | number | undefined
  /** CPU cap, percent of one core (1-100 per core; 200 = two cores). */
  readonly cpuPercent?: number | undefined
  /** Survive `shutdown()` (stopped, not removed) and the death of this process. */
  readonly persist?: boolean | undefined
  /** Host path -> container path (append `:ro` to the container path for read-only). */
  readonly volumes?: Readonly<Record<string, string>> | undefined
  /** Project the container belongs to. */
  readonly project?: string | undefined
  /** Image profile (see `listProfiles`); sets the image and the network default. */
  readonly profile?: string | undefined
  /** Host devices to pass through: `"/dev/ttyUSB0"` or `"/dev/host:/dev/inside"`. */
  readonly devices?: ReadonlyArray<string> | undefined
  /** Host port -> container port, published on 127.0.0.1. */
  readonly ports?: Readonly<Record<number, number>> | undefined
  /** Network access. Default: on, or the profile's default. */
  readonly network?: boolean | undefined
  /** Environment variables of every command. */
  readonly env?: Readonly<Record<string, string>> | undefined
}

/**
 * Options of one `run`.
 *
 * @since 0.1.0
 */
export interface RunOptions {
  /** Seconds; default the container's `timeout`. */
  readonly timeout?: number | undefined
  /** Bytes of stdout + stderr kept; default 10 MiB. */
  readonly maxOutput?: number | undefined
  /** Run the text as code of this language: `python`, `node`, `bash`, `sh`, `perl`, `ruby`. */
  readonly lang?: string | undefined
  /** Extra environment variables for this command. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Working directory of this command. */
  readonly workdir?: string | undefined
  /** User to run as (name or uid). */
  readonly user?: string | undefined
}

/**
 * A command: a shell command line (run by `/bin/sh -c`), or an argv array
 * executed as is, without a shell.
 *
 * @since 0.1.0
 */
export type Command = string | ReadonlyArray<string>

/**
 * A live sandbox.
 *
 * @since 0.1.0
 */
export interface Container {
  /** Full container id (changes after `reboot({ fresh: true })`). */
  readonly id: string
  readonly name: string
  readonly image: string
  readonly persist: boolean
  readonly project: string
  readonly socketPath: string
  /** Default `run` timeout in seconds. */
  readonly timeout: number
  /**
   * Lives as long as the sandbox: closed by `shutdown`. Sessions and detached
   * processes are opened in a child of it (`Scope.fork`), so they end with
   * the sandbox.
   */
  readonly scope: Scope.Scope

  /** Runs a command to completion: exit code, stdout and stderr apart. */
  readonly run: (command: Command, options?: RunOptions) => Effect.Effect<ExecResult, RunError>

  /**
   * Removes the container (a persistent one is only stopped). `force` kills
   * instead of asking the processes to stop. Idempotent.
   */
  readonly shutdown: (options?: { readonly force?: boolean }) => Effect.Effect<void, ContainerError>
}

/**
 * Creates sandboxes.
 *
 * @since 0.1.0
 */
export interface ContainerService {
  /** Creates and starts a sandbox. The caller must `shutdown` it; prefer `scoped`. */
  readonly create: (options?: CreateOptions) => Effect.Effect<Container, CreateError>
  /** Creates a sandbox that is shut down when the scope closes. */
  readonly scoped: (options?: CreateOptions) => Effect.Effect<Container, CreateError, Scope.Scope>
  /**
   * A handle on a running pocketdock container made elsewhere (an earlier
   * process, the CLI), by name or id. No lease is taken and closing the scope
   * leaves the container running; `shutdown()` on the handle still shuts it
   * down. Containers pocketdock did not create are `ContainerNotFound`.
   */
  readonly attach: (nameOrId: string) => Effect.Effect<Container, AttachError, Scope.Scope>
}

/**
 * What `attach` can fail with.
 *
 * @since 0.1.0
 */
export type AttachError = ContainerNotFound | ContainerNotRunning | TransportError

/**
 * @since 0.1.0
 */
export const ContainerService: Context.Tag<ContainerService, ContainerService> =
  Context.GenericTag<ContainerService>("pocketdock/ContainerService")
