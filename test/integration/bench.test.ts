/**
 * The benchmark harness runs (quick mode) on each engine and reports every
 * row with finite numbers. No timing is asserted: speed is for BENCHMARKS.md.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { ROWS } from "../../bench/rows.js"
import type { BenchResult } from "../../bench/run.js"
import { engines } from "./engines.js"

const root = Path.join(import.meta.dirname, "..", "..")

for (const engine of engines) {
  describe(`bench --quick [${engine.name}]`, () => {
    it("prints and writes a table with every row, numbers finite", async () => {
      const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-bench-test-"))
      try {
        const json = Path.join(dir, "bench.json")
        const out = Path.join(dir, "BENCHMARKS.md")
        const stdout = await new Promise<string>((resolve, reject) =>
          execFile(
            process.execPath,
            [
              "--import",
              "tsx",
              Path.join(root, "bench", "run.ts"),
              "--quick",
              "--engines",
              engine.name,
              "--json",
              json,
              "--out",
              out
            ],
            { cwd: root, maxBuffer: 16 * 1024 * 1024 },
            (error, stdout, stderr) =>
              error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)
          )
        )
        const result = JSON.parse(await Fs.readFile(json, "utf8")) as BenchResult
        expect(result.engines.map((e) => e.engine)).toEqual([engine.name])
        const rows = result.engines[0]?.rows ?? []
        expect(rows.map((row) => row.id)).toEqual([...ROWS])
        for (const row of rows) {
          if (row.pending !== undefined) continue
          expect(Object.keys(row.values).sort(), row.id).toEqual(
            row.id === "memory"
              ? ["dockerode", "pocketdock", "raw"]
              : ["cli", "dockerode", "pocketdock", "raw"]
          )
          for (const measure of Object.values(row.values)) {
            expect(Number.isFinite(measure.p50), row.id).toBe(true)
            expect(Number.isFinite(measure.p95), row.id).toBe(true)
            expect(measure.p50, row.id).toBeGreaterThan(0)
          }
        }
        const markdown = await Fs.readFile(out, "utf8")
        expect(stdout).toContain(markdown.trim())
        for (const row of rows) expect(markdown).toContain(`| ${row.title} |`)
        expect(markdown).toContain("Ratio = pocketdock")
        expect(markdown).toContain(`node ${process.version}`)
      } finally {
        await Fs.rm(dir, { recursive: true, force: true })
      }
    }, 600_000)
  })
}
