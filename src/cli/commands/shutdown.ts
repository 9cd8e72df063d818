/**
 * `pocketdock shutdown NAME`: stops and removes a sandbox, after asking.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { ContainerService } from "../../services/ContainerService.js"
import { action, confirm, jsonOption, withServices, yesOption } from "../global.js"
import { json, line, style } from "../output.js"

export const shutdown = Command.make(
  "shutdown",
  {
    container: Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id")),
    yes: yesOption,
    force: Options.boolean("force").pipe(
      Options.withAlias("f"),
      Options.withDescription("Kill the processes instead of asking them to stop")
    ),
    json: jsonOption
  },
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.attach(config.container)
        yield* confirm(`Remove sandbox ${sandbox.name} and everything in it?`, config.yes)
        yield* sandbox.shutdown({ force: config.force })
        // A persistent sandbox is only stopped by shutdown; the CLI's shutdown removes
        // it, with its project instance directory.
        if (sandbox.persist) yield* service.destroy(sandbox.name)
        if (config.json) return yield* json({ id: sandbox.id, name: sandbox.name, removed: true })
        yield* line(`${style.green("removed")} ${style.bold(sandbox.name)}`)
      }).pipe(Effect.scoped)
    )
  )
).pipe(Command.withDescription("Stop and remove a running sandbox (asks first; --yes skips the question)"))
