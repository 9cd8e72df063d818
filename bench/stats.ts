/** Small statistics and timing helpers for the benchmarks. */

export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  const a = sorted[low] ?? Number.NaN
  const b = sorted[high] ?? Number.NaN
  return a + (b - a) * (rank - low)
}

/** Milliseconds taken by `f`. */
export const time = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

/** A new order of `items` each round, so no peer always runs first (or last). */
export const rotate = <A>(items: ReadonlyArray<A>, round: number): Array<A> => {
  const k = round % Math.max(items.length, 1)
  return [...items.slice(k), ...items.slice(0, k)]
}

export const MB = 1024 * 1024
