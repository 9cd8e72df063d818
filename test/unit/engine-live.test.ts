/**
 * EngineLive against a fake engine on a Unix socket: answers no real engine
 * gives on demand (garbage JSON, odd statuses) must become typed errors.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { encodeFrame } from "../../src/internal/frames.js"
import * as EngineLive from "../../src/layers/EngineLive.js"
import { Engine } from "../../src/services/Engine.js"

type Handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

/** A fake engine on a temporary socket, closed with the scope. */
const fakeEngine = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.async<{ socketPath: string; server: Http.Server }>((resume) => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-fake-"))
      const socketPath = Path.join(dir, "engine.sock")
      const server = Http.createServer(handler)
      server.listen(socketPath, () => resume(Effect.succeed({ socketPath, server })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

const podmanVersion = JSON.stringify({
  Version: "4.3.1",
  ApiVersion: "1.41",
  Components: [{ Name: "Podman Engine" }]
})

const withEngine = <A, E>(socketPath: string, body: (engine: Engine) => Effect.Effect<A, E>) =>
  Effect.flatMap(Engine, body).pipe(Effect.provide(EngineLive.layerFromSocket(socketPath)))

describe("EngineLive against a fake engine", () => {
  it.scopedLive("a /version answer that does not decode is SocketCommunicationError", () =>
    Effect.gen(function* () {
      const { socketPath } = yield* fakeEngine((_req, res) => {
        res.setHeader("Content-Type", "application/json")
        res.end(JSON.stringify({ nope: true }))
      })
      const error = yield* Effect.flip(withEngine(socketPath, (engine) => engine.info))
      expect(error._tag).toBe("SocketCommunicationError")
    })
  )

  it.scopedLive("identifies Podman and negotiates the API version", () =>
    Effect.gen(function* () {
      const { socketPath } = yield* fakeEngine((_req, res) => res.end(podmanVersion))
      const info = yield* withEngine(socketPath, (engine) => engine.info)
      expect(info).toEqual({ kind: "podman", version: "4.3.1", apiVersion: "1.41", socketPath })
    })
  )

  it.scopedLive("a container inspect with missing fields is SocketCommunicationError, not undefined", () =>
    Effect.gen(function* () {
      const { socketPath } = yield* fakeEngine((req, res) => {
        res.end(req.url === "/version" ? podmanVersion : JSON.stringify({ Id: "abc", State: "weird" }))
      })
      const error = yield* Effect.flip(withEngine(socketPath, (engine) => engine.inspectContainer("abc")))
      expect(error._tag).toBe("SocketCommunicationError")
    })
  )

  it.scopedLive("engine refusals map to typed errors", () =>
    Effect.gen(function* () {
      const { socketPath } = yield* fakeEngine((req, res) => {
        if (req.url === "/version") return res.end(podmanVersion)
        res.statusCode = req.url?.includes("/start") ? 500 : 404
        res.end(JSON.stringify({ message: "container state improper", cause: "x" }))
      })
      const notFound = yield* Effect.flip(withEngine(socketPath, (engine) => engine.inspectContainer("abc")))
      expect(notFound._tag).toBe("ContainerNotFound")
      const exec = yield* Effect.flip(withEngine(socketPath, (engine) => engine.execStart("e1", () => {})))
      expect(exec._tag).toBe("ContainerNotRunning")
    })
  )

  it.scopedLive("a malformed exec stream is SocketCommunicationError", () =>
    Effect.gen(function* () {
      const { socketPath } = yield* fakeEngine((req, res) => {
        if (req.url === "/version") return res.end(podmanVersion)
        res.setHeader("Content-Type", "application/vnd.docker.raw-stream")
        res.end(Buffer.from([9, 9, 9, 9, 0, 0, 0, 1, 65]))
      })
      const error = yield* Effect.flip(withEngine(socketPath, (engine) => engine.execStart("e1", () => {})))
      expect(error._tag).toBe("SocketCommunicationError")
    })
  )

  it.scopedLive("ids that could change the request never reach the engine", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const { socketPath } = yield* fakeEngine((req, res) => {
        seen.push(req.url ?? "")
        res.end(podmanVersion)
      })
      const error = yield* Effect.flip(withEngine(socketPath, (engine) => engine.inspectContainer("../x?y")))
      expect(error._tag).toBe("ContainerNotFound")
      expect(seen.some((url) => url.includes("x?y") || url.includes(".."))).toBe(false)
    })
  )

  it.scopedLive("exec output closed between frames has ended; closed inside a frame it is an error", () =>
    Effect.gen(function* () {
      const frame = encodeFrame("stdout", new TextEncoder().encode("hello\n"))
      const { socketPath } = yield* fakeEngine((req, res) => {
        if (req.url === "/version") return res.end(podmanVersion)
        // as the engines answer an exec start: a raw stream until the connection closes
        req.socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n")
        req.socket.write(req.url?.includes("whole") ? frame : frame.subarray(0, 10))
        setTimeout(() => req.socket.destroy(), 20)
      })
      const seen: Array<string> = []
      yield* withEngine(socketPath, (engine) =>
        engine.execStart("whole", (f) => seen.push(new TextDecoder().decode(f.data)))
      )
      expect(seen.join("")).toBe("hello\n")
      const cut = yield* Effect.flip(withEngine(socketPath, (engine) => engine.execStart("cut", () => {})))
      expect(cut._tag).toBe("SocketCommunicationError")
    })
  )

  it.scopedLive("a kept-alive connection the engine closed is retried once, except for a create", () =>
    Effect.gen(function* () {
      const served = new Map<unknown, number>()
      const paths: Array<string> = []
      const { socketPath } = yield* fakeEngine((req, res) => {
        paths.push(`${req.method} ${req.url}`)
        const count = (served.get(req.socket) ?? 0) + 1
        served.set(req.socket, count)
        // the third request on a connection finds it closed, as after an idle timeout
        if (count === 3) return req.socket.destroy()
        if (req.url === "/version") return res.end(podmanVersion)
        res.statusCode = req.method === "POST" ? 201 : 200
        res.end(
          JSON.stringify(req.method === "POST" ? { Id: "c1" } : { ID: "e1", Running: false, ExitCode: 3 })
        )
      })
      const inspected = yield* withEngine(socketPath, (engine) =>
        Effect.zipRight(engine.execInspect("e1"), engine.execInspect("e1"))
      )
      expect(inspected.ExitCode).toBe(3)
      // /version, inspect, inspect (closed), inspect again on a new connection
      expect(paths.filter((path) => path.startsWith("GET /v1.41/exec")).length).toBe(3)
      const spec = { image: "i", cmd: ["true"], labels: {}, network: true, autoRemove: false, init: false }
      const created = yield* Effect.flip(
        withEngine(socketPath, (engine) =>
          Effect.zipRight(
            engine.createContainer({ ...spec, name: "n1" }),
            engine.createContainer({ ...spec, name: "n2" })
          )
        )
      )
      expect(created._tag).toBe("SocketCommunicationError")
      expect(paths.filter((path) => path.includes("name=n2")).length).toBe(1)
    })
  )

  it.scopedLive(
    "a HEAD answered without Content-Length, as both engines answer it, keeps its connection",
    () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-fake-"))
        const socketPath = Path.join(dir, "engine.sock")
        const stat = Buffer.from(
          JSON.stringify({ name: "tmp", size: 4096, mode: 2 ** 31 + 0o1777, mtime: "2026-01-01T00:00:00Z" })
        ).toString("base64")
        const headConnections = new Set<Net.Socket>()
        const requests: Array<string> = []
        // raw HTTP: Node's own server would add a Content-Length the engines leave out
        const server = Net.createServer((socket) => {
          let pending = ""
          socket.on("data", (chunk) => {
            pending += chunk.toString("latin1")
            for (let end = pending.indexOf("\r\n\r\n"); end !== -1; end = pending.indexOf("\r\n\r\n")) {
              const head = pending.slice(0, end)
              pending = pending.slice(end + 4)
              const requestLine = head.split("\r\n")[0] ?? ""
              requests.push(requestLine)
              if (requestLine.startsWith("HEAD")) headConnections.add(socket)
              socket.write(
                requestLine.startsWith("HEAD")
                  ? `HTTP/1.1 200 OK\r\nX-Docker-Container-Path-Stat: ${stat}\r\n\r\n`
                  : `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(podmanVersion)}\r\n\r\n${podmanVersion}`
              )
            }
          })
        })
        yield* Effect.acquireRelease(
          Effect.async<void>((resume) => {
            server.listen(socketPath, () => resume(Effect.void))
          }),
          () =>
            Effect.async<void>((resume) => {
              server.close(() => resume(Effect.void))
            })
        )
        const stats = yield* withEngine(socketPath, (engine) =>
          Effect.all([
            engine.statPath("c1", "/tmp"),
            engine.statPath("c1", "/tmp"),
            engine.statPath("c1", "/tmp")
          ])
        )
        expect(stats.map((s) => s?.name)).toEqual(["tmp", "tmp", "tmp"])
        expect(requests.filter((line) => line.startsWith("HEAD")).length).toBe(3)
        // one after another, the three HEADs go on one connection
        expect(headConnections.size).toBe(1)
      })
  )

  it.scopedLive(
    "a container that stops under its removal is removed again; a removal already under way is waited for",
    () =>
      Effect.gen(function* () {
        const requests: Array<string> = []
        let deletes = 0
        let inspects = 0
        const { socketPath } = yield* fakeEngine((req, res) => {
          if (req.url === "/version") return res.end(podmanVersion)
          requests.push(`${req.method} ${req.url}`)
          if (req.method === "DELETE" && req.url?.startsWith("/v1.41/containers/stops")) {
            deletes++
            res.statusCode = deletes === 1 ? 500 : 204
            return res.end(
              deletes === 1
                ? JSON.stringify({
                    cause: "container state improper",
                    message:
                      "cannot remove container stops as it could not be stopped: sending SIGKILL to container stops: container state improper: stopped"
                  })
                : ""
            )
          }
          if (req.method === "DELETE") {
            res.statusCode = 409
            return res.end(JSON.stringify({ message: "removal of container going is already in progress" }))
          }
          // the container under removal is there for two more looks
          inspects++
          res.statusCode = inspects <= 2 ? 200 : 404
          res.end("{}")
        })
        yield* withEngine(socketPath, (engine) => engine.removeContainer("stops"))
        expect(deletes).toBe(2)
        yield* withEngine(socketPath, (engine) => engine.removeContainer("going"))
        expect(requests.filter((line) => line.startsWith("GET /v1.41/containers/going/json")).length).toBe(3)
      })
  )

  it.live("no socket that answers is EngineNotRunning with a hint", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.flatMap(Engine, (engine) => engine.info).pipe(
          Effect.provide(EngineLive.layer({ candidates: ["/tmp/pd-none-1.sock", "/tmp/pd-none-2.sock"] }))
        )
      )
      expect(error._tag).toBe("EngineNotRunning")
      if (error._tag === "EngineNotRunning") {
        expect(error.searched).toEqual(["/tmp/pd-none-1.sock", "/tmp/pd-none-2.sock"])
        expect(error.hint).toMatch(/podman|docker/i)
      }
    })
  )
})
