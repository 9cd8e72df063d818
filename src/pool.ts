/**
 * The warm pool for Promise users: `createPool`, over `ContainerPoolLive`.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Scope } from "effect"
import { Container, runPromise, runtimeFor } from "./index.js"
import * as ContainerPoolLive from "./layers/ContainerPoolLive.js"
import type { ContainerPool, PoolOptions, PoolStats } from "./services/ContainerPool.js"

export { PoolClosed, type PoolOptions, type PoolStats } from "./services/ContainerPool.js"

/** Options of `createPool`. */
export interface CreatePoolOptions extends PoolOptions {
  /** Engine socket; default `POCKETDOCK_SOCKET` or auto-detection. */
  readonly socketPath?: string | undefined
  /** Wait until `size` sandboxes are ready before resolving. Default true. */
  readonly warm?: boolean | undefined
  readonly signal?: AbortSignal | undefined
}

type Runtime = ReturnType<typeof runtimeFor>

/**
 * A warm pool of sandboxes. `acquire()` hands out a started sandbox at once;
 * its `shutdown()` (or `await using`) destroys it, and the pool starts a new
 * one in the background. Closing the pool destroys every sandbox it made.
 */
export class Pool implements AsyncDisposable {
  readonly #pool: ContainerPool
  readonly #scope: Scope.CloseableScope
  readonly #runtime: Runtime

  /** @internal use `createPool` */
  constructor(pool: ContainerPool, scope: Scope.CloseableScope, runtime: Runtime) {
    this.#pool = pool
    this.#scope = scope
    this.#runtime = runtime
  }

  get size(): number {
    return this.#pool.size
  }
  /** Sandbox names start with `<namePrefix>-`. */
  get namePrefix(): string {
    return this.#pool.namePrefix
  }

  /** A started sandbox, never handed out before. Shut it down when done. */
  async acquire(options: { readonly signal?: AbortSignal | undefined } = {}): Promise<Container> {
    const handle = await runPromise(this.#runtime, this.#pool.take, options.signal)
    return new Container(handle, this.#runtime)
  }

  /** Resolves once `size` sandboxes are ready. */
  warm(options: { readonly signal?: AbortSignal | undefined } = {}): Promise<void> {
    return runPromise(this.#runtime, this.#pool.warm, options.signal)
  }

  /** How many sandboxes are ready, starting, in use; how many acquisitions wait. */
  stats(): Promise<PoolStats> {
    return runPromise(this.#runtime, this.#pool.stats)
  }

  /** Destroys every sandbox of the pool, handed out or not. Safe to call twice. */
  shutdown(): Promise<void> {
    return runPromise(this.#runtime, Scope.close(this.#scope, Exit.void))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown()
  }
}

/**
 * Creates a warm pool of `size` sandboxes, all made with the same options.
 *
 * @example
 * ```ts
 * await using pool = await createPool({ size: 4, image: "pocketdock/minimal-python" })
 * await using sandbox = await pool.acquire() // started already
 * console.log((await sandbox.run("echo hi")).stdout)
 * ```
 */
export const createPool = async (options: CreatePoolOptions): Promise<Pool> => {
  const { socketPath, signal, warm = true, ...poolOptions } = options
  const runtime = runtimeFor(socketPath)
  const scope = await runPromise(runtime, Scope.make())
  try {
    const pool = await runPromise(
      runtime,
      ContainerPoolLive.make(poolOptions).pipe(
        Effect.tap((made) => (warm ? made.warm : Effect.void)),
        Scope.extend(scope)
      ),
      signal
    )
    return new Pool(pool, scope, runtime)
  } catch (error) {
    await runPromise(runtime, Scope.close(scope, Exit.void))
    throw error
  }
}
