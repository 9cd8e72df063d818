/**
 * The live `ContainerService`, on top of an `Engine`.
 *
 * Cleanup has two layers. Normally a container is removed by `shutdown`, which
 * a scope runs when it closes. If this process dies without running it (even
 * by SIGKILL), the container's *lease* ends it: its main process is `cat`,
 * reading a stdin that this process attached to before the container
 * started. The engine closes that stdin when our connection closes
 * (`StdinOnce`), `cat` returns, the container stops and the engine's
 * auto-remove takes it away. No reaper container, no extra process, nothing
 * to pull.
 *
 * @since 0.1.0
 */
import { Effect, ExecutionStrategy, Exit, Layer, Option, Scope, Stream } from "effect"
import { attach } from "../internal/attach.js"
import { DefaultUsers } from "../internal/defaultUser.js"
import { collect, ignoreOutput, newRunToken, runTokenEnv, toArgv, withPidReport } from "../internal/exec.js"
import * as Files from "../internal/files.js"
import * as Info from "../internal/info.js"
import {
  DEFAULT_IMAGE,
  DEFAULT_MAX_OUTPUT,
  Labels,
  type ResolvedCreate,
  resolveCreate
} from "../internal/options.js"
import { openOutputLog } from "../internal/outputLog.js"
import * as Persistence from "../internal/persistence.js"
import { ProcessCallbacks, startDetached } from "../internal/process.js"
import { resolveProfile } from "../internal/profiles.js"
import { execStream } from "../internal/stream.js"
import type { ExecResult } from "../schemas/ExecResult.js"
import { HistoryEntry } from "../schemas/Project.js"
import {
  type Command,
  CommandTimeout,
  type Container,
  type ContainerError,
  ContainerGone,
  ContainerService,
  type CreateOptions,
  InvalidOption,
  OutputTruncated,
  PathNotFound,
  type RebootError,
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
import { type LogKind, ProjectHooks } from "../services/ProjectService.js"

/**
 * A restart inside the container: every process but its init (PID 1) and the
 * container's own command (the child of PID 1 that started first) is
 * stopped, then killed, so none of them runs another line (the lease's
 * `kill -TERM 1` among them). Files, id and network stay.
 */
const RESTART_IN_PLACE = `main= first=
for d in /proc/[0-9]*; do
  stat=$(cat "$d/stat" 2>/dev/null) || continue
  set -- \${stat##*) }
  if [ "$2" = 1 ] && { [ -z "$first" ] || [ "\${20}" -lt "$first" ]; }; then first=\${20}; main=\${d#/proc/}; fi
done
targets=
for d in /proc/[0-9]*; do
  p=\${d#/proc/}
  case "$p" in 1|"$main"|$$) ;; *) targets="$targets $p" ;; esac
done
[ -z "$targets" ] || { kill -STOP $targets; kill -KILL $targets; } 2>/dev/null
true`

/**
 * Turns "not found" into "gone", and tells a stopped container from a removed
 * one. Any other engine failure (an exec whose container was removed under
 * it, a stream cut short) is also checked: if the container is gone or
 * stopped, that is the error; otherwise the original one stands.
 */
const asGone =
  (engine: Engine, containerId: string, ephemeral: boolean) =>
  <A, E>(
    effect: Effect.Effect<A, E | ContainerNotFound | ContainerNotRunning>
  ): Effect.Effect<A, Exclude<E, ContainerNotFound> | ContainerGone | ContainerNotRunning> =>
    effect.pipe(
      Effect.catchAll((error: E | ContainerNotFound | ContainerNotRunning) => {
        const tag = typeof error === "object" && error !== null && "_tag" in error ? error._tag : undefined
        const definite = tag === "ContainerNotFound" || tag === "ContainerNotRunning"
        if (!definite && tag !== "EngineRequestError" && tag !== "SocketCommunicationError") {
          return Effect.fail(error)
        }
        const fail = (mapped: E | ContainerNotFound | ContainerNotRunning | ContainerGone) =>
          Effect.fail(mapped)
        return engine.inspectContainer(containerId).pipe(
          Effect.matchEffect({
            onFailure: (inspectError) =>
              definite || inspectError._tag === "ContainerNotFound"
                ? fail(new ContainerGone({ containerId }))
                : fail(error),
            onSuccess: (inspect) =>
              fail(
                !inspect.State.Running
                  ? // an ephemeral container that stopped is on its way out (auto-remove)
                    ephemeral || /^(removing|dead)$/i.test(inspect.State.Status)
                    ? new ContainerGone({ containerId })
                    : new ContainerNotRunning({ containerId })
                  : definite
                    ? new ContainerGone({ containerId })
                    : error
              )
          })
        )
      })
    ) as Effect.Effect<A, Exclude<E, ContainerNotFound> | ContainerGone | ContainerNotRunning>

/** The exec user of a run: `root` means uid 0 (an image may lack a root entry). */
const runUser = (user: string | undefined): { user: string } | undefined =>
  user === undefined || user === "" ? undefined : { user: user === "root" ? "0" : user }

/** Where an instance of a project records its runs and output; absent outside projects. */
export interface InstanceRecorder {
  readonly dataPath: string
  readonly hooks: ProjectHooks
}

export class LiveContainer implements Container {
  private closed = false
  private readonly callbacks = new ProcessCallbacks()
  /** Holds the lease connection of an ephemeral container; a child of `scope`. */
  private lease: Scope.CloseableScope | undefined
  /** Set once after start: `sandbox` when the image has it, unless the options chose. */
  user: string | undefined

  constructor(
    private readonly engine: Engine,
    private readonly resolved: ResolvedCreate,
    /** Changes when `reboot({ fresh: true })` creates the container again. */
    public id: string,
    readonly socketPath: string,
    /** Owns the lease, sessions and processes; closed by shutdown. */
    readonly scope: Scope.CloseableScope,
    private readonly recorder?: InstanceRecorder | undefined
  ) {
    this.user = resolved.user
  }

  get dataPath(): string {
    return this.recorder?.dataPath ?? ""
  }

  readonly log = (kind: LogKind, data: string | Uint8Array): Effect.Effect<void> =>
    this.recorder === undefined ? Effect.void : this.recorder.hooks.log(this.recorder.dataPath, kind, data)

  get logging(): Effect.Effect<boolean> {
    return this.recorder === undefined
      ? Effect.succeed(false)
      : this.recorder.hooks.autoLog(this.recorder.dataPath)
  }

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

  /**
   * Starts the created container. An ephemeral one's lease (see the top of
   * this file) is taken first, so that no moment after the start is unguarded.
   */
  startLeased(): Effect.Effect<void, ContainerNotFound | EngineRequestError | TransportError> {
    return Effect.gen(this, function* () {
      if (!this.persist) {
        const lease = yield* Scope.fork(this.scope, ExecutionStrategy.sequential)
        this.lease = lease
        const attachment = yield* Scope.extend(this.engine.attachStdin(this.id), lease)
        yield* attachment.unref
      }
      yield* this.engine.startContainer(this.id)
    })
  }

  /**
   * Removes the container, its lease ended first: told to stop that way, a
   * container is removed ~50 ms sooner by Podman (174 against 224 ms here).
   */
  private removeLeased(): Effect.Effect<void, EngineRequestError | TransportError> {
    return Effect.suspend(() => {
      const lease = this.lease
      this.lease = undefined
      return Effect.andThen(
        lease === undefined ? Effect.void : Scope.close(lease, Exit.void),
        this.engine.removeContainer(this.id)
      )
    })
  }

  private guard<A, E>(
    effect: Effect.Effect<A, E | ContainerNotFound | ContainerNotRunning>
  ): Effect.Effect<A, Exclude<E, ContainerNotFound> | ContainerGone | ContainerNotRunning> {
    return this.closed
      ? Effect.fail(new ContainerGone({ containerId: this.id }))
      : asGone(this.engine, this.id, !this.resolved.persist)(effect)
  }

  /**
   * Creates the exec of a command: the PID-reporting wrapper, and a run token
   * in its environment to find it without its PID; env, workdir, user.
   */
  private createExec(command: Command, options: RunOptions | DetachOptions) {
    const self = this
    return Effect.gen(function* () {
      const argv = yield* toArgv(command, options.lang)
      yield* Effect.annotateCurrentSpan({ containerId: self.id, command: argv.join(" ").slice(0, 200) })
      const token = newRunToken()
      const execId = yield* self.guard(
        self.engine.execCreate(self.id, {
          cmd: withPidReport(argv),
          env: [runTokenEnv(token), ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)],
          ...(options.workdir ? { workingDir: options.workdir } : {}),
          ...(runUser(options.user ?? self.user) ?? {})
        })
      )
      return { execId, token }
    })
  }

  readonly run = (command: Command, options: RunOptions = {}) => this.runCommand(command, options, true)

  /** A run of pocketdock's own (listing, `ps` for info): not in the user's history. */
  private readonly runInternal = (command: Command, options: RunOptions) =>
    this.runCommand(command, options, false)

  private runCommand(command: Command, options: RunOptions, recorded: boolean) {
    const self = this
    return Effect.gen(function* () {
      const timeoutSeconds = options.timeout ?? self.timeout
      const maxOutput = options.maxOutput ?? DEFAULT_MAX_OUTPUT
      const { execId, token } = yield* self.createExec(command, options)
      const result: ExecResult = yield* self.guard(
        collect(self.engine, self.id, execId, { timeoutSeconds, maxOutput, token })
      )
      // killed by a signal, or no exit code: the container itself may have died under the command
      if (result.exitCode === -1 || result.exitCode >= 128) {
        const stillRunning = Effect.flatMap(self.engine.inspectContainer(self.id), (inspect) =>
          inspect.State.Running ? Effect.void : Effect.fail(new ContainerNotRunning({ containerId: self.id }))
        )
        // a container being force-removed can still say "running" as its processes die: look twice
        yield* self.guard(
          Effect.andThen(stillRunning, Effect.andThen(Effect.sleep("150 millis"), stillRunning))
        )
      }
      if (recorded && self.recorder !== undefined) {
        yield* self.recorder.hooks.record(
          self.recorder.dataPath,
          new HistoryEntry({
            command: typeof command === "string" ? command : JSON.stringify(command),
            exitCode: result.exitCode,
            durationMs: result.durationMs,
            time: new Date(Date.now() - result.durationMs).toISOString(),
            timedOut: result.timedOut,
            truncated: result.truncated
          })
        )
      }
      if (result.timedOut) return yield* new CommandTimeout({ timeoutSeconds, result })
      if (result.truncated) return yield* new OutputTruncated({ maxOutput, result })
      return result
    }).pipe(Effect.withSpan("Container.run"))
  }

  readonly runStream = (command: Command, options: StreamOptions = {}) =>
    Stream.unwrap(
      Effect.map(this.createExec(command, options), ({ execId, token }) =>
        execStream(this.engine, this.id, execId, {
          timeoutSeconds: options.timeout ?? this.timeout,
          maxOutput: options.maxOutput ?? DEFAULT_MAX_OUTPUT,
          result: options.result,
          token
        })
      )
    ).pipe(Stream.withSpan("Container.runStream"))

  readonly runDetached = (command: Command, options: DetachOptions = {}) =>
    Effect.gen(this, function* () {
      const log = yield* openOutputLog(this, "detached")
      const { execId, token } = yield* this.createExec(command, options)
      return yield* startDetached(this.engine, this.id, execId, {
        bufferSize: options.bufferSize,
        timeoutSeconds: options.timeout,
        token,
        callbacks: this.callbacks,
        container: this,
        log
      })
    }).pipe(Effect.withSpan("Container.runDetached"))

  readonly onStdout = (callback: OutputCallback) =>
    Effect.sync(() => void this.callbacks.stdout.push(callback))
  readonly onStderr = (callback: OutputCallback) =>
    Effect.sync(() => void this.callbacks.stderr.push(callback))
  readonly onExit = (callback: ExitCallback) => Effect.sync(() => void this.callbacks.exit.push(callback))

  readonly writeFile = (path: string, content: string | Uint8Array) =>
    Effect.suspend(() => this.guard(Files.writeFile(this.engine, this.id, path, content))).pipe(
      Effect.withSpan("Container.writeFile", { attributes: { path } })
    )

  readonly readFile = (path: string) =>
    Effect.suspend(() => this.guard(Files.readFile(this.engine, this.id, path))).pipe(
      Effect.withSpan("Container.readFile", { attributes: { path } })
    )

  readonly listFiles = (path: string = Files.SANDBOX_HOME) => {
    const self = this
    return Effect.gen(function* () {
      const dir = yield* Files.containerPath(path, true)
      const result = yield* self.runInternal(Files.listCommand(dir), {
        user: "0",
        maxOutput: 64 * 1024 * 1024
      })
      if (result.exitCode === 3) return yield* new PathNotFound({ containerId: self.id, path: dir })
      if (result.exitCode !== 0) {
        return yield* new InvalidOption({
          option: "path",
          detail: `${dir} is not a listable directory ${result.stderr}`.trim()
        })
      }
      return Files.parseListing(result.stdout)
    }).pipe(Effect.withSpan("Container.listFiles", { attributes: { path } }))
  }

  readonly push = (src: string, dest: string) =>
    Effect.suspend(() => this.guard(Files.push(this.engine, this.id, src, dest))).pipe(
      Effect.withSpan("Container.push", { attributes: { src, dest } })
    )

  readonly pull = (src: string, dest: string) =>
    Effect.suspend(() => this.guard(Files.pull(this.engine, this.id, src, dest))).pipe(
      Effect.withSpan("Container.pull", { attributes: { src, dest } })
    )

  readonly info = () =>
    Effect.suspend(() =>
      Info.containerInfo(
        this.id,
        this.image,
        this.guard(this.engine.inspectContainer(this.id)),
        (id) => this.guard(this.engine.stats(id)),
        this.runInternal(Info.PS_COMMAND, { user: "0", timeout: 10 }),
        this.guard(this.engine.top(this.id))
      )
    )

  readonly reboot = (options: { readonly fresh?: boolean } = {}): Effect.Effect<void, RebootError> => {
    const self = this
    return Effect.gen(function* () {
      if (self.closed) return yield* new ContainerGone({ containerId: self.id })
      yield* Effect.annotateCurrentSpan({ containerId: self.id, fresh: options.fresh === true })
      if (options.fresh === true) {
        yield* Effect.gen(function* () {
          yield* self.removeLeased()
          self.id = yield* self.engine.createContainer(self.resolved.spec)
          yield* self.startLeased()
        }).pipe(
          // the old container is gone: a handle without a container is shut down
          Effect.tapError(() => self.shutdown({ force: true }).pipe(Effect.ignore))
        )
      } else if (!self.persist) {
        // The engines' restart loses auto-removed containers: Podman 4 stops
        // the container first and then removes it ("container has already
        // been removed"); Docker 20.10 restores AutoRemove before its exit
        // handler has run, which under load removes the container. A restart
        // in place also keeps the main process, which is the lease.
        yield* self.guard(
          Effect.flatMap(
            self.engine.execCreate(self.id, { cmd: ["/bin/sh", "-c", RESTART_IN_PLACE], user: "0" }),
            (execId) => self.engine.execStart(execId, ignoreOutput)
          )
        )
      } else {
        yield* self.guard(self.engine.restartContainer(self.id, 10))
      }
    }).pipe(Effect.withSpan("Container.reboot"))
  }

  readonly snapshot = (imageName: string) => {
    const self = this
    return Effect.gen(function* () {
      const { kind } = yield* self.engine.info
      const { repo, tag } = yield* Info.snapshotRef(imageName, kind)
      yield* Effect.annotateCurrentSpan({ containerId: self.id, repo, tag })
      return yield* self.guard(
        self.engine.commit(self.id, repo, tag, { "pocketdock.snapshot-of": self.name })
      )
    }).pipe(Effect.withSpan("Container.snapshot"))
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
          : self.removeLeased()
      yield* stopped.pipe(
        Effect.catchTag("ContainerNotRunning", () => Effect.void),
        Effect.ensuring(Scope.close(self.scope, Exit.void))
      )
    }).pipe(Effect.withSpan("Container.shutdown"))
  }
}

/**
 * Creates the container described by `resolved`, takes its lease (when it
 * is ephemeral) and starts it. On failure or interruption half-way, what was
 * created is removed.
 */
const start = (
  engine: Engine,
  defaultUsers: DefaultUsers,
  resolved: ResolvedCreate,
  recorder?: InstanceRecorder
) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const info = yield* restore(engine.info)
      const id = yield* restore(engine.createContainer(resolved.spec)).pipe(
        Effect.onInterrupt(() => engine.removeContainer(resolved.spec.name).pipe(Effect.ignore))
      )
      const scope = yield* Scope.make()
      const container = new LiveContainer(engine, resolved, id, info.socketPath, scope, recorder)
      yield* restore(
        // both engines read a created container's files: /etc/passwd is read while it starts
        Effect.all(
          [
            container.startLeased(),
            resolved.user === undefined
              ? Effect.map(defaultUsers.of(engine, id, resolved.spec.image), (user) => {
                  container.user = user
                })
              : Effect.void
          ],
          { concurrency: 2, discard: true }
        )
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
  const hooks = yield* Effect.serviceOption(ProjectHooks)
  const defaultUsers = new DefaultUsers()

  const create = (given: CreateOptions = {}) =>
    Effect.gen(function* () {
      const prepared = Option.isSome(hooks)
        ? yield* hooks.value.prepare(given)
        : { options: given, dataPath: "" }
      const options = prepared.options
      const profile = options.profile === undefined ? undefined : yield* resolveProfile(options.profile)
      const resolved = yield* resolveCreate(options, {
        image: profile?.imageTag ?? DEFAULT_IMAGE,
        network: profile?.networkDefault ?? true,
        profile: profile?.name
      })
      const recorder =
        Option.isSome(hooks) && prepared.dataPath !== ""
          ? { dataPath: prepared.dataPath, hooks: hooks.value }
          : undefined
      const spec =
        recorder === undefined
          ? resolved.spec
          : { ...resolved.spec, labels: { ...resolved.spec.labels, [Labels.dataPath]: recorder.dataPath } }
      const container = yield* start(engine, defaultUsers, { ...resolved, spec }, recorder)
      if (recorder !== undefined) {
        yield* recorder.hooks
          .created(recorder.dataPath, { id: container.id, options, image: resolved.spec.image })
          .pipe(Effect.tapError(() => engine.removeContainer(container.id).pipe(Effect.ignore)))
      }
      return container as Container
    }).pipe(
      Effect.withSpan("ContainerService.create", { attributes: { image: given.image ?? DEFAULT_IMAGE } })
    )

  const recorderOf = (dataPath: string): InstanceRecorder | undefined =>
    Option.isSome(hooks) && dataPath !== "" ? { dataPath, hooks: hooks.value } : undefined

  const removeInstance = (dataPath: string) =>
    Option.isSome(hooks) ? hooks.value.removeInstance(dataPath) : Effect.void

  const service: ContainerService = {
    create,
    resume: (name, options = {}) =>
      Persistence.resume(engine, name, options).pipe(
        Effect.flatMap(({ id, resolved, dataPath }) =>
          Effect.gen(function* () {
            const info = yield* engine.info
            const scope = yield* Scope.make()
            const container = new LiveContainer(
              engine,
              resolved,
              id,
              info.socketPath,
              scope,
              recorderOf(dataPath)
            )
            container.user = yield* defaultUsers.of(engine, id, resolved.spec.image)
            return container as Container
          })
        ),
        Effect.withSpan("ContainerService.resume", { attributes: { name } })
      ),
    list: (options = {}) => Persistence.list(engine, options),
    stop: (name) => Persistence.stop(engine, name),
    destroy: (name) => Persistence.destroy(engine, name, removeInstance),
    prune: (options = {}) => Persistence.prune(engine, options, removeInstance),
    scoped: (options) =>
      Effect.acquireRelease(create(options), (container) =>
        container.shutdown().pipe(
          // a release runs uninterruptibly: without this the bound could not cut a hung call
          Effect.interruptible,
          Effect.timeoutOption("30 seconds"),
          Effect.catchAllCause((cause) => Effect.logWarning("pocketdock: container shutdown failed", cause))
        )
      ),
    attach: (nameOrId) =>
      Effect.gen(function* () {
        let handle: LiveContainer | undefined
        const container = yield* attach(engine, nameOrId, (resolved, id, socketPath, scope) => {
          // a project instance's runs are recorded whoever attaches (the CLI included)
          const dataPath = resolved.spec.labels[Labels.dataPath] ?? ""
          handle = new LiveContainer(engine, resolved, id, socketPath, scope, recorderOf(dataPath))
          return handle
        })
        // the same non-root default as the process that created it
        if (handle !== undefined) handle.user = yield* defaultUsers.of(engine, container.id, container.image)
        return container
      })
  }
  return service
})

/**
 * `ContainerService` on the `Engine` in context.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<ContainerService, never, Engine> = Layer.effect(ContainerService, make)
