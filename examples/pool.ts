/**
 * A warm pool: sandboxes started ahead of time, each handed out once.
 *
 *   npx tsx examples/pool.ts
 */
import { createPool } from "pocketdock"

await using pool = await createPool({ size: 2, image: "pocketdock/busybox" })

for (const task of ["echo first", "echo second", "echo third"]) {
  const started = performance.now()
  await using sandbox = await pool.acquire()
  const acquired = performance.now() - started
  const result = await sandbox.run(`${task}; hostname`)
  console.log(`${result.stdout.trim().replace("\n", " on ")} (acquired in ${acquired.toFixed(1)} ms)`)
}
console.log(await pool.stats())
