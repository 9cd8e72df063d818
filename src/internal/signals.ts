/**
 * Cleanup of the facade's ephemeral sandboxes when the host process gets
 * SIGINT or SIGTERM.
 *
 * Handlers are installed when the first sandbox is created through the
 * facade, and only for a signal that has no listener yet: a program with its
 * own handler keeps full control (it may call `shutdownAllSandboxes`). On the
 * signal, the handlers are removed, every live ephemeral sandbox is removed
 * (bounded), and the signal is raised again so that it has its default
 * effect: the process ends as killed by that signal. Persistent sandboxes
 * are left alone. Should anyone add a listener meanwhile, the signal is not
 * raised again: that listener decides.
 */

/** What the facade registers: an ephemeral sandbox's forced removal. */
export type Cleanup = () => Promise<void>

const live = new Set<Cleanup>()
const installed = new Map<NodeJS.Signals, () => void>()

/** How long the removal of all sandboxes may take before the signal goes through anyway. */
export const SIGNAL_CLEANUP_MS = 5000

/** Removes every tracked sandbox, concurrently, within `timeoutMs`. */
export const shutdownAll = async (timeoutMs = SIGNAL_CLEANUP_MS): Promise<void> => {
  const all = [...live]
  live.clear()
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.allSettled(all.map((cleanup) => cleanup())),
    new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs)
    })
  ])
  clearTimeout(timer)
}

const onSignal = (signal: NodeJS.Signals) => () => {
  for (const [sig, handler] of installed) process.removeListener(sig, handler)
  installed.clear()
  void shutdownAll().then(() => {
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  })
}

const install = () => {
  if (installed.size > 0) return
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    if (process.listenerCount(signal) > 0) continue
    const handler = onSignal(signal)
    installed.set(signal, handler)
    process.on(signal, handler)
  }
}

let everInstalled = false

/** Tracks an ephemeral sandbox until `untrack`; installs the handlers on first use. */
export const track = (cleanup: Cleanup): void => {
  live.add(cleanup)
  if (!everInstalled) {
    everInstalled = true
    install()
  }
}

export const untrack = (cleanup: Cleanup): void => {
  live.delete(cleanup)
}
