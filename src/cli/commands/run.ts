/**
 * `pocketdock run NAME COMMAND...`: runs a command in an existing sandbox and
 * exits with the command's exit code.
 *
 * One argument is a shell command line (`/bin/sh -c`); several are an argv,
 * executed without a shell (like `docker exec`). With `--lang` the arguments,
 * joined by spaces, are code of that language.
 */
import { Args, Command, Options } from "@effect/cli"
import { Deferred, Effect, Option, Stream } from "effect"
import type { ExecResult } from "../../schemas/ExecResult.js"
import {
  ContainerService,
  type Command as RunCommand,
  type RunOptions
} from "../../services/ContainerService.js"
import { CliError, ExitCodes } from "../errors.js"
import { action, jsonOption, setExitCode, withServices } from "../global.js"
import { errorLine, json, style, write } from "../output.js"

export const runArgs = {
  container: Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id")),
  command: Args.text({ name: "command" }).pipe(
    Args.withDescription("A shell command line (one argument) or an argv (several); put `--` before it"),
    Args.atLeast(1)
  ),
  timeout: Options.float("timeout").pipe(
    Options.withDescription("Seconds before the command is killed (default: the sandbox's)"),
    Options.optional
  ),
  lang: Options.text("lang").pipe(
    Options.withDescription("Run the text as code: python, node, bash, sh, perl, ruby"),
    Options.optional
  ),
  maxOutput: Options.integer("max-output").pipe(
    Options.withDescription("Bytes of output kept before the command is stopped (default 10 MiB)"),
    Options.optional
  ),
  workdir: Options.text("workdir").pipe(
    Options.withAlias("w"),
    Options.withDescription("Working directory"),
    Options.optional
  ),
  user: Options.text("user").pipe(
    Options.withAlias("u"),
    Options.withDescription("User to run as (name or uid)"),
    Options.optional
  ),
  env: Options.text("env").pipe(
    Options.withAlias("e"),
    Options.withDescription("Environment variable KEY=VALUE (repeatable)"),
    Options.repeated
  ),
  stream: Options.boolean("stream").pipe(
    Options.withDescription("Print output as it comes instead of when the command ends")
  ),
  detach: Options.boolean("detach").pipe(
    Options.withAlias("d"),
    Options.withDescription(
      "Start the command in the background of the sandbox (nohup), print its PID and log file, and return"
    )
  ),
  json: jsonOption
}

/** The `ExecResult` as `--json` prints it. */
export const resultJson = (result: ExecResult) => ({
  exitCode: result.exitCode,
  ok: result.ok,
  stdout: result.stdout,
  stderr: result.stderr,
  durationMs: result.durationMs,
  timedOut: result.timedOut,
  truncated: result.truncated
})

/** `text` quoted for `sh` as one word. */
const shellQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`

/**
 * The shell line that starts `command` detached from the exec that runs it:
 * `nohup sh -c ... &` (SIGHUP ignored), output to `log`, its PID printed. The process is the
 * sandbox's from then on: it outlives the CLI (a `runDetached` process would
 * be killed when the CLI's connection closes) and ends with the sandbox.
 */
export const detachedLine = (command: RunCommand, log: string) => {
  const script = typeof command === "string" ? command : command.map(shellQuote).join(" ")
  // busybox images have no nohup: without it, the shell only ignores SIGHUP
  return `mkdir -p /tmp/pocketdock && $(command -v nohup || echo exec) sh -c ${shellQuote(`trap '' HUP; ${script}`)} </dev/null >${shellQuote(log)} 2>&1 & echo $!`
}

/** A shell exit status for the command's exit code (-1, unknown, becomes 1). */
const shellCode = (code: number) => (code >= 0 && code <= 255 ? code : ExitCodes.error)

export const run = Command.make(
  "run",
  runArgs,
  action((config) =>
    withServices(
      Effect.gen(function* () {
        const command: RunCommand = Option.isSome(config.lang)
          ? config.command.join(" ")
          : config.command.length === 1
            ? (config.command[0] ?? "")
            : config.command
        const env: Record<string, string> = {}
        for (const spec of config.env) {
          const at = spec.indexOf("=")
          if (at > 0) env[spec.slice(0, at)] = spec.slice(at + 1)
        }
        const options: RunOptions = {
          timeout: Option.getOrUndefined(config.timeout),
          lang: Option.getOrUndefined(config.lang),
          maxOutput: Option.getOrUndefined(config.maxOutput),
          workdir: Option.getOrUndefined(config.workdir),
          user: Option.getOrUndefined(config.user),
          ...(config.env.length > 0 ? { env } : {})
        }
        const service = yield* ContainerService
        const sandbox = yield* service.attach(config.container)
        if (config.detach) {
          if (config.stream || Option.isSome(config.lang)) {
            return yield* new CliError({
              message: "--detach cannot be combined with --stream or --lang",
              exitCode: ExitCodes.usage
            })
          }
          const log = `/tmp/pocketdock/detached-${Date.now()}-${process.pid}.log`
          const started = yield* sandbox.run(detachedLine(command, log), { ...options, lang: undefined })
          const pid = Number(started.stdout.trim())
          if (started.exitCode !== 0 || !Number.isInteger(pid)) {
            return yield* new CliError({
              message: `could not start the command: ${started.stderr.trim() || `exit ${started.exitCode}`}`,
              exitCode: ExitCodes.error
            })
          }
          if (config.json) return yield* json({ pid, log })
          yield* write(process.stdout, `${pid}\n`)
          yield* errorLine(
            style.dim(`output: ${log} (pocketdock run ${sandbox.name} cat ${log})`, process.stderr)
          )
          return
        }
        if (config.stream) {
          const result = yield* Deferred.make<ExecResult>()
          const streamed = yield* sandbox.runStream(command, { ...options, result }).pipe(
            Stream.runForEach((chunk) =>
              config.json
                ? write(process.stdout, `${JSON.stringify({ stream: chunk.stream, data: chunk.data })}\n`)
                : write(chunk.stream === "stderr" ? process.stderr : process.stdout, chunk.data)
            ),
            Effect.as({ problem: undefined as string | undefined, code: undefined as number | undefined }),
            Effect.catchTags({
              CommandTimeout: (error) => Effect.succeed({ problem: error.message, code: ExitCodes.timeout }),
              OutputTruncated: (error) => Effect.succeed({ problem: error.message, code: ExitCodes.error })
            })
          )
          const final = yield* Deferred.await(result)
          if (config.json) yield* write(process.stdout, `${JSON.stringify({ exit: resultJson(final) })}\n`)
          if (streamed.problem !== undefined) {
            yield* errorLine(`pocketdock: ${style.yellow(streamed.problem, process.stderr)}`)
          }
          return yield* setExitCode(streamed.code ?? shellCode(final.exitCode))
        }
        const outcome = yield* sandbox.run(command, options).pipe(
          Effect.map((result) => ({ result, problem: undefined, code: shellCode(result.exitCode) })),
          Effect.catchTags({
            CommandTimeout: (error) =>
              Effect.succeed({ result: error.result, problem: error.message, code: ExitCodes.timeout }),
            OutputTruncated: (error) =>
              Effect.succeed({ result: error.result, problem: error.message, code: ExitCodes.error })
          })
        )
        if (config.json) {
          yield* json(resultJson(outcome.result))
        } else {
          yield* write(process.stdout, outcome.result.stdout)
          yield* write(process.stderr, outcome.result.stderr)
        }
        if (outcome.problem !== undefined) {
          yield* errorLine(`pocketdock: ${style.yellow(outcome.problem, process.stderr)}`)
        }
        yield* setExitCode(outcome.code)
      }).pipe(Effect.scoped)
    )
  )
).pipe(
  Command.withDescription(
    "Run a command in a sandbox and exit with its exit code (124 on timeout). Example: pocketdock run box -- ls -la"
  )
)
