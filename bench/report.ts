/** The benchmark results as Markdown: one table of ratios per engine, and the targets. */
import { PEER_LABELS, type PeerId } from "./peers.js"
import type { Measure, RowResult, Settings } from "./rows.js"
import type { BenchResult } from "./run.js"

const PEERS: ReadonlyArray<Exclude<PeerId, "pocketdock">> = ["dockerode", "cli", "raw"]

const num = (value: number) =>
  !Number.isFinite(value)
    ? "—"
    : value >= 100
      ? value.toFixed(0)
      : value >= 10
        ? value.toFixed(1)
        : value.toFixed(2)

const cell = (row: RowResult, m: Measure | undefined) =>
  m === undefined ? "—" : row.unit === "ms" && m.n > 1 ? `${num(m.p50)} / ${num(m.p95)}` : num(m.p50)

/**
 * pocketdock's cost over the peer's: below 1 pocketdock is faster (or
 * leaner). For throughput rows that is the peer's MB/s over pocketdock's.
 */
export const costRatio = (row: RowResult, peer: PeerId): number | undefined => {
  const pd = row.values.pocketdock?.p50
  const other = row.values[peer]?.p50
  if (pd === undefined || other === undefined) return undefined
  return row.better === "lower" ? pd / other : other / pd
}

const ratioCell = (row: RowResult, peer: PeerId) => {
  const ratio = costRatio(row, peer)
  return ratio === undefined ? "—" : `${num(ratio)}×`
}

const unitOf = (row: RowResult) =>
  row.unit === "ms" ? "ms p50 / p95" : row.unit === "MB/s" ? "MB/s p50" : "MB"

export const renderMarkdown = (result: BenchResult, settings: Settings, note: string | undefined): string => {
  const lines: Array<string> = []
  lines.push("# Benchmarks", "")
  if (note !== undefined) lines.push(`> **${note}**`, "")
  if (result.quick)
    lines.push("> Quick mode: tiny counts, to check the harness. These numbers mean nothing.", "")
  lines.push(
    `Run on ${result.date} with \`npm run bench\`${result.quick ? " (--quick)" : ""}.`,
    "",
    `- Machine: ${result.machine.cpus} CPUs (${result.machine.model}), ${result.machine.memoryGB} GB RAM, ${result.machine.os}`,
    `- Versions: ${Object.entries(result.versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(", ")}`,
    `- Image \`pocketdock/busybox\`. Exec and file rows use one container for every peer. Peers run interleaved (a rotated order each round) after ${settings.warmup} warm-up round(s); exec round trip n=${settings.execIterations} per peer, create/shutdown n=${settings.createIterations}, ${settings.concurrent} concurrent runs × ${settings.concurrentRounds} rounds.`,
    "- Peers: **dockerode** (`new Docker({ socketPath })`), the **engine CLI** (`podman`/`docker` `run -d`, `exec`, `cp`, `rm -f`), and a **raw floor**: Node `http` over the socket with a keep-alive agent (exec create + start + inspect, the least any client must do).",
    "- **Ratio = pocketdock's cost ÷ the peer's** (time, memory; for MB/s rows the peer's MB/s ÷ pocketdock's): **below 1× pocketdock is faster**, above 1× slower.",
    ""
  )
  for (const { engine, rows } of result.engines) {
    lines.push(`## ${engine} ${result.versions[engine] ?? ""}`, "")
    lines.push(
      `| row | unit | pocketdock | ${PEERS.map((p) => PEER_LABELS[p]).join(" | ")} | ${PEERS.map((p) => `÷ ${PEER_LABELS[p]}`).join(" | ")} | note |`,
      `|---|---|---:|${PEERS.map(() => "---:").join("|")}|${PEERS.map(() => "---:").join("|")}|---|`
    )
    for (const row of rows) {
      if (row.pending !== undefined) {
        lines.push(
          `| ${row.title} | ${unitOf(row)} | pending | ${PEERS.map(() => "—").join(" | ")} | ${PEERS.map(() => "—").join(" | ")} | awaits ${row.pending} |`
        )
        continue
      }
      lines.push(
        `| ${row.title} | ${unitOf(row)} | ${cell(row, row.values.pocketdock)} | ${PEERS.map((p) => cell(row, row.values[p])).join(" | ")} | ${PEERS.map((p) => ratioCell(row, p)).join(" | ")} | ${row.note ?? ""} |`
      )
    }
    lines.push("")
    lines.push("Targets (reported, not asserted):", "")
    const slower = rows.filter((row) => (costRatio(row, "dockerode") ?? 0) > 1)
    lines.push(
      `- never slower than dockerode: ${slower.length === 0 ? "**met** on every measured row" : `**not met** on ${slower.map((r) => `${r.id} (${num(costRatio(r, "dockerode") ?? Number.NaN)}×)`).join(", ")}`}`
    )
    const exec = rows.find((row) => row.id === "exec")
    const floor = exec === undefined ? undefined : costRatio(exec, "raw")
    lines.push(
      `- exec round trip within 10% of the raw floor: ${floor === undefined ? "not measured" : `${num(floor)}× → ${floor <= 1.1 ? "**met**" : "**not met**"}`}`
    )
    const session = rows.find((row) => row.id === "session")
    lines.push(
      `- session round trip ≥ 10× faster than run(): ${session?.pending !== undefined ? `pending (${session.pending})` : session?.speedup === undefined ? "not measured" : `${num(session.speedup)}× → ${session.speedup >= 10 ? "**met**" : "**not met**"}`}`
    )
    lines.push("")
  }
  return lines.join("\n")
}
