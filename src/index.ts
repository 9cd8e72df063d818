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
import * as PocketDock from "./layers/PocketDock.js"
import type { ExecResult } from "./schemas/ExecResult.js"
import {
  type Command,
  type Container as ContainerHandle,
  ContainerService,
  type CreateOptions,
  type RunOptions
} from "./services/ContainerService.js"
import type { Signal } from "./services/Process.js"

export { ExecStream, Process } from "./facade/process.js"
export * from "./schemas/Container.js"
export * from "./schemas/ExecResult.js"
export {
  type Command,
  CommandTimeout,
  ContainerGone,
  type CreateOptions,
  InvalidOption,
  OutputTruncated,
  type RunOptions
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

  /** @internal use `createNewContainer` */
  constructor(handle: ContainerHandle, runtime: Runtime) {
    this.#handle = handle
    this.#runtime = runtime
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
    return runPromise(this.#runtime, this.#handle.shutdown(options))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown()
  }
}

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
  const runtime = runtimeFor(socketPath)
  const handle = await runPromise(
    runtime,
    Effect.flatMap(ContainerService, (service) => service.create(create)),
    signal
  )
  return new Container(handle, runtime)
}
