/**
 * `pocketdock create`: a sandbox that outlives the command.
 *
 * A sandbox made by the CLI is always persistent: an ephemeral one is tied to
 * the process that made it (its lease) and would vanish as soon as this
 * command returns. `pocketdock shutdown NAME` removes it.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { ContainerService, type CreateOptions, InvalidOption } from "../../services/ContainerService.js"
import { action, jsonOption, withServices } from "../global.js"
import { json, line, style } from "../output.js"

const described = <A>(options: Options.Options<A>, description: string) =>
  Options.withDescription(options, description)

export const createOptions = {
  image: described(Options.text("image"), "Image (default pocketdock/minimal-python)").pipe(Options.optional),
  name: described(Options.text("name"), "Container name (default pd-<8 hex>)").pipe(Options.optional),
  profile: described(Options.text("profile"), "Image profile (sets image and network default)").pipe(
    Options.optional
  ),
  timeout: described(Options.float("timeout"), "Default timeout of `run`, seconds (default 30)").pipe(
    Options.optional
  ),
  memLimit: described(Options.text("mem-limit"), 'Memory limit: "256m", "1g", or bytes').pipe(
    Options.optional
  ),
  cpuPercent: described(Options.float("cpu-percent"), "CPU cap, percent of one core").pipe(Options.optional),
  volume: described(Options.text("volume"), "Mount HOST:CONTAINER[:ro] (repeatable)").pipe(
    Options.withAlias("v"),
    Options.repeated
  ),
  port: described(Options.text("port"), "Publish HOST:CONTAINER on 127.0.0.1 (repeatable)").pipe(
    Options.withAlias("p"),
    Options.repeated
  ),
  device: described(Options.text("device"), "Pass a host device through: /dev/x[:/dev/y] (repeatable)").pipe(
    Options.repeated
  ),
  env: described(Options.text("env"), "Environment variable KEY=VALUE for every command (repeatable)").pipe(
    Options.withAlias("e"),
    Options.repeated
  ),
  project: described(Options.text("project"), "Project the sandbox belongs to").pipe(Options.optional),
  noNetwork: described(Options.boolean("no-network"), "No network access"),
  json: jsonOption
}

type CreateConfig = Command.Command.ParseConfig<typeof createOptions>

const invalid = (option: string, detail: string) => new InvalidOption({ option, detail })

/** The library's options from the command line (persistent, see above). */
export const toCreateOptions = (config: CreateConfig): Effect.Effect<CreateOptions, InvalidOption> =>
  Effect.gen(function* () {
    const ports: Record<number, number> = {}
    for (const spec of config.port) {
      const match = /^(\d+):(\d+)$/.exec(spec)
      if (match === null) return yield* invalid("port", `${JSON.stringify(spec)}: expected HOST:CONTAINER`)
      ports[Number(match[1])] = Number(match[2])
    }
    const volumes: Record<string, string> = {}
    for (const spec of config.volume) {
      const at = spec.indexOf(":")
      if (at <= 0) return yield* invalid("volume", `${JSON.stringify(spec)}: expected HOST:CONTAINER[:ro]`)
      volumes[spec.slice(0, at)] = spec.slice(at + 1)
    }
    const env: Record<string, string> = {}
    for (const spec of config.env) {
      const at = spec.indexOf("=")
      if (at <= 0) return yield* invalid("env", `${JSON.stringify(spec)}: expected KEY=VALUE`)
      env[spec.slice(0, at)] = spec.slice(at + 1)
    }
    return {
      persist: true,
      image: Option.getOrUndefined(config.image),
      name: Option.getOrUndefined(config.name),
      profile: Option.getOrUndefined(config.profile),
      timeout: Option.getOrUndefined(config.timeout),
      memLimit: Option.getOrUndefined(config.memLimit),
      cpuPercent: Option.getOrUndefined(config.cpuPercent),
      project: Option.getOrUndefined(config.project),
      ...(config.noNetwork ? { network: false } : {}),
      ...(config.volume.length > 0 ? { volumes } : {}),
      ...(config.port.length > 0 ? { ports } : {}),
      ...(config.device.length > 0 ? { devices: config.device } : {}),
      ...(config.env.length > 0 ? { env } : {})
    } satisfies CreateOptions
  })

export const create = Command.make(
  "create",
  createOptions,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const options = yield* toCreateOptions(config)
        const service = yield* ContainerService
        const sandbox = yield* service.create(options)
        if (config.json) {
          return yield* json({
            id: sandbox.id,
            name: sandbox.name,
            image: sandbox.image,
            persist: sandbox.persist,
            project: sandbox.project,
            timeout: sandbox.timeout,
            socketPath: sandbox.socketPath
          })
        }
        yield* line(
          `${style.green("created")} ${style.bold(sandbox.name)} ${style.dim(`(${sandbox.id.slice(0, 12)}, ${sandbox.image})`)}`
        )
      })
    )
  )
).pipe(
  Command.withDescription(
    "Create and start a sandbox that outlives this command (always persistent; remove it with `shutdown`)"
  )
)
