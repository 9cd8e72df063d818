/**
 * `execStream` against a fake engine: how output is cut into chunks, and
 * that output read before a broken connection reaches the consumer before
 * the error does.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Stream } from "effect"
import { encodeFrame } from "../../src/internal/frames.js"
import { execStream } from "../../src/internal/stream.js"
import * as EngineLive from "../../src/layers/EngineLive.js"
import type { ExecResult, StreamChunk } from "../../src/schemas/ExecResult.js"
import { Engine } from "../../src/services/Engine.js"

const podmanVersion = JSON.stringify({
  Version: "4.3.1",
  ApiVersion: "1.41",
  Components: [{ Name: "Podman Engine" }]
})

const text = (value: string) => new TextEncoder().encode(value)

/**
 * A fake engine whose exec start answers with `frames` in one write, then
 * closes the connection (or, with `cut`, breaks it inside a frame header).
 */
const fakeExecEngine = (frames: ReadonlyArray<Uint8Array>, cut: boolean) =>
  Effect.acquireRelease(
    Effect.async<{ socketPath: string; server: Http.Server }>((resume) => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-fake-"))
      const socketPath = Path.join(dir, "engine.sock")
      const server = Http.createServer((req, res) => {
        if (req.url === "/version") return res.end(podmanVersion)
        if (req.url?.endsWith("/start")) {
          req.socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n")
          const last = encodeFrame("stdout", text("never"))
          req.socket.write(Buffer.concat([...frames, ...(cut ? [last.subarray(0, 5)] : [])]))
          setTimeout(() => req.socket.destroy(), 20)
          return
        }
        res.setHeader("Content-Type", "application/json")
        res.end(JSON.stringify({ ID: "e1", Running: false, ExitCode: 0, Pid: 0 }))
      })
      server.listen(socketPath, () => resume(Effect.succeed({ socketPath, server })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

const streamed = (socketPath: string, result?: Deferred.Deferred<ExecResult>) =>
  Effect.gen(function* () {
    const engine = yield* Engine
    const chunks: Array<StreamChunk> = []
    const end = yield* Stream.runForEach(
      execStream(engine, "c1", "e1", { timeoutSeconds: 30, maxOutput: 1 << 20, result }),
      (chunk) => Effect.sync(() => void chunks.push(chunk))
    ).pipe(Effect.either)
    return { chunks, end }
  }).pipe(Effect.provide(EngineLive.layerFromSocket(socketPath)))

const pidReport = encodeFrame("stderr", text("\u001epocketdock-pid:42\n"))

describe("execStream", () => {
  it.scopedLive(
    "what one read brings of one stream is one chunk, in order, and the result is the same text",
    () =>
      Effect.gen(function* () {
        const frames = [
          pidReport,
          ...["a", "b", "c"].map((s) => encodeFrame("stdout", text(s))),
          encodeFrame("stderr", text("warn")),
          encodeFrame("stdout", text("d"))
        ]
        const { socketPath } = yield* fakeExecEngine(frames, false)
        const result = yield* Deferred.make<ExecResult>()
        const { chunks, end } = yield* streamed(socketPath, result)
        expect(end._tag).toBe("Right")
        expect(chunks.map((c) => [c.stream, c.data])).toEqual([
          ["stdout", "abc"],
          ["stderr", "warn"],
          ["stdout", "d"]
        ])
        const final = yield* Deferred.await(result)
        expect([final.stdout, final.stderr, final.exitCode]).toEqual(["abcd", "warn", 0])
      })
  )

  it.scopedLive("output read before the connection broke comes before the error", () =>
    Effect.gen(function* () {
      const frames = [pidReport, encodeFrame("stdout", text("before"))]
      const { socketPath } = yield* fakeExecEngine(frames, true)
      const { chunks, end } = yield* streamed(socketPath)
      expect(chunks.map((c) => c.data).join("")).toBe("before")
      expect(end._tag === "Left" ? end.left._tag : "no error").toBe("SocketCommunicationError")
    })
  )
})
