/**
 * An interactive exec on a TTY: the process gets a terminal inside the
 * container, its input and output are raw bytes over one hijacked connection.
 */
import { Effect, Schedule, type Scope, Stream } from "effect"
import type { Container } from "../services/ContainerService.js"
import {
  type ContainerNotFound,
  type ContainerNotRunning,
  Engine,
  type EngineRequestError,
  type SocketCommunicationError,
  type TransportError
} from "../services/Engine.js"

/** Options of `interactive`. */
export interface TtyOptions {
  /** `TERM` inside (default `xterm`). */
  readonly term?: string | undefined
  /** More environment variables of the process. */
  readonly env?: Readonly<Record<string, string>> | undefined
}

/** A process on a TTY in a container. */
export interface TtyExec {
  /** The terminal's output, raw, until the process exits. */
  readonly output: Stream.Stream<Uint8Array, SocketCommunicationError>
  /** Types `data` on the terminal. */
  readonly write: (data: Uint8Array | string) => Effect.Effect<void, SocketCommunicationError>
  /** The exit code, once the output ended (-1 when the engine does not know it). */
  readonly exitCode: Effect.Effect<number, EngineRequestError | TransportError>
}

/**
 * Starts `cmd` in `container` on a TTY, as the sandbox's user. The connection
 * closes with the scope.
 */
export const interactive = (
  container: Container,
  cmd: ReadonlyArray<string>,
  options: TtyOptions = {}
): Effect.Effect<
  TtyExec,
  ContainerNotFound | ContainerNotRunning | EngineRequestError | TransportError,
  Engine | Scope.Scope
> =>
  Effect.gen(function* () {
    const engine = yield* Engine
    const env = { TERM: options.term ?? "xterm", ...options.env }
    const execId = yield* engine.execCreate(container.id, {
      cmd,
      stdin: true,
      tty: true,
      env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      ...(container.user === undefined ? {} : { user: container.user })
    })
    const attached = yield* engine.execAttach(execId, { tty: true })
    // the engine may report the exec running for a moment after its output ended
    const exitCode = engine.execInspect(execId).pipe(
      Effect.flatMap((inspect) =>
        inspect.Running ? Effect.fail("running" as const) : Effect.succeed(inspect.ExitCode ?? -1)
      ),
      Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }),
      Effect.catchIf(
        (error) => error === "running",
        () => Effect.succeed(-1)
      )
    )
    return {
      output: Stream.map(attached.output, (frame) => frame.data),
      write: attached.write,
      exitCode
    }
  }).pipe(Effect.withSpan("Container.interactive", { attributes: { containerId: container.id } }))
