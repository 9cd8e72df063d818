/**
 * Streaming output as it is written, and a process in the background:
 * its ring buffer, a signal, its result, and the sandbox's callbacks.
 *
 *   npx tsx examples/streaming-and-background.ts
 */
import { createNewContainer } from "pocketdock"

const socketPath = process.env.POCKETDOCK_SOCKET

{
  await using sandbox = await createNewContainer({ image: "pocketdock/busybox", socketPath })

  // 1. Streaming: chunks arrive while the command runs.
  const build = sandbox.run(
    "for step in fetch compile link; do echo $step; sleep 0.5; done; echo warning: demo >&2",
    {
      stream: true
    }
  )
  for await (const chunk of build) process.stdout.write(`[${chunk.stream}] ${chunk.data}`)
  console.log(`build finished: exit ${build.result.exitCode} in ${build.result.durationMs.toFixed(0)} ms`)

  // Leaving the loop early kills the command inside the container.
  const endless = sandbox.run("yes tick", { stream: true })
  for await (const chunk of endless) {
    console.log(`first chunk of an endless command: ${chunk.data.length} chars`)
    break
  }
  console.log(`endless command stopped: exit ${endless.result.exitCode}`)

  // 2. Background: callbacks hear every detached process of the sandbox.
  sandbox.onStdout((_, data) => process.stdout.write(`(callback) ${data}`))
  sandbox.onExit((_, exitCode) => console.log(`(callback) a process exited with ${exitCode}`))

  const worker = await sandbox.run(
    "trap 'echo cleaning up; exit 0' TERM; i=0; while true; do i=$((i+1)); echo beat $i; sleep 0.3; done",
    { detach: true, bufferSize: 64 * 1024 }
  )
  await new Promise((resolve) => setTimeout(resolve, 1000))
  console.log(`running: ${await worker.isRunning()}, buffered: ${worker.bufferSize} bytes`)
  console.log(`peek: ${JSON.stringify((await worker.peek()).stdout)}`)
  await worker.kill("TERM")
  const result = await worker.wait({ timeout: 5 })
  console.log(
    `worker: exit ${result.exitCode}, last output ${JSON.stringify(result.stdout.split("\n").at(-2))}`
  )

  // A process still running when the sandbox shuts down is killed with it.
  await sandbox.run("sleep 1000", { detach: true })
}
