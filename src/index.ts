/**
 * pocketdock for any Node program: plain `async` functions and classes.
 *
 * A thin layer over the Effect API (`pocketdock/effect`): one `ManagedRuntime`
 * per engine socket runs the same services; errors are thrown as they are,
 * every one `instanceof PocketDockError`.
 *
 * @example
 * ```ts
 * import { createNewContainer } from "pocketdock"
 *
 * await using sandbox = await createNewContainer()
 * const result = await sandbox.run("echo hello")
 * console.log(result.stdout) // "hello\n"
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Effect, ExecutionStrategy, Exit, ManagedRuntime, Option, Scope } from "effect"
import { ExecStream, Process } from "./facade/process.js"
import * as Images from "./internal/images.js"
import * as Profiles from "./internal/profiles.js"
import * as Signals from "./internal/signals.js"
import * as PocketDock from "./layers/PocketDock.js"
import type { ContainerInfo, ContainerListItem } from "./schemas/Container.js"
import type { ExecResult, StreamName } from "./schemas/ExecResult.js"
import type { DoctorReport, ProfileInfo } from "./schemas/Project.js"
import {
  type Command,
  type Container as ContainerHandle,
  ContainerService,
  type CreateOptions,
  type RunOptions
} from "./services/ContainerService.js"
import type { Signal } from "./services/Process.js"
import { ProjectService } from "./services/ProjectService.js"
import {
  type Session as SessionHandle,
  type SessionOptions,
  SessionService
} from "./services/SessionService.js"

export { ExecStream, Process } from "./facade/process.js"
export {
  type CreatePoolOptions,
  createPool,
  Pool,
  PoolClosed,
  type PoolOptions,
  type PoolStats
} from "./pool.js"
export * from "./schemas/Container.js"
export * from "./schemas/ExecResult.js"
export * from "./schemas/Project.js"
export {
  type Command,
  CommandTimeout,
  ContainerGone,
  type CreateOptions,
  HostPathError,
  InvalidOption,
  OutputTruncated,
  PathNotFound,
  type RunOptions,
  UnsafeArchive
} from "./services/ContainerService.js"
export {
  ContainerNotFound,
  ContainerNotRunning,
  EngineNotRunning,
  EngineRequestError,
  ImageNotFound,
  NameConflict,
  SocketCommunicationError,
  SocketConnectionError
} from "./services/Engine.js"
export { PocketDockError } from "./services/PocketDockError.js"
export {
  ProfileNotFound,
  ProfileUnavailable,
  ProjectConfigInvalid,
  ProjectIOError,
  ProjectNotInitialized
} from "./services/ProjectService.js"
export { SessionClosed, type SessionEndReason, type SessionOptions } from "./services/SessionService.js"

/** The package version. */
export const VERSION = "0.1.0"

/** The package version. */
export const getVersion = (): string => VERSION

type Runtime = ManagedRuntime.ManagedRuntime<PocketDock.PocketDockServices, never>

const runtimes = new Map<string, Runtime>()

/** @internal The runtime of one socket (`""`: auto-detected), made on first use. */
export const runtimeFor = (socketPath: string | undefined): Runtime => {
  const key = socketPath ?? ""
  let runtime = runtimes.get(key)
  if (runtime === undefined) {
    runtime = ManagedRuntime.make(PocketDock.layer({ socketPath }))
    runtimes.set(key, runtime)
  }
  return runtime
}

/** @internal Runs an effect and throws its error as is (not wrapped in a FiberFailure). */
export const runPromise = async <A, E>(
  runtime: Runtime,
  effect: Effect.Effect<A, E, PocketDock.PocketDockServices>,
  signal?: AbortSignal
): Promise<A> => {
  const exit = await runtime.runPromiseExit(effect, signal ? { signal } : undefined)
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) throw failure.value
  if (Cause.isInterruptedOnly(exit.cause)) {
    throw signal?.reason ?? new DOMException("The operation was aborted", "AbortError")
  }
  throw Cause.squash(exit.cause)
}

/** Options of `createNewContainer`. */
export interface CreateNewContainerOptions extends CreateOptions {
  /** Engine socket; default `POCKETDOCK_SOCKET` or auto-detection. */
  readonly socketPath?: string | undefined
  readonly signal?: AbortSignal | undefined
}

/** Options of `Container.run`. */
export interface RunCallOptions extends RunOptions {
  readonly signal?: AbortSignal | undefined
  /** Return an `ExecStream` of the output as it arrives. */
  readonly stream?: boolean | undefined
  /** Run in the background: return a `Process`. */
  readonly detach?: boolean | undefined
  /** With `detach`: bytes of output the process's ring buffer keeps (default 1 MiB). */
  readonly bufferSize?: number | undefined
}

export type { Signal }

/**
 * A sandbox. Shut it down with `shutdown()`, or let `await using` do it.
 */
export class Container implements AsyncDisposable {
  readonly #handle: ContainerHandle
  readonly #runtime: Runtime
  /** Forced removal on SIGINT/SIGTERM of the host (ephemeral sandboxes only). */
  readonly #onSignal: Signals.Cleanup = () =>
    runPromise(this.#runtime, this.#handle.shutdown({ force: true })).catch(() => undefined)

  /** @internal use `createNewContainer` */
  constructor(handle: ContainerHandle, runtime: Runtime) {
    this.#handle = handle
    this.#runtime = runtime
    if (!handle.persist) Signals.track(this.#onSignal)
  }

  /** Full container id. */
  get containerId(): string {
    return this.#handle.id
  }
  get name(): string {
    return this.#handle.name
  }
  get image(): string {
    return this.#handle.image
  }
  get persist(): boolean {
    return this.#handle.persist
  }
  get project(): string {
    return this.#handle.project
  }
  get socketPath(): string {
    return this.#handle.socketPath
  }
  /** The instance directory in the project (`""` outside a project or when not persistent). */
  get dataPath(): string {
    return this.#handle.dataPath
  }

  /**
   * Runs a command and waits for it. A string runs in `/bin/sh -c`; an array
   * is executed without a shell. A timeout or an output past `maxOutput` do
   * not throw: the result says `timedOut` / `truncated` and keeps the output.
   */
  run(
    command: Command,
    options: RunCallOptions & { readonly stream: true; readonly detach?: false }
  ): ExecStream
  run(
    command: Command,
    options: RunCallOptions & { readonly detach: true; readonly stream?: false }
  ): Promise<Process>
  run(
    command: Command,
    options?: RunCallOptions & { readonly stream?: false; readonly detach?: false }
  ): Promise<ExecResult>
  run(command: Command, options: RunCallOptions = {}): Promise<ExecResult> | ExecStream | Promise<Process> {
    if (options.stream === true) {
      const result = Effect.runSync(Deferred.make<ExecResult>())
      return new ExecStream(this.#handle.runStream(command, { ...options, result }), result, () =>
        this.#runtime.runtime()
      )
    }
    if (options.detach === true) return this.#detach(command, options)
    const effect = this.#handle.run(command, options).pipe(
      Effect.catchTags({
        CommandTimeout: (error) => Effect.succeed(error.result),
        OutputTruncated: (error) => Effect.succeed(error.result)
      })
    )
    return runPromise(this.#runtime, effect, options.signal)
  }

  /**
   * Opens a persistent shell session (`/bin/sh`): `cd`, `export` and
   * functions carry over between its commands. It closes with `close()`,
   * `await using`, or when the sandbox shuts down.
   */
  async session(options: SessionOptions & { readonly signal?: AbortSignal } = {}): Promise<Session> {
    const { signal, ...open } = options
    const scope = Effect.runSync(Scope.make())
    const handle = this.#handle
    try {
      const session = await runPromise(
        this.#runtime,
        Effect.flatMap(SessionService, (service) => service.open(handle, open)).pipe(Scope.extend(scope)),
        signal
      )
      return new Session(session, this.#runtime, scope)
    } catch (error) {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      throw error
    }
  }

  /**
   * Writes a file (text as UTF-8, or bytes), creating missing parent
   * directories. Files under `/home/sandbox` belong to the sandbox user.
   * @throws PathNotFound, InvalidOption, ContainerGone
   */
  writeFile(path: string, content: string | Uint8Array): Promise<void> {
    return runPromise(this.#runtime, this.#handle.writeFile(path, content))
  }

  /** Reads a file's bytes (symlinks followed). @throws PathNotFound for a missing path */
  readFile(path: string): Promise<Uint8Array> {
    return runPromise(this.#runtime, this.#handle.readFile(path))
  }

  /**
   * Names in a directory (default `/home/sandbox`), sorted, hidden ones
   * included; directories end with `/`. @throws PathNotFound
   */
  async listFiles(path?: string): Promise<Array<string>> {
    return [...(await runPromise(this.#runtime, this.#handle.listFiles(path)))]
  }

  /** Copies a host file or directory tree to container path `dest` (`dest` becomes the copy). */
  push(src: string, dest: string): Promise<void> {
    return runPromise(this.#runtime, this.#handle.push(src, dest))
  }

  /**
   * Copies a container file or directory tree to host path `dest` (`dest`
   * becomes the copy). Never writes outside `dest`. @throws PathNotFound, UnsafeArchive, HostPathError
   */
  pull(src: string, dest: string): Promise<void> {
    return runPromise(this.#runtime, this.#handle.pull(src, dest))
  }

  /** State, memory, CPU (measured over ~0.5 s), processes, network and ports. */
  info(): Promise<ContainerInfo> {
    return runPromise(this.#runtime, this.#handle.info())
  }

  /**
   * Restarts the sandbox, keeping its files; `fresh: true` recreates it from
   * the same image and options (a new `containerId`, files gone).
   */
  reboot(options: { readonly fresh?: boolean } = {}): Promise<void> {
    return runPromise(this.#runtime, this.#handle.reboot(options))
  }

  /** Commits the filesystem as image `imageName` (`repo[:tag]`); the image id. */
  snapshot(imageName: string): Promise<string> {
    return runPromise(this.#runtime, this.#handle.snapshot(imageName))
  }

  #detach(command: Command, options: RunCallOptions): Promise<Process> {
    const handle = this.#handle
    const run = <A, E>(effect: Effect.Effect<A, E>) => runPromise(this.#runtime, effect)
    return runPromise(
      this.#runtime,
      Effect.gen(function* () {
        // a child of the sandbox's lifetime: the process dies with the sandbox
        const scope = yield* Scope.fork(handle.scope, ExecutionStrategy.sequential)
        const process = yield* handle.runDetached(command, options).pipe(
          Scope.extend(scope),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        return new Process(process, scope, run)
      }),
      options.signal
    )
  }

  /** Registers `fn(container, data)`, called with the stdout of detached processes. */
  onStdout(fn: (container: Container, data: string) => void): void {
    Effect.runSync(this.#handle.onStdout((_, data) => fn(this, data)))
  }

  /** Registers `fn(container, data)`, called with the stderr of detached processes. */
  onStderr(fn: (container: Container, data: string) => void): void {
    Effect.runSync(this.#handle.onStderr((_, data) => fn(this, data)))
  }

  /** Registers `fn(container, exitCode)`, called when a detached process ends. */
  onExit(fn: (container: Container, exitCode: number) => void): void {
    Effect.runSync(this.#handle.onExit((_, exitCode) => fn(this, exitCode)))
  }

  /** Removes the sandbox (a persistent one is stopped). Safe to call twice. */
  shutdown(options: { readonly force?: boolean } = {}): Promise<void> {
    Signals.untrack(this.#onSignal)
    return runPromise(this.#runtime, this.#handle.shutdown(options))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown()
  }
}

/** Options of `Session.sendAndWait`. */
export interface SendAndWaitOptions {
  /** Seconds the command may run once started; default the sandbox's `timeout`. */
  readonly timeout?: number | undefined
  /** Aborting interrupts the command inside the container. */
  readonly signal?: AbortSignal | undefined
}

/**
 * A persistent shell session in a sandbox (see `Container.session`). Commands
 * run one at a time, in the order sent; a command's stdin is `/dev/null`.
 * Every call on a closed session throws `SessionClosed`.
 */
export class Session implements AsyncDisposable {
  readonly #handle: SessionHandle
  readonly #runtime: Runtime
  readonly #scope: Scope.CloseableScope

  /** @internal use `Container.session` */
  constructor(handle: SessionHandle, runtime: Runtime, scope: Scope.CloseableScope) {
    this.#handle = handle
    this.#runtime = runtime
    this.#scope = scope
  }

  /** The exec id of the shell. */
  get id(): string {
    return this.#handle.id
  }

  /** Queues a command and returns; its output goes to `read()` and `onOutput`. */
  send(command: string): Promise<void> {
    return runPromise(this.#runtime, this.#handle.send(command))
  }

  /**
   * Runs a command and waits for its result. A timeout does not throw: the
   * command is interrupted (the shell and its state survive) and the result
   * has `timedOut: true` with the output so far.
   */
  sendAndWait(command: string, options: SendAndWaitOptions = {}): Promise<ExecResult> {
    const effect = this.#handle
      .sendAndWait(command, { timeout: options.timeout })
      .pipe(Effect.catchTag("CommandTimeout", (error) => Effect.succeed(error.result)))
    return runPromise(this.#runtime, effect, options.signal)
  }

  /** Drains the output that no `sendAndWait` claimed (output of `send`, background jobs). */
  read(): string {
    const exit = Effect.runSyncExit(this.#handle.read)
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  }

  /** Calls `fn` with every piece of output as it arrives. */
  onOutput(fn: (data: string, stream: StreamName) => void): void {
    const exit = Effect.runSyncExit(this.#handle.onOutput((chunk) => fn(chunk.data, chunk.stream)))
    if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
  }

  /** Ends the shell (a running command is killed). Safe to call twice. */
  close(): Promise<void> {
    return runPromise(this.#runtime, Scope.close(this.#scope, Exit.void))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * Removes every ephemeral sandbox created through this facade that is still
 * live, within `timeoutMs`. pocketdock does this by itself on SIGINT and
 * SIGTERM unless the program has its own handler for the signal: such a
 * handler may call this.
 */
export const shutdownAllSandboxes = (timeoutMs?: number): Promise<void> => Signals.shutdownAll(timeoutMs)

/**
 * Creates and starts a sandbox.
 *
 * @example
 * ```ts
 * const sandbox = await createNewContainer({ memLimit: "256m", cpuPercent: 50 })
 * try {
 *   console.log((await sandbox.run("python3 -c 'print(1 + 1)'")).stdout)
 * } finally {
 *   await sandbox.shutdown()
 * }
 * ```
 */
export const createNewContainer = async (options: CreateNewContainerOptions = {}): Promise<Container> => {
  const { socketPath, signal, ...create } = options
  const runtime = runtimeFor(await socketFor(socketPath, create.projectRoot))
  const handle = await runPromise(
    runtime,
    Effect.flatMap(ContainerService, (service) => service.create(create)),
    signal
  )
  return new Container(handle, runtime)
}

/**
 * The socket by precedence: explicit > `POCKETDOCK_SOCKET` > the project
 * file's `socket` (project found from `start`, default cwd) > auto-detection
 * (`undefined`).
 */
const socketFor = async (explicit: string | undefined, start?: string): Promise<string | undefined> => {
  if (explicit !== undefined) return explicit
  const loaded = await runPromise(
    runtimeFor(undefined),
    Effect.flatMap(ProjectService, (projects) => projects.loadConfig({ start }))
  )
  return loaded.socketSource === "project" ? loaded.socketPath : undefined
}

/** The engine socket of a management call. */
export interface SocketOptions {
  /** Engine socket; default `POCKETDOCK_SOCKET`, the project's `socket`, or auto-detection. */
  readonly socketPath?: string | undefined
}

const withService = async <A, E>(
  socketPath: string | undefined,
  f: (service: ContainerService) => Effect.Effect<A, E>
): Promise<A> => runPromise(runtimeFor(await socketFor(socketPath)), Effect.flatMap(ContainerService, f))

/**
 * Starts a stopped persistent container again, with its files, ports and
 * limits. `timeout` (seconds) defaults to the one it was created with. Its
 * `shutdown()` stops it again. Throws `ContainerNotFound` for an unknown
 * name, `InvalidOption` for a container that is not persistent.
 */
export const resumeContainer = async (
  name: string,
  options: SocketOptions & { readonly timeout?: number | undefined } = {}
): Promise<Container> => {
  const runtime = runtimeFor(await socketFor(options.socketPath))
  const handle = await runPromise(
    runtime,
    Effect.flatMap(ContainerService, (service) => service.resume(name, { timeout: options.timeout }))
  )
  return new Container(handle, runtime)
}

/** pocketdock's containers, running and stopped, optionally of one project. */
export const listContainers = (
  options: SocketOptions & { readonly project?: string | undefined } = {}
): Promise<ReadonlyArray<ContainerListItem>> =>
  withService(options.socketPath, (service) => service.list({ project: options.project }))

/** Stops a container without removing it. */
export const stopContainer = (name: string, options: SocketOptions = {}): Promise<void> =>
  withService(options.socketPath, (service) => service.stop(name))

/** Removes a container, persistent or not, and its instance directory. */
export const destroyContainer = (name: string, options: SocketOptions = {}): Promise<void> =>
  withService(options.socketPath, (service) => service.destroy(name))

/** Removes pocketdock's stopped containers (of one project); how many were removed. */
export const prune = (
  options: SocketOptions & { readonly project?: string | undefined } = {}
): Promise<number> =>
  withService(options.socketPath, (service) => service.prune({ project: options.project }))

/**
 * Cross-references the project's instance directories (found from
 * `projectRoot`, default cwd) with the engine's containers.
 */
export const doctor = async (
  options: SocketOptions & { readonly projectRoot?: string | undefined } = {}
): Promise<DoctorReport> =>
  runPromise(
    runtimeFor(await socketFor(options.socketPath, options.projectRoot)),
    Effect.flatMap(ProjectService, (projects) => projects.doctor({ projectRoot: options.projectRoot }))
  )

/** The directory holding `.pocketdock/pocketdock.yaml`, walking up from `start` (default cwd). */
export const findProjectRoot = async (start?: string): Promise<string | undefined> =>
  runPromise(
    runtimeFor(undefined),
    Effect.flatMap(ProjectService, (projects) => projects.findProjectRoot(start)).pipe(
      Effect.map(Option.getOrUndefined)
    )
  )

/** Creates `.pocketdock/pocketdock.yaml` in `path` (default cwd), unless it exists; the project root. */
export const initProject = (
  path?: string,
  options: { readonly projectName?: string | undefined } = {}
): Promise<string> =>
  runPromise(
    runtimeFor(undefined),
    Effect.flatMap(ProjectService, (projects) => projects.initProject(path, options))
  )

/** The profile of this name; throws `ProfileNotFound`. */
export const resolveProfile = (name: string): ProfileInfo => {
  const result = Effect.runSync(Effect.either(Profiles.resolveProfile(name)))
  if (result._tag === "Left") throw result.left
  return result.right
}

/** Every profile. */
export const listProfiles = (): ReadonlyArray<ProfileInfo> => Profiles.listProfiles()

/** Options of `buildProfile`. */
export interface BuildProfileOptions extends SocketOptions {
  /** Rebuild even when an up-to-date image exists. */
  readonly force?: boolean | undefined
  /** Try a profile that needs the internet (`minimal-bun`). */
  readonly allowOnline?: boolean | undefined
  /** Each progress line of the build as it comes. */
  readonly onProgress?: ((line: string) => void) | undefined
}

/**
 * Builds `pocketdock/NAME` from the profile's Dockerfile through the engine,
 * unless an image built from the same files exists. `built` says whether it
 * built.
 */
export const buildProfile = async (
  name: string,
  options: BuildProfileOptions = {}
): Promise<{ readonly image: string; readonly built: boolean }> => {
  const { onProgress } = options
  const result = await runPromise(
    runtimeFor(await socketFor(options.socketPath)),
    Images.buildProfile(name, {
      force: options.force,
      allowOnline: options.allowOnline,
      onProgress: onProgress === undefined ? undefined : (line) => Effect.sync(() => onProgress(line))
    })
  )
  return { image: result.image, built: result.built }
}

/** Saves an image to a `.tar` file, or a gzip'd one when `file` ends in `.gz`/`.tgz`. */
export const exportImage = async (image: string, file: string, options: SocketOptions = {}): Promise<void> =>
  runPromise(runtimeFor(await socketFor(options.socketPath)), Images.exportImage(image, file))

/** Loads the images of a `.tar` or `.tar.gz` file; the names loaded. */
export const importImage = async (
  file: string,
  options: SocketOptions = {}
): Promise<ReadonlyArray<string>> =>
  runPromise(runtimeFor(await socketFor(options.socketPath)), Images.importImage(file))
