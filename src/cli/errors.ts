/**
 * How the CLI reports failures: one line on stderr (with a hint when there is
 * one), never a stack trace, and an exit code.
 */
import { Cause, Data, Option } from "effect"
import { PocketDockError } from "../services/PocketDockError.js"

/**
 * A failure of the CLI itself (a refused confirmation, a malformed argument).
 * `exitCode` 2 is a usage error.
 */
export class CliError extends Data.TaggedError("CliError")<{
  readonly message: string
  readonly hint?: string | undefined
  readonly exitCode: number
}> {}

/** Exit codes of the CLI (a `run` exits with its command's code). */
export const ExitCodes = {
  ok: 0,
  error: 1,
  usage: 2,
  timeout: 124,
  interrupted: 130
} as const

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim()

/** Extra advice for errors whose message does not already say what to do. */
const hintFor = (error: { readonly _tag: string }): string | undefined => {
  switch (error._tag) {
    case "SocketConnectionError":
      return "is the engine running? Pass --socket PATH or set POCKETDOCK_SOCKET to its socket"
    case "ContainerNotFound":
      return "check the name; only containers made by pocketdock are visible"
    case "ContainerNotRunning":
      return "the sandbox is stopped"
    case "NameConflict":
      return "choose another --name"
    default:
      return undefined
  }
}

/** What to print for a failure, and the exit code. */
export interface Report {
  readonly lines: ReadonlyArray<string>
  readonly exitCode: number
}

/** One line per failure (plus, with `verbose`, its fields as JSON). */
export const reportOf = (cause: Cause.Cause<unknown>, verbose: boolean): Report => {
  if (Cause.isInterruptedOnly(cause))
    return { lines: ["pocketdock: interrupted"], exitCode: ExitCodes.interrupted }
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  if (failure instanceof CliError) {
    return {
      lines: [
        `pocketdock: ${oneLine(failure.message)}${failure.hint ? ` (hint: ${oneLine(failure.hint)})` : ""}`
      ],
      exitCode: failure.exitCode
    }
  }
  if (failure instanceof PocketDockError && typeof failure === "object" && failure !== null) {
    const error = failure as { readonly _tag: string; readonly message: string }
    const hint = hintFor(error)
    const lines = [`pocketdock: ${oneLine(error.message)}${hint ? ` (hint: ${hint})` : ""}`]
    if (verbose) lines.push(`  ${error._tag} ${JSON.stringify(failure)}`)
    return { lines, exitCode: ExitCodes.error }
  }
  // A defect: still one line, unless --verbose asked for everything.
  const squashed = Cause.squash(cause)
  const message = squashed instanceof Error ? squashed.message : String(squashed)
  const lines = [`pocketdock: internal error: ${oneLine(message)}`]
  if (verbose) lines.push(Cause.pretty(cause))
  return { lines, exitCode: ExitCodes.error }
}
