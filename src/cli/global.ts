/**
 * What every command shares: the global options (`--socket`, `--verbose`),
 * the services on the chosen socket, the exit code, error reporting and
 * confirmation prompts.
 */
import * as Readline from "node:readline"
import { Command, Options } from "@effect/cli"
import { Context, Effect, Logger, LogLevel, Option, Ref } from "effect"
import * as PocketDock from "../layers/PocketDock.js"
import { CliError, ExitCodes, reportOf } from "./errors.js"
import { errorLine } from "./output.js"

const socket = Options.text("socket").pipe(
  Options.withDescription("Engine socket (default: POCKETDOCK_SOCKET, then auto-detection of Podman/Docker)"),
  Options.optional
)

const verbose = Options.boolean("verbose").pipe(
  Options.withAlias("v"),
  Options.withDescription("Debug logging, and error details")
)

/** The root command; subcommands read the global options with `yield* root`. */
export const root = Command.make("pocketdock", { socket, verbose }).pipe(
  Command.withDescription("Local container sandboxes for LLM agents, on Podman or Docker")
)

/** `--json`: machine-readable output, documented per command in the README. */
export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of text"))

/** `--yes`: skip the confirmation prompt. */
export const yesOption = Options.boolean("yes").pipe(
  Options.withAlias("y"),
  Options.withDescription("Do not ask for confirmation")
)

/** The process's exit code, set by the command that ran. */
export class ExitCode extends Context.Tag("pocketdock/cli/ExitCode")<ExitCode, Ref.Ref<number>>() {}

export const setExitCode = (code: number): Effect.Effect<void, never, ExitCode> =>
  Effect.flatMap(ExitCode, (ref) => Ref.set(ref, code))

/** Provides pocketdock's services on the socket of `--socket` (or the default one). */
export const withServices = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, PocketDock.PocketDockServices> | Command.Command.Context<"pocketdock">> =>
  Effect.flatMap(root, (config) =>
    Effect.provide(effect, PocketDock.layer({ socketPath: Option.getOrUndefined(config.socket) }))
  )

/**
 * A command's handler: runs `body` with logging at the level `--verbose`
 * asks for, and turns any failure into one line on stderr and an exit code.
 */
export const action =
  <A, E, R>(body: (config: A) => Effect.Effect<void, E, R>) =>
  (config: A): Effect.Effect<void, never, R | ExitCode | Command.Command.Context<"pocketdock">> =>
    Effect.flatMap(root, (global) =>
      body(config).pipe(
        Logger.withMinimumLogLevel(global.verbose ? LogLevel.Debug : LogLevel.Warning),
        Effect.catchAllCause((cause) => {
          const report = reportOf(cause, global.verbose)
          return Effect.zipRight(Effect.forEach(report.lines, errorLine), setExitCode(report.exitCode))
        })
      )
    )

const ask = (question: string): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    const rl = Readline.createInterface({ input: process.stdin, output: process.stderr })
    rl.question(question, (answer) => {
      rl.close()
      resume(Effect.succeed(answer))
    })
    return Effect.sync(() => rl.close())
  })

/**
 * Asks `question` (y/N) on the terminal; `yes` skips it. Without a terminal
 * on stdin it refuses to guess: a `CliError` that says to pass `--yes`.
 */
export const confirm = (question: string, yes: boolean): Effect.Effect<void, CliError> =>
  Effect.gen(function* () {
    if (yes) return
    if (process.stdin.isTTY !== true) {
      return yield* new CliError({
        message: `not confirmed: ${question.replace(/\?$/, "")}`,
        hint: "stdin is not a terminal; pass --yes to confirm",
        exitCode: ExitCodes.usage
      })
    }
    const answer = yield* ask(`${question} [y/N] `)
    if (!/^y(es)?$/i.test(answer.trim())) {
      return yield* new CliError({ message: "cancelled", exitCode: ExitCodes.error })
    }
  })
