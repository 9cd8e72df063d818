import { describe, expect, it } from "@effect/vitest"
import { Cause, FiberId } from "effect"
import { CliError, reportOf } from "../../src/cli/errors.js"
import { colorEnabled, stripAnsi, table } from "../../src/cli/output.js"
import { EngineNotRunning, SocketConnectionError } from "../../src/services/Engine.js"

const tty = { isTTY: true } as NodeJS.WriteStream
const pipe = { isTTY: false } as NodeJS.WriteStream

describe("CLI output", () => {
  it("colour only on a TTY, never with NO_COLOR or TERM=dumb", () => {
    expect(colorEnabled(tty, {})).toBe(true)
    expect(colorEnabled(pipe, {})).toBe(false)
    expect(colorEnabled(tty, { NO_COLOR: "1" })).toBe(false)
    expect(colorEnabled(tty, { NO_COLOR: "" })).toBe(true)
    expect(colorEnabled(tty, { TERM: "dumb" })).toBe(false)
  })

  it("strips ANSI sequences", () => {
    expect(stripAnsi("\u001b[1mbold\u001b[22m \u001b[0;37;1mx\u001b[0m")).toBe("bold x")
  })

  it("tables fit the width, cutting the widest column", () => {
    const rows = [
      ["pd-1", "running", "pocketdock/minimal-python-with-a-very-long-name"],
      ["box", "exited", "pocketdock/busybox"]
    ]
    const wide = table(["NAME", "STATUS", "IMAGE"], rows, 200, pipe).split("\n")
    expect(wide[0]).toBe("NAME  STATUS   IMAGE")
    expect(wide[1]).toBe("pd-1  running  pocketdock/minimal-python-with-a-very-long-name")
    const narrow = table(["NAME", "STATUS", "IMAGE"], rows, 40, pipe).split("\n")
    for (const row of narrow) expect(row.length).toBeLessThanOrEqual(40)
    expect(narrow[1]).toContain("…")
    expect(narrow[2]).toBe("box   exited   pocketdock/busybox")
  })
})

describe("CLI errors", () => {
  it("a pocketdock error is one line with its hint", () => {
    const report = reportOf(
      Cause.fail(new SocketConnectionError({ socketPath: "/x.sock", detail: "no\nsuch socket" })),
      false
    )
    expect(report.exitCode).toBe(1)
    expect(report.lines).toEqual([
      "pocketdock: cannot connect to the container engine at /x.sock: no such socket (hint: is the engine running? Pass --socket PATH or set POCKETDOCK_SOCKET to its socket)"
    ])
  })

  it("EngineNotRunning carries its own hint; --verbose adds the fields", () => {
    const error = new EngineNotRunning({ searched: ["/a.sock"], hint: "start podman" })
    const report = reportOf(Cause.fail(error), true)
    expect(report.lines[0]).toBe(
      "pocketdock: no container engine is running (looked at /a.sock). start podman"
    )
    expect(report.lines[1]).toContain("EngineNotRunning")
  })

  it("CLI errors keep their exit code; defects are one line; interruption is 130", () => {
    expect(reportOf(Cause.fail(new CliError({ message: "bad", exitCode: 2 })), false)).toEqual({
      lines: ["pocketdock: bad"],
      exitCode: 2
    })
    const defect = reportOf(Cause.die(new Error("boom\nat x")), false)
    expect(defect.lines).toEqual(["pocketdock: internal error: boom at x"])
    expect(reportOf(Cause.interrupt(FiberId.none), false).exitCode).toBe(130)
  })
})
