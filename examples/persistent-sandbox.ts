/**
 * A persistent sandbox in a project: create it, leave files in it, stop it,
 * resume it later (here: a moment later, in the same process; it works the
 * same from another process or after a reboot of this one), find the files,
 * then destroy it.
 *
 *   npx tsx examples/persistent-sandbox.ts
 */
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import {
  createNewContainer,
  destroyContainer,
  doctor,
  initProject,
  listContainers,
  resumeContainer
} from "pocketdock"

const socketPath = process.env.POCKETDOCK_SOCKET
const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pocketdock-example-"))
const root = await initProject(dir, { projectName: "example" })
const name = `example-${process.pid}`

try {
  const sandbox = await createNewContainer({ name, persist: true, projectRoot: root, socketPath })
  console.log(`created ${sandbox.name} in project ${sandbox.project}; instance files in ${sandbox.dataPath}`)
  await sandbox.run("echo 'state that survives' > /home/sandbox/notes.txt")
  await sandbox.shutdown() // persistent: stopped, not removed

  const [item] = await listContainers({ project: "example", socketPath })
  console.log(`listed: ${item?.name} status=${item?.status} persist=${item?.persist}`)

  const resumed = await resumeContainer(name, { socketPath })
  console.log(`resumed; notes.txt: ${(await resumed.run("cat /home/sandbox/notes.txt")).stdout.trim()}`)
  await resumed.shutdown() // stops it again

  const history = await Fs.readFile(Path.join(sandbox.dataPath, "history.jsonl"), "utf8")
  console.log(`history.jsonl has ${history.trim().split("\n").length} commands`)
  console.log("doctor:", await doctor({ projectRoot: root, socketPath }))
} finally {
  await destroyContainer(name, { socketPath }).catch(() => undefined)
  await Fs.rm(dir, { recursive: true, force: true })
}
