/**
 * A fresh process that, after a warm-up (4 sandboxes created, used and
 * removed), creates `n` sandboxes with one peer, holds them, and prints its
 * RSS growth (after GC) as JSON: `node --expose-gc --import tsx
 * bench/memory-child.ts <peer> <engine> <socket> <image> <label> <n>`.
 */
import { makePeers, type PeerId, type Sandbox } from "./peers.js"
import { MB } from "./stats.js"

const [peerId, engine, socketPath, image, label, count] = process.argv.slice(2)
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined)

const main = async () => {
  if (engine !== "podman" && engine !== "docker") throw new Error(`engine ${engine}`)
  const peers = makePeers({ engine, socketPath: socketPath ?? "", image: image ?? "", label: label ?? "" })
  const peer = peers[peerId as PeerId]
  const n = Number(count)
  const held: Array<Sandbox> = []
  // a warm-up, as in every other row: the client's code is loaded and compiled,
  // its connections made, so that the growth below is what the sandboxes hold
  const warm = await Promise.all(Array.from({ length: 4 }, () => peer.create()))
  await Promise.all(warm.map((sandbox) => peer.exec(sandbox, "true")))
  await Promise.all(warm.map((sandbox) => peer.remove(sandbox)))
  gc()
  await new Promise((resolve) => setTimeout(resolve, 200))
  gc()
  const baseline = process.memoryUsage()
  try {
    for (let i = 0; i < n; i += 4) {
      held.push(...(await Promise.all(Array.from({ length: Math.min(4, n - i) }, () => peer.create()))))
    }
    // each has been used once, as a holder of sandboxes would
    await Promise.all(held.map((sandbox) => peer.exec(sandbox, "true")))
    gc()
    await new Promise((resolve) => setTimeout(resolve, 200))
    gc()
    const now = process.memoryUsage()
    // what the client holds: its JS heap and the buffers outside it (RSS moves by megabytes as the
    // allocator and GC give memory back, whatever the client holds)
    const inUse = (usage: NodeJS.MemoryUsage) => usage.heapUsed + usage.external
    console.log(
      JSON.stringify({
        rssMB: now.rss / MB,
        rssGrowthMB: (now.rss - baseline.rss) / MB,
        growthMB: (inUse(now) - inUse(baseline)) / MB,
        sandboxes: held.length
      })
    )
  } finally {
    for (let i = 0; i < held.length; i += 8) {
      await Promise.all(held.slice(i, i + 8).map((sandbox) => peer.remove(sandbox).catch(() => undefined)))
    }
  }
  process.exit(0)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
