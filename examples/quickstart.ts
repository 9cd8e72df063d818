/**
 * A first sandbox session: create a sandbox, run commands in it, see their
 * output, and let `await using` remove it.
 *
 *   npm run example
 */
import { createNewContainer, ImageNotFound, PocketDockError } from "pocketdock"

const socketPath = process.env.POCKETDOCK_SOCKET

{
  await using sandbox = await createNewContainer({ memLimit: "256m", cpuPercent: 50, socketPath })
  console.log(`sandbox ${sandbox.name} (${sandbox.containerId.slice(0, 12)}) on ${sandbox.socketPath}`)

  const hello = await sandbox.run("echo hello from $(hostname); uname -sr")
  console.log(
    `$ echo hello ...\n${hello.stdout}  exit ${hello.exitCode} in ${hello.durationMs.toFixed(0)} ms`
  )

  const python = await sandbox.run("import sys; print(sys.version.split()[0], sum(range(10)))", {
    lang: "python"
  })
  console.log(`python: ${python.stdout.trim()}`)

  const failing = await sandbox.run("ls /nope")
  console.log(`ls /nope -> ok=${failing.ok} exit=${failing.exitCode} stderr=${failing.stderr.trim()}`)

  const slow = await sandbox.run("sleep 10", { timeout: 1 })
  console.log(`sleep 10 with timeout 1 s -> timedOut=${slow.timedOut}`)
}
console.log("sandbox removed")

try {
  await createNewContainer({ image: "pocketdock/does-not-exist", socketPath })
} catch (error) {
  if (error instanceof ImageNotFound && error instanceof PocketDockError) {
    console.log(`typed error: ${error._tag}: ${error.message}`)
  } else throw error
}
