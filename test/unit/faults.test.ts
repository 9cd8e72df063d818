/**
 * Bad input and bad answers, against a fake engine on a Unix socket: invalid
 * options never reach a URL, and whatever JSON the engine sends becomes a
 * value or a typed error, never a crash or a hang. Plus the safe defaults of
 * the engine spec.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { PassThrough } from "node:stream"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, ManagedRuntime, Stream } from "effect"
import fc from "fast-check"
import { DefaultUsers, firstTarFile, hasUser } from "../../src/internal/defaultUser.js"
import { DEFAULT_CAPABILITIES, resolveCreate } from "../../src/internal/options.js"
import * as ContainerServiceLive from "../../src/layers/ContainerServiceLive.js"
import * as EngineLive from "../../src/layers/EngineLive.js"
import { ContainerService, type CreateOptions } from "../../src/services/ContainerService.js"
import { Engine, EngineRequestError } from "../../src/services/Engine.js"

const podmanVersion = JSON.stringify({
  Version: "4.3.1",
  ApiVersion: "1.41",
  Components: [{ Name: "Podman Engine" }]
})

interface Fake {
  readonly socketPath: string
  readonly seen: Array<string>
  /** What every request but /version gets. */
  answer: { status: number; body: string }
  /** What /version gets; default a valid Podman answer. */
  version: string
  readonly close: () => Promise<void>
}

const startFake = (): Promise<Fake> =>
  new Promise((resolve) => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-fake-"))
    const socketPath = Path.join(dir, "engine.sock")
    const fake: Fake = {
      socketPath,
      seen: [],
      answer: { status: 200, body: "{}" },
      version: podmanVersion,
      close: () => new Promise((done) => server.close(() => done()))
    }
    const server = Http.createServer((req, res) => {
      fake.seen.push(`${req.method} ${req.url}`)
      req.resume()
      req.on("end", () => {
        if (req.url === "/version") {
          res.end(fake.version)
          return
        }
        res.statusCode = fake.answer.status
        res.setHeader("Content-Type", "application/json")
        res.end(fake.answer.body)
      })
    })
    server.listen(socketPath, () => resolve(fake))
  })

const TYPED = new Set([
  "SocketConnectionError",
  "SocketCommunicationError",
  "EngineNotRunning",
  "ImageNotFound",
  "ContainerNotFound",
  "ContainerNotRunning",
  "NameConflict",
  "EngineRequestError"
])

/** A failure must be one of our typed errors; a defect or an interruption fails the property. */
const typedOrValue = <A, E>(exit: Exit.Exit<A, E>): boolean => {
  if (Exit.isSuccess(exit)) return true
  const failures = [...Cause.failures(exit.cause)]
  return (
    Cause.isFailType(exit.cause) &&
    failures.every((e) => typeof e === "object" && e !== null && "_tag" in e && TYPED.has(String(e._tag)))
  )
}

const services = (socketPath: string) =>
  ContainerServiceLive.layer.pipe(Layer.provideMerge(EngineLive.layerFromSocket(socketPath)))

describe("bad input never reaches the engine", () => {
  it.live("names, images, paths and memory strings that could change a request are InvalidOption", () =>
    Effect.gen(function* () {
      const fake = yield* Effect.promise(startFake)
      yield* Effect.addFinalizer(() => Effect.promise(fake.close))
      const bad: ReadonlyArray<CreateOptions> = [
        { name: "../x?y" },
        { name: "a/../../containers/x" },
        { name: "x%2F..%2Fy" },
        { image: "busybox?x=1" },
        { image: "../../v1.41/containers/create" },
        { image: "a b" },
        { project: "../p" },
        { volumes: { "/tmp": "/a:/b:ro" } },
        { volumes: { "/tmp": "relative" } },
        { devices: ["/dev/null:/dev/x:/y"] },
        { memLimit: "1g; rm -rf /" },
        { env: { "A=B": "x" } },
        { user: "root?x" },
        { capabilities: ["NET_ADMIN&x=1"] }
      ]
      for (const options of bad) {
        const error = yield* Effect.flip(
          Effect.flatMap(ContainerService, (service) => service.create(options)).pipe(
            Effect.provide(services(fake.socketPath))
          )
        )
        expect(error._tag).toBe("InvalidOption")
      }
      expect(fake.seen).toEqual([])
      // and ids handed to the engine layer directly are refused before any URL is made
      const direct = yield* Effect.flip(
        Effect.flatMap(Engine, (engine) => engine.execCreate("../x?y", { cmd: ["true"] })).pipe(
          Effect.provide(EngineLive.layerFromSocket(fake.socketPath))
        )
      )
      expect(direct._tag).toBe("ContainerNotFound")
      expect(fake.seen.some((url) => url.includes("x?y") || url.includes(".."))).toBe(false)
    }).pipe(Effect.scoped)
  )
})

describe("arbitrary engine answers", () => {
  it("any JSON (or not JSON) on any status is a value or a typed error, never a crash or a hang", async () => {
    const fake = await startFake()
    const runtime = ManagedRuntime.make(EngineLive.layerFromSocket(fake.socketPath))
    try {
      const calls: ReadonlyArray<Effect.Effect<unknown, unknown, Engine>> = [
        Effect.flatMap(Engine, (e) => e.inspectContainer("abc")),
        Effect.flatMap(Engine, (e) => e.listContainers(["pocketdock.managed=true"])),
        Effect.flatMap(Engine, (e) => e.execInspect("e1")),
        Effect.flatMap(Engine, (e) => e.execCreate("abc", { cmd: ["true"] })),
        Effect.flatMap(Engine, (e) =>
          e.createContainer({
            image: "i",
            name: "n",
            cmd: ["true"],
            labels: {},
            network: true,
            autoRemove: true,
            init: true
          })
        ),
        Effect.flatMap(Engine, (e) => e.waitContainer("abc")),
        Effect.flatMap(Engine, (e) => e.stats("abc")),
        Effect.flatMap(Engine, (e) => e.top("abc")),
        Effect.flatMap(Engine, (e) => e.inspectImage("i")),
        Effect.flatMap(Engine, (e) => e.removeContainer("abc")),
        Effect.flatMap(Engine, (e) => e.execStart("e1", () => {})),
        Effect.flatMap(Engine, (e) => e.pipeArchive("abc", "/etc/passwd", new PassThrough().resume()))
      ]
      const body = fc.oneof(
        fc.json(),
        fc.string(),
        fc.jsonValue().map((value) => JSON.stringify(value).slice(0, -1))
      )
      await fc.assert(
        fc.asyncProperty(
          body,
          fc.constantFrom(200, 201, 204, 304, 400, 404, 409, 500),
          fc.integer({ min: 0, max: calls.length - 1 }),
          async (text, status, which) => {
            // 204/304 carry no body by HTTP rules
            fake.answer = { status, body: status === 204 || status === 304 ? "" : text }
            const call = calls[which] ?? Effect.void
            const exit = await runtime.runPromiseExit(call.pipe(Effect.timeout("5 seconds")))
            return typedOrValue(exit)
          }
        ),
        { numRuns: 300 }
      )
    } finally {
      await runtime.dispose()
      await fake.close()
    }
  })

  it("any /version answer is a connection or a typed error", async () => {
    const fake = await startFake()
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.json(), fc.string()), async (text) => {
          fake.version = text
          const exit = await Effect.runPromiseExit(
            Effect.flatMap(Engine, (e) => e.info).pipe(
              Effect.timeout("5 seconds"),
              Effect.provide(EngineLive.layerFromSocket(fake.socketPath))
            )
          )
          return typedOrValue(exit)
        }),
        { numRuns: 50 }
      )
    } finally {
      await fake.close()
    }
  })
})

describe("safe defaults in the engine spec", () => {
  const defaults = { image: "pocketdock/busybox", network: true }

  it.effect("pids limit, no-new-privileges and the minimal capability set by default", () =>
    Effect.gen(function* () {
      const { spec, user } = yield* resolveCreate({}, defaults)
      expect(spec.pidsLimit).toBe(512)
      expect(spec.securityOpt).toEqual(["no-new-privileges"])
      expect(spec.capDrop).toEqual(["ALL"])
      expect(spec.capAdd).toEqual(DEFAULT_CAPABILITIES)
      expect(DEFAULT_CAPABILITIES).toContain("KILL")
      expect(user).toBeUndefined()
    })
  )

  it.effect("each is loosened by its option", () =>
    Effect.gen(function* () {
      const { spec, user } = yield* resolveCreate(
        { pidsLimit: 0, noNewPrivileges: false, capabilities: "engine-default", user: "root" },
        defaults
      )
      expect(spec.pidsLimit).toBeUndefined()
      expect(spec.securityOpt).toBeUndefined()
      expect(spec.capDrop).toBeUndefined()
      expect(spec.capAdd).toBeUndefined()
      expect(user).toBe("0")
      const some = yield* resolveCreate({ capabilities: ["cap_net_raw"], pidsLimit: 64 }, defaults)
      expect(some.spec.capAdd).toEqual(["NET_RAW"])
      expect(some.spec.pidsLimit).toBe(64)
    })
  )

  const passwd = "root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000::/home/sandbox:/bin/sh\n"
  const header = Buffer.alloc(512)
  header.write("passwd", 0)
  header.write(`${passwd.length.toString(8).padStart(11, "0")}\0`, 124)
  header.write("0", 156)
  const body = Buffer.alloc(512)
  body.write(passwd)
  const passwdTar = Buffer.concat([header, body, Buffer.alloc(1024)])

  it.effect("reads /etc/passwd once per image id, and keeps no failed read", () =>
    Effect.gen(function* () {
      const reads: Array<string> = []
      let failNext = true
      const engine = {
        inspectImage: (image: string) =>
          Effect.succeed({ Id: image === "b" ? "sha256:b" : "sha256:a", RepoTags: [image] }),
        getArchive: (containerId: string) =>
          Effect.suspend(() => {
            reads.push(containerId)
            if (failNext) {
              failNext = false
              return Effect.fail(new EngineRequestError({ operation: "read", status: 500, detail: "busy" }))
            }
            return Effect.succeed({ stat: { name: "passwd", size: 0, mode: 0 }, tar: Stream.make(passwdTar) })
          })
      } as unknown as Engine
      const users = new DefaultUsers()
      // a failed read leaves the image's user, and is not remembered
      expect(yield* users.of(engine, "c1", "a")).toBeUndefined()
      expect(yield* users.of(engine, "c2", "a")).toBe("sandbox")
      expect(yield* users.of(engine, "c3", "a:latest")).toBe("sandbox")
      expect(yield* users.of(engine, "c4", "b")).toBe("sandbox")
      expect(reads).toEqual(["c1", "c2", "c4"])
    })
  )

  it("finds the sandbox user in a tar of /etc/passwd", () => {
    const file = firstTarFile(passwdTar)
    expect(file && Buffer.from(file).toString()).toBe(passwd)
    expect(hasUser(passwd, "sandbox")).toBe(true)
    expect(hasUser("root:x:0:0::/:/bin/sh\nsandboxer:x:1:1::/:/bin/sh\n", "sandbox")).toBe(false)
    expect(firstTarFile(new Uint8Array(100))).toBeUndefined()
    const link = Buffer.from(header)
    link.write("2", 156)
    expect(firstTarFile(Buffer.concat([link, body]))).toBeUndefined()
  })
})
