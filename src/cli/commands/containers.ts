/**
 * Sandbox lifecycle: `list`, `info`, `reboot`, `stop`, `resume`, `snapshot`,
 * `prune` (ContainerService list/stop/resume/prune; Container info/reboot/snapshot).
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { ContainerService } from "../../services/ContainerService.js"
import { action, confirm, jsonOption, withServices, yesOption } from "../global.js"
import { json, line, style, table } from "../output.js"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))
const project = Options.text("project").pipe(
  Options.withDescription("Only this project's sandboxes"),
  Options.optional
)

export const listDefinition = Command.make("list", { project, json: jsonOption }).pipe(
  Command.withDescription("List pocketdock's sandboxes, running and stopped")
)

export const list = Command.withHandler(
  listDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const items = yield* service.list({ project: Option.getOrUndefined(config.project) })
        if (config.json) {
          return yield* json(
            items.map((item) => ({
              id: item.id,
              name: item.name,
              status: item.status,
              image: item.image,
              createdAt: item.createdAt,
              persist: item.persist,
              project: item.project
            }))
          )
        }
        if (items.length === 0) return yield* line(style.dim("no sandboxes"))
        const rows = items.map((item) => [
          item.name,
          item.status,
          item.image,
          item.project === "" ? "-" : item.project,
          item.persist ? "yes" : "no",
          item.createdAt.replace(/\.\d+Z$/, "Z"),
          item.id.slice(0, 12)
        ])
        yield* line(table(["NAME", "STATUS", "IMAGE", "PROJECT", "PERSIST", "CREATED", "ID"], rows))
      })
    )
  )
)

export const infoDefinition = Command.make("info", { container, json: jsonOption }).pipe(
  Command.withDescription("State, resources, ports and processes of a sandbox")
)

export const info = Command.withHandler(
  infoDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.attach(config.container)
        const info = yield* sandbox.info()
        if (config.json) {
          return yield* json({
            id: info.id,
            name: info.name,
            status: info.status,
            image: info.image,
            createdAt: info.createdAt.toISOString(),
            startedAt: info.startedAt?.toISOString() ?? null,
            uptime: info.uptime,
            memoryUsage: info.memoryUsage,
            memoryLimit: info.memoryLimit,
            memoryPercent: info.memoryPercent,
            cpuPercent: info.cpuPercent,
            pids: info.pids,
            network: info.network,
            ipAddress: info.ipAddress,
            ports: info.ports,
            processes: info.processes
          })
        }
        const label = (text: string) => style.bold(text.padEnd(10))
        const ports = Object.entries(info.ports).map(([host, inside]) => `${host}->${inside}`)
        yield* line(`${label("name")}${info.name} ${style.dim(info.id.slice(0, 12))}`)
        yield* line(`${label("status")}${info.status}`)
        yield* line(`${label("image")}${info.image}`)
        yield* line(`${label("uptime")}${info.uptime === null ? "-" : `${Math.round(info.uptime / 1000)} s`}`)
        yield* line(
          `${label("memory")}${info.memoryUsage} / ${info.memoryLimit} (${info.memoryPercent.toFixed(1)}%)`
        )
        yield* line(`${label("cpu")}${info.cpuPercent.toFixed(1)}%`)
        yield* line(`${label("pids")}${info.pids}`)
        yield* line(`${label("network")}${info.network ? `on ${info.ipAddress}` : "off"}`)
        yield* line(`${label("ports")}${ports.length === 0 ? "-" : ports.join(", ")}`)
        if (info.processes.length > 0) {
          const headers = Object.keys(info.processes[0] ?? {})
          yield* line()
          yield* line(
            table(
              headers,
              info.processes.map((p) => headers.map((h) => p[h] ?? ""))
            )
          )
        }
      }).pipe(Effect.scoped)
    )
  )
)

export const rebootDefinition = Command.make("reboot", {
  container,
  fresh: Options.boolean("fresh").pipe(
    Options.withDescription("Recreate from the image (a clean filesystem)")
  )
}).pipe(Command.withDescription("Restart a sandbox"))

export const reboot = Command.withHandler(
  rebootDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.attach(config.container)
        yield* sandbox.reboot({ fresh: config.fresh })
        yield* line(
          `${style.green("rebooted")} ${style.bold(sandbox.name)}${config.fresh ? " (fresh)" : ""} ${style.dim(sandbox.id.slice(0, 12))}`
        )
      }).pipe(Effect.scoped)
    )
  )
)

export const stopDefinition = Command.make("stop", { container }).pipe(
  Command.withDescription("Stop a sandbox without removing it (resume it later)")
)

export const stop = Command.withHandler(
  stopDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        yield* service.stop(config.container)
        yield* line(`${style.yellow("stopped")} ${style.bold(config.container)}`)
      })
    )
  )
)

export const resumeDefinition = Command.make("resume", { container }).pipe(
  Command.withDescription("Start a stopped persistent sandbox again")
)

export const resume = Command.withHandler(
  resumeDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.resume(config.container)
        yield* line(
          `${style.green("resumed")} ${style.bold(sandbox.name)} ${style.dim(sandbox.id.slice(0, 12))}`
        )
      })
    )
  )
)

export const snapshotDefinition = Command.make("snapshot", {
  container,
  image: Args.text({ name: "image" }).pipe(Args.withDescription("New image name, e.g. my-box:v1"))
}).pipe(Command.withDescription("Commit a sandbox's filesystem as an image"))

export const snapshot = Command.withHandler(
  snapshotDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.attach(config.container)
        const id = yield* sandbox.snapshot(config.image)
        yield* line(`${style.green("snapshot")} ${style.bold(config.image)} ${style.dim(id)}`)
      }).pipe(Effect.scoped)
    )
  )
)

export const pruneDefinition = Command.make("prune", { yes: yesOption, project, json: jsonOption }).pipe(
  Command.withDescription("Remove every stopped pocketdock sandbox (asks first)")
)

export const prune = Command.withHandler(
  pruneDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const projectName = Option.getOrUndefined(config.project)
        const scope =
          projectName === undefined ? "every stopped sandbox" : `the stopped sandboxes of ${projectName}`
        yield* confirm(`Remove ${scope}?`, config.yes)
        const removed = yield* service.prune({ project: projectName })
        if (config.json) return yield* json({ removed })
        yield* line(`${style.green("removed")} ${removed} stopped sandbox${removed === 1 ? "" : "es"}`)
      })
    )
  )
)
