/**
 * `pocketdock shell NAME`: an interactive shell in a sandbox on a real TTY.
 * The local terminal goes to raw mode while it runs; the shell's exit code
 * becomes the CLI's.
 */
import { Args, Command, Options } from "@effect/cli"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Effect, Option, Stream } from "effect"
import { interactive } from "../../internal/tty.js"
import { ContainerService } from "../../services/ContainerService.js"
import { ExitCodes } from "../errors.js"
import { action, setExitCode, withServices } from "../global.js"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))

export const shellDefinition = Command.make("shell", {
  container,
  shell: Options.text("shell").pipe(
    Options.withDescription("Shell to start (default /bin/sh)"),
    Options.optional
  )
}).pipe(Command.withDescription("An interactive shell in a sandbox, on a real TTY"))

/** Raw mode on the local terminal for the scope (keys go to the sandbox as typed, Ctrl-C included). */
const rawTerminal = Effect.acquireRelease(
  Effect.sync(() => {
    const raw = process.stdin.isTTY === true
    if (raw) process.stdin.setRawMode(true)
    return raw
  }),
  (raw) =>
    Effect.sync(() => {
      if (raw) process.stdin.setRawMode(false)
    })
)

const writeBytes = (data: Uint8Array) =>
  Effect.async<void>((resume) => {
    process.stdout.write(data, () => resume(Effect.void))
  })

export const shell = Command.withHandler(
  shellDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const service = yield* ContainerService
        const sandbox = yield* service.attach(config.container)
        const tty = yield* interactive(sandbox, [Option.getOrElse(config.shell, () => "/bin/sh")], {
          term: process.env.TERM
        })
        yield* rawTerminal
        const input = NodeStream.fromReadable<Error, Uint8Array>(
          () => process.stdin,
          (error) => (error instanceof Error ? error : new Error(String(error))),
          { closeOnDone: false }
        )
        yield* Effect.forkScoped(
          input.pipe(
            Stream.runForEach((data) => tty.write(data)),
            Effect.ignore
          )
        )
        yield* tty.output.pipe(Stream.runForEach(writeBytes))
        const code = yield* tty.exitCode
        yield* setExitCode(code >= 0 && code <= 255 ? code : ExitCodes.error)
      }).pipe(Effect.scoped)
    )
  )
)
