/**
 * Decoding and encoding of the project's files. Pure: text in, typed value
 * or typed error out; never a throw.
 */
import { Effect, ParseResult, Schema } from "effect"
import * as Toml from "smol-toml"
import * as Yaml from "yaml"
import { InstanceMetadata, ProjectConfig } from "../schemas/Project.js"
import { ProjectConfigInvalid } from "../services/ProjectService.js"

export const PROJECT_DIR = ".pocketdock"
export const CONFIG_FILES = ["pocketdock.yaml", "pocketdock.yml", "pocketdock.toml"] as const
export const INSTANCES_DIR = "instances"
export const INSTANCE_FILE = "instance.toml"
export const HISTORY_FILE = "history.jsonl"

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

const parseText = (path: string, text: string): Effect.Effect<unknown, ProjectConfigInvalid> =>
  Effect.try({
    try: () =>
      path.endsWith(".toml")
        ? Toml.parse(text)
        : Yaml.parse(text, { prettyErrors: false, logLevel: "error" }),
    catch: (error) =>
      new ProjectConfigInvalid({ path, field: "", detail: describe(error).split("\n")[0] ?? "" })
  })

const decodeWith =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (path: string, value: unknown): Effect.Effect<A, ProjectConfigInvalid> =>
    Schema.decodeUnknown(schema, { onExcessProperty: "ignore" })(value).pipe(
      Effect.mapError((error) => {
        const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
        return new ProjectConfigInvalid({
          path,
          field: issue?.path.map(String).join(".") ?? "",
          detail: issue?.message ?? error.message
        })
      })
    )

/** A configuration file's text (YAML, or TOML when `path` ends in `.toml`). An empty file is all defaults. */
export const decodeConfig = (
  path: string,
  text: string
): Effect.Effect<ProjectConfig, ProjectConfigInvalid> =>
  parseText(path, text).pipe(
    Effect.flatMap((value) =>
      value === null || value === undefined
        ? Effect.succeed({})
        : typeof value === "object" && !Array.isArray(value)
          ? Effect.succeed(value)
          : Effect.fail(new ProjectConfigInvalid({ path, field: "", detail: "expected a mapping of fields" }))
    ),
    Effect.flatMap((value) => decodeWith(ProjectConfig)(path, value))
  )

/** The default configuration (an empty file). */
export const defaultConfig = (): ProjectConfig => Schema.decodeUnknownSync(ProjectConfig)({})

/** `pocketdock.yaml` for a new project: every field, with its default. */
export const encodeConfig = (config: ProjectConfig): string => {
  const encoded = Schema.encodeSync(ProjectConfig)(config)
  return `# pocketdock project configuration\n${Yaml.stringify(encoded)}`
}

export const decodeInstance = (
  path: string,
  text: string
): Effect.Effect<InstanceMetadata, ProjectConfigInvalid> =>
  parseText(path, text).pipe(Effect.flatMap((value) => decodeWith(InstanceMetadata)(path, value)))

/** TOML has no null: absent optional fields are left out. */
export const encodeInstance = (metadata: InstanceMetadata): string => {
  const encoded = Schema.encodeSync(InstanceMetadata)(metadata)
  const defined = Object.fromEntries(Object.entries(encoded).filter(([, value]) => value !== undefined))
  return Toml.stringify(defined)
}
