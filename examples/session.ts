/**
 * A persistent shell session: state carries over between commands, a runaway
 * command is interrupted without losing the shell, and `send` queues work
 * whose output `read()` collects later.
 *
 *   npx tsx examples/session.ts
 */
import { createNewContainer, SessionClosed } from "pocketdock"

const socketPath = process.env.POCKETDOCK_SOCKET

await using sandbox = await createNewContainer({ image: "pocketdock/busybox", socketPath })
{
  await using shell = await sandbox.session()

  await shell.sendAndWait('cd /tmp && export GREETING=hello && shout() { echo "$1!" | tr a-z A-Z; }')
  const state = await shell.sendAndWait('echo "$GREETING from $(pwd)"; shout "$GREETING"')
  console.log(state.stdout.trimEnd()) // hello from /tmp \n HELLO!

  const slow = await shell.sendAndWait("echo working; sleep 60", { timeout: 1 })
  console.log(`timedOut=${slow.timedOut} output=${JSON.stringify(slow.stdout)}`)
  console.log(`still in ${(await shell.sendAndWait("pwd")).stdout.trim()}`)

  shell.onOutput((data, stream) => process.stdout.write(`[${stream}] ${data}`))
  await shell.send("echo queued one")
  await shell.send("echo queued two >&2")
  await shell.sendAndWait("true") // commands run in order: both sends are done now
  console.log(`read() -> ${JSON.stringify(shell.read())}`)

  const exited = await shell.sendAndWait("exit 3").catch((error: unknown) => error)
  if (exited instanceof SessionClosed) console.log(`${exited.reason}, exit code ${exited.exitCode}`)
}
console.log("session closed; the sandbox is removed next")
