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
import { Cause, Effect, Exit, ManagedRuntime, Option } from "effect"
import * as Signals from "./internal/signals.js"
import * as PocketDock from "./layers/PocketDock.js"
import type { ExecResult } from "./schemas/ExecResult.js"
import {
  type Command,
  type Container as ContainerHandle,
  ContainerService,
  type CreateOptions,
  type RunOptions
} from "./services/ContainerService.js"

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
}

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

  /**
   * Runs a command and waits for it. A string runs in `/bin/sh -c`; an array
   * is executed without a shell. A timeout or an output past `maxOutput` do
   * not throw: the result says `timedOut` / `truncated` and keeps the output.
   */
  run(command: Command, options: RunCallOptions = {}): Promise<ExecResult> {
    const effect = this.#handle.run(command, options).pipe(
      Effect.catchTags({
        CommandTimeout: (error) => Effect.succeed(error.result),
        OutputTruncated: (error) => Effect.succeed(error.result)
      })
    )
    return runPromise(this.#runtime, effect, options.signal)
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
  const runtime = runtimeFor(socketPath)
  const handle = await runPromise(
    runtime,
    Effect.flatMap(ContainerService, (service) => service.create(create)),
    signal
  )
  return new Container(handle, runtime)
}
