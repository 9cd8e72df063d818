/**
 * Detached processes: a command driven in a background fiber whose output
 * fills a ring buffer and feeds the container's callbacks.
 */
import { Deferred, Duration, Effect, Option, type Scope } from "effect"
import { BufferSnapshot, ExecResult } from "../schemas/ExecResult.js"
import { CommandTimeout, type Container, ContainerGone, InvalidOption } from "../services/ContainerService.js"
import type { ContainerNotRunning, Engine, EngineRequestError, TransportError } from "../services/Engine.js"
import type { ExitCallback, OutputCallback, Process, Signal } from "../services/Process.js"
import { driveExec, forkStoppable, killInside, PidReader, type StopReason } from "./exec.js"
import type { OutputLog } from "./outputLog.js"
import { DEFAULT_BUFFER_SIZE, RingBuffer } from "./ringBuffer.js"
import { Utf8Decoders } from "./stream.js"

/** The callbacks registered on one container. */
export class ProcessCallbacks {
  readonly stdout: Array<OutputCallback> = []
  readonly stderr: Array<OutputCallback> = []
  readonly exit: Array<ExitCallback> = []

  /** Calls each callback; one that throws is logged and does not stop the others. */
  fire<A>(
    callbacks: ReadonlyArray<(container: Container, value: A) => void>,
    container: Container,
    value: A
  ) {
    for (const callback of callbacks) {
      try {
        callback(container, value)
      } catch (error) {
        Effect.runFork(Effect.logWarning("pocketdock: an output callback threw", error))
      }
    }
  }
}

/** A signal as `kill` takes it: a number 1-64 or a name, without `SIG`. */
export const signalName = (signal: Signal): Effect.Effect<string, InvalidOption> => {
  if (typeof signal === "number") {
    return Number.isInteger(signal) && signal >= 1 && signal <= 64
      ? Effect.succeed(String(signal))
      : Effect.fail(new InvalidOption({ option: "signal", detail: `no signal number ${signal}` }))
  }
  const name = signal.toUpperCase().replace(/^SIG/, "")
  return /^[A-Z][A-Z0-9+-]*$/.test(name) && !/[+-]/.test(name)
    ? Effect.succeed(name)
    : Effect.fail(new InvalidOption({ option: "signal", detail: `not a signal name: ${signal}` }))
}

type DriveError = ContainerNotRunning | EngineRequestError | TransportError

class LiveProcess implements Process {
  constructor(
    private readonly engine: Engine,
    private readonly containerId: string,
    readonly id: string,
    private readonly ring: RingBuffer,
    private readonly pids: PidReader,
    private readonly stop: Deferred.Deferred<StopReason>,
    private readonly done: Deferred.Deferred<ExecResult, DriveError>
  ) {}

  get bufferSize(): number {
    return this.ring.size
  }
  get bufferOverflow(): boolean {
    return this.ring.overflow
  }

  get read(): Effect.Effect<BufferSnapshot> {
    return Effect.sync(() => new BufferSnapshot(this.ring.drain()))
  }
  get peek(): Effect.Effect<BufferSnapshot> {
    return Effect.sync(() => new BufferSnapshot(this.ring.peek()))
  }
  get isRunning(): Effect.Effect<boolean> {
    return Effect.map(Deferred.isDone(this.done), (done) => !done)
  }

  readonly kill = (signal: Signal = 15) => {
    const self = this
    return Effect.gen(function* () {
      const sig = yield* signalName(signal)
      if (yield* Deferred.isDone(self.done)) return
      const pid = yield* Deferred.await(self.pids.pid).pipe(Effect.timeoutOption("2 seconds"))
      if (Option.isNone(pid)) return
      yield* killInside(self.engine, self.containerId, pid.value, sig)
    }).pipe(
      Effect.catchTag("ContainerNotFound", () =>
        Effect.fail(new ContainerGone({ containerId: self.containerId }))
      ),
      Effect.withSpan("Process.kill", { attributes: { execId: this.id, signal } })
    )
  }

  readonly wait = (options: { readonly timeout?: number | undefined } = {}) => {
    const self = this
    const timeout = options.timeout
    return Effect.gen(function* () {
      if (timeout === undefined) return yield* Deferred.await(self.done)
      const ended = yield* Deferred.await(self.done).pipe(Effect.timeoutOption(Duration.seconds(timeout)))
      if (Option.isSome(ended)) return ended.value
      yield* Deferred.succeed(self.stop, "timeout")
      const result = yield* Deferred.await(self.done)
      return yield* new CommandTimeout({ timeoutSeconds: timeout, result })
    }).pipe(Effect.withSpan("Process.wait", { attributes: { execId: this.id } }))
  }
}

export interface DetachedOptions {
  readonly bufferSize?: number | undefined
  readonly timeoutSeconds?: number | undefined
  /** The run's token (see `runTokenEnv`). */
  readonly token?: string | undefined
  readonly callbacks: ProcessCallbacks
  readonly container: Container
  /** Where the output is logged (`auto_log`); flushed before the process counts as ended. */
  readonly log?: OutputLog | undefined
}

/**
 * Starts an exec created from `withPidReport(argv)` in the background, in
 * the current scope: closing it kills the process. Returns once the process
 * has started (its PID is known) or already ended.
 */
export const startDetached = (
  engine: Engine,
  containerId: string,
  execId: string,
  options: DetachedOptions
): Effect.Effect<Process, InvalidOption, Scope.Scope> =>
  Effect.gen(function* () {
    const capacity = options.bufferSize ?? DEFAULT_BUFFER_SIZE
    if (!Number.isInteger(capacity) || capacity < 1) {
      return yield* new InvalidOption({
        option: "bufferSize",
        detail: `must be a positive integer, got ${capacity}`
      })
    }
    const ring = new RingBuffer(capacity)
    const pids = new PidReader()
    const stop = yield* Deferred.make<StopReason>()
    const done = yield* Deferred.make<ExecResult, DriveError>()
    const decoders = new Utf8Decoders()
    const { callbacks, container, log } = options
    const fireText = (stream: "stdout" | "stderr", text: string) => {
      if (text.length > 0) callbacks.fire(callbacks[stream], container, text)
    }

    const run = driveExec(engine, containerId, execId, {
      timeoutSeconds: options.timeoutSeconds,
      token: options.token,
      stop,
      pids,
      onOutput: (stream, data) => {
        ring.push(stream, data)
        if (log !== undefined) log.push(data)
        fireText(stream, decoders.decode(stream, data))
        return true
      }
    }).pipe(
      Effect.map((driven) => {
        fireText("stdout", decoders.flush("stdout"))
        fireText("stderr", decoders.flush("stderr"))
        const snapshot = ring.peek()
        return new ExecResult({
          exitCode: driven.exitCode,
          stdout: snapshot.stdout,
          stderr: snapshot.stderr,
          durationMs: driven.durationMs,
          timedOut: driven.stopped === "timeout",
          truncated: ring.overflow
        })
      }),
      Effect.tap((result) => Effect.sync(() => callbacks.fire(callbacks.exit, container, result.exitCode))),
      Effect.exit,
      Effect.tap(() => (log === undefined ? Effect.void : log.flush)),
      Effect.flatMap((exit) => Deferred.done(done, exit))
    )

    yield* forkStoppable(run, stop)
    yield* Deferred.await(pids.pid).pipe(
      Effect.asVoid,
      Effect.raceFirst(Effect.exit(Deferred.await(done))),
      Effect.timeoutOption("10 seconds")
    )
    return new LiveProcess(engine, containerId, execId, ring, pids, stop, done)
  })
