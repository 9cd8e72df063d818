import { afterAll, beforeAll, describe, expect, layer, it as vitestIt } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Stream } from "effect"
import { createNewContainer, type Container as FacadeContainer } from "../../src/index.js"
import type { ExecResult, StreamChunk } from "../../src/schemas/ExecResult.js"
import type { Container } from "../../src/services/ContainerService.js"
import { BUSYBOX, engines, Sandbox, withSandbox } from "./engines.js"

/** The command lines of the processes running in the sandbox. */
const processes = (sandbox: Container) => Effect.map(sandbox.run("ps -o args"), (result) => result.stdout)

const joined = (chunks: Iterable<StreamChunk>, stream: "stdout" | "stderr") =>
  Array.from(chunks)
    .filter((chunk) => chunk.stream === stream)
    .map((chunk) => chunk.data)
    .join("")

/** Polls until `check` holds (at most ~10 s). */
const eventually = <E>(check: Effect.Effect<boolean, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) {
      if (yield* check) return true
      yield* Effect.sleep("100 millis")
    }
    return false
  })

for (const engine of engines) {
  layer(withSandbox(engine), { excludeTestServices: true, timeout: 120_000 })(
    `Container.runStream and runDetached [${engine.name}]`,
    (it) => {
      it.effect("delivers the first chunk while the command still runs", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const result = yield* Deferred.make<ExecResult>()
          const seenWhileRunning: Array<boolean> = []
          // the command cannot end before the test, having seen the first chunk, creates the file
          const chunks = yield* sandbox
            .runStream("echo first-s1; while [ ! -e /tmp/go-s1 ]; do sleep 0.1; done; echo second-s1", {
              result
            })
            .pipe(
              Stream.tap(() =>
                Effect.gen(function* () {
                  if (seenWhileRunning.length > 0) return
                  seenWhileRunning.push((yield* processes(sandbox)).includes("second-s1"))
                  yield* sandbox.run("touch /tmp/go-s1")
                })
              ),
              Stream.runCollect
            )
          expect(seenWhileRunning).toEqual([true])
          expect(Chunk.toArray(chunks)[0]?.data).toBe("first-s1\n")
          expect(joined(chunks, "stdout")).toBe("first-s1\nsecond-s1\n")
          const final = yield* Deferred.await(result)
          expect(final.exitCode).toBe(0)
          expect(final.stdout).toBe("first-s1\nsecond-s1\n")
        })
      )

      it.effect("keeps stdout and stderr apart and decodes UTF-8 split across frames", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          // é is \303\251: its two bytes are written separately, so they arrive in two frames
          const chunks = yield* sandbox
            .runStream("printf '\\303'; sleep 0.3; printf '\\251 ok\\n'; echo warn >&2; exit 0")
            .pipe(Stream.runCollect)
          expect(joined(chunks, "stdout")).toBe("é ok\n")
          expect(joined(chunks, "stderr")).toBe("warn\n")
          expect(Chunk.toArray(chunks).some((chunk) => chunk.data.includes("\uFFFD"))).toBe(false)
        })
      )

      it.effect("ending the stream early kills the command inside the container", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const result = yield* Deferred.make<ExecResult>()
          const first = yield* sandbox
            .runStream("echo go-s3; sleep 303; echo never-s3", { result })
            .pipe(Stream.take(1), Stream.runCollect)
          expect(joined(first, "stdout")).toBe("go-s3\n")
          expect(yield* processes(sandbox)).not.toContain("never-s3")
          expect((yield* Deferred.await(result)).exitCode).toBe(137)
        })
      )

      it.effect("an interrupted stream kills the command too", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const started = yield* Deferred.make<void>()
          const fiber = yield* sandbox.runStream("echo go-s4; sleep 304").pipe(
            Stream.runForEach(() => Deferred.succeed(started, undefined)),
            Effect.fork
          )
          yield* Deferred.await(started)
          expect(yield* processes(sandbox)).toContain("sleep 304")
          yield* Fiber.interrupt(fiber)
          expect(yield* processes(sandbox)).not.toContain("sleep 304")
        })
      )

      it.effect("a timeout fails with CommandTimeout carrying the partial result", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const seen: Array<string> = []
          const error = yield* sandbox.runStream("echo part-s5; sleep 305", { timeout: 1 }).pipe(
            Stream.runForEach((chunk) => Effect.sync(() => seen.push(chunk.data))),
            Effect.flip
          )
          expect(error._tag).toBe("CommandTimeout")
          if (error._tag !== "CommandTimeout") return
          expect(error.result.timedOut).toBe(true)
          expect(error.result.stdout).toBe("part-s5\n")
          expect(seen).toEqual(["part-s5\n"])
          expect(yield* processes(sandbox)).not.toContain("sleep 305")
        })
      )

      it.effect("an output cap fails with OutputTruncated after exactly maxOutput bytes", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          let bytes = 0
          const error = yield* sandbox.runStream("yes s6-yes", { maxOutput: 1000 }).pipe(
            Stream.runForEach((chunk) => Effect.sync(() => (bytes += Buffer.byteLength(chunk.data)))),
            Effect.flip
          )
          expect(error._tag).toBe("OutputTruncated")
          if (error._tag !== "OutputTruncated") return
          expect(error.result.truncated).toBe(true)
          expect(bytes).toBe(1000)
          expect(yield* processes(sandbox)).not.toContain("s6-yes")
        })
      )

      it.effect("runs in the background; wait gives the result, peek copies, read drains", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const process = yield* sandbox.runDetached("echo hi; echo err >&2; sleep 0.5; exit 3")
          expect(process.id).toMatch(/^[0-9a-f]{64}$/)
          const result = yield* process.wait()
          expect(result.exitCode).toBe(3)
          expect(result.stdout).toBe("hi\n")
          expect(result.stderr).toBe("err\n")
          expect(yield* process.isRunning).toBe(false)
          expect(yield* process.peek).toMatchObject({ stdout: "hi\n", stderr: "err\n" })
          expect(process.bufferSize).toBe(7)
          expect(yield* process.read).toMatchObject({ stdout: "hi\n", stderr: "err\n" })
          expect(yield* process.read).toMatchObject({ stdout: "", stderr: "" })
          expect(process.bufferSize).toBe(0)
          expect(process.bufferOverflow).toBe(false)
        }).pipe(Effect.scoped)
      )

      it.effect("kill signals the process inside the container (SIGTERM by default, or any signal)", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const trapped = yield* sandbox.runDetached(
            "trap 'echo trapped; exit 7' TERM; echo ready; while true; do sleep 0.2; done"
          )
          expect(yield* eventually(Effect.map(trapped.peek, (s) => s.stdout.includes("ready")))).toBe(true)
          expect(yield* trapped.isRunning).toBe(true)
          yield* trapped.kill()
          const result = yield* trapped.wait()
          expect(result.exitCode).toBe(7)
          expect(result.stdout).toBe("ready\ntrapped\n")

          const killed = yield* sandbox.runDetached("sleep 308")
          yield* killed.kill(9)
          expect((yield* killed.wait()).exitCode).toBe(137)
          expect((yield* Effect.flip(killed.kill("NOPE!")))._tag).toBe("InvalidOption")
        }).pipe(Effect.scoped)
      )

      it.effect("the ring buffer keeps the newest bytes and flags the overflow", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const process = yield* sandbox.runDetached("seq 1 2000", { bufferSize: 1000 })
          const result = yield* process.wait()
          const full = `${Array.from({ length: 2000 }, (_, i) => i + 1).join("\n")}\n`
          expect(process.bufferOverflow).toBe(true)
          expect(result.truncated).toBe(true)
          expect(process.bufferSize).toBe(1000)
          const kept = (yield* process.peek).stdout
          expect(kept).toBe(full.slice(full.length - 1000))
        }).pipe(Effect.scoped)
      )

      it.effect("wait with a timeout kills the process and fails with CommandTimeout", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const process = yield* sandbox.runDetached("echo started-s10; sleep 310")
          const error = yield* Effect.flip(process.wait({ timeout: 1 }))
          expect(error._tag).toBe("CommandTimeout")
          if (error._tag !== "CommandTimeout") return
          expect(error.result.timedOut).toBe(true)
          expect(error.result.stdout).toBe("started-s10\n")
          expect(yield* process.isRunning).toBe(false)
          expect(yield* processes(sandbox)).not.toContain("sleep 310")
        }).pipe(Effect.scoped)
      )

      it.effect("onStdout, onStderr and onExit fire for detached processes", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const out: Array<string> = []
          const err: Array<string> = []
          const exits: Array<number> = []
          const containers = new Set<string>()
          yield* sandbox.onStdout((container, data) => {
            containers.add(container.id)
            out.push(data)
          })
          yield* sandbox.onStderr((_, data) => err.push(data))
          yield* sandbox.onExit((_, code) => exits.push(code))
          const process = yield* sandbox.runDetached("echo cb-out; echo cb-err >&2; exit 5")
          yield* process.wait()
          expect(out.join("")).toContain("cb-out\n")
          expect(err.join("")).toContain("cb-err\n")
          expect(exits).toContain(5)
          expect([...containers]).toEqual([sandbox.id])
        }).pipe(Effect.scoped)
      )

      it.effect("closing the scope kills the process", () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox
          const process = yield* Effect.scoped(
            Effect.gen(function* () {
              const process = yield* sandbox.runDetached("sleep 312")
              expect(yield* processes(sandbox)).toContain("sleep 312")
              return process
            })
          )
          expect(yield* process.isRunning).toBe(false)
          expect(yield* processes(sandbox)).not.toContain("sleep 312")
        })
      )
    }
  )

  describe(`facade streaming and processes [${engine.name}]`, () => {
    let sandbox: FacadeContainer
    const ps = async () => (await sandbox.run("ps -o args")).stdout

    beforeAll(async () => {
      sandbox = await createNewContainer({ image: BUSYBOX, socketPath: engine.socketPath })
    }, 60_000)
    afterAll(async () => {
      await sandbox?.shutdown()
    }, 60_000)

    vitestIt("for await yields chunks as they arrive; result after the loop", async () => {
      const s = sandbox.run(
        "echo one-f1; while [ ! -e /tmp/go-f1 ]; do sleep 0.1; done; echo two-f1 >&2; exit 2",
        { stream: true }
      )
      const chunks: Array<StreamChunk> = []
      let runningAtFirst: boolean | undefined
      for await (const chunk of s) {
        if (runningAtFirst === undefined) {
          runningAtFirst = (await ps()).includes("two-f1")
          await sandbox.run("touch /tmp/go-f1")
        }
        chunks.push(chunk)
      }
      expect(runningAtFirst).toBe(true)
      expect(joined(chunks, "stdout")).toBe("one-f1\n")
      expect(joined(chunks, "stderr")).toBe("two-f1\n")
      expect(s.result.exitCode).toBe(2)
      expect(s.result.stdout).toBe("one-f1\n")
    })

    vitestIt("break stops the command; a timeout ends the loop with timedOut", async () => {
      const s = sandbox.run("echo go-f2; sleep 322", { stream: true })
      for await (const chunk of s) {
        expect(chunk.data).toBe("go-f2\n")
        break
      }
      expect(await ps()).not.toContain("sleep 322")
      expect(s.result.exitCode).toBe(137)

      const timed = sandbox.run("echo part-f2; sleep 323", { stream: true, timeout: 1 })
      const seen: Array<string> = []
      for await (const chunk of timed) seen.push(chunk.data)
      expect(seen).toEqual(["part-f2\n"])
      expect(timed.result.timedOut).toBe(true)
      expect(timed.result.ok).toBe(false)
    })

    vitestIt("detach gives a Process: kill, wait, read, peek, overflow", async () => {
      const process = await sandbox.run(
        "trap 'echo bye; exit 9' TERM; echo up; while true; do sleep 0.2; done",
        {
          detach: true
        }
      )
      expect(await process.isRunning()).toBe(true)
      await process.kill("TERM")
      const result = await process.wait()
      expect(result.exitCode).toBe(9)
      expect((await process.peek()).stdout).toBe("up\nbye\n")
      expect((await process.read()).stdout).toBe("up\nbye\n")
      expect(process.bufferSize).toBe(0)

      const small = await sandbox.run("seq 1 500", { detach: true, bufferSize: 100 })
      await small.wait()
      expect(small.bufferOverflow).toBe(true)
      expect((await small.read()).stdout.endsWith("499\n500\n")).toBe(true)

      const slow = await sandbox.run("sleep 324", { detach: true })
      const timed = await slow.wait({ timeout: 1 })
      expect(timed.timedOut).toBe(true)
    })

    vitestIt("callbacks get the facade container; dispose and shutdown kill processes", async () => {
      const out: Array<string> = []
      const exits: Array<number> = []
      sandbox.onStdout((container, data) => {
        expect(container).toBe(sandbox)
        out.push(data)
      })
      sandbox.onExit((_, code) => exits.push(code))
      const quick = await sandbox.run("echo cb-f4", { detach: true })
      await quick.wait()
      expect(out.join("")).toContain("cb-f4\n")
      expect(exits).toContain(0)

      {
        await using _disposed = await sandbox.run("sleep 325", { detach: true })
        expect(await ps()).toContain("sleep 325")
      }
      expect(await ps()).not.toContain("sleep 325")

      const own = await createNewContainer({ image: BUSYBOX, socketPath: engine.socketPath })
      const orphan = await own.run("sleep 326", { detach: true })
      expect(await orphan.isRunning()).toBe(true)
      await own.shutdown()
      expect(await orphan.isRunning()).toBe(false)
    })
  })
}
