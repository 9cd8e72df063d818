/**
 * Finding the engine's socket: the seed's order, and a path counts only if it
 * accepts a connection.
 */
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"

/** Candidate socket paths after an explicit one and `POCKETDOCK_SOCKET`, in order. */
export const defaultSocketCandidates = (env: NodeJS.ProcessEnv = process.env): Array<string> => {
  const home = env.HOME ?? Os.homedir()
  const candidates: Array<string> = []
  if (env.XDG_RUNTIME_DIR) candidates.push(Path.join(env.XDG_RUNTIME_DIR, "podman", "podman.sock"))
  candidates.push("/run/podman/podman.sock", "/var/run/docker.sock")
  // macOS: Podman machine, then Docker Desktop
  candidates.push(
    Path.join(home, ".local/share/containers/podman/machine/podman.sock"),
    Path.join(home, ".local/share/containers/podman/machine/qemu/podman.sock"),
    Path.join(home, ".docker/run/docker.sock")
  )
  return candidates
}

/** Why a socket path did not accept a connection, or undefined when it did. */
export const probeSocket = (socketPath: string, timeoutMs = 1000): Effect.Effect<string | undefined> =>
  Effect.async<string | undefined>((resume) => {
    const socket = Net.connect({ path: socketPath })
    const timer = setTimeout(() => {
      socket.destroy()
      resume(Effect.succeed(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once("connect", () => {
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(undefined))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resume(Effect.succeed(error.code === "ENOENT" ? "no such socket" : error.message))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

/** How to get an engine running, for this platform. */
export const engineHint = (platform: NodeJS.Platform = process.platform): string =>
  platform === "darwin"
    ? "Start one: `podman machine start`, or open Docker Desktop; or set POCKETDOCK_SOCKET."
    : "Start one: `podman system service --time=0 unix:///run/podman/podman.sock &` (Podman) or `dockerd &` " +
      "(Docker), or `systemctl start podman.socket`; rootless: `systemctl --user start podman.socket`; " +
      "or set POCKETDOCK_SOCKET."
