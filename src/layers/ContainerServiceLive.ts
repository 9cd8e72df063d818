/**
 * The live `ContainerService`, on top of an `Engine`.
 *
 * Cleanup has two layers. Normally a container is removed by `shutdown`, which
 * a scope runs when it closes. If this process dies without running it (even
 * by SIGKILL), the container's *lease* ends it: an exec `cat; kill -TERM 1`
 * whose stdin this process holds. The engine closes that stdin when our
 * socket closes, `cat` returns, PID 1 is asked to stop, and the engine's
 * auto-remove takes the container away. No reaper container, nothing to pull.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { collect, toArgv, withPidReport } from "../internal/exec.js"
import { DEFAULT_IMAGE, DEFAULT_MAX_OUTPUT, type ResolvedCreate, resolveCreate } from "../internal/options.js"
import { ProcessCallbacks, startDetached } from "../internal/process.js"
import { execStream } from "../internal/stream.js"
import type { ExecResult } from "../schemas/ExecResult.js"
import {
  type Command,
  CommandTimeout,
  type Container,
  type ContainerError,
  ContainerGone,
  ContainerService,
  type CreateOptions,
  OutputTruncated,
  type RunOptions
} from "../services/ContainerService.js"
import {
  type ContainerNotFound,
  ContainerNotRunning,
  Engine,
  type EngineRequestError,
  type TransportError
} from "../services/Engine.js"
import type { DetachOptions, ExitCallback, OutputCallback, StreamOptions } from "../services/Process.js"

/** The exec that ties an ephemeral container's life to this process's connection. */
const LEASE_CMD = ["/bin/sh", "-c", "cat >/dev/null; kill -TERM 1"]

const holdLease = (engine: Engine, containerId: string, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const execId = yield* engine.execCreate(containerId, { cmd: LEASE_CMD, stdin: true, user: "0" })
    const lease = yield* engine.execAttach(execId).pipe(Scope.extend(scope))
    yield* lease.unref
  }).pipe(Effect.withSpan("Container.lease", { attributes: { containerId } }))

/** Turns "not found" into "gone", and tells a stopped container from a removed one. */
const asGone =
  (engine: Engine, containerId: string) =>
  <A, E>(
    effect: Effect.Effect<A, E | ContainerNotFound | ContainerNotRunning>
  ): Effect.Effect<A, Exclude<E, ContainerNotFound> | ContainerGone | ContainerNotRunning> =>
    effect.pipe(
      Effect.catchIf(
        (error): error is ContainerNotFound | ContainerNotRunning =>
          typeof error === "object" &&
          error !== null &&
          "_tag" in error &&
          (error._tag === "ContainerNotFound" || error._tag === "ContainerNotRunning"),
        () =>
          engine.inspectContainer(containerId).pipe(
            Effect.matchEffect({
              onFailure: () => Effect.fail(new ContainerGone({ containerId })),
              onSuccess: (inspect) =>
                Effect.fail(
                  inspect.State.Running
                    ? new ContainerGone({ containerId })
                    : new ContainerNotRunning({ containerId })
                )
            })
          )
      )
    ) as Effect.Effect<A, Exclude<E, ContainerNotFound> | ContainerGone | ContainerNotRunning>

class LiveContainer implements Container {
  private closed = false
  private readonly callbacks = new ProcessCallbacks()

  constructor(
    private readonly engine: Engine,
    private readonly resolved: ResolvedCreate,
    readonly id: string,
    readonly socketPath: string,
    /** Owns the lease, sessions and processes; closed by shutdown. */
    readonly scope: Scope.CloseableScope
  ) {}

  get name(): string {
    return this.resolved.spec.name
  }
  get image(): string {
    return this.resolved.spec.image
  }
  get persist(): boolean {
    return this.resolved.persist
  }
  get project(): string {
    return this.resolved.project
  }
  get timeout(): number {
    return this.resolved.timeout
  }

  private guard<A, E>(
    effect: Effect.Effect<A, E | ContainerNotFound | ContainerNotRunning>
  ): Effect.Effect<A, Exclude<E, ContainerNotFound> | ContainerGone | ContainerNotRunning> {
    return this.closed
      ? Effect.fail(new ContainerGone({ containerId: this.id }))
      : asGone(this.engine, this.id)(effect)
  }

  /** Creates the exec of a command (PID-reporting wrapper, env, workdir, user). */
  private createExec(command: Command, options: RunOptions | DetachOptions) {
    const self = this
    return Effect.gen(function* () {
      const argv = yield* toArgv(command, options.lang)
      yield* Effect.annotateCurrentSpan({ containerId: self.id, command: argv.join(" ").slice(0, 200) })
      return yield* self.guard(
        self.engine.execCreate(self.id, {
          cmd: withPidReport(argv),
          ...(options.env ? { env: Object.entries(options.env).map(([k, v]) => `${k}=${v}`) } : {}),
          ...(options.workdir ? { workingDir: options.workdir } : {}),
          ...(options.user ? { user: options.user } : {})
        })
      )
    })
  }

  readonly run = (command: Command, options: RunOptions = {}) => {
    const self = this
    return Effect.gen(function* () {
      const timeoutSeconds = options.timeout ?? self.timeout
      const maxOutput = options.maxOutput ?? DEFAULT_MAX_OUTPUT
      const execId = yield* self.createExec(command, options)
      const result: ExecResult = yield* self.guard(
        collect(self.engine, self.id, execId, { timeoutSeconds, maxOutput })
      )
      if (result.timedOut) return yield* new CommandTimeout({ timeoutSeconds, result })
      if (result.truncated) return yield* new OutputTruncated({ maxOutput, result })
      return result
    }).pipe(Effect.withSpan("Container.run"))
  }

  readonly runStream = (command: Command, options: StreamOptions = {}) =>
    Stream.unwrap(
      Effect.map(this.createExec(command, options), (execId) =>
        execStream(this.engine, this.id, execId, {
          timeoutSeconds: options.timeout ?? this.timeout,
          maxOutput: options.maxOutput ?? DEFAULT_MAX_OUTPUT,
          result: options.result
        })
      )
    ).pipe(Stream.withSpan("Container.runStream"))

  readonly runDetached = (command: Command, options: DetachOptions = {}) =>
    Effect.flatMap(this.createExec(command, options), (execId) =>
      startDetached(this.engine, this.id, execId, {
        bufferSize: options.bufferSize,
        timeoutSeconds: options.timeout,
        callbacks: this.callbacks,
        container: this
      })
    ).pipe(Effect.withSpan("Container.runDetached"))

  readonly onStdout = (callback: OutputCallback) =>
    Effect.sync(() => void this.callbacks.stdout.push(callback))
  readonly onStderr = (callback: OutputCallback) =>
    Effect.sync(() => void this.callbacks.stderr.push(callback))
  readonly onExit = (callback: ExitCallback) => Effect.sync(() => void this.callbacks.exit.push(callback))

  readonly shutdown = (options: { readonly force?: boolean } = {}): Effect.Effect<void, ContainerError> => {
    const self = this
    return Effect.gen(function* () {
      if (self.closed) return
      self.closed = true
      yield* Effect.annotateCurrentSpan({ containerId: self.id, persist: self.persist })
      const stopped: Effect.Effect<void, EngineRequestError | TransportError | ContainerNotRunning> =
        self.persist
          ? options.force === true
            ? self.engine
                .killContainer(self.id, "KILL")
                .pipe(Effect.catchTag("ContainerNotFound", () => Effect.void))
            : self.engine
                .stopContainer(self.id, 10)
                .pipe(Effect.catchTag("ContainerNotFound", () => Effect.void))
          : self.engine.removeContainer(self.id)
      yield* stopped.pipe(
        Effect.catchTag("ContainerNotRunning", () => Effect.void),
        Effect.ensuring(Scope.close(self.scope, Exit.void))
      )
    }).pipe(Effect.withSpan("Container.shutdown"))
  }
}

/**
 * Creates the container described by `resolved`, starts it, and (for an
 * ephemeral one) takes its lease. On failure or interruption half-way, what
 * was created is removed.
 */
const start = (engine: Engine, resolved: ResolvedCreate) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const info = yield* restore(engine.info)
      const id = yield* restore(engine.createContainer(resolved.spec)).pipe(
        Effect.onInterrupt(() => engine.removeContainer(resolved.spec.name).pipe(Effect.ignore))
      )
      const scope = yield* Scope.make()
      const container = new LiveContainer(engine, resolved, id, info.socketPath, scope)
      yield* restore(
        Effect.gen(function* () {
          yield* engine.startContainer(id)
          if (!resolved.persist) yield* holdLease(engine, id, scope)
        })
      ).pipe(
        Effect.onError(() =>
          Effect.andThen(engine.removeContainer(id).pipe(Effect.ignore), Scope.close(scope, Exit.void))
        )
      )
      return container
    })
  )

/**
 * @since 0.1.0
 */
export const make: Effect.Effect<ContainerService, never, Engine> = Effect.gen(function* () {
  const engine = yield* Engine

  const create = (options: CreateOptions = {}) =>
    resolveCreate(options, { image: DEFAULT_IMAGE, network: true }).pipe(
      Effect.flatMap((resolved) => start(engine, resolved)),
      Effect.withSpan("ContainerService.create", { attributes: { image: options.image ?? DEFAULT_IMAGE } })
    )

  const service: ContainerService = {
    create,
    scoped: (options) =>
      Effect.acquireRelease(create(options), (container) =>
        container.shutdown().pipe(
          Effect.timeoutOption("30 seconds"),
          Effect.catchAllCause((cause) => Effect.logWarning("pocketdock: container shutdown failed", cause))
        )
      )
  }
  return service
})

/**
 * `ContainerService` on the `Engine` in context.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<ContainerService, never, Engine> = Layer.effect(ContainerService, make)
