/**
 * Projects: a directory with `.pocketdock/pocketdock.yaml`, whose containers
 * carry the project's label and whose persistent instances keep metadata,
 * command history and logs under `.pocketdock/instances/NAME/`.
 *
 * Which project a new container belongs to:
 * 1. `project: ""` — none.
 * 2. `project: "x"` — labelled `x`; instance files are written only when the
 *    project found from `projectRoot` (default: the current directory) is
 *    named `x`.
 * 3. no `project` — the project found by walking up from `projectRoot`
 *    (default: the current directory), if any.
 *
 * @since 0.1.0
 */
import type { Effect, Option } from "effect"
import { Context, Schema } from "effect"
import type { DoctorReport, HistoryEntry, ProjectConfig } from "../schemas/Project.js"
import type { CreateOptions, InvalidOption } from "./ContainerService.js"
import type { EngineRequestError, TransportError } from "./Engine.js"
import { TaggedError } from "./PocketDockError.js"

/**
 * No `.pocketdock/pocketdock.yaml` in this directory or above it.
 *
 * @since 0.1.0
 */
export class ProjectNotInitialized extends TaggedError<ProjectNotInitialized>()("ProjectNotInitialized", {
  path: Schema.String
}) {
  override get message(): string {
    return `no pocketdock project at or above ${this.path} (run \`pocketdock init\`)`
  }
}

/**
 * A project or instance file that does not decode. `field` names the
 * offending field (`""` when the file is not valid YAML/TOML at all).
 *
 * @since 0.1.0
 */
export class ProjectConfigInvalid extends TaggedError<ProjectConfigInvalid>()("ProjectConfigInvalid", {
  path: Schema.String,
  field: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.field === "" ? "" : `field ${this.field}: `}${this.detail}`
  }
}

/**
 * Reading or writing a project file failed (permissions, disk full...).
 *
 * @since 0.1.0
 */
export class ProjectIOError extends TaggedError<ProjectIOError>()("ProjectIOError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.detail}`
  }
}

/**
 * No profile with this name (see `listProfiles`).
 *
 * @since 0.1.0
 */
export class ProfileNotFound extends TaggedError<ProfileNotFound>()("ProfileNotFound", {
  name: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown profile ${JSON.stringify(this.name)} (known: ${this.known.join(", ")})`
  }
}

/**
 * The profile's image cannot be built on this machine (e.g. `minimal-bun`
 * needs the internet: bun is not packaged by Debian).
 *
 * @since 0.1.0
 */
export class ProfileUnavailable extends TaggedError<ProfileUnavailable>()("ProfileUnavailable", {
  name: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `profile ${this.name} cannot be built here: ${this.detail}`
  }
}

/**
 * What reading a project's files can fail with.
 *
 * @since 0.1.0
 */
export type ProjectError = ProjectConfigInvalid | ProjectIOError

/**
 * The configuration in effect: the project file's values, and the socket
 * chosen by precedence (explicit > `POCKETDOCK_SOCKET` > project file >
 * auto-detection, which is `undefined` here).
 *
 * @since 0.1.0
 */
export interface LoadedConfig {
  /** Project root, when one was found. */
  readonly root: Option.Option<string>
  readonly config: ProjectConfig
  readonly socketPath: string | undefined
  readonly socketSource: "explicit" | "env" | "project" | "auto"
}

/**
 * Kinds of output written to an instance's `logs/`.
 *
 * @since 0.1.0
 */
export type LogKind = "session" | "detached"

/**
 * Projects and their files.
 *
 * @since 0.1.0
 */
export interface ProjectService {
  /** Writes `.pocketdock/pocketdock.yaml` in `path` (default cwd) unless it exists; the root. */
  readonly initProject: (
    path?: string,
    options?: { readonly projectName?: string | undefined }
  ) => Effect.Effect<string, ProjectIOError>
  /** Walks up from `start` (default cwd) to the directory holding `.pocketdock/pocketdock.yaml`. */
  readonly findProjectRoot: (start?: string) => Effect.Effect<Option.Option<string>, ProjectIOError>
  /** The configuration in effect for `start` (default cwd). */
  readonly loadConfig: (options?: {
    readonly start?: string | undefined
    readonly socketPath?: string | undefined
  }) => Effect.Effect<LoadedConfig, ProjectError>
  /** Cross-references the project's instance directories with the engine's containers. */
  readonly doctor: (options?: {
    readonly projectRoot?: string | undefined
  }) => Effect.Effect<
    DoctorReport,
    ProjectNotInitialized | ProjectError | EngineRequestError | TransportError
  >
  /**
   * Appends output to `logs/KIND.log` of the instance at `dataPath`, rotating
   * past `max_log_size` and pruning by `max_logs_per_instance` and
   * `retention_days`. Nothing happens when `auto_log` is off or `dataPath` is `""`.
   */
  readonly appendLog: (
    dataPath: string,
    kind: LogKind,
    data: string | Uint8Array
  ) => Effect.Effect<void, ProjectError>
}

/**
 * @since 0.1.0
 */
export const ProjectService: Context.Tag<ProjectService, ProjectService> =
  Context.GenericTag<ProjectService>("pocketdock/ProjectService")

// --- hooks into ContainerService -------------------------------------------------

/**
 * A new container's options after the project was applied.
 *
 * @since 0.1.0
 */
export interface PreparedCreate {
  readonly options: CreateOptions
  /** The instance directory (`""`: none, the container is outside a project or not persistent). */
  readonly dataPath: string
}

/**
 * What `ContainerService` asks of projects, when a project layer is present.
 * Without it (`Effect.serviceOption`), containers pay nothing.
 *
 * @since 0.1.0
 */
export interface ProjectHooks {
  readonly prepare: (options: CreateOptions) => Effect.Effect<PreparedCreate, ProjectError | InvalidOption>
  /** Writes `instance.toml` of a new persistent container. */
  readonly created: (
    dataPath: string,
    container: { readonly id: string; readonly options: CreateOptions; readonly image: string }
  ) => Effect.Effect<void, ProjectError>
  /** Appends one line to `history.jsonl`; never fails (a lost line is logged). */
  readonly record: (dataPath: string, entry: HistoryEntry) => Effect.Effect<void>
  /** Appends output to `logs/` (see `ProjectService.appendLog`); never fails. */
  readonly log: (dataPath: string, kind: LogKind, data: string | Uint8Array) => Effect.Effect<void>
  /** Whether `log` writes anything for the instance at `dataPath` (`auto_log`); never fails. */
  readonly autoLog: (dataPath: string) => Effect.Effect<boolean>
  /** Removes an instance directory. */
  readonly removeInstance: (dataPath: string) => Effect.Effect<void, ProjectIOError>
}

/**
 * @since 0.1.0
 */
export const ProjectHooks: Context.Tag<ProjectHooks, ProjectHooks> =
  Context.GenericTag<ProjectHooks>("pocketdock/ProjectHooks")
