/**
 * The shell protocol of a session: what we write to the shell's stdin and how
 * we find command boundaries in its output.
 *
 * The shell is `/bin/sh -i` (interactive, so an error such as `${X?}` or a
 * SIGINT aborts only the current line instead of the shell). Each command is
 * one line that stores the command text in a variable, `eval`s it in the main
 * shell (so `cd`, `export` and functions persist) and then prints a marker on
 * the original stdout (fd 8) and stderr (fd 9): the two streams are not
 * ordered, so each needs its own end mark. The prompt `PS1` is also a marker
 * of the line: when the shell is back at its prompt without having printed
 * the end marks, the line was aborted.
 *
 * Markers are `<prefix>:<kind>:<seq>[:<status>];` where the prefix holds 128
 * random bits per session: output cannot contain it by accident. They are
 * found anywhere in the byte stream, not only at line starts, so output
 * without a trailing newline comes back exactly.
 */
import { randomBytes } from "node:crypto"

/** A fresh marker prefix. */
export const newPrefix = (): string => `PD${randomBytes(16).toString("hex")}`

/** `s` as one single-quoted shell word (newlines included). */
export const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

/**
 * Sets up the shell: keeps the original stdout/stderr on fds 8/9 (so a user
 * `exec >file` cannot swallow the markers) and defines `__pd_end`, which sets
 * the prompt and prints the end marks with the status `$__pd_s` (and, on
 * stdout, the container's uptime and `$!`: a child of the shell started later,
 * or with a higher PID, belongs to the next command, not to a background job).
 * The first marks carry the shell's PID.
 */
export const initLine = (prefix: string, seq: number): string =>
  [
    "exec 8>&1 9>&2",
    `__pd_R=${prefix}`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
    '__pd_end() { PS1="$__pd_R:p:$__pd_n;"; PS2=; { read -r __pd_u _ </proc/uptime; } 2>/dev/null || __pd_u=0; printf \'%s:o:%s:%s:%s:%s;\' "$__pd_R" "$__pd_n" "$__pd_s" "$__pd_u" "${!:-0}" >&8; printf \'%s:e:%s:%s;\' "$__pd_R" "$__pd_n" "$__pd_s" >&9; case $__pd_x in *x*) set -x;; esac; }',
    `__pd_n=${seq}`,
    "__pd_s=$$",
    "__pd_x=",
    "__pd_end\n"
  ].join("; ")

/**
 * One command. xtrace (`set -x`) is paused around our own bookkeeping so the
 * markers never show in a trace, and restored for the user's command.
 */
export const commandLine = (seq: number, command: string): string =>
  [
    "{ __pd_x=$-; set +x; } 2>/dev/null",
    `__pd_n=${seq}`,
    'PS1="$__pd_R:p:$__pd_n;"',
    "PS2=",
    `__pd_c=${shellQuote(command)}`,
    "case $__pd_x in *x*) set -x;; esac",
    'eval "$__pd_c" </dev/null 8>&- 9>&-',
    "{ __pd_s=$?; __pd_x=$-; set +x; } 2>/dev/null",
    "__pd_end\n"
  ].join("; ")

/** A line that only prints end marks, with the status of the previous line. */
export const syncLine = (seq: number): string =>
  `{ __pd_s=$?; __pd_x=$-; set +x; } 2>/dev/null; __pd_n=${seq}; __pd_end\n`

/**
 * Interrupts what the shell is running, leaving the shell alive: stops the
 * shell, then (level by level, stopping each so none can fork away) its
 * descendants, except children that are background jobs of earlier lines
 * (started by uptime `since.uptime` with a PID up to `since.lastBackground`,
 * both read at the end of the previous line), kills those, and sends the
 * shell SIGINT, which (interactive) abandons the current line. With `final`
 * every descendant and the shell itself are killed.
 */
export const killScript = (
  shellPid: number,
  since: { readonly uptime: number; readonly lastBackground: number },
  final: boolean
): string =>
  [
    "exec 2>/dev/null",
    `p=${shellPid}`,
    "kill -STOP $p",
    `th=${final ? -1 : Math.floor(since.uptime)}`,
    `bg=${final ? -1 : Math.floor(since.lastBackground)}`,
    "f=$p",
    "all=",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
    'while [ -n "$f" ]; do n=; for d in /proc/[0-9]*; do read -r l < "$d/stat" || continue; s=${l##*) }; set -- $s; case " $f " in *" $2 "*) if [ "${20}" -gt "$th" ] || [ "${d#/proc/}" -gt "$bg" ]; then kill -STOP "${d#/proc/}"; n="$n ${d#/proc/}"; fi;; esac; done; all="$all$n"; f=$n; th=-1; bg=-1; done',
    '[ -n "$all" ] && kill -KILL $all',
    final ? "kill -KILL $p" : "kill -INT $p; kill -CONT $p",
    "true"
  ].join("\n")

export type Marker =
  | {
      readonly kind: "o" | "e"
      readonly seq: number
      readonly status: number
      /** Container uptime in 1/100 s and `$!` when the line ended (stdout only). */
      readonly uptime?: number
      readonly lastBackground?: number
    }
  | { readonly kind: "p"; readonly seq: number }

export type ScanEvent =
  | { readonly _tag: "Content"; readonly data: Uint8Array }
  | { readonly _tag: "Marker"; readonly marker: Marker }

/** Longest marker body after the prefix, e.g. `o:123456:255`. */
const MAX_BODY = 48
const SEMICOLON = 0x3b
const EMPTY = Buffer.alloc(0)

const parseBody = (body: string): Marker | undefined => {
  const parts = body.split(":")
  const seq = Number(parts[1])
  if (!Number.isInteger(seq)) return undefined
  if (parts[0] === "p" && parts.length === 2) return { kind: "p", seq }
  if ((parts[0] === "o" || parts[0] === "e") && parts.length >= 3 && parts.length <= 5) {
    const status = Number(parts[2])
    if (!Number.isInteger(status)) return undefined
    const uptime = Math.round(Number(parts[3]) * 100)
    const lastBackground = Number(parts[4])
    return Number.isFinite(uptime) && uptime > 0 && Number.isInteger(lastBackground)
      ? { kind: parts[0], seq, status, uptime, lastBackground }
      : { kind: parts[0], seq, status }
  }
  return undefined
}

/**
 * Splits one output stream into content and markers. Bytes that might be the
 * start of a marker are held back until the rest arrives; everything else is
 * passed on as soon as it is fed.
 */
export class MarkerScanner {
  private readonly prefix: Buffer
  private pending: Buffer = EMPTY

  constructor(prefix: string) {
    this.prefix = Buffer.from(`${prefix}:`, "latin1")
  }

  feed(data: Uint8Array): Array<ScanEvent> {
    const events: Array<ScanEvent> = []
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = EMPTY
    let from = 0
    while (from < buf.length) {
      const at = buf.indexOf(this.prefix, from)
      if (at === -1) {
        const hold = this.heldTail(buf, from)
        if (buf.length - hold > from) {
          events.push({ _tag: "Content", data: Uint8Array.from(buf.subarray(from, buf.length - hold)) })
        }
        if (hold > 0) this.pending = Buffer.from(buf.subarray(buf.length - hold))
        return events
      }
      if (at > from) events.push({ _tag: "Content", data: Uint8Array.from(buf.subarray(from, at)) })
      const bodyStart = at + this.prefix.length
      const end = buf.indexOf(SEMICOLON, bodyStart)
      if (end === -1 || end - bodyStart > MAX_BODY) {
        if (end === -1 && buf.length - bodyStart <= MAX_BODY) {
          this.pending = Buffer.from(buf.subarray(at))
          return events
        }
        // the prefix without a well-formed body: not ours after all
        events.push({ _tag: "Content", data: Uint8Array.from(buf.subarray(at, bodyStart)) })
        from = bodyStart
        continue
      }
      const marker = parseBody(buf.subarray(bodyStart, end).toString("latin1"))
      events.push(
        marker === undefined
          ? { _tag: "Content", data: Uint8Array.from(buf.subarray(at, end + 1)) }
          : { _tag: "Marker", marker }
      )
      from = end + 1
    }
    return events
  }

  /** Bytes held back at the end of the stream. */
  flush(): Uint8Array {
    const rest = this.pending
    this.pending = EMPTY
    return Uint8Array.from(rest)
  }

  /** How many bytes at the end of `buf` could begin the prefix. */
  private heldTail(buf: Buffer, from: number): number {
    const max = Math.min(this.prefix.length - 1, buf.length - from)
    for (let k = max; k > 0; k--) {
      if (buf.compare(this.prefix, 0, k, buf.length - k, buf.length) === 0) return k
    }
    return 0
  }
}
