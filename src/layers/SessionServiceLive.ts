/**
 * The live `SessionService`: one `/bin/sh -i` exec per session, started with
 * stdin attached, fed one command line at a time by a single worker fiber
 * (so commands never interleave), with command boundaries found by markers
 * (see `src/internal/session.ts`). The happy path of a command costs one
 * write and the reading of its output: no extra exec, no polling.
 *
 * @since 0.1.0
 */
import {
  Deferred,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Fiber,
  FiberId,
  Layer,
  Option,
  Queue,
  Scope,
  Stream
} from "effect"
import { ignoreOutput } from "../internal/exec.js"
import { type OutputLog, openOutputLog } from "../internal/outputLog.js"
import {
  commandLine,
  initLine,
  killScript,
  type Marker,
  MarkerScanner,
  newPrefix,
  syncLine
} from "../internal/session.js"
import { ExecResult, StreamChunk, type StreamName } from "../schemas/ExecResult.js"
import { CommandTimeout, type Container, ContainerGone, InvalidOption } from "../services/ContainerService.js"
import { type AttachedExec, Engine, type ExecFrame } from "../services/Engine.js"
import {
  type SendOptions,
  type Session,
  SessionClosed,
  type SessionEndReason,
  type SessionOptions,
  SessionService
} from "../services/SessionService.js"

/** Exit code reported for a command interrupted by a timeout (as after Ctrl-C). */
const INTERRUPTED_EXIT_CODE = 130
/** How long the shell may take to come up, or to answer a sync line. */
const STARTUP_TIMEOUT = Duration.seconds(15)
const SYNC_TIMEOUT = Duration.seconds(3)
const SYNC_ATTEMPTS = 3
const encoder = new TextEncoder()

interface Request {
  readonly command: string
  /** `sendAndWait`: the output is the caller's; `send`: it goes to `read`. */
  readonly claimed: boolean
  readonly timeoutSeconds: number | undefined
  readonly result: Deferred.Deferred<ExecResult, SessionClosed | CommandTimeout>
  readonly cancel: Deferred.Deferred<void>
}

/** A line the shell is executing. */
class Line {
  readonly out: Array<Uint8Array> = []
  readonly err: Array<Uint8Array> = []
  readonly done: Record<StreamName, boolean> = { stdout: false, stderr: false }
  status = -1
  readonly finished: Deferred.Deferred<"ok" | "aborted"> = Deferred.unsafeMake(FiberId.none)
  constructor(
    readonly seq: number,
    readonly claimed: boolean
  ) {}
}

type Owner = Line | "discard" | undefined

class LiveSession implements Session {
  private readonly scanners: Record<StreamName, MarkerScanner>
  private readonly decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() }
  private readonly owner: Record<StreamName, Owner> = { stdout: "discard", stderr: "discard" }
  private readonly unclaimed: Array<string> = []
  private readonly listeners: Array<(chunk: StreamChunk) => void> = []
  private current: Line | undefined
  private seq = 0
  private shellPid = 0
  /** Uptime (1/100 s) and `$!` at the end of the last line: what tells background jobs from the running command. */
  private since = { uptime: -1, lastBackground: -1 }
  private busy = false
  private closing = false
  /** Completed once, with why the session ended. */
  readonly ended: Deferred.Deferred<never, SessionClosed> = Deferred.unsafeMake(FiberId.none)
  private endedError: SessionClosed | undefined
  private currentRequest: Request | undefined

  constructor(
    private readonly engine: Engine,
    private readonly attached: AttachedExec,
    readonly containerId: string,
    private readonly defaultTimeout: number,
    private readonly queue: Queue.Queue<Request>,
    prefix: string,
    /** The instance's session log (`auto_log`), if any. */
    private readonly log: OutputLog | undefined
  ) {
    this.scanners = { stdout: new MarkerScanner(prefix), stderr: new MarkerScanner(prefix) }
  }

  get id(): string {
    return this.attached.execId
  }

  private closedError(reason: SessionEndReason, exitCode?: number): SessionClosed {
    return new SessionClosed({
      sessionId: this.id,
      reason,
      ...(exitCode === undefined ? {} : { exitCode })
    })
  }

  // --- output --------------------------------------------------------------

  onFrame(frame: ExecFrame): void {
    for (const event of this.scanners[frame.stream].feed(frame.data)) {
      if (event._tag === "Content") this.content(frame.stream, event.data)
      else this.marker(frame.stream, event.marker)
    }
  }

  private content(stream: StreamName, data: Uint8Array): void {
    const owner = this.owner[stream]
    if (owner === "discard" || data.length === 0) return
    if (this.log !== undefined) this.log.push(data)
    if (owner?.claimed) (stream === "stdout" ? owner.out : owner.err).push(data)
    const text = this.decoders[stream].decode(data, { stream: true })
    if (text.length === 0) return
    if (!owner?.claimed) this.unclaimed.push(text)
    if (this.listeners.length > 0) {
      const chunk = new StreamChunk({ stream, data: text })
      for (const listener of this.listeners) {
        try {
          listener(chunk)
        } catch {
          // a failing callback must not break the session
        }
      }
    }
  }

  private marker(stream: StreamName, marker: Marker): void {
    const line = this.current
    if (line === undefined || marker.seq !== line.seq || line.done[stream]) return
    line.done[stream] = true
    this.owner[stream] = undefined
    if (marker.kind === "p") {
      Deferred.unsafeDone(line.finished, Exit.succeed("aborted" as const))
      return
    }
    line.status = marker.status
    if (marker.uptime !== undefined && marker.lastBackground !== undefined) {
      this.since = { uptime: marker.uptime, lastBackground: marker.lastBackground }
    }
    if (line.done.stdout && line.done.stderr) Deferred.unsafeDone(line.finished, Exit.succeed("ok" as const))
  }

  // --- the shell -----------------------------------------------------------

  private write(text: string) {
    return this.attached.write(text).pipe(Effect.mapError(() => this.closedError("exited")))
  }

  /** How a line ended; fails as soon as the session ends. */
  private awaitLine(line: Line) {
    return Effect.raceFirst(Deferred.await(line.finished), Deferred.await(this.ended))
  }

  /** Writes a line for the shell to run; the line's state, filled in from the output. */
  private startLine(text: (seq: number) => string, claimed: boolean) {
    const line = new Line(++this.seq, claimed)
    this.current = line
    return Effect.as(this.write(text(line.seq)), line)
  }

  readonly handshake = (prefix: string) =>
    Effect.gen(this, function* () {
      const line = yield* this.startLine((seq) => initLine(prefix, seq), false)
      const outcome = yield* this.awaitLine(line).pipe(Effect.timeoutOption(STARTUP_TIMEOUT))
      if (Option.isNone(outcome) || outcome.value !== "ok") {
        return yield* this.closedError("unresponsive")
      }
      this.shellPid = line.status
      this.owner.stdout = undefined
      this.owner.stderr = undefined
      this.current = undefined
    })

  /** After an abort: a line that only prints marks, so both streams are in step again. Its status. */
  private sync() {
    return Effect.gen(this, function* () {
      for (let attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
        const line = yield* this.startLine(syncLine, false)
        const outcome = yield* this.awaitLine(line).pipe(Effect.timeoutOption(SYNC_TIMEOUT))
        if (Option.isSome(outcome) && outcome.value === "ok") {
          this.owner.stdout = undefined
          this.owner.stderr = undefined
          return line.status
        }
      }
      return yield* this.closedError("unresponsive")
    })
  }

  private kill(final: boolean) {
    return Effect.gen(this, function* () {
      if (this.shellPid <= 0) return
      const execId = yield* this.engine.execCreate(this.containerId, {
        cmd: ["/bin/sh", "-c", killScript(this.shellPid, this.since, final)],
        user: "0"
      })
      yield* this.engine.execStart(execId, ignoreOutput)
    }).pipe(
      Effect.ignore,
      Effect.timeoutOption("10 seconds"),
      Effect.withSpan("Session.interrupt", { attributes: { containerId: this.containerId } })
    )
  }

  /** Runs one request to its end; the worker calls this for each, in order. */
  readonly runRequest = (request: Request) =>
    Effect.gen(this, function* () {
      if (yield* Deferred.isDone(request.cancel)) return
      const started = performance.now()
      this.busy = true
      this.currentRequest = request
      if (this.log !== undefined) this.log.push(encoder.encode(`$ ${request.command}\n`))
      const line = yield* this.startLine((seq) => commandLine(seq, request.command), request.claimed)
      this.owner.stdout = line
      this.owner.stderr = line
      const timeout =
        request.timeoutSeconds === undefined
          ? Effect.never
          : Effect.as(Effect.sleep(Duration.seconds(request.timeoutSeconds)), "timeout" as const)
      const outcome = yield* Effect.raceAll([
        this.awaitLine(line),
        Effect.as(Deferred.await(request.cancel), "cancel" as const),
        timeout
      ])
      let exitCode = line.status
      let timedOut = false
      if (outcome === "aborted") {
        exitCode = yield* this.sync()
      } else if (outcome !== "ok") {
        timedOut = true
        exitCode = INTERRUPTED_EXIT_CODE
        // what the shell prints about the kill ("Killed", a newline) is not the command's
        if (this.owner.stderr === line) this.owner.stderr = "discard"
        yield* this.kill(false)
        yield* this.sync()
      }
      this.busy = false
      this.current = undefined
      this.currentRequest = undefined
      const result = new ExecResult({
        exitCode,
        stdout: Buffer.concat(line.out).toString("utf8"),
        stderr: Buffer.concat(line.err).toString("utf8"),
        durationMs: performance.now() - started,
        timedOut,
        truncated: false
      })
      if (timedOut) {
        yield* Deferred.fail(
          request.result,
          new CommandTimeout({ timeoutSeconds: request.timeoutSeconds ?? 0, result })
        )
      } else {
        yield* Deferred.succeed(request.result, result)
      }
    })

  /** Ends the session once: fails whatever waits, with `error`. */
  readonly end = (error: SessionClosed) =>
    Effect.gen(this, function* () {
      if (this.endedError !== undefined) return
      this.endedError = error
      yield* Deferred.fail(this.ended, error)
      if (this.currentRequest !== undefined) yield* Deferred.fail(this.currentRequest.result, error)
      const waiting = yield* Queue.takeAll(this.queue)
      for (const request of waiting) yield* Deferred.fail(request.result, error)
      yield* Queue.shutdown(this.queue)
    })

  /** The output ended by itself: tell why. */
  readonly outputEnded = Effect.gen(this, function* () {
    if (this.closing || this.endedError !== undefined) return yield* this.end(this.closedError("closed"))
    const inspect = yield* this.engine.execInspect(this.id).pipe(Effect.option)
    const exitCode = Option.flatMap(inspect, (i) => Option.fromNullable(i.ExitCode)).pipe(
      Option.getOrUndefined
    )
    const running = yield* this.engine.inspectContainer(this.containerId).pipe(
      Effect.map((c) => c.State.Running),
      Effect.orElseSucceed(() => false)
    )
    yield* this.end(this.closedError(running ? "exited" : "container-stopped", exitCode ?? undefined))
  }).pipe(Effect.timeoutOption("5 seconds"), Effect.asVoid)

  // --- public --------------------------------------------------------------

  private guardOpen<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | SessionClosed> {
    return Effect.suspend(
      (): Effect.Effect<A, E | SessionClosed> =>
        this.endedError === undefined ? effect : Effect.fail(this.endedError)
    )
  }

  private validate(command: string) {
    return command.includes("\u0000")
      ? Effect.fail(new InvalidOption({ option: "command", detail: "a command cannot contain NUL bytes" }))
      : Effect.void
  }

  private enqueue(command: string, claimed: boolean, timeoutSeconds: number | undefined) {
    return Effect.gen(this, function* () {
      const request: Request = {
        command,
        claimed,
        timeoutSeconds,
        result: yield* Deferred.make<ExecResult, SessionClosed | CommandTimeout>(),
        cancel: yield* Deferred.make<void>()
      }
      const offered = yield* Queue.offer(this.queue, request)
      if (!offered && this.endedError !== undefined) return yield* this.endedError
      return request
    })
  }

  readonly send = (command: string): Effect.Effect<void, SessionClosed | InvalidOption> =>
    this.guardOpen(
      Effect.gen(this, function* () {
        yield* this.validate(command)
        yield* this.enqueue(command, false, undefined)
      })
    ).pipe(Effect.withSpan("Session.send", { attributes: { sessionId: this.id } }))

  readonly sendAndWait = (
    command: string,
    options: SendOptions = {}
  ): Effect.Effect<ExecResult, SessionClosed | CommandTimeout | InvalidOption> =>
    this.guardOpen(
      Effect.gen(this, function* () {
        yield* this.validate(command)
        const timeout = options.timeout ?? this.defaultTimeout
        if (!(timeout > 0)) {
          return yield* new InvalidOption({
            option: "timeout",
            detail: `must be > 0 seconds, got ${timeout}`
          })
        }
        return yield* Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(this.enqueue(command, true, timeout), (request) =>
            restore(Deferred.await(request.result)).pipe(
              Effect.onInterrupt(() => Deferred.succeed(request.cancel, undefined))
            )
          )
        )
      })
    ).pipe(Effect.withSpan("Session.sendAndWait", { attributes: { sessionId: this.id } }))

  readonly read: Effect.Effect<string, SessionClosed> = this.guardOpen(
    Effect.sync(() => this.unclaimed.splice(0).join(""))
  )

  readonly onOutput = (fn: (chunk: StreamChunk) => void): Effect.Effect<void, SessionClosed> =>
    this.guardOpen(Effect.sync(() => void this.listeners.push(fn)))

  /** Set by `open`: closes the session's scope. */
  closeScope: Effect.Effect<void> = Effect.void

  readonly close: Effect.Effect<void> = Effect.suspend(() => this.closeScope).pipe(
    Effect.withSpan("Session.close")
  )

  /** The finalizer: stops the shell (killing a running command) and fails what waits. */
  readonly shutdown = Effect.gen(this, function* () {
    if (this.closing) return
    this.closing = true
    const running = this.busy && this.endedError === undefined
    yield* this.end(this.closedError("closed"))
    if (running) yield* this.kill(true)
    else yield* this.attached.endInput
  })
}

const open =
  (engine: Engine) =>
  (container: Container, options: SessionOptions = {}) =>
    Effect.gen(function* () {
      for (const [key, value] of Object.entries(options.env ?? {})) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || value.includes("\u0000")) {
          return yield* new InvalidOption({ option: "env", detail: `bad variable ${JSON.stringify(key)}` })
        }
      }
      const scope = yield* Scope.fork(container.scope, ExecutionStrategy.sequential)
      yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
      const env = [
        "PS1=",
        "PS2=",
        "ENV=",
        "HISTFILE=/dev/null",
        ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)
      ]
      const execId = yield* engine
        .execCreate(container.id, {
          cmd: ["/bin/sh", "-i"],
          stdin: true,
          env,
          ...(options.workdir ? { workingDir: options.workdir } : {}),
          // the sandbox's user (non-root by default) unless the session asks for another
          ...sessionUser(options.user ?? container.user)
        })
        .pipe(Effect.catchTag("ContainerNotFound", () => new ContainerGone({ containerId: container.id })))
      const attached = yield* engine.execAttach(execId).pipe(Scope.extend(scope))
      const prefix = newPrefix()
      const queue = yield* Queue.unbounded<Request>()
      const log = yield* openOutputLog(container, "session").pipe(Scope.extend(scope))
      const session = new LiveSession(engine, attached, container.id, container.timeout, queue, prefix, log)
      session.closeScope = Scope.close(scope, Exit.void)

      yield* Stream.runForEach(attached.output, (frame) => Effect.sync(() => session.onFrame(frame))).pipe(
        Effect.ignore,
        Effect.zipRight(session.outputEnded),
        Effect.forkIn(scope)
      )
      const worker = yield* Queue.take(queue).pipe(
        Effect.flatMap(session.runRequest),
        Effect.catchAll((error) => session.end(error)),
        Effect.forever,
        Effect.forkIn(scope)
      )
      yield* Scope.addFinalizer(
        scope,
        Effect.andThen(Fiber.interrupt(worker), session.shutdown).pipe(
          Effect.timeoutOption("15 seconds"),
          Effect.catchAllCause((cause) => Effect.logWarning("pocketdock: session close failed", cause))
        )
      )
      yield* session.handshake(prefix).pipe(
        Effect.raceFirst(Deferred.await(session.ended)),
        Effect.tapError((error) => session.end(error))
      )
      return session as Session
    }).pipe(Effect.withSpan("Session.open", { attributes: { containerId: container.id } }))

/**
 * @since 0.1.0
 */
export const make: Effect.Effect<SessionService, never, Engine> = Effect.map(Engine, (engine) => ({
  open: open(engine)
}))

/**
 * `SessionService` on the `Engine` in context.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<SessionService, never, Engine> = Layer.effect(SessionService, make)

/** `root` means uid 0: an image may lack a root entry in /etc/passwd. */
const sessionUser = (user: string | undefined): { user?: string } =>
  user === undefined || user === "" ? {} : { user: user === "root" ? "0" : user }
