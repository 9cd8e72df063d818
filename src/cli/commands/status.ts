/**
 * `pocketdock status`: which engine answers where, and how many sandboxes.
 */
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { VERSION } from "../../index.js"
import { Labels } from "../../internal/options.js"
import { Engine } from "../../services/Engine.js"
import { action, jsonOption, withServices } from "../global.js"
import { json, line, style } from "../output.js"

export const status = Command.make(
  "status",
  { json: jsonOption },
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const engine = yield* Engine
        const info = yield* engine.info
        const containers = yield* engine.listContainers([`${Labels.managed}=true`])
        const running = containers.filter((container) => container.State === "running").length
        const report = {
          version: VERSION,
          engine: {
            kind: info.kind,
            version: info.version,
            apiVersion: info.apiVersion,
            socketPath: info.socketPath
          },
          containers: { total: containers.length, running, stopped: containers.length - running }
        }
        if (config.json) return yield* json(report)
        const label = (text: string) => style.bold(text.padEnd(12))
        yield* line(`${label("pocketdock")}${VERSION}`)
        yield* line(`${label("engine")}${info.kind} ${info.version} (API ${info.apiVersion})`)
        yield* line(`${label("socket")}${info.socketPath}`)
        yield* line(
          `${label("sandboxes")}${containers.length} (${style.green(`${running} running`)}, ${style.yellow(`${containers.length - running} stopped`)})`
        )
      })
    )
  )
).pipe(Command.withDescription("Show the engine (kind, version, socket) and how many sandboxes exist"))
