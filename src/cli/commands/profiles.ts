/**
 * Image profiles: `profiles`, `build`, `export`, `import` (listProfiles,
 * Images.buildProfile / exportImage / importImage).
 */
import { Args, Command } from "@effect/cli"
import { Effect, Option } from "effect"
import { buildProfile, exportImage, importImage } from "../../internal/images.js"
import { listProfiles } from "../../internal/profiles.js"
import { Engine } from "../../services/Engine.js"
import { action, jsonOption, withServices } from "../global.js"
import { json, line, style, table } from "../output.js"

export const profilesDefinition = Command.make("profiles", { json: jsonOption }).pipe(
  Command.withDescription("List the image profiles and whether their images exist")
)

export const profiles = Command.withHandler(
  profilesDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const engine = yield* Engine
        const rows = yield* Effect.forEach(listProfiles(), (profile) =>
          engine.inspectImage(profile.imageTag).pipe(
            Effect.as(true),
            Effect.catchTag("ImageNotFound", () => Effect.succeed(false)),
            Effect.map((built) => ({
              name: profile.name,
              image: profile.imageTag,
              built,
              networkDefault: profile.networkDefault,
              buildsOffline: profile.buildsOffline,
              sizeEstimate: profile.sizeEstimate,
              description: profile.description
            }))
          )
        )
        if (config.json) return yield* json(rows)
        yield* line(
          table(
            ["PROFILE", "IMAGE", "BUILT", "NETWORK", "SIZE", "DESCRIPTION"],
            rows.map((row) => [
              row.name,
              row.image,
              row.built ? "yes" : "no",
              row.networkDefault ? "on" : "off",
              row.sizeEstimate,
              row.description
            ])
          )
        )
      })
    )
  )
)

export const buildDefinition = Command.make("build", {
  profile: Args.text({ name: "profile" }).pipe(Args.withDescription("Profile to build"))
}).pipe(Command.withDescription("Build a profile's image from its Dockerfile (with progress)"))

export const build = Command.withHandler(
  buildDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const result = yield* buildProfile(config.profile, {
          onProgress: (text) => line(style.dim(text))
        })
        yield* line(
          `${style.green(result.built ? "built" : "up to date")} ${style.bold(result.image)} ${style.dim(result.hash.slice(0, 12))}`
        )
      })
    )
  )
)

export const exportDefinition = Command.make("export", {
  image: Args.text({ name: "image" }).pipe(Args.withDescription("Image name, or a profile's name")),
  file: Args.path({ name: "file" }).pipe(Args.withDescription("Archive to write (.tar, or .tar.gz / .tgz)"))
}).pipe(Command.withDescription("Save an image to an archive"))

export const exportCommand = Command.withHandler(
  exportDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const profile = Option.fromNullable(listProfiles().find((p) => p.name === config.image))
        const image = Option.match(profile, { onNone: () => config.image, onSome: (p) => p.imageTag })
        yield* line(style.dim(`saving ${image}...`))
        yield* exportImage(image, config.file)
        yield* line(`${style.green("exported")} ${style.bold(image)} -> ${config.file}`)
      })
    )
  )
)

export const importDefinition = Command.make("import", {
  file: Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("Archive (.tar or .tar.gz)")),
  json: jsonOption
}).pipe(Command.withDescription("Load images from an archive"))

export const importCommand = Command.withHandler(
  importDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        if (!config.json) yield* line(style.dim(`loading ${config.file}...`))
        const images = yield* importImage(config.file)
        if (config.json) return yield* json({ images })
        for (const image of images) yield* line(`${style.green("imported")} ${style.bold(image)}`)
      })
    )
  )
)
