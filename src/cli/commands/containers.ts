/**
 * Defined, not registered yet: `list`, `info`, `reboot`, `stop`, `resume`, `snapshot`, `prune`
 * (ContainerService list/stop/resume/prune; Container info/reboot/snapshot).
 * See PENDING.md for how a definition becomes a command.
 */
import { Args, Command, Options } from "@effect/cli"
import { jsonOption, yesOption } from "../global.js"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))
const project = Options.text("project").pipe(
  Options.withDescription("Only this project's sandboxes"),
  Options.optional
)

export const listDefinition = Command.make("list", { project, json: jsonOption }).pipe(
  Command.withDescription("List pocketdock's sandboxes, running and stopped")
)

export const infoDefinition = Command.make("info", { container, json: jsonOption }).pipe(
  Command.withDescription("State, resources, ports and processes of a sandbox")
)

export const rebootDefinition = Command.make("reboot", {
  container,
  fresh: Options.boolean("fresh").pipe(
    Options.withDescription("Recreate from the image (a clean filesystem)")
  )
}).pipe(Command.withDescription("Restart a sandbox"))

export const stopDefinition = Command.make("stop", { container }).pipe(
  Command.withDescription("Stop a sandbox without removing it (resume it later)")
)

export const resumeDefinition = Command.make("resume", { container }).pipe(
  Command.withDescription("Start a stopped persistent sandbox again")
)

export const snapshotDefinition = Command.make("snapshot", {
  container,
  image: Args.text({ name: "image" }).pipe(Args.withDescription("New image name, e.g. my-box:v1"))
}).pipe(Command.withDescription("Commit a sandbox's filesystem as an image"))

export const pruneDefinition = Command.make("prune", { yes: yesOption, project }).pipe(
  Command.withDescription("Remove every stopped pocketdock sandbox (asks first)")
)
