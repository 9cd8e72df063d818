/**
 * The container engine, spoken to over its Unix socket: Podman or Docker.
 *
 * `Engine` is the one place that knows HTTP paths, engine quirks and how exec
 * output is framed; everything above it works with engine-neutral values.
 * Implementations: `EngineLive` (a real socket, in `src/layers/EngineLive.ts`)
 * and fakes in unit tests.
 *
 * @since 0.1.0
 */
import type { Effect, Scope, Stream } from "effect"
import { Context, Schema } from "effect"
import type {
  ContainerInspect,
  ContainerStats,
  ContainerSummary,
  ExecInspect,
  ImageInspect,
  ImageSummary,
  PathStat,
  ProgressLine
} from "../schemas/EngineApi.js"
import type { StreamName } from "../schemas/ExecResult.js"
import { TaggedError } from "./PocketDockError.js"

// --- errors ------------------------------------------------------------------

/**
 * The engine socket exists in configuration but does not accept a connection.
 *
 * @since 0.1.0
 */
export class SocketConnectionError extends TaggedError<SocketConnectionError>()("SocketConnectionError", {
  socketPath: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot connect to the container engine at ${this.socketPath}: ${this.detail}`
  }
}

/**
 * The engine answered something pocketdock cannot understand (bad JSON, an
 * unexpected status, a broken stream).
 *
 * @since 0.1.0
 */
export class SocketCommunicationError extends TaggedError<SocketCommunicationError>()(
  "SocketCommunicationError",
  { detail: Schema.String }
) {
  override get message(): string {
    return `unexpected answer from the container engine: ${this.detail}`
  }
}

/**
 * No engine socket answered. `hint` says how to start one on this platform.
 *
 * @since 0.1.0
 */
export class EngineNotRunning extends TaggedError<EngineNotRunning>()("EngineNotRunning", {
  searched: Schema.Array(Schema.String),
  hint: Schema.String
}) {
  override get message(): string {
    return `no container engine is running (looked at ${this.searched.join(", ")}). ${this.hint}`
  }
}

/**
 * The image does not exist locally (pocketdock never pulls implicitly).
 *
 * @since 0.1.0
 */
export class ImageNotFound extends TaggedError<ImageNotFound>()("ImageNotFound", { image: Schema.String }) {
  override get message(): string {
    return `image not found: ${this.image} (build it, e.g. \`pocketdock build\`, or import it)`
  }
}

/**
 * No container with this id or name.
 *
 * @since 0.1.0
 */
export class ContainerNotFound extends TaggedError<ContainerNotFound>()("ContainerNotFound", {
  containerId: Schema.String
}) {
  override get message(): string {
    return `container not found: ${this.containerId}`
  }
}

/**
 * The container exists but is not running.
 *
 * @since 0.1.0
 */
export class ContainerNotRunning extends TaggedError<ContainerNotRunning>()("ContainerNotRunning", {
  containerId: Schema.String
}) {
  override get message(): string {
    return `container is not running: ${this.containerId}`
  }
}

/**
 * A container with this name already exists.
 *
 * @since 0.1.0
 */
export class NameConflict extends TaggedError<NameConflict>()("NameConflict", { name: Schema.String }) {
  override get message(): string {
    return `a container named ${this.name} already exists`
  }
}

/**
 * The engine refused a request (a bad option, a limit it will not apply, a
 * failed build...). `status` is the HTTP status, `detail` the engine's words.
 *
 * @since 0.1.0
 */
export class EngineRequestError extends TaggedError<EngineRequestError>()("EngineRequestError", {
  operation: Schema.String,
  status: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} failed (engine status ${this.status}): ${this.detail}`
  }
}

/**
 * Failures any engine call can have: the engine is unreachable or talks nonsense.
 *
 * @since 0.1.0
 */
export type TransportError = SocketConnectionError | SocketCommunicationError | EngineNotRunning

// --- values ------------------------------------------------------------------

/** @since 0.1.0 */
export type EngineKind = "podman" | "docker"

/**
 * Which engine answered, resolved on first use.
 *
 * @since 0.1.0
 */
export interface EngineInfo {
  readonly kind: EngineKind
  readonly version: string
  readonly apiVersion: string
  readonly socketPath: string
}

/**
 * Everything pocketdock sets when it creates a container. Validated values:
 * the engine sees exactly these.
 *
 * @since 0.1.0
 */
export interface ContainerSpec {
  readonly image: string
  readonly name: string
  readonly cmd: ReadonlyArray<string>
  readonly labels: Readonly<Record<string, string>>
  readonly env?: ReadonlyArray<string>
  readonly user?: string
  readonly workingDir?: string
  readonly memoryBytes?: number
  readonly nanoCpus?: number
  readonly pidsLimit?: number
  /** host port -> container port */
  readonly ports?: ReadonlyArray<{ readonly hostPort: number; readonly containerPort: number }>
  /** `host:container[:mode]` */
  readonly binds?: ReadonlyArray<string>
  readonly devices?: ReadonlyArray<{ readonly host: string; readonly container: string }>
  readonly network: boolean
  readonly autoRemove: boolean
  readonly init: boolean
  /**
   * The main process's stdin stays open for one client attached with
   * `attachStdin`, and is closed when that client goes (`OpenStdin` with
   * `StdinOnce`).
   */
  readonly stdinOnce?: boolean
  readonly capDrop?: ReadonlyArray<string>
  readonly capAdd?: ReadonlyArray<string>
  readonly securityOpt?: ReadonlyArray<string>
  readonly stopTimeout?: number
}

/**
 * How to run a process inside a container.
 *
 * @since 0.1.0
 */
export interface ExecSpec {
  readonly cmd: ReadonlyArray<string>
  readonly env?: ReadonlyArray<string>
  readonly workingDir?: string
  readonly user?: string
  /** Attach stdin (the exec must then be started with `execAttach`). */
  readonly stdin?: boolean
  readonly tty?: boolean
}

/**
 * A piece of exec output: which stream, and the raw bytes.
 *
 * @since 0.1.0
 */
export interface ExecFrame {
  readonly stream: StreamName
  readonly data: Uint8Array
}

/**
 * An exec started with stdin attached, over a hijacked (upgraded) connection.
 * The connection is closed when the scope it was opened in closes.
 *
 * @since 0.1.0
 */
export interface AttachedExec {
  readonly execId: string
  /** Output frames until the process exits (or the connection is closed). */
  readonly output: Stream.Stream<ExecFrame, SocketCommunicationError>
  /** Write bytes to the process's stdin. */
  readonly write: (data: Uint8Array | string) => Effect.Effect<void, SocketCommunicationError>
  /** Half-close: the process sees end-of-file on stdin. */
  readonly endInput: Effect.Effect<void>
  /** Lets this Node process exit while the connection is still open. */
  readonly unref: Effect.Effect<void>
}

/**
 * A connection holding a container's stdin (see `ContainerSpec.stdinOnce`):
 * when it closes (its scope closes, or this process dies), the container's
 * main process reads end-of-file.
 *
 * @since 0.1.0
 */
export interface StdinAttachment {
  /** Lets this Node process exit while the connection is still open. */
  readonly unref: Effect.Effect<void>
}

/**
 * The archive of a path inside a container, as a tar stream, with the stat of
 * the path the engine reported.
 *
 * @since 0.1.0
 */
export interface ArchiveRead {
  readonly stat: PathStat
  readonly tar: Stream.Stream<Uint8Array, SocketCommunicationError>
}

/**
 * Label filters: every entry must match (`key=value`, or just `key`).
 *
 * @since 0.1.0
 */
export type LabelFilter = ReadonlyArray<string>

/**
 * The engine, engine-neutral. Every method's failure lists what can happen;
 * `TransportError` is the engine being away or garbled.
 *
 * @since 0.1.0
 */
export interface Engine {
  /** Resolves (and caches) which engine answers on which socket. */
  readonly info: Effect.Effect<EngineInfo, TransportError>
  /**
   * Admission of commands starting on this engine. Starting an exec costs the
   * engine a runtime process; a burst of a thousand starts at once only makes
   * every one of them slow. A run holds one permit from sending its start
   * until its process runs, so at most `EngineOptions.maxStartingExecs` are
   * starting at once and the others wait their turn, in order, before their
   * timeout begins.
   */
  readonly execAdmission: Effect.Semaphore

  readonly createContainer: (
    spec: ContainerSpec
  ) => Effect.Effect<string, ImageNotFound | NameConflict | EngineRequestError | TransportError>
  readonly startContainer: (
    id: string
  ) => Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError>
  readonly inspectContainer: (
    id: string
  ) => Effect.Effect<ContainerInspect, ContainerNotFound | TransportError>
  readonly listContainers: (
    labels: LabelFilter
  ) => Effect.Effect<ReadonlyArray<ContainerSummary>, EngineRequestError | TransportError>
  /** Stops (SIGTERM, then SIGKILL after `timeoutSeconds`). Already stopped is success. */
  readonly stopContainer: (
    id: string,
    timeoutSeconds: number
  ) => Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError>
  readonly restartContainer: (
    id: string,
    timeoutSeconds: number
  ) => Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError>
  readonly killContainer: (
    id: string,
    signal: string
  ) => Effect.Effect<void, ContainerNotFound | ContainerNotRunning | EngineRequestError | TransportError>
  /** Removes, killing it if running; its anonymous volumes go too. Already gone is success. */
  readonly removeContainer: (id: string) => Effect.Effect<void, EngineRequestError | TransportError>
  /** Waits until the container is not running; its exit code. */
  readonly waitContainer: (id: string) => Effect.Effect<number, ContainerNotFound | TransportError>

  /**
   * Attaches to the stdin of a container's main process, before or after it
   * starts; the connection stays open until the scope closes.
   */
  readonly attachStdin: (
    id: string
  ) => Effect.Effect<StdinAttachment, ContainerNotFound | EngineRequestError | TransportError, Scope.Scope>

  readonly execCreate: (
    containerId: string,
    spec: ExecSpec
  ) => Effect.Effect<string, ContainerNotFound | ContainerNotRunning | EngineRequestError | TransportError>
  /**
   * Starts an exec without stdin and hands its output, frame by frame and in
   * order, to `onFrame` (synchronously, as it is read) until the process
   * exits. Interrupting closes the connection; the process keeps running
   * (kill it inside the container). A throwing `onFrame` fails the start
   * with `SocketCommunicationError`.
   */
  readonly execStart: (
    execId: string,
    onFrame: (frame: ExecFrame) => void
  ) => Effect.Effect<void, ContainerNotRunning | EngineRequestError | TransportError>
  /**
   * Starts an exec created with `stdin: true` over a hijacked connection.
   * Pass `tty: true` for an exec created with `tty: true`: its output is raw
   * (not multiplexed) and comes as `stdout` frames.
   */
  readonly execAttach: (
    execId: string,
    options?: { readonly tty?: boolean | undefined }
  ) => Effect.Effect<AttachedExec, ContainerNotRunning | EngineRequestError | TransportError, Scope.Scope>
  readonly execInspect: (execId: string) => Effect.Effect<ExecInspect, EngineRequestError | TransportError>

  /**
   * Extracts a tar archive into directory `path` of the container. The
   * archive may come in pieces: they are sent in order, never joined.
   */
  readonly putArchive: (
    containerId: string,
    path: string,
    tar: Uint8Array | ReadonlyArray<Uint8Array>
  ) => Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError>
  /**
   * Writes the tar of `path` into `sink` as it arrives (with the sink's
   * backpressure) and ends it: for an extractor, nothing between the socket
   * and it. Fails as `getArchive` does.
   */
  readonly pipeArchive: (
    containerId: string,
    path: string,
    sink: NodeJS.WritableStream
  ) => Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError>
  /** A tar of `path`; fails with `EngineRequestError` status 404 when the path does not exist. */
  readonly getArchive: (
    containerId: string,
    path: string
  ) => Effect.Effect<ArchiveRead, ContainerNotFound | EngineRequestError | TransportError, Scope.Scope>
  /**
   * The stat of `path` (`HEAD` on the archive endpoint), or `undefined` when
   * the engine answers 404: the path, or the container, does not exist.
   */
  readonly statPath: (
    containerId: string,
    path: string
  ) => Effect.Effect<PathStat | undefined, ContainerNotFound | EngineRequestError | TransportError>

  readonly stats: (
    containerId: string
  ) => Effect.Effect<ContainerStats | undefined, ContainerNotFound | TransportError>
  /** `ps` inside the container: titles and rows; empty when the engine cannot tell. */
  readonly top: (containerId: string) => Effect.Effect<
    {
      readonly titles: ReadonlyArray<string>
      readonly processes: ReadonlyArray<ReadonlyArray<string>>
    },
    ContainerNotFound | TransportError
  >
  /** Commits the container's filesystem as image `repo:tag`; the image id. */
  readonly commit: (
    containerId: string,
    repo: string,
    tag: string,
    labels: Readonly<Record<string, string>>
  ) => Effect.Effect<string, ContainerNotFound | EngineRequestError | TransportError>

  readonly inspectImage: (image: string) => Effect.Effect<ImageInspect, ImageNotFound | TransportError>
  readonly listImages: (
    labels: LabelFilter
  ) => Effect.Effect<ReadonlyArray<ImageSummary>, EngineRequestError | TransportError>
  readonly removeImage: (
    image: string,
    force: boolean
  ) => Effect.Effect<void, ImageNotFound | EngineRequestError | TransportError>
  /** Builds from a tar build context; progress lines as they come. Fails on a build error. */
  readonly build: (
    context: Uint8Array,
    options: { readonly tag: string; readonly labels?: Readonly<Record<string, string>> }
  ) => Stream.Stream<ProgressLine, EngineRequestError | TransportError>
  /** `docker save`: the image as a tar stream. */
  readonly saveImage: (image: string) => Stream.Stream<Uint8Array, ImageNotFound | TransportError>
  /** `docker load` from a tar (or gzip'd tar); progress lines. */
  readonly loadImage: (
    archive: Uint8Array
  ) => Stream.Stream<ProgressLine, EngineRequestError | TransportError>
}

/**
 * @since 0.1.0
 */
export const Engine: Context.Tag<Engine, Engine> = Context.GenericTag<Engine>("pocketdock/Engine")
