/**
 * Sandboxes: create one, run commands in it, shut it down.
 *
 * A `Container` is a handle whose operations are Effects that need nothing
 * further. Acquire it with `ContainerService.scoped` and it is shut down when
 * the scope closes: on success, failure and interruption alike.
 *
 * @since 0.1.0
 */
import type { Effect, Scope, Stream } from "effect"
import { Context, Schema } from "effect"
import type { ContainerInfo, ContainerListItem } from "../schemas/Container.js"
import { ExecResult, type StreamChunk } from "../schemas/ExecResult.js"
import type {
  ContainerNotFound,
  ContainerNotRunning,
  EngineRequestError,
  ImageNotFound,
  NameConflict,
  TransportError
} from "./Engine.js"
import { TaggedError } from "./PocketDockError.js"
import type { DetachOptions, ExitCallback, OutputCallback, Process, StreamOptions } from "./Process.js"
import type { LogKind, ProfileNotFound, ProjectError } from "./ProjectService.js"

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
 * A path inside the container does not exist.
 *
 * @since 0.1.0
 */
export class PathNotFound extends TaggedError<PathNotFound>()("PathNotFound", {
  containerId: Schema.String,
  path: Schema.String
}) {
  override get message(): string {
    return `no such file or directory in container ${this.containerId.slice(0, 12)}: ${this.path}`
  }
}

/**
 * An archive read from the container holds an entry that `pull` refuses to
 * extract: one that would land outside the destination (`../`, another root,
 * a path through a symlink, a hard link to outside) or a malformed tar.
 * Nothing outside the destination was written.
 *
 * @since 0.1.0
 */
export class UnsafeArchive extends TaggedError<UnsafeArchive>()("UnsafeArchive", {
  entry: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `refused archive entry ${JSON.stringify(this.entry)}: ${this.detail}`
  }
}

/**
 * A path on the host cannot be read or written (missing, not a directory,
 * no permission, disk full...).
 *
 * @since 0.1.0
 */
export class HostPathError extends TaggedError<HostPathError>()("HostPathError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `host path ${this.path}: ${this.detail}`
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
  | ProfileNotFound
  | ProjectError

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

/**
 * What reading or writing a file inside the container can fail with.
 *
 * @since 0.1.0
 */
export type FileError = ContainerError | InvalidOption | PathNotFound

/**
 * What `listFiles` can fail with (it lists with a command inside the container).
 *
 * @since 0.1.0
 */
export type ListError = RunError | PathNotFound

/**
 * What `push` and `pull` can fail with.
 *
 * @since 0.1.0
 */
export type TransferError = FileError | UnsafeArchive | HostPathError

/**
 * What `reboot` can fail with: a fresh reboot creates the container again.
 *
 * @since 0.1.0
 */
export type RebootError = ContainerError | CreateError

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
  /** Project the container belongs to (`""`: none). Default: the project found from `projectRoot`. */
  readonly project?: string | undefined
  /** Where to look for the project (walking up); default the current directory. */
  readonly projectRoot?: string | undefined
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
  /**
   * User commands run as. Default: `sandbox` when the image has that user
   * (uid 1000), else the image's user. `"root"` loosens it.
   */
  readonly user?: string | undefined
  /** Most processes the sandbox may hold at once. Default 512; `0` leaves the engine's default. */
  readonly pidsLimit?: number | undefined
  /**
   * Capabilities kept. Default the minimal set (`DEFAULT_CAPABILITIES`);
   * a list keeps exactly those; `"engine-default"` keeps the engine's own set.
   */
  readonly capabilities?: ReadonlyArray<string> | "engine-default" | undefined
  /** Forbid gaining privileges (setuid binaries, file capabilities). Default true. */
  readonly noNewPrivileges?: boolean | undefined
}

/**
 * What `attach` can fail with.
 *
 * @since 0.1.0
 */
export type AttachError = ContainerNotFound | ContainerNotRunning | TransportError

/**
 * Options of one `run`.
 *
 * @since 0.1.0
 */
export interface RunOptions {
  /**
   * Seconds the command may take; default the container's `timeout`. Counted
   * from its turn to start: in a burst of runs, the time spent waiting behind
   * the others (`Engine.execAdmission`) does not count.
   */
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
  /** The instance directory (`.pocketdock/instances/NAME`), or `""` outside a project. */
  readonly dataPath: string
  readonly socketPath: string
  /** Default `run` timeout in seconds. */
  readonly timeout: number
  /** The user commands run as unless `run` says otherwise; undefined: the image's user. */
  readonly user?: string | undefined
  /**
   * Lives as long as the sandbox: closed by `shutdown`. Sessions and detached
   * processes are opened in a child of it (`Scope.fork`), so they end with
   * the sandbox.
   */
  readonly scope: Scope.Scope

  /** Runs a command to completion: exit code, stdout and stderr apart. */
  readonly run: (command: Command, options?: RunOptions) => Effect.Effect<ExecResult, RunError>

  /**
   * Writes a file: text (as UTF-8) or bytes. Missing parent directories are
   * created. Inside `/home/sandbox` the file (and the directories created)
   * belong to the sandbox user (uid 1000), elsewhere to root.
   */
  readonly writeFile: (path: string, content: string | Uint8Array) => Effect.Effect<void, FileError>

  /** Reads a file's bytes (a symlink is followed). A directory is an `InvalidOption`. */
  readonly readFile: (path: string) => Effect.Effect<Uint8Array, FileError>

  /**
   * The names in a directory (default `/home/sandbox`), sorted, hidden ones
   * included; directories end with `/`. Any name works, even one with a newline.
   */
  readonly listFiles: (path?: string) => Effect.Effect<ReadonlyArray<string>, ListError>

  /**
   * Copies a host file or directory tree to `dest` in the container: `dest`
   * becomes the copy (a directory is merged into an existing one). Bytes,
   * modes and symlinks are kept; parents are created.
   */
  readonly push: (src: string, dest: string) => Effect.Effect<void, TransferError>

  /**
   * Copies a file or directory tree of the container to host path `dest`:
   * `dest` becomes the copy. Nothing is ever written outside `dest`, whatever
   * the archive says (`UnsafeArchive`); symlinks are recreated, never followed.
   */
  readonly pull: (src: string, dest: string) => Effect.Effect<void, TransferError>

  /**
   * A live snapshot: state, memory, CPU (measured over ~0.5 s), processes,
   * network and ports.
   */
  readonly info: () => Effect.Effect<ContainerInfo, ContainerError>

  /**
   * Restarts the container, keeping its filesystem. `fresh: true` removes it
   * and creates it again from the same image and options (a new `id`; files
   * are gone). Sessions and processes end either way.
   */
  readonly reboot: (options?: { readonly fresh?: boolean }) => Effect.Effect<void, RebootError>

  /**
   * Commits the container's filesystem as image `imageName` (`repo[:tag]`,
   * default tag `latest`); the image id. `createNewContainer({ image: imageName })`
   * starts from it on either engine.
   */
  readonly snapshot: (imageName: string) => Effect.Effect<string, ContainerError | InvalidOption>

  /**
   * Appends output to the instance's `logs/` when its project has `auto_log`
   * on; does nothing outside a project. For sessions and detached processes.
   */
  readonly log: (kind: LogKind, data: string | Uint8Array) => Effect.Effect<void>
  /** Whether `log` writes anything: a project instance with `auto_log` on. */
  readonly logging: Effect.Effect<boolean>

  /**
   * Runs a command and streams its output as it is written, stdout and
   * stderr apart. Ending the stream early kills the command. Timeout and cap
   * as `run` (the stream fails with `CommandTimeout` / `OutputTruncated`).
   */
  readonly runStream: (command: Command, options?: StreamOptions) => Stream.Stream<StreamChunk, RunError>

  /**
   * Starts a command in the background; closing the scope kills it. Its
   * output fills a ring buffer and feeds `onStdout` / `onStderr`; `onExit`
   * hears its exit code.
   */
  readonly runDetached: (
    command: Command,
    options?: DetachOptions
  ) => Effect.Effect<Process, InvalidOption | ContainerError, Scope.Scope>

  /** Registers a callback for the stdout of detached processes. */
  readonly onStdout: (callback: OutputCallback) => Effect.Effect<void>
  /** Registers a callback for the stderr of detached processes. */
  readonly onStderr: (callback: OutputCallback) => Effect.Effect<void>
  /** Registers a callback for the exit code of detached processes. */
  readonly onExit: (callback: ExitCallback) => Effect.Effect<void>

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
  /**
   * Starts a stopped persistent container again, with its filesystem, ports
   * and limits as they were. `timeout` defaults to the one it was created
   * with. Its `shutdown` stops it again.
   */
  readonly resume: (
    name: string,
    options?: { readonly timeout?: number | undefined }
  ) => Effect.Effect<Container, ContainerNotFound | InvalidOption | EngineRequestError | TransportError>
  /** pocketdock's containers (running and stopped), optionally of one project. */
  readonly list: (options?: {
    readonly project?: string | undefined
  }) => Effect.Effect<ReadonlyArray<ContainerListItem>, EngineRequestError | TransportError>
  /** Stops a container without removing it. */
  readonly stop: (
    name: string
  ) => Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError>
  /** Removes a container whatever its `persist`, and its instance directory. */
  readonly destroy: (
    name: string
  ) => Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError | ProjectError>
  /** Removes pocketdock's stopped containers (of one project); how many. */
  readonly prune: (options?: {
    readonly project?: string | undefined
  }) => Effect.Effect<number, EngineRequestError | TransportError | ProjectError>
}

/**
 * @since 0.1.0
 */
export const ContainerService: Context.Tag<ContainerService, ContainerService> =
  Context.GenericTag<ContainerService>("pocketdock/ContainerService")
