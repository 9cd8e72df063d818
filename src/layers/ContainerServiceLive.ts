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
import { Effect, Exit, Layer, Scope } from "effect"
import { attach } from "../internal/attach.js"
import { collect, toArgv, withPidReport } from "../internal/exec.js"
import { DEFAULT_IMAGE, DEFAULT_MAX_OUTPUT, type ResolvedCreate, resolveCreate } from "../internal/options.js"
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

  readonly run = (command: Command, options: RunOptions = {}) => {
    const self = this
    return Effect.gen(function* () {
      const argv = yield* toArgv(command, options.lang)
      const timeoutSeconds = options.timeout ?? self.timeout
      const maxOutput = options.maxOutput ?? DEFAULT_MAX_OUTPUT
      yield* Effect.annotateCurrentSpan({ containerId: self.id, command: argv.join(" ").slice(0, 200) })
      const result: ExecResult = yield* self.guard(
        Effect.gen(function* () {
          const execId = yield* self.engine.execCreate(self.id, {
            cmd: withPidReport(argv),
            ...(options.env ? { env: Object.entries(options.env).map(([k, v]) => `${k}=${v}`) } : {}),
            ...(options.workdir ? { workingDir: options.workdir } : {}),
            ...(options.user ? { user: options.user } : {})
          })
          return yield* collect(self.engine, self.id, execId, { timeoutSeconds, maxOutput })
        })
      )
      if (result.timedOut) return yield* new CommandTimeout({ timeoutSeconds, result })
      if (result.truncated) return yield* new OutputTruncated({ maxOutput, result })
      return result
    }).pipe(Effect.withSpan("Container.run"))
  }

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
      ),
    attach: (nameOrId) =>
      attach(
        engine,
        nameOrId,
        (resolved, id, socketPath, scope) => new LiveContainer(engine, resolved, id, socketPath, scope)
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
