/**
 * Running one command in a container: the wrapper that tells us its PID, the
 * kill that stops it inside the container (the engines have no exec-kill),
 * and the blocking collection of its output with a timeout and a cap.
 */
import * as Crypto from "node:crypto"
import { Cause, Deferred, Duration, Effect, Fiber, FiberId, Option, Stream } from "effect"
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

/** A random marker put in a run's environment, to find its processes without its PID. */
export const newRunToken = (): string => Crypto.randomBytes(12).toString("hex")

/** The environment entry that carries a run's token (children inherit it). */
export const runTokenEnv = (token: string): string => `POCKETDOCK_RUN=${token}`

/**
 * Kills, inside the container and as root, the process group led by `pid`
 * (and the process itself, should it have left its group) and, given a run
 * token, every process whose environment carries it: that finds a command
 * whose PID report never arrived, and children that left the group.
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
      pid === undefined ? "" : `kill -${sig} -${pid} 2>/dev/null; kill -${sig} ${pid} 2>/dev/null; `
    const byToken =
      token === undefined || !/^[0-9a-f]+$/.test(token)
        ? ""
        : `for d in /proc/[0-9]*; do grep -qs '${runTokenEnv(token)}' "$d/environ" && kill -${sig} "\${d#/proc/}" 2>/dev/null; done; `
    if (byPid === "" && byToken === "") return
    const execId = yield* engine.execCreate(containerId, {
      cmd: ["/bin/sh", "-c", `${byPid}${byToken}true`],
      user: "0"
    })
    yield* Stream.runDrain(engine.execStart(execId))
  }).pipe(Effect.withSpan("Container.killProcess", { attributes: { containerId, pid: pid ?? -1 } }))

/** Accumulates output up to a cap; what comes after the cap is dropped, not buffered. */
export class OutputCollector {
  private readonly parts: Record<StreamName, Array<Uint8Array>> = { stdout: [], stderr: [] }
  private bytes = 0
  truncated = false

  constructor(readonly maxOutput: number) {}

  /** Keeps what fits; returns false once the cap is reached. */
  add(stream: StreamName, data: Uint8Array): boolean {
    if (this.truncated) return false
    const room = this.maxOutput - this.bytes
    if (data.length > room) {
      if (room > 0) this.parts[stream].push(data.slice(0, room))
      this.bytes = this.maxOutput
      this.truncated = true
      return false
    }
    // copy: the frame may be a view of a larger, reused buffer
    this.parts[stream].push(data.slice())
    this.bytes += data.length
    return true
  }

  text(stream: StreamName): string {
    return Buffer.concat(this.parts[stream]).toString("utf8")
  }
}

export interface CollectOptions {
  readonly timeoutSeconds: number
  readonly maxOutput: number
  /** Called with every piece of output that is kept (callbacks, streaming). */
  readonly onOutput?: ((frame: ExecFrame) => void) | undefined
  /** The run's token (see `runTokenEnv`), to kill it even before its PID is known. */
  readonly token?: string | undefined
}

/** How long a killed command may take to close its output before we stop reading. */
const DRAIN_AFTER_KILL = Duration.seconds(3)

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
    const started = performance.now()
    const output = new OutputCollector(options.maxOutput)
    const pids = new PidReader()
    const stop = yield* Deferred.make<"timeout" | "truncated">()
    let timedOut = false

    const onFrame = (frame: ExecFrame) => {
      const data = frame.stream === "stderr" ? pids.feed(frame.data) : frame.data
      if (data.length === 0) return
      const kept = output.add(frame.stream, data)
      if (options.onOutput) options.onOutput({ stream: frame.stream, data })
      if (!kept) Deferred.unsafeDone(stop, Effect.succeed("truncated" as const))
    }

    const reader = yield* Stream.runForEach(engine.execStart(execId), (frame) =>
      Effect.sync(() => onFrame(frame))
    ).pipe(Effect.fork)
    const killer = yield* Deferred.await(stop).pipe(
      Effect.raceFirst(Effect.as(Effect.sleep(Duration.seconds(options.timeoutSeconds)), "timeout" as const)),
      Effect.flatMap((reason) =>
        Effect.gen(function* () {
          if (reason === "timeout") timedOut = true
          const pid = yield* Deferred.await(pids.pid).pipe(Effect.timeoutOption("2 seconds"))
          yield* killInside(engine, containerId, Option.getOrUndefined(pid), "KILL", options.token).pipe(
            Effect.ignore
          )
          // the process is dead: give its output a bounded time to end, then stop reading
          yield* Fiber.await(reader).pipe(Effect.timeoutOption(DRAIN_AFTER_KILL))
          yield* Fiber.interrupt(reader)
        })
      ),
      Effect.fork
    )

    // Interrupted: the command must not outlive us. Its PID report may still be
    // on its way (the reader runs until we return), so wait for it briefly;
    // the token finds it anyway. Finalizers are uninterruptible: the bounds
    // need `interruptible` inside to take effect.
    const interruptKill = Effect.gen(function* () {
      const pid = yield* Deferred.await(pids.pid).pipe(Effect.interruptible, Effect.timeoutOption("1 second"))
      yield* killInside(engine, containerId, Option.getOrUndefined(pid), "KILL", options.token).pipe(
        Effect.ignore,
        Effect.interruptible,
        Effect.timeoutOption("5 seconds")
      )
    })

    const readerExit = yield* Fiber.await(reader).pipe(Effect.onInterrupt(() => interruptKill))
    yield* Fiber.interrupt(killer)
    const held = pids.flush()
    if (held.length > 0) output.add("stderr", held)
    const durationMs = performance.now() - started
    // a reader stopped after a kill is expected; otherwise its failure is ours
    if (
      readerExit._tag === "Failure" &&
      !timedOut &&
      !output.truncated &&
      !Cause.isInterruptedOnly(readerExit.cause)
    ) {
      return yield* Effect.failCause(readerExit.cause)
    }
    const exitCode = yield* exitCodeOf(engine, execId)
    return new ExecResult({
      exitCode,
      stdout: output.text("stdout"),
      stderr: output.text("stderr"),
      durationMs,
      timedOut,
      truncated: output.truncated
    })
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
