/**
 * Defined, not registered yet: `profiles`, `build`, `export`, `import` (the profiles module).
 * See PENDING.md for how a definition becomes a command.
 */
import { Args, Command, Options } from "@effect/cli"
import { jsonOption } from "../global.js"

export const profilesDefinition = Command.make("profiles", { json: jsonOption }).pipe(
  Command.withDescription("List the image profiles and whether their images exist")
)

export const buildDefinition = Command.make("build", {
  profile: Args.text({ name: "profile" }).pipe(
    Args.withDescription("Profile to build (default: all)"),
    Args.optional
  )
}).pipe(Command.withDescription("Build profile images from their Dockerfiles (with progress)"))

export const exportDefinition = Command.make("export", {
  profiles: Args.text({ name: "profile" }).pipe(Args.repeated),
  all: Options.boolean("all").pipe(Options.withDescription("Every profile image")),
  output: Options.file("output").pipe(
    Options.withAlias("o"),
    Options.withDescription("Archive to write (.tar or .tar.gz)")
  )
}).pipe(Command.withDescription("Save profile images to an archive (with progress)"))

export const importDefinition = Command.make("import", {
  file: Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("Archive (.tar or .tar.gz)"))
}).pipe(Command.withDescription("Load images from an archive (with progress)"))
