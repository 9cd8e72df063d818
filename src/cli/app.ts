/**
 * The `pocketdock` command line: the registered commands and how a run ends
 * (an exit code, never a stack trace).
 *
 */
import { Command, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Ref } from "effect"
import { VERSION } from "../index.js"
import { info, list, prune, reboot, resume, snapshot, stop } from "./commands/containers.js"
import { create } from "./commands/create.js"
import { pull, push } from "./commands/files.js"
import { build, exportCommand, importCommand, profiles } from "./commands/profiles.js"
import { doctor, init, logs } from "./commands/project.js"
import { quickstart } from "./commands/quickstart.js"
import { run } from "./commands/run.js"
import { shell } from "./commands/shell.js"
import { shutdown } from "./commands/shutdown.js"
import { status } from "./commands/status.js"
import { ExitCodes, reportOf } from "./errors.js"
import { ExitCode, root } from "./global.js"
import { errorLine, withPlainConsole } from "./output.js"

/** Every command the binary offers. */
export const commands = [
  quickstart,
  status,
  init,
  doctor,
  create,
  list,
  info,
  run,
  shell,
  logs,
  push,
  pull,
  reboot,
  stop,
  resume,
  snapshot,
  shutdown,
  prune,
  profiles,
  build,
  exportCommand,
  importCommand
] as const

export const pocketdock = root.pipe(Command.withSubcommands(commands))

const cli = Command.run(pocketdock, { name: "pocketdock", version: VERSION })

/**
 * Runs the CLI on `argv` (as `process.argv`: node, script, arguments...);
 * the exit code it should end with.
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  Effect.gen(function* () {
    const exitCode = yield* Ref.make<number>(ExitCodes.ok)
    yield* cli(argv).pipe(
      Effect.provideService(ExitCode, exitCode),
      Effect.provide(NodeContext.layer),
      withPlainConsole,
      Effect.catchAllCause((cause) => {
        // @effect/cli has already printed usage errors with the help that applies.
        const failure = cause._tag === "Fail" ? cause.error : undefined
        if (ValidationError.isValidationError(failure)) return Ref.set(exitCode, ExitCodes.usage)
        const report = reportOf(cause, argv.includes("--verbose") || argv.includes("-v"))
        return Effect.zipRight(Effect.forEach(report.lines, errorLine), Ref.set(exitCode, report.exitCode))
      })
    )
    return yield* Ref.get(exitCode)
  })
