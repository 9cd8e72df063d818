/**
 * `pocketdock quickstart`: a first sandbox, a few commands in it, and clean-up.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { DEFAULT_IMAGE } from "../../internal/options.js"
import { ContainerService } from "../../services/ContainerService.js"
import { action, withServices } from "../global.js"
import { line, style, write } from "../output.js"

const DEMO: ReadonlyArray<string> = [
  'echo "hello from $(hostname)"',
  "uname -sm",
  "id",
  'if command -v python3 >/dev/null; then python3 -c "print(sum(range(10)))"; else echo "no python3 in this image"; fi'
]

export const quickstart = Command.make(
  "quickstart",
  {
    image: Options.text("image").pipe(
      Options.withDescription(`Image to try (default ${DEFAULT_IMAGE})`),
      Options.optional
    )
  },
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const image = Option.getOrElse(config.image, () => DEFAULT_IMAGE)
        yield* line(style.dim(`creating a sandbox from ${image}...`))
        const sandbox = yield* service.scoped({ image })
        yield* line(
          `${style.green("sandbox")} ${style.bold(sandbox.name)} ${style.dim(sandbox.id.slice(0, 12))}`
        )
        for (const command of DEMO) {
          yield* line(style.cyan(`$ ${command}`))
          const result = yield* sandbox.run(command, { timeout: 30 })
          yield* write(process.stdout, result.stdout)
          yield* write(process.stderr, result.stderr)
        }
        yield* line(style.dim("removing the sandbox..."))
      }).pipe(
        Effect.scoped,
        Effect.zipRight(
          line(
            [
              style.green("done."),
              "Next:",
              "  pocketdock create --name box",
              '  pocketdock run box -- echo "hi"',
              "  pocketdock shutdown box --yes"
            ].join("\n")
          )
        )
      )
    )
  )
).pipe(Command.withDescription("Create a throw-away sandbox, run a few demo commands in it, and remove it"))
