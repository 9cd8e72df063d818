/**
 * Running one command in a container: the wrapper that tells us its PID, the
 * kill that stops it inside the container (the engines have no exec-kill),
 * and the blocking collection of its output with a timeout and a cap.
 */
import * as Crypto from "node:crypto"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, FiberId, Option } from "effect"
import { ExecResult, type StreamName } from "../schemas/ExecResult.js"
import { type Command, InvalidOption } from "../services/ContainerService.js"
import type {
  ContainerNotFound,
  ContainerNotRunning,
  Engine,
  EngineRequestError,
  ExecFrame,
  TransportError
} from "../services/Engine.js"

/** The first bytes the wrapper writes on stderr: `\x1epocketdock-pid:<pid>\n`. */
const PID_MARK = "\u001epocketdock-pid:"

/**
 * Wraps argv so that the process first reports its PID on stderr, then
 * becomes the command (`exec`): the PID is the command's own, and it leads
 * its process group, so a group kill takes its children too.
 */
export const withPidReport = (argv: ReadonlyArray<string>): Array<string> => [
  "/bin/sh",
  "-c",
  `printf '${PID_MARK.replace("\u001e", "\\036")}%s\\n' "$$" >&2; exec "$@"`,
  "sh",
  ...argv
]

const LANGS: Record<string, (code: string) => Array<string>> = {
  python: (code) => ["python3", "-c", code],
  python3: (code) => ["python3", "-c", code],
  node: (code) => ["node", "-e", code],
  javascript: (code) => ["node", "-e", code],
  bash: (code) => ["bash", "-c", code],
  sh: (code) => ["/bin/sh", "-c", code],
  perl: (code) => ["perl", "-e", code],
  ruby: (code) => ["ruby", "-e", code]
}

export const SUPPORTED_LANGS: ReadonlyArray<string> = Object.keys(LANGS)

/** The argv of a command: a string runs in `/bin/sh -c` (or as `lang` code), an array as is. */
export const toArgv = (command: Command, lang?: string): Effect.Effect<Array<string>, InvalidOption> => {
  if (typeof command !== "string") {
    if (command.length === 0)
      return Effect.fail(new InvalidOption({ option: "command", detail: "empty argv" }))
    if (lang !== undefined) {
      return Effect.fail(
        new InvalidOption({ option: "lang", detail: "lang takes code as a string, not argv" })
      )
    }
    return Effect.succeed([...command])
  }
  if (lang === undefined) return Effect.succeed(["/bin/sh", "-c", command])
  const make = LANGS[lang]
  return make === undefined
    ? Effect.fail(
        new InvalidOption({
          option: "lang",
          detail: `unknown language ${lang}; use one of ${SUPPORTED_LANGS.join(", ")}`
        })
      )
    : Effect.succeed(make(command))
}

/**
 * Strips the PID report from the head of stderr. Feed it stderr bytes in
 * order; it returns the bytes that belong to the command.
 */
export class PidReader {
  private pending: Uint8Array | undefined = new Uint8Array(0)
  readonly pid: Deferred.Deferred<number> = Deferred.unsafeMake(FiberId.none)

  /** Whether the head of stderr has been read (the PID learned, or found missing). */
  get known(): boolean {
    return this.pending === undefined
  }

  feed(data: Uint8Array): Uint8Array {
    if (this.pending === undefined) return data
    const joined = new Uint8Array(this.pending.length + data.length)
    joined.set(this.pending)
    joined.set(data, this.pending.length)
    const newline = joined.indexOf(10)
    if (newline === -1 && joined.length < 64) {
      this.pending = joined
      return new Uint8Array(0)
    }
    this.pending = undefined
    const head = new TextDecoder().decode(joined.subarray(0, Math.max(newline, 0)))
    if (newline !== -1 && head.startsWith(PID_MARK)) {
      const pid = Number(head.slice(PID_MARK.length))
      if (Number.isInteger(pid) && pid > 0) Deferred.unsafeDone(this.pid, Effect.succeed(pid))
      return joined.subarray(newline + 1)
    }
    return joined
  }

  /** Bytes held back when the stream ended before a full line. */
  flush(): Uint8Array {
    const rest = this.pending ?? new Uint8Array(0)
    this.pending = undefined
    return rest
  }
}

/** An `execStart` consumer for commands whose output nobody reads. */
export const ignoreOutput = (_frame: ExecFrame): void => {}

/** A random marker put in a run's environment, to find its processes without its PID. */
export const newRunToken = (): string => Crypto.randomBytes(12).toString("hex")

/** The environment entry that carries a run's token (children inherit it). */
export const runTokenEnv = (token: string): string => `POCKETDOCK_RUN=${token}`

/**
 * Signals, inside the container and as root, the process group led by `pid`
 * (or the process alone, should its group be gone) — once only: a second
 * SIGTERM would run a shell's trap twice. Given a run token, a KILL also
 * reaches every process whose environment carries it, and without a PID the
 * token alone finds the command: that covers a command whose PID report
 * never arrived, and children that left the group.
 */
export const killInside = (
  engine: Engine,
  containerId: string,
  pid: number | undefined,
  signal: string | number = "KILL",
  token?: string
): Effect.Effect<void, ContainerNotFound | ContainerNotRunning | EngineRequestError | TransportError> =>
  Effect.gen(function* () {
    const sig = typeof signal === "number" ? String(signal) : signal.replace(/^SIG/, "")
    if (!/^[A-Z0-9]+$/.test(sig)) return
    const byPid =
      pid === undefined ? "" : `kill -${sig} -${pid} 2>/dev/null || kill -${sig} ${pid} 2>/dev/null; `
    const useToken =
      token !== undefined && /^[0-9a-f]+$/.test(token) && (pid === undefined || sig === "KILL" || sig === "9")
    const byToken = useToken
      ? `for d in /proc/[0-9]*; do grep -qs '${runTokenEnv(token)}' "$d/environ" && kill -${sig} "\${d#/proc/}" 2>/dev/null; done; `
      : ""
    if (byPid === "" && byToken === "") return
    const execId = yield* engine.execCreate(containerId, {
      cmd: ["/bin/sh", "-c", `${byPid}${byToken}true`],
      user: "0"
    })
    yield* engine.execStart(execId, ignoreOutput)
  }).pipe(Effect.withSpan("Container.killProcess", { attributes: { containerId, pid: pid ?? -1 } }))

/** Accumulates output up to a cap; what comes after the cap is dropped, not buffered. */
export class OutputCollector {
  private readonly parts: Record<StreamName, Array<Uint8Array>> = { stdout: [], stderr: [] }
  private bytes = 0
  truncated = false

  /** `store: false` counts toward the cap but keeps nothing (the caller keeps what it needs). */
  constructor(
    readonly maxOutput: number,
    private readonly store = true
  ) {}

  /** Keeps what fits; returns false once the cap is reached. */
  add(stream: StreamName, data: Uint8Array): boolean {
    this.keep(stream, data)
    return !this.truncated
  }

  /** Keeps what fits and returns it; past the cap, `truncated` is set. */
  keep(stream: StreamName, data: Uint8Array): Uint8Array {
    if (this.truncated) return new Uint8Array(0)
    const room = this.maxOutput - this.bytes
    // no copy: frames are views of socket reads, and Node allocates each read afresh
    const kept = data.length > room ? data.subarray(0, Math.max(room, 0)) : data
    if (data.length > room) {
      this.bytes = this.maxOutput
      this.truncated = true
    } else {
      this.bytes += data.length
    }
    if (kept.length > 0 && this.store) this.parts[stream].push(kept)
    return kept
  }

  text(stream: StreamName): string {
    return Buffer.concat(this.parts[stream]).toString("utf8")
  }
}

/** Why a running command was stopped from our side. */
export type StopReason = "timeout" | "truncated" | "stopped"

export interface DriveOptions {
  /** Seconds before the command is killed as timed out; `undefined`: no limit. */
  readonly timeoutSeconds?: number | undefined
  /**
   * Receives the command's output in order (the PID report removed). Returns
   * `false` to stop the command (an output cap was reached).
   */
  readonly onOutput: (stream: StreamName, data: Uint8Array) => boolean
  /** Completing it stops the command: killed inside the container, its output drained. */
  readonly stop?: Deferred.Deferred<StopReason> | undefined
  /** Learns the command's PID inside the container. */
  readonly pids?: PidReader | undefined
  /** The run's token (see `runTokenEnv`), to kill it even before its PID is known. */
  readonly token?: string | undefined
}

/** How a driven command ended. */
export interface DriveResult {
  readonly exitCode: number
  readonly durationMs: number
  /** Why we stopped it, if we did. */
  readonly stopped: StopReason | undefined
}

/** How long a start may hold its admission permit before the PID report (see `driveExec`). */
const ADMISSION_HOLD_LIMIT_MS = 10_000

/** Schedules `deferred` to complete with `value` after `ms`; the timer is returned, to clear. */
const completeAfter = <A>(deferred: Deferred.Deferred<A>, ms: number, value: A) =>
  setTimeout(() => Deferred.unsafeDone(deferred, Exit.succeed(value)), ms)

/** How long a killed command may take to close its output before we stop reading. */
const DRAIN_AFTER_KILL = Duration.seconds(3)

/**
 * Drives an exec created from `withPidReport(argv)` to its end, feeding its
 * output to `onOutput`. On timeout, on a cap (`onOutput` returns false) or on
 * a `stop` request, the process is killed inside the container and its output
 * drained for a bounded time. When the calling fiber is interrupted, the
 * process is killed too. The shared core of blocking, streaming and detached
 * runs.
 *
 * Every command passes here, so it is built for a short path: timers complete
 * Deferreds (no `Effect.sleep` raced against each wait: every race forks two
 * fibers), waits are sequential, and there are two forks, no scopes.
 */
export const driveExec = (
  engine: Engine,
  containerId: string,
  execId: string,
  options: DriveOptions
): Effect.Effect<DriveResult, ContainerNotRunning | EngineRequestError | TransportError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      // the command's turn to start on the engine (`Engine.execAdmission`)
      yield* restore(engine.execAdmission.take(1))
      let admitted = true
      const releaseAdmission = Effect.suspend(() => {
        if (!admitted) return Effect.void
        admitted = false
        return Effect.asVoid(engine.execAdmission.release(1))
      })
      const started = performance.now()
      const pids = options.pids ?? new PidReader()
      const stop = options.stop ?? Deferred.unsafeMake<StopReason>(FiberId.none)
      // the process runs once it reports its PID: the next command may start
      const running = Deferred.unsafeMake<void>(FiberId.none)
      let stopped: StopReason | undefined

      const deliver = (stream: StreamName, data: Uint8Array) => {
        if (data.length > 0 && !options.onOutput(stream, data))
          Deferred.unsafeDone(stop, Exit.succeed("truncated" as const))
      }
      const onFrame = (frame: ExecFrame) => {
        const data = frame.stream === "stderr" ? pids.feed(frame.data) : frame.data
        // completing a Deferred already done does nothing
        if (pids.known) Deferred.unsafeDone(running, Exit.void)
        deliver(frame.stream, data)
      }

      // A daemon, not a child fiber: children are interrupted the moment their
      // parent is, and the interrupt-kill below needs the reader alive to learn
      // the PID. It is interrupted when we return.
      const reader = yield* engine
        .execStart(execId, onFrame)
        .pipe(Effect.ensuring(Deferred.done(running, Exit.void)), Effect.interruptible, Effect.forkDaemon)
      // a start that takes this long stops holding its permit: one stuck exec must not hold up the engine
      const holdTimer = completeAfter(running, ADMISSION_HOLD_LIMIT_MS, undefined)
      const timeoutTimer =
        options.timeoutSeconds === undefined
          ? undefined
          : completeAfter(stop, options.timeoutSeconds * 1000, "timeout" as const)

      const killer = yield* Deferred.await(stop).pipe(
        Effect.flatMap((reason) =>
          Effect.gen(function* () {
            stopped = reason
            const pid = yield* Deferred.await(pids.pid).pipe(Effect.timeoutOption("2 seconds"))
            yield* killInside(engine, containerId, Option.getOrUndefined(pid), "KILL", options.token).pipe(
              Effect.ignore
            )
            // the process is dead: give its output a bounded time to end, then stop reading
            yield* Fiber.await(reader).pipe(Effect.timeoutOption(DRAIN_AFTER_KILL))
            yield* Fiber.interrupt(reader)
          })
        ),
        Effect.interruptible,
        Effect.fork
      )

      // Interrupted: the command must not outlive us. Its PID report may still be
      // on its way (the reader runs until we return), so wait for it briefly;
      // the token finds it anyway.
      const interruptKill = Effect.gen(function* () {
        // an exec start already sent may take a while on a loaded engine: the process still starts
        const pid = yield* Deferred.await(pids.pid).pipe(
          Effect.interruptible,
          Effect.timeoutOption("5 seconds")
        )
        yield* killInside(engine, containerId, Option.getOrUndefined(pid), "KILL", options.token).pipe(
          Effect.ignore,
          Effect.interruptible,
          Effect.timeoutOption("5 seconds")
        )
      })

      const finish = Effect.suspend(() => {
        clearTimeout(holdTimer)
        clearTimeout(timeoutTimer)
        return releaseAdmission.pipe(
          Effect.zipRight(Fiber.interrupt(killer)),
          Effect.zipRight(Fiber.interrupt(reader))
        )
      })

      return yield* Effect.gen(function* () {
        // waits are sequential, not raced: the reader's end completes `running` too
        const readerExit = yield* Deferred.await(running).pipe(
          Effect.zipRight(releaseAdmission),
          Effect.zipRight(Fiber.await(reader)),
          Effect.onInterrupt(() => interruptKill)
        )
        yield* Fiber.interrupt(killer)
        const held = pids.flush()
        if (held.length > 0) options.onOutput("stderr", held)
        const durationMs = performance.now() - started
        // a reader stopped after a kill is expected; otherwise its failure is ours
        if (
          readerExit._tag === "Failure" &&
          stopped === undefined &&
          !Cause.isInterruptedOnly(readerExit.cause)
        ) {
          return yield* Effect.failCause(readerExit.cause)
        }
        const exitCode = yield* exitCodeOf(engine, execId)
        return { exitCode, durationMs, stopped } satisfies DriveResult
      }).pipe(restore, Effect.ensuring(finish))
    })
  )

export interface CollectOptions {
  readonly timeoutSeconds: number
  readonly maxOutput: number
  /** Called with every piece of output that is kept (callbacks, streaming). */
  readonly onOutput?: ((frame: ExecFrame) => void) | undefined
  /** Completing it stops the command, as `driveExec` describes. */
  readonly stop?: Deferred.Deferred<StopReason> | undefined
  /** The run's token, as `driveExec` takes it. */
  readonly token?: string | undefined
}

/**
 * Runs an exec created from `withPidReport(argv)` to completion. On timeout or
 * once the output passes the cap, the process is killed inside the container
 * and the output so far is returned with the flag set. When the calling fiber
 * is interrupted, the process is killed too.
 */
export const collect = (
  engine: Engine,
  containerId: string,
  execId: string,
  options: CollectOptions
): Effect.Effect<ExecResult, ContainerNotRunning | EngineRequestError | TransportError> =>
  Effect.gen(function* () {
    const output = new OutputCollector(options.maxOutput)
    const driven = yield* driveExec(engine, containerId, execId, {
      timeoutSeconds: options.timeoutSeconds,
      stop: options.stop,
      token: options.token,
      onOutput: (stream, data) => {
        const kept = output.keep(stream, data)
        if (kept.length > 0 && options.onOutput) options.onOutput({ stream, data: kept })
        return !output.truncated
      }
    })
    return resultOf(driven, output)
  })

/** The result of a driven command, with the output `output` kept of it (or the text given). */
export const resultOf = (
  driven: DriveResult,
  output: OutputCollector,
  text: (stream: StreamName) => string = (stream) => output.text(stream)
): ExecResult =>
  new ExecResult({
    exitCode: driven.exitCode,
    stdout: text("stdout"),
    stderr: text("stderr"),
    durationMs: driven.durationMs,
    timedOut: driven.stopped === "timeout",
    truncated: output.truncated
  })

/** How long closing a stream or a detached process early waits for the killed command to end. */
const STOP_GRACE = Duration.seconds(6)

/**
 * Forks `run` (a `driveExec` listening to `stop`) into the current scope.
 * Closing the scope while it runs stops the command and waits, at most
 * `STOP_GRACE`, for it to end and report; only then is the fork interrupted.
 */
export const forkStoppable = <A, E, R>(run: Effect.Effect<A, E, R>, stop: Deferred.Deferred<StopReason>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkScoped(run)
    // finalizers run in reverse order: this one before the fork's interruption
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        if (fiber.unsafePoll() !== null) return
        yield* Deferred.succeed(stop, "stopped")
        yield* Fiber.await(fiber).pipe(Effect.timeoutOption(STOP_GRACE))
      })
    )
    return fiber
  })

/**
 * The exit code once the exec has ended. Both engines report it as soon as
 * the output ends; a short poll covers a slow update. -1 when unknown.
 */
export const exitCodeOf = (
  engine: Engine,
  execId: string
): Effect.Effect<number, EngineRequestError | TransportError> =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 50; attempt++) {
      const inspect = yield* engine.execInspect(execId)
      if (!inspect.Running && inspect.ExitCode !== null && inspect.ExitCode !== undefined)
        return inspect.ExitCode
      yield* Effect.sleep("20 millis")
    }
    return -1
  })
