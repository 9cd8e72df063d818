import { spawn } from "node:child_process"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import {
  Container,
  createNewContainer,
  ImageNotFound,
  InvalidOption,
  PocketDockError,
  SocketConnectionError
} from "../../src/index.js"
import { BUSYBOX, engines } from "./engines.js"

const containerExists = async (socketPath: string, name: string): Promise<boolean> => {
  const { Agent, request } = await import("undici")
  const agent = new Agent({ connect: { socketPath } })
  try {
    const response = await request(`http://engine/containers/${name}/json`, { dispatcher: agent })
    await response.body.text()
    return response.statusCode === 200
  } finally {
    await agent.close()
  }
}

const waitFor = async (check: () => Promise<boolean>, seconds: number): Promise<boolean> => {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

for (const engine of engines) {
  describe(`Promise facade [${engine.name}]`, () => {
    const socketPath = engine.socketPath

    it("creates, runs and removes with await using", async () => {
      let name = ""
      {
        await using sandbox = await createNewContainer({ image: BUSYBOX, socketPath })
        expect(sandbox).toBeInstanceOf(Container)
        name = sandbox.name
        const result = await sandbox.run("echo hello; exit 4")
        expect(result.stdout).toBe("hello\n")
        expect(result.exitCode).toBe(4)
        expect(result.ok).toBe(false)
        expect(await containerExists(socketPath, name)).toBe(true)
      }
      expect(await containerExists(socketPath, name)).toBe(false)
    })

    it("keeps the seed's semantics: a timeout resolves with timedOut, not a throw", async () => {
      await using sandbox = await createNewContainer({ image: BUSYBOX, socketPath, timeout: 1 })
      const result = await sandbox.run("echo partial; sleep 30")
      expect(result.timedOut).toBe(true)
      expect(result.stdout).toBe("partial\n")
      const capped = await sandbox.run("yes", { maxOutput: 100 })
      expect(capped.truncated).toBe(true)
      expect(capped.stdout.length).toBe(100)
    })

    it("throws typed errors that are instanceof PocketDockError and Error", async () => {
      const missing = await createNewContainer({ image: "pocketdock/nope", socketPath }).catch(
        (e: unknown) => e
      )
      expect(missing).toBeInstanceOf(ImageNotFound)
      expect(missing).toBeInstanceOf(PocketDockError)
      expect(missing).toBeInstanceOf(Error)
      expect((missing as ImageNotFound).image).toBe("pocketdock/nope")

      const invalid = await createNewContainer({ memLimit: "huge", socketPath }).catch((e: unknown) => e)
      expect(invalid).toBeInstanceOf(InvalidOption)
      expect(invalid).toBeInstanceOf(PocketDockError)

      const noSocket = await createNewContainer({ socketPath: "/tmp/pd-nope.sock" }).catch((e: unknown) => e)
      expect(noSocket).toBeInstanceOf(SocketConnectionError)
      expect(String((noSocket as Error).message)).toContain("/tmp/pd-nope.sock")
    })

    it("an AbortSignal stops a run", async () => {
      await using sandbox = await createNewContainer({ image: BUSYBOX, socketPath })
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 300)
      const outcome = await sandbox.run("sleep 30", { signal: controller.signal }).catch((e: unknown) => e)
      expect((outcome as Error).name).toBe("AbortError")
      const ps = await sandbox.run("ps -o args")
      expect(ps.stdout).not.toContain("sleep 30")
    })

    it("a SIGKILLed host process leaves no ephemeral container behind; a persistent one survives", async () => {
      const ephemeral = `pd-test-orphan-${engine.name}-${process.pid}`
      const persistent = `pd-test-keep-${engine.name}-${process.pid}`
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          Path.join(import.meta.dirname, "fixtures", "hold-sandboxes.ts"),
          socketPath,
          ephemeral,
          persistent
        ],
        { stdio: ["ignore", "pipe", "inherit"] }
      )
      try {
        const ready = await new Promise<boolean>((resolve) => {
          child.stdout.on("data", (data: Buffer) => data.toString().includes("READY") && resolve(true))
          child.once("exit", () => resolve(false))
        })
        expect(ready).toBe(true)
        expect(await containerExists(socketPath, ephemeral)).toBe(true)
        child.kill("SIGKILL")
        expect(await waitFor(async () => !(await containerExists(socketPath, ephemeral)), 15)).toBe(true)
        expect(await containerExists(socketPath, persistent)).toBe(true)
      } finally {
        child.kill("SIGKILL")
        const { Agent, request } = await import("undici")
        const agent = new Agent({ connect: { socketPath } })
        await request(`http://engine/containers/${persistent}?force=true`, {
          method: "DELETE",
          dispatcher: agent
        })
          .then((r) => r.body.text())
          .catch(() => "")
        await agent.close()
      }
    })
  })
}
