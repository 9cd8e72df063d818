/**
 * Files in and out of a sandbox, then a look at it: info, reboot, snapshot.
 *
 *   npx tsx examples/files-and-info.ts
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import { createNewContainer, PathNotFound } from "pocketdock"
import { Engine, PocketDock } from "pocketdock/effect"

const socketPath = process.env.POCKETDOCK_SOCKET
const image = process.env.POCKETDOCK_IMAGE ?? "pocketdock/minimal-python"
const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pocketdock-example-"))

try {
  await using sandbox = await createNewContainer({ image, memLimit: "256m", socketPath })

  await sandbox.writeFile("/home/sandbox/notes/hello.txt", "hello from the host\n")
  await sandbox.writeFile("/home/sandbox/notes/bytes.bin", new Uint8Array([0, 1, 2, 255]))
  console.log("listFiles:", await sandbox.listFiles("/home/sandbox/notes"))
  console.log(
    "readFile:",
    new TextDecoder().decode(await sandbox.readFile("/home/sandbox/notes/hello.txt")).trim()
  )

  // a host tree in, changed inside, and back out
  Fs.mkdirSync(Path.join(work, "project", "src"), { recursive: true })
  Fs.writeFileSync(Path.join(work, "project", "src", "main.sh"), "echo built > out.txt\n", { mode: 0o755 })
  await sandbox.push(Path.join(work, "project"), "/home/sandbox/project")
  await sandbox.run("cd /home/sandbox/project && sh src/main.sh")
  await sandbox.pull("/home/sandbox/project", Path.join(work, "result"))
  console.log(
    "pulled:",
    Fs.readdirSync(Path.join(work, "result")).sort(),
    "->",
    Fs.readFileSync(Path.join(work, "result", "out.txt"), "utf8").trim()
  )

  try {
    await sandbox.readFile("/home/sandbox/missing.txt")
  } catch (error) {
    if (error instanceof PathNotFound) console.log(`typed error: ${error._tag} ${error.path}`)
    else throw error
  }

  const info = await sandbox.info()
  console.log(
    `info: ${info.status}, memory ${info.memoryUsage} of ${info.memoryLimit} (${info.memoryPercent}%),`,
    `cpu ${info.cpuPercent}%, ${info.pids} pids, ip ${info.ipAddress || "-"}`
  )
  for (const process of info.processes) console.log(`  ${process.PID} ${process.USER} ${process.COMMAND}`)

  await sandbox.reboot()
  console.log("after reboot the files are still there:", await sandbox.listFiles("/home/sandbox/notes"))

  const snapshotName = `pocketdock-example-snap:${Date.now()}`
  const imageId = await sandbox.snapshot(snapshotName)
  console.log(`snapshot ${snapshotName} -> ${imageId.slice(0, 19)}`)
  {
    await using copy = await createNewContainer({ image: snapshotName, socketPath })
    console.log("the copy has:", await copy.listFiles("/home/sandbox/notes"))
  }
  // images are not the facade's business yet: the Effect API's Engine removes it
  await Effect.runPromise(
    Effect.flatMap(Engine, (engine) => engine.removeImage(snapshotName, true)).pipe(
      Effect.provide(PocketDock.layer({ socketPath }))
    )
  )

  const before = sandbox.containerId
  await sandbox.reboot({ fresh: true })
  console.log(
    `fresh reboot: ${before.slice(0, 12)} -> ${sandbox.containerId.slice(0, 12)},`,
    "home:",
    await sandbox.listFiles()
  )
} finally {
  Fs.rmSync(work, { recursive: true, force: true })
}
