/**
 * The one request that @effect/platform's HttpClient cannot make: an exec
 * start that upgrades the connection to a raw bidirectional stream (stdin in,
 * framed output back). Node's own `http` does the upgrade handshake.
 */
import * as Http from "node:http"
import type * as Net from "node:net"
import { Effect } from "effect"

export interface Hijacked {
  readonly socket: Net.Socket
  /** Bytes that arrived with the 101 answer, before the socket was handed over. */
  readonly head: Buffer
}

export type HijackFailure =
  | { readonly _tag: "Status"; readonly status: number; readonly body: string }
  | { readonly _tag: "Transport"; readonly error: Error }

/** POSTs `body` as JSON to `path` with `Upgrade: tcp`; the raw socket once the engine says 101. */
export const hijack = (
  socketPath: string,
  path: string,
  body: unknown
): Effect.Effect<Hijacked, HijackFailure> =>
  Effect.async<Hijacked, HijackFailure>((resume) => {
    const payload = JSON.stringify(body)
    const request = Http.request({
      socketPath,
      path,
      method: "POST",
      agent: false,
      headers: {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(payload),
        Connection: "Upgrade",
        Upgrade: "tcp"
      }
    })
    let settled = false
    let upgraded: Net.Socket | undefined
    request.once("upgrade", (_response, socket, head) => {
      settled = true
      upgraded = socket
      socket.setNoDelay(true)
      // errors surface through whoever reads the socket; unread, they must not crash the process
      socket.on("error", () => {})
      resume(Effect.succeed({ socket, head }))
    })
    request.once("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.once("end", () => {
        settled = true
        resume(
          Effect.fail({
            _tag: "Status",
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8")
          })
        )
      })
    })
    request.once("error", (error) => {
      if (settled) return
      settled = true
      resume(Effect.fail({ _tag: "Transport", error }))
    })
    request.end(payload)
    // runs only when the caller is interrupted: nothing may stay open then
    return Effect.sync(() => {
      request.destroy()
      upgraded?.destroy()
    })
  })
