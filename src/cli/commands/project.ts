/**
 * Defined, not registered yet: `init`, `doctor`, `logs` (ProjectService, on the projects branch).
 * See PENDING.md for how a definition becomes a command.
 */
import { Args, Command, Options } from "@effect/cli"
import { jsonOption } from "../global.js"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))

export const initDefinition = Command.make("init", {
  path: Args.directory({ name: "path", exists: "either" }).pipe(
    Args.withDescription("Directory to initialise (default: the current one)"),
    Args.optional
  ),
  name: Options.text("name").pipe(
    Options.withDescription("Project name (default: the directory's)"),
    Options.optional
  )
}).pipe(Command.withDescription("Create .pocketdock/pocketdock.yaml in a directory"))

export const doctorDefinition = Command.make("doctor", { json: jsonOption }).pipe(
  Command.withDescription("Cross-check instance directories with the engine: orphans and stale entries")
)

export const logsDefinition = Command.make("logs", {
  container: container.pipe(Args.optional),
  history: Options.boolean("history").pipe(Options.withDescription("Show the command history")),
  follow: Options.boolean("follow").pipe(
    Options.withAlias("f"),
    Options.withDescription("Keep printing new entries")
  ),
  limit: Options.integer("limit").pipe(
    Options.withDescription("At most this many entries"),
    Options.optional
  ),
  json: jsonOption
}).pipe(Command.withDescription("Show a project's command history and logs"))
