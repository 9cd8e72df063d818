/**
 * `push` / `pull`: copies between the host and a sandbox (Container.push /
 * Container.pull), with a progress line on a TTY.
 */
import * as Fs from "node:fs"
import { Args, Command } from "@effect/cli"
import { Effect, Fiber, Schedule } from "effect"
import { ContainerService } from "../../services/ContainerService.js"
import { action, withServices } from "../global.js"
import { style, write } from "../output.js"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))

/** Bytes under `path` on the host (a file's size, or a directory's total). */
const hostSize = (path: string): number => {
  try {
    const stat = Fs.statSync(path)
    if (!stat.isDirectory()) return stat.size
    return Fs.readdirSync(path).reduce((sum, entry) => sum + hostSize(`${path}/${entry}`), 0)
  } catch {
    return 0
  }
}

const human = (bytes: number) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/**
 * Runs a copy; on a TTY a line that says what is being copied and how long
 * it has taken so far, replaced by the result when done.
 */
const withProgress = <E>(label: string, copy: Effect.Effect<void, E>, size: () => number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const tty = process.stderr.isTTY === true
      const started = Date.now()
      const progress = (done: boolean) =>
        write(
          process.stderr,
          `\r\u001b[2K${done ? style.green("done", process.stderr) : style.dim("copying", process.stderr)} ${label} ${style.dim(`${((Date.now() - started) / 1000).toFixed(1)} s`, process.stderr)}${done ? ` ${human(size())}\n` : ""}`
        )
      if (!tty) return yield* copy
      const ticker = yield* Effect.forkScoped(Effect.repeat(progress(false), Schedule.spaced("200 millis")))
      yield* copy
      yield* Fiber.interrupt(ticker)
      yield* progress(true)
    })
  )

export const pushDefinition = Command.make("push", {
  container,
  source: Args.path({ name: "source", exists: "yes" }).pipe(Args.withDescription("Host file or directory")),
  destination: Args.text({ name: "destination" }).pipe(Args.withDescription("Path in the sandbox"))
}).pipe(Command.withDescription("Copy a file or directory into a sandbox (with progress)"))

export const push = Command.withHandler(
  pushDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const sandbox = yield* (yield* ContainerService).attach(config.container)
        yield* withProgress(
          `${config.source} -> ${sandbox.name}:${config.destination}`,
          sandbox.push(config.source, config.destination),
          () => hostSize(config.source)
        )
      }).pipe(Effect.scoped)
    )
  )
)

export const pullDefinition = Command.make("pull", {
  container,
  source: Args.text({ name: "source" }).pipe(Args.withDescription("Path in the sandbox")),
  destination: Args.path({ name: "destination" }).pipe(Args.withDescription("Host path"))
}).pipe(Command.withDescription("Copy a file or directory out of a sandbox (with progress)"))

export const pull = Command.withHandler(
  pullDefinition,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const sandbox = yield* (yield* ContainerService).attach(config.container)
        yield* withProgress(
          `${sandbox.name}:${config.source} -> ${config.destination}`,
          sandbox.pull(config.source, config.destination),
          () => hostSize(config.destination)
        )
      }).pipe(Effect.scoped)
    )
  )
)
