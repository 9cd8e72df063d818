/**
 * The clients compared, each able to do the same operations on the same
 * engine: pocketdock, dockerode, the engine's own CLI, and a raw floor (Node
 * `http` over the socket with a keep-alive agent).
 */
import { execFile, spawn } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { PassThrough, type Readable, Writable } from "node:stream"
import { StringDecoder } from "node:string_decoder"
import Docker from "dockerode"
import * as TarStream from "tar-stream"
import { type Container, createNewContainer } from "../src/index.js"

export type PeerId = "pocketdock" | "dockerode" | "cli" | "raw"

export const PEER_LABELS: Record<PeerId, string> = {
  pocketdock: "pocketdock",
  dockerode: "dockerode",
  cli: "engine CLI",
  raw: "raw floor"
}

/** What the peers share in one run: engine, socket, image, labels of what they create. */
export interface Target {
  readonly engine: "podman" | "docker"
  readonly socketPath: string
  readonly image: string
  /** Label every benchmark container carries (so a crash leaves nothing unfindable). */
  readonly label: string
}

/** A sandbox as one peer holds it. */
export interface Sandbox {
  readonly id: string
  /** The pocketdock handle, when pocketdock made it. */
  readonly pd?: Container
}

export interface Peer {
  readonly id: PeerId
  /** Creates and starts a sandbox like pocketdock's: busybox, `sleep infinity`, Init, auto-remove. */
  readonly create: () => Promise<Sandbox>
  /** Runs `sh -c <command>` to completion; its stdout. */
  readonly exec: (sandbox: Sandbox, command: string) => Promise<string>
  readonly remove: (sandbox: Sandbox) => Promise<void>
  /** Runs a command and drains its output; the number of bytes read. */
  readonly drain: (sandbox: Sandbox, command: string) => Promise<number>
  /** Writes `data` as `dir/name`. `tar` is the same file already as a tar archive. */
  readonly writeFile: (
    sandbox: Sandbox,
    dir: string,
    name: string,
    data: Buffer,
    tar: Buffer
  ) => Promise<void>
  /** Reads `path` back; bytes received. */
  readonly readFile: (sandbox: Sandbox, path: string) => Promise<number>
}

const counter = (): { sink: Writable; bytes: () => number } => {
  let bytes = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback()
    }
  })
  return { sink, bytes: () => bytes }
}

/**
 * Counts streamed output as a caller of pocketdock's stream gets it: decoded
 * to text (UTF-8, a character split across chunks kept whole), chunk by
 * chunk. Every peer does this much, so the row compares the same job.
 */
const textCounter = (): { sink: Writable; bytes: () => number } => {
  const decoder = new StringDecoder("utf8")
  let bytes = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += Buffer.byteLength(decoder.write(chunk))
      callback()
    }
  })
  return { sink, bytes: () => bytes + Buffer.byteLength(decoder.end()) }
}

/**
 * The bytes of the file in a `GET /archive` answer, as `readFile` returns
 * them: the tar read (tar-stream, as pocketdock does) and the file's content
 * joined into one buffer.
 */
const fileFromArchive = (archive: Readable | NodeJS.ReadableStream): Promise<number> =>
  new Promise((resolve, reject) => {
    const extract = TarStream.extract()
    let size = -1
    extract.on("entry", (header, entry, next) => {
      const chunks: Array<Buffer> = []
      entry.on("data", (chunk: Buffer) => chunks.push(chunk))
      entry.once("end", () => {
        if (size === -1 && header.type === "file") size = Buffer.concat(chunks).length
        next()
      })
    })
    extract.once("finish", () => (size === -1 ? reject(new Error("no file in the archive")) : resolve(size)))
    extract.once("error", reject)
    archive.pipe(extract)
  })

let names = 0
const nextName = (peer: PeerId) => `pd-bench-${peer}-${process.pid}-${names++}`

// --- pocketdock ----------------------------------------------------------------

const pocketdock = (target: Target): Peer => {
  const handle = (sandbox: Sandbox): Container => {
    if (sandbox.pd === undefined) throw new Error("not a pocketdock sandbox")
    return sandbox.pd
  }
  return {
    id: "pocketdock",
    create: async () => {
      const pd = await createNewContainer({ image: target.image, socketPath: target.socketPath })
      return { id: pd.containerId, pd }
    },
    // no 30 s default timeout: the other peers have none either
    exec: async (sandbox, command) => {
      const result = await handle(sandbox).run(command, { timeout: 3600 })
      if (result.timedOut || result.exitCode !== 0)
        throw new Error(`pocketdock run failed: ${JSON.stringify(result)}`)
      return result.stdout
    },
    remove: (sandbox) => handle(sandbox).shutdown(),
    // `Container.runStream` (the facade's `run(…, { stream: true })`): decoded chunks, counted
    drain: async (sandbox, command) => {
      let bytes = 0
      const stream = handle(sandbox).run(command, { stream: true, timeout: 3600, maxOutput: 2 ** 40 })
      for await (const chunk of stream) bytes += Buffer.byteLength(chunk.data)
      return bytes
    },
    writeFile: (sandbox, dir, name, data) => handle(sandbox).writeFile(`${dir}/${name}`, data),
    readFile: async (sandbox, path) => (await handle(sandbox).readFile(path)).length
  }
}

// --- dockerode -------------------------------------------------------------------

const dockerode = (target: Target): Peer => {
  const docker = new Docker({ socketPath: target.socketPath })
  const runExec = async (id: string, command: string, onStdout: Writable, onStderr: Writable) => {
    const exec = await docker
      .getContainer(id)
      .exec({ Cmd: ["/bin/sh", "-c", command], AttachStdout: true, AttachStderr: true })
    const stream = await exec.start({ hijack: false, stdin: false })
    await new Promise<void>((resolve, reject) => {
      docker.modem.demuxStream(stream, onStdout, onStderr)
      stream.once("end", () => resolve())
      stream.once("close", () => resolve())
      stream.once("error", reject)
    })
    await exec.inspect()
  }
  return {
    id: "dockerode",
    create: async () => {
      const container = await docker.createContainer({
        name: nextName("dockerode"),
        Image: target.image,
        Cmd: ["sleep", "infinity"],
        Labels: { [target.label]: "1" },
        HostConfig: { Init: true, AutoRemove: true }
      })
      await container.start()
      return { id: container.id }
    },
    exec: async (sandbox, command) => {
      const out = new PassThrough()
      const chunks: Array<Buffer> = []
      out.on("data", (chunk: Buffer) => chunks.push(chunk))
      await runExec(sandbox.id, command, out, counter().sink)
      return Buffer.concat(chunks).toString("utf8")
    },
    remove: async (sandbox) => {
      await docker.getContainer(sandbox.id).remove({ force: true })
    },
    drain: async (sandbox, command) => {
      const out = textCounter()
      await runExec(sandbox.id, command, out.sink, counter().sink)
      return out.bytes()
    },
    writeFile: async (sandbox, dir, _name, _data, tar) => {
      await docker.getContainer(sandbox.id).putArchive(tar, { path: dir })
    },
    readFile: async (sandbox, path) =>
      fileFromArchive(await docker.getContainer(sandbox.id).getArchive({ path }))
  }
}

// --- the engine's CLI ----------------------------------------------------------

const cli = (target: Target): Peer => {
  const bin = target.engine
  // docker goes through the socket; podman (as its users run it) works on its storage directly
  const env =
    target.engine === "docker" ? { ...process.env, DOCKER_HOST: `unix://${target.socketPath}` } : process.env
  const run = (rest: Array<string>): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(bin, rest, { env, maxBuffer: 1024 * 1024 * 1024 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout)
      )
    })
  return {
    id: "cli",
    create: async () => {
      const id = await run([
        "run",
        "-d",
        "--init",
        "--rm",
        "--label",
        `${target.label}=1`,
        "--name",
        nextName("cli"),
        target.image,
        "sleep",
        "infinity"
      ])
      return { id: id.trim() }
    },
    exec: (sandbox, command) => run(["exec", sandbox.id, "/bin/sh", "-c", command]),
    remove: async (sandbox) => {
      await run(["rm", "-f", sandbox.id])
    },
    drain: (sandbox, command) =>
      new Promise((resolve, reject) => {
        const child = spawn(bin, ["exec", sandbox.id, "/bin/sh", "-c", command], {
          stdio: ["ignore", "pipe", "ignore"],
          env
        })
        const text = textCounter()
        const done = new Promise<number>((resolveText, rejectText) => {
          text.sink.once("finish", () => resolveText(text.bytes()))
          text.sink.once("error", rejectText)
        })
        child.stdout.pipe(text.sink)
        child.once("error", reject)
        child.once("exit", (code) =>
          code === 0 ? done.then(resolve, reject) : reject(new Error(`exit ${code}`))
        )
      }),
    writeFile: async (sandbox, dir, name, data) => {
      const local = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-bench-"))
      try {
        await Fs.writeFile(Path.join(local, name), data)
        await run(["cp", Path.join(local, name), `${sandbox.id}:${dir}/${name}`])
      } finally {
        await Fs.rm(local, { recursive: true, force: true })
      }
    },
    readFile: async (sandbox, path) => {
      const local = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-bench-"))
      try {
        await run(["cp", `${sandbox.id}:${path}`, Path.join(local, "out")])
        return (await Fs.stat(Path.join(local, "out"))).size
      } finally {
        await Fs.rm(local, { recursive: true, force: true })
      }
    }
  }
}

// --- raw floor -----------------------------------------------------------------

/** One HTTP call over the socket; the response, not yet read. */
const request = (
  agent: Http.Agent,
  socketPath: string,
  method: string,
  path: string,
  body?: Buffer | string,
  contentType = "application/json"
): Promise<Http.IncomingMessage> =>
  new Promise((resolve, reject) => {
    const req = Http.request(
      {
        agent,
        socketPath,
        method,
        path: `/v1.41${path}`,
        headers:
          body === undefined ? {} : { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) }
      },
      resolve
    )
    req.once("error", reject)
    req.end(body)
  })

const readAll = async (response: Http.IncomingMessage): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  if ((response.statusCode ?? 500) >= 300) {
    throw new Error(`HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString("utf8")}`)
  }
  return Buffer.concat(chunks)
}

/** Stdout of 8-byte framed exec output. */
const stdoutOf = (framed: Buffer): string => {
  const parts: Array<Buffer> = []
  let offset = 0
  while (offset + 8 <= framed.length) {
    const size = framed.readUInt32BE(offset + 4)
    if (framed[offset] === 1) parts.push(framed.subarray(offset + 8, offset + 8 + size))
    offset += 8 + size
  }
  return Buffer.concat(parts).toString("utf8")
}

/** Payload of 8-byte framed exec output decoded as text, read as it streams (headers may straddle chunks). */
const drainFramed = (stream: Readable): Promise<number> =>
  new Promise((resolve, reject) => {
    let payload = 0
    let header = Buffer.alloc(0)
    let remaining = 0
    const decoder = new StringDecoder("utf8")
    stream.on("data", (chunk: Buffer) => {
      let offset = 0
      while (offset < chunk.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, chunk.length - offset)
          payload += Buffer.byteLength(decoder.write(chunk.subarray(offset, offset + take)))
          remaining -= take
          offset += take
          continue
        }
        const need = 8 - header.length
        header = Buffer.concat([header, chunk.subarray(offset, offset + need)])
        offset += need
        if (header.length === 8) {
          remaining = header.readUInt32BE(4)
          header = Buffer.alloc(0)
        }
      }
    })
    stream.once("end", () => resolve(payload + Buffer.byteLength(decoder.end())))
    stream.once("error", reject)
  })

const raw = (target: Target): Peer => {
  const agent = new Http.Agent({ keepAlive: true })
  const call = (method: string, path: string, body?: unknown) =>
    request(agent, target.socketPath, method, path, body === undefined ? undefined : JSON.stringify(body))
  const execStart = async (id: string, command: string) => {
    const created = JSON.parse(
      (
        await readAll(
          await call("POST", `/containers/${id}/exec`, {
            Cmd: ["/bin/sh", "-c", command],
            AttachStdout: true,
            AttachStderr: true
          })
        )
      ).toString("utf8")
    ) as { Id: string }
    const response = await call("POST", `/exec/${created.Id}/start`, { Detach: false, Tty: false })
    return { execId: created.Id, response }
  }
  return {
    id: "raw",
    create: async () => {
      const created = JSON.parse(
        (
          await readAll(
            await call("POST", `/containers/create?name=${nextName("raw")}`, {
              Image: target.image,
              Cmd: ["sleep", "infinity"],
              Labels: { [target.label]: "1" },
              HostConfig: { Init: true, AutoRemove: true }
            })
          )
        ).toString("utf8")
      ) as { Id: string }
      await readAll(await call("POST", `/containers/${created.Id}/start`))
      return { id: created.Id }
    },
    exec: async (sandbox, command) => {
      const { execId, response } = await execStart(sandbox.id, command)
      const output = await readAll(response)
      await readAll(await call("GET", `/exec/${execId}/json`))
      return stdoutOf(output)
    },
    remove: async (sandbox) => {
      await readAll(await call("DELETE", `/containers/${sandbox.id}?force=true&v=true`))
    },
    drain: async (sandbox, command) => {
      const { execId, response } = await execStart(sandbox.id, command)
      const bytes = await drainFramed(response)
      await readAll(await call("GET", `/exec/${execId}/json`))
      return bytes
    },
    writeFile: async (sandbox, dir, _name, _data, tar) => {
      await readAll(
        await request(
          agent,
          target.socketPath,
          "PUT",
          `/containers/${sandbox.id}/archive?path=${encodeURIComponent(dir)}`,
          tar,
          "application/x-tar"
        )
      )
    },
    readFile: async (sandbox, path) =>
      fileFromArchive(await call("GET", `/containers/${sandbox.id}/archive?path=${encodeURIComponent(path)}`))
  }
}

export const makePeers = (target: Target): Record<PeerId, Peer> => ({
  pocketdock: pocketdock(target),
  dockerode: dockerode(target),
  cli: cli(target),
  raw: raw(target)
})

export type { Container }
