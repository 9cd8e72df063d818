/**
 * `npm run bench`: pocketdock against dockerode, the engine's CLI and a raw
 * HTTP floor, on the same engine, image and container, for each engine.
 * Prints a table of ratios and writes BENCHMARKS.md.
 *
 *   tsx bench/run.ts [--quick | --short] [--engines podman,docker] [--out FILE] [--json FILE] [--note TEXT]
 *
 * `--short` uses reduced counts (a busy machine). `--quick` runs every row with tiny counts (to check the harness, not to
 * measure) and writes no BENCHMARKS.md unless `--out` is given.
 */
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import Docker from "dockerode"
import { VERSION } from "../src/index.js"
import type { PeerId, Target } from "./peers.js"
import { renderMarkdown } from "./report.js"
import { FULL, measureEngine, QUICK, type RowResult, type Settings, SHORT } from "./rows.js"

const SOCKETS = {
  podman: process.env.POCKETDOCK_TEST_PODMAN_SOCKET ?? "/run/podman/podman.sock",
  docker: process.env.POCKETDOCK_TEST_DOCKER_SOCKET ?? "/var/run/docker.sock"
} as const

const LABEL = "pocketdock.bench"

interface Args {
  readonly quick: boolean
  readonly short: boolean
  readonly engines: ReadonlyArray<"podman" | "docker">
  readonly out: string | undefined
  readonly json: string | undefined
  readonly note: string | undefined
  readonly image: string
}

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const value = (flag: string) => {
    const i = argv.indexOf(flag)
    return i === -1 ? undefined : argv[i + 1]
  }
  const quick = argv.includes("--quick")
  const engines = (value("--engines") ?? "podman,docker")
    .split(",")
    .filter((e): e is "podman" | "docker" => e === "podman" || e === "docker")
  return {
    quick,
    short: argv.includes("--short"),
    engines,
    out:
      value("--out") ??
      (quick || argv.includes("--json") ? undefined : Path.join(import.meta.dirname, "..", "BENCHMARKS.md")),
    json: value("--json"),
    note: value("--note"),
    image: value("--image") ?? "pocketdock/busybox"
  }
}

const engineVersion = (socketPath: string): Promise<string> =>
  new Promise((resolve) => {
    const req = Http.request({ socketPath, path: "/version" }, (response) => {
      let body = ""
      response.on("data", (chunk: Buffer) => {
        body += chunk.toString()
      })
      response.on("end", () => {
        try {
          resolve((JSON.parse(body) as { Version: string }).Version)
        } catch {
          resolve("unknown")
        }
      })
    })
    req.once("error", () => resolve("unreachable"))
    req.end()
  })

/** Removes whatever a crashed run left behind (every peer labels its containers). */
const sweep = async (socketPath: string) => {
  const docker = new Docker({ socketPath })
  const left = await docker.listContainers({ all: true, filters: { label: [LABEL] } }).catch(() => [])
  await Promise.all(
    left.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined)
    )
  )
}

export interface BenchResult {
  readonly date: string
  readonly quick: boolean
  readonly machine: {
    readonly cpus: number
    readonly model: string
    readonly memoryGB: number
    readonly os: string
  }
  readonly versions: Record<string, string>
  readonly engines: ReadonlyArray<{ readonly engine: string; readonly rows: ReadonlyArray<RowResult> }>
  /** absent in results written before it was recorded */
  readonly settings?: Settings
  readonly peers: ReadonlyArray<PeerId>
}

/** `--merge a.json b.json --out FILE`: one report from separate runs (e.g. one per engine). */
const merge = async (args: Args, files: ReadonlyArray<string>) => {
  const results = await Promise.all(
    files.map(async (file) => JSON.parse(await Fs.readFile(file, "utf8")) as BenchResult)
  )
  const first = results[0]
  if (first === undefined) throw new Error("--merge needs JSON files from --json")
  const merged: BenchResult = {
    ...first,
    versions: Object.assign({}, ...results.map((r) => r.versions)),
    engines: results.flatMap((r) => r.engines)
  }
  const markdown = renderMarkdown(merged, first.settings ?? (first.quick ? QUICK : SHORT), args.note)
  console.log(markdown)
  if (args.out !== undefined) await Fs.writeFile(args.out, markdown)
}

const main = async () => {
  const args = parseArgs(process.argv.slice(2))
  const mergeAt = process.argv.indexOf("--merge")
  if (mergeAt !== -1) {
    const files = process.argv.slice(mergeAt + 1).filter((a) => a.endsWith(".json"))
    return merge(args, files)
  }
  // an interrupted run still removes what the peers created
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void Promise.all(args.engines.map((engine) => sweep(SOCKETS[engine]))).finally(() => process.exit(130))
    })
  }
  const settings = args.quick ? QUICK : args.short ? SHORT : FULL
  const dockerodeVersion = JSON.parse(
    await Fs.readFile(
      Path.join(import.meta.dirname, "..", "node_modules", "dockerode", "package.json"),
      "utf8"
    )
  ) as { version: string }
  const versions: Record<string, string> = {
    node: process.version,
    pocketdock: VERSION,
    dockerode: dockerodeVersion.version
  }
  const engines: Array<{ engine: string; rows: Array<RowResult> }> = []
  for (const engine of args.engines) {
    const socketPath = SOCKETS[engine]
    versions[engine] = await engineVersion(socketPath)
    const target: Target = { engine, socketPath, image: args.image, label: LABEL }
    const started = performance.now()
    const log = (line: string) =>
      console.error(`[${engine} +${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`)
    try {
      engines.push({ engine, rows: await measureEngine(target, settings, log) })
    } finally {
      await sweep(socketPath)
    }
  }
  const cpus = Os.cpus()
  const result: BenchResult = {
    date: new Date().toISOString(),
    quick: args.quick,
    machine: {
      cpus: cpus.length,
      model: cpus[0]?.model ?? "unknown",
      memoryGB: Math.round((Os.totalmem() / 1024 ** 3) * 10) / 10,
      os: `${Os.type()} ${Os.release()} ${Os.arch()}`
    },
    versions,
    engines,
    settings,
    peers: ["pocketdock", "dockerode", "cli", "raw"]
  }
  const markdown = renderMarkdown(result, settings, args.note)
  console.log(markdown)
  if (args.out !== undefined) await Fs.writeFile(args.out, markdown)
  if (args.json !== undefined) await Fs.writeFile(args.json, JSON.stringify(result, null, 2))
  // the runtimes' sockets (leases are gone with their sandboxes) would keep us alive a little
  process.exit(0)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
