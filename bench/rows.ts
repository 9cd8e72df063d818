/**
 * The benchmark rows, measured for one engine. Each row runs every peer that
 * can do it, interleaved (a new peer order every round), after a warm-up.
 *
 * Adding a row: give it an id in `ROWS`, and measure it in `measureEngine`
 * with `interleaved(...)`.
 */
import { spawn } from "node:child_process"
import * as Path from "node:path"
import * as TarStream from "tar-stream"
import { type Container, createPool } from "../src/index.js"
import { makePeers, PEER_LABELS, type Peer, type PeerId, type Sandbox, type Target } from "./peers.js"
import { MB, percentile, rotate, time } from "./stats.js"

export interface Settings {
  readonly quick: boolean
  /** exec round trips per peer (after `warmup`) */
  readonly execIterations: number
  readonly warmup: number
  readonly concurrent: number
  readonly concurrentRounds: number
  readonly streamBytes: number
  readonly streamIterations: number
  readonly smallFile: number
  readonly largeFile: number
  readonly smallFileIterations: number
  readonly largeFileIterations: number
  readonly createIterations: number
  readonly poolSize: number
  readonly memorySandboxes: number
}

export const FULL: Settings = {
  quick: false,
  execIterations: 200,
  warmup: 10,
  concurrent: 100,
  concurrentRounds: 5,
  streamBytes: 256 * MB,
  streamIterations: 3,
  smallFile: 1 * MB,
  largeFile: 100 * MB,
  smallFileIterations: 20,
  largeFileIterations: 3,
  createIterations: 10,
  poolSize: 2,
  memorySandboxes: 50
}

/** Reduced counts, for a run on a busy machine (a preliminary table). */
export const SHORT: Settings = {
  quick: false,
  execIterations: 30,
  warmup: 3,
  concurrent: 100,
  concurrentRounds: 1,
  streamBytes: 256 * MB,
  streamIterations: 1,
  smallFile: 1 * MB,
  largeFile: 100 * MB,
  smallFileIterations: 5,
  largeFileIterations: 1,
  createIterations: 3,
  poolSize: 2,
  memorySandboxes: 50
}

export const QUICK: Settings = {
  quick: true,
  execIterations: 3,
  warmup: 1,
  concurrent: 3,
  concurrentRounds: 1,
  streamBytes: 1 * MB,
  streamIterations: 1,
  smallFile: 256 * 1024,
  largeFile: 1 * MB,
  smallFileIterations: 1,
  largeFileIterations: 1,
  createIterations: 1,
  poolSize: 1,
  memorySandboxes: 2
}

export type Unit = "ms" | "MB/s" | "MB"

export interface Measure {
  readonly p50: number
  readonly p95: number
  readonly n: number
}

export interface RowResult {
  readonly id: string
  readonly title: string
  readonly unit: Unit
  /** "lower" for times and memory, "higher" for throughput */
  readonly better: "lower" | "higher"
  readonly values: Partial<Record<PeerId, Measure>>
  readonly note?: string
  /** Set when the row waits for an API that has not landed yet. */
  readonly pending?: string
  /** How many times faster pocketdock is than its own baseline (the session row: `run()`). */
  readonly speedup?: number
}

/** Every row, in table order. */
export const ROWS = [
  "exec",
  "session",
  "concurrent",
  "stream",
  "write-small",
  "read-small",
  "write-large",
  "read-large",
  "create",
  "pool",
  "shutdown",
  "memory"
] as const

const measure = (samples: ReadonlyArray<number>): Measure => ({
  p50: percentile(samples, 50),
  p95: percentile(samples, 95),
  n: samples.length
})

type Samples = Partial<Record<PeerId, Array<number>>>

const measures = (samples: Samples): Partial<Record<PeerId, Measure>> => {
  const out: Partial<Record<PeerId, Measure>> = {}
  for (const [peer, list] of Object.entries(samples) as Array<[PeerId, Array<number>]>)
    out[peer] = measure(list)
  return out
}

/**
 * Runs `once(peer, round)` for `rounds` rounds, each round visiting every
 * peer in a rotated order; the first `warmup` rounds are not recorded.
 */
const interleaved = async (
  peers: ReadonlyArray<Peer>,
  rounds: number,
  warmup: number,
  once: (peer: Peer, round: number) => Promise<number>
): Promise<Samples> => {
  const samples: Samples = {}
  for (let round = 0; round < warmup + rounds; round++) {
    for (const peer of rotate(peers, round)) {
      const value = await once(peer, round)
      if (round >= warmup) {
        const list = samples[peer.id] ?? []
        list.push(value)
        samples[peer.id] = list
      }
    }
  }
  return samples
}

const check = (condition: boolean, what: string) => {
  if (!condition) throw new Error(`benchmark sanity check failed: ${what}`)
}

const tarOf = (name: string, data: Buffer): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const pack = TarStream.pack()
    const chunks: Array<Buffer> = []
    pack.on("data", (chunk: Buffer) => chunks.push(chunk))
    pack.once("end", () => resolve(Buffer.concat(chunks)))
    pack.once("error", reject)
    pack.entry({ name, size: data.length, mode: 0o644 }, data, (error) =>
      error ? reject(error) : pack.finalize()
    )
  })

const sizeLabel = (bytes: number) => (bytes >= MB ? `${bytes / MB} MB` : `${bytes / 1024} KB`)

/**
 * Host memory of a fresh process that holds `n` sandboxes of one peer: how
 * much its JS heap and external buffers grew (after GC) from just after a
 * warm-up (every child loads the same modules), and its RSS.
 */
const memoryOf = (peer: PeerId, target: Target, n: number): Promise<{ rssMB: number; growthMB: number }> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        "tsx",
        Path.join(import.meta.dirname, "memory-child.ts"),
        peer,
        target.engine,
        target.socketPath,
        target.image,
        target.label,
        String(n)
      ],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.on("data", (data: Buffer) => {
      out += data.toString()
    })
    child.once("error", reject)
    child.once("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? ""
      try {
        resolve(JSON.parse(line) as { rssMB: number; growthMB: number })
      } catch {
        reject(new Error(`memory child for ${peer} exited ${code}: ${out}`))
      }
    })
  })

/** Measures every row on one engine. */
export const measureEngine = async (
  target: Target,
  settings: Settings,
  log: (line: string) => void
): Promise<Array<RowResult>> => {
  const all = makePeers(target)
  const peers: Array<Peer> = [all.pocketdock, all.dockerode, all.cli, all.raw]
  const rows: Array<RowResult> = []

  // one container for every exec and file row: made by pocketdock, used by all
  const shared: Sandbox = await all.pocketdock.create()
  try {
    log("exec round trip")
    for (const peer of peers) check((await peer.exec(shared, "echo hi")) === "hi\n", `${peer.id} echo hi`)
    const exec = await interleaved(peers, settings.execIterations, settings.warmup, (peer) =>
      time(() => peer.exec(shared, "echo hi"))
    )
    rows.push({
      id: "exec",
      title: "exec round trip (`echo hi`)",
      unit: "ms",
      better: "lower",
      values: measures(exec),
      note: "same container; pocketdock = `Container.run`"
    })

    log(`${settings.concurrent} concurrent runs`)
    const concurrent = await interleaved(peers, settings.concurrentRounds, 0, (peer) =>
      time(() =>
        Promise.all(
          Array.from({ length: settings.concurrent }, (_, i) =>
            peer
              .exec(shared, `echo ${i}`)
              .then((out) => check(out === `${i}\n`, `${peer.id} concurrent ${i}`))
          )
        )
      )
    )
    rows.push({
      id: "concurrent",
      title: `${settings.concurrent} concurrent runs, one container (total)`,
      unit: "ms",
      better: "lower",
      values: measures(concurrent)
    })

    log(`streaming ${sizeLabel(settings.streamBytes)}`)
    const stream = await interleaved(peers, settings.streamIterations, 0, async (peer) => {
      let bytes = 0
      const ms = await time(async () => {
        bytes = await peer.drain(shared, `head -c ${settings.streamBytes} /dev/zero`)
      })
      check(bytes === settings.streamBytes, `${peer.id} streamed ${bytes} bytes`)
      return settings.streamBytes / MB / (ms / 1000)
    })
    rows.push({
      id: "stream",
      title: `streaming throughput (${sizeLabel(settings.streamBytes)} of stdout)`,
      unit: "MB/s",
      better: "higher",
      values: measures(stream),
      note: "pocketdock: `Container.runStream`; every peer decodes the output to text (UTF-8) chunk by chunk, as pocketdock's stream gives it"
    })

    await all.raw.exec(shared, "mkdir -p /tmp/pdbench")
    for (const [kind, bytes, iterations] of [
      ["small", settings.smallFile, settings.smallFileIterations],
      ["large", settings.largeFile, settings.largeFileIterations]
    ] as const) {
      log(`files ${sizeLabel(bytes)}`)
      const data = Buffer.alloc(bytes)
      for (let i = 0; i < bytes; i += 4096) data.writeUInt32LE((i * 2654435761) >>> 0, i)
      // peers that take a tar get it built beforehand; pocketdock's writeFile builds its own
      const tars = new Map<PeerId, Buffer>()
      for (const peer of peers) tars.set(peer.id, await tarOf(`f-${peer.id}`, data))
      const write = await interleaved(peers, iterations, 0, async (peer) => {
        const ms = await time(() =>
          peer.writeFile(shared, "/tmp/pdbench", `f-${peer.id}`, data, tars.get(peer.id) ?? data)
        )
        return bytes / MB / (ms / 1000)
      })
      // pocketdock alone, into its home: there a missing parent is made the sandbox user's, which on
      // Podman costs a look at the parent first (peers make no such promise, so they are not in this)
      const home: Array<number> = []
      for (let i = 0; i < iterations; i++) {
        const ms = await time(() =>
          all.pocketdock.writeFile(shared, "/home/sandbox/pdbench", "f", data, data)
        )
        home.push(bytes / MB / (ms / 1000))
      }
      for (const peer of peers) {
        const size = await peer.exec(shared, `wc -c < /tmp/pdbench/f-${peer.id}`)
        check(Number(size.trim()) === bytes, `${peer.id} wrote ${size.trim()} bytes`)
      }
      const read = await interleaved(peers, iterations, 0, async (peer) => {
        let got = 0
        const ms = await time(async () => {
          got = await peer.readFile(shared, `/tmp/pdbench/f-${peer.id}`)
        })
        check(got >= bytes, `${peer.id} read ${got} bytes`)
        return bytes / MB / (ms / 1000)
      })
      rows.push({
        id: `write-${kind}`,
        title: `file write ${sizeLabel(bytes)}`,
        unit: "MB/s",
        better: "higher",
        values: measures(write),
        note: `into /tmp/pdbench; pocketdock: \`Container.writeFile\`; peers' tar built beforehand; pocketdock into /home/sandbox/pdbench: ${measure(home).p50.toPrecision(3)} MB/s p50`
      })
      rows.push({
        id: `read-${kind}`,
        title: `file read ${sizeLabel(bytes)}`,
        unit: "MB/s",
        better: "higher",
        values: measures(read),
        note: "pocketdock: `Container.readFile`; dockerode and the floor take the file out of the tar (tar-stream) into one buffer, as readFile does; the CLI writes it to disk"
      })
    }

    log("session round trip")
    const pd = shared.pd
    if (pd === undefined) throw new Error("the shared sandbox is pocketdock's")
    const session = await pd.session()
    try {
      check((await session.sendAndWait("echo hi")).stdout === "hi\n", "session echo hi")
      // pocketdock's sendAndWait and run(), interleaved like peers (run() recorded under "raw")
      const sendAndWait: Peer = {
        ...all.pocketdock,
        exec: async (_sandbox, command) => (await session.sendAndWait(command)).stdout
      }
      const sessionSamples = await interleaved(
        [sendAndWait, { ...all.pocketdock, id: "raw" }],
        settings.execIterations,
        settings.warmup,
        (peer) => time(() => peer.exec(shared, "echo hi"))
      )
      const viaSession = measure(sessionSamples.pocketdock ?? [])
      const viaRun = measure(sessionSamples.raw ?? [])
      const speedup = viaRun.p50 / viaSession.p50
      rows.push({
        id: "session",
        title: "session round trip (`sendAndWait`) vs `run()`",
        unit: "ms",
        better: "lower",
        // peers have no sessions: their exec round trip (as in the exec row) is what a session replaces
        values: { ...measures(exec), pocketdock: viaSession },
        speedup,
        note: `pocketdock \`run()\` p50 ${viaRun.p50.toFixed(2)} ms → \`sendAndWait\` ${speedup.toFixed(1)}× faster (target ≥ 10×); peers: exec round trip`
      })
    } finally {
      await session.close()
    }
  } finally {
    await all.pocketdock.remove(shared)
  }

  log("create + start + first exec, warm pool, shutdown")
  const pool = await createPool({
    size: settings.poolSize,
    image: target.image,
    socketPath: target.socketPath
  })
  const coldPocketdock: Array<number> = []
  const warm: Array<number> = []
  try {
    const shutdowns: Samples = {}
    const create = await interleaved(peers, settings.createIterations, 0, async (peer) => {
      let sandbox: Sandbox | undefined
      const ms = await time(async () => {
        sandbox = await peer.create()
        check((await peer.exec(sandbox, "echo hi")) === "hi\n", `${peer.id} first exec`)
      })
      if (sandbox === undefined) throw new Error("unreachable")
      const made = sandbox
      const list = shutdowns[peer.id] ?? []
      list.push(await time(() => peer.remove(made)))
      shutdowns[peer.id] = list
      if (peer.id === "pocketdock") {
        coldPocketdock.push(ms)
        // the warm pool, measured in the same round
        await pool.warm()
        const taken: Array<Container> = []
        warm.push(
          await time(async () => {
            const sandbox = await pool.acquire()
            taken.push(sandbox)
            check((await sandbox.run("echo hi")).stdout === "hi\n", "pool first exec")
          })
        )
        for (const sandbox of taken) await sandbox.shutdown()
      }
      return ms
    })
    rows.push({
      id: "create",
      title: "create + start + first exec (cold)",
      unit: "ms",
      better: "lower",
      values: measures(create)
    })
    const cold = measure(coldPocketdock)
    const hot = measure(warm)
    rows.push({
      id: "pool",
      title: "warm pool: acquire + first exec (peers: cold create)",
      unit: "ms",
      better: "lower",
      values: { ...measures(create), pocketdock: hot },
      note: `pocketdock cold createNewContainer p50 ${cold.p50.toFixed(0)} ms → pool ${(cold.p50 / hot.p50).toFixed(1)}× faster`
    })
    rows.push({
      id: "shutdown",
      title: "shutdown (remove a running sandbox)",
      unit: "ms",
      better: "lower",
      values: measures(shutdowns)
    })
  } finally {
    await pool.shutdown()
  }

  log(`host memory with ${settings.memorySandboxes} sandboxes`)
  const memory: Partial<Record<PeerId, Measure>> = {}
  const totals: Array<string> = []
  for (const peer of ["pocketdock", "dockerode", "raw"] as const) {
    const { rssMB, growthMB } = await memoryOf(peer, target, settings.memorySandboxes)
    // floored at 0.01 MB so that a ratio stays finite
    const growth = Math.max(growthMB, 0.01)
    memory[peer] = { p50: growth, p95: growth, n: 1 }
    totals.push(`${PEER_LABELS[peer]} ${rssMB.toFixed(0)}`)
  }
  rows.push({
    id: "memory",
    title: `host memory: heap + buffers held for ${settings.memorySandboxes} sandboxes`,
    unit: "MB",
    better: "lower",
    values: memory,
    note: `fresh process per peer (same modules loaded), JS heap + external growth after GC, after a warm-up of 4 sandboxes created, used and removed; pocketdock holds a lease connection per sandbox; total RSS MB: ${totals.join(", ")}; the CLI holds nothing in-process`
  })

  const order: ReadonlyArray<string> = ROWS
  rows.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))
  for (const row of rows) log(`  ${row.id}: ${JSON.stringify(row.values)}`)
  return rows
}

export { PEER_LABELS }
