/**
 * Terminal output of the CLI: colour only on a TTY (and never with
 * `NO_COLOR`), tables that fit the terminal, JSON, one-line errors.
 */
import { type Console, Effect } from "effect"

type Stream = NodeJS.WriteStream

/** Whether `stream` gets ANSI colour: a TTY, `NO_COLOR` unset or empty, `TERM` not `dumb`. */
export const colorEnabled = (stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb"

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is what an ANSI sequence starts with
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g

/** `text` without ANSI escape sequences. */
export const stripAnsi = (text: string): string => text.replace(ANSI, "")

const paint =
  (open: number, close: number) =>
  (text: string, stream: Stream = process.stdout): string =>
    colorEnabled(stream) ? `\u001b[${open}m${text}\u001b[${close}m` : text

/** Styles that are no-ops when the stream gets no colour. */
export const style = {
  bold: paint(1, 22),
  dim: paint(2, 22),
  red: paint(31, 39),
  green: paint(32, 39),
  yellow: paint(33, 39),
  cyan: paint(36, 39)
}

/** Writes `data` and waits until the stream took it (so a following exit loses nothing). */
export const write = (stream: Stream, data: string): Effect.Effect<void> =>
  data === ""
    ? Effect.void
    : Effect.async<void>((resume) => {
        stream.write(data, () => resume(Effect.void))
      })

/** A line on stdout. */
export const line = (text = ""): Effect.Effect<void> => write(process.stdout, `${text}\n`)

/** A line on stderr. */
export const errorLine = (text: string): Effect.Effect<void> => write(process.stderr, `${text}\n`)

/** `value` as pretty JSON on stdout: the `--json` output of every command. */
export const json = (value: unknown): Effect.Effect<void> => line(JSON.stringify(value, null, 2))

/**
 * Rows as a table that fits `width` columns: when too wide, the widest
 * columns are cut with `…`. Without colour the header is plain text.
 */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  width: number = process.stdout.columns ?? 120,
  stream: Stream = process.stdout
): string => {
  const gap = 2
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length))
  )
  const total = () => widths.reduce((sum, w) => sum + w, 0) + gap * (widths.length - 1)
  while (total() > width) {
    const widest = widths.indexOf(Math.max(...widths))
    const current = widths[widest] ?? 0
    if (current <= 4) break
    widths[widest] = current - 1
  }
  const cell = (text: string, w: number) =>
    text.length > w ? `${text.slice(0, Math.max(0, w - 1))}…` : text.padEnd(w)
  const render = (row: ReadonlyArray<string>) =>
    row
      .map((text, i) => cell(text, widths[i] ?? 0))
      .join(" ".repeat(gap))
      .trimEnd()
  return [style.bold(render(headers), stream), ...rows.map(render)].join("\n")
}

/**
 * The console @effect/cli prints help, usage errors and `--version` with,
 * with ANSI sequences removed from each stream that gets no colour.
 */
export const withPlainConsole = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.consoleWith((base) => {
    const plainOut = !colorEnabled(process.stdout)
    const plainErr = !colorEnabled(process.stderr)
    if (!plainOut && !plainErr) return effect
    const out = (args: ReadonlyArray<unknown>, stream: Stream) =>
      write(stream, `${stripAnsi(args.map(String).join(" "))}\n`)
    const console: Console.Console = {
      ...base,
      log: (...args) => (plainOut ? out(args, process.stdout) : base.log(...args)),
      info: (...args) => (plainOut ? out(args, process.stdout) : base.info(...args)),
      error: (...args) => (plainErr ? out(args, process.stderr) : base.error(...args)),
      warn: (...args) => (plainErr ? out(args, process.stderr) : base.warn(...args))
    }
    return Effect.withConsole(effect, console)
  })
