/**
 * Safe defaults, checked from inside the container: pids limit,
 * no-new-privileges, the minimal capability set, the non-root user; and that
 * each one is loosened by its create option.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { type Container, ContainerService, type CreateOptions } from "../../src/services/ContainerService.js"
import { BUSYBOX, engines, servicesFor } from "./engines.js"

class Strict extends Context.Tag("test/Strict")<Strict, Container>() {}

/** CHOWN DAC_OVERRIDE FOWNER KILL SETGID SETUID NET_BIND_SERVICE: bits 0 1 3 5 6 7 10. */
const MINIMAL_CAPS = (1n << 0n) | (1n << 1n) | (1n << 3n) | (1n << 5n) | (1n << 6n) | (1n << 7n) | (1n << 10n)

/** cgroup v2, or v1 (the machine CI runs on has v1). */
const PIDS_MAX = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"

const statusField = (status: string, field: string): string =>
  new RegExp(`^${field}:\\s*(\\S+)`, "m").exec(status)?.[1] ?? "missing"

const loose = (options: CreateOptions) =>
  Effect.flatMap(ContainerService, (service) => service.scoped({ image: BUSYBOX, ...options }))

for (const engine of engines) {
  const strict = Layer.scoped(
    Strict,
    Effect.flatMap(ContainerService, (service) => service.scoped({ image: BUSYBOX }))
  ).pipe(Layer.provideMerge(servicesFor(engine)))

  layer(strict, { excludeTestServices: true })(`safe defaults [${engine.name}]`, (it) => {
    it.effect("commands run as the image's sandbox user (uid 1000); run({ user: 'root' }) loosens it", () =>
      Effect.gen(function* () {
        const sandbox = yield* Strict
        expect(sandbox.user).toBe("sandbox")
        expect((yield* sandbox.run("id -u; id -un")).stdout).toBe("1000\nsandbox\n")
        expect((yield* sandbox.run("id -u", { user: "root" })).stdout).toBe("0\n")
        // non-root: / is not writable, ps still sees every process
        expect((yield* sandbox.run("touch /x")).exitCode).not.toBe(0)
        expect((yield* sandbox.run("ps -o args")).stdout.split("\n")).toContain("cat")
      })
    )

    it.effect("no-new-privileges is set", () =>
      Effect.gen(function* () {
        const sandbox = yield* Strict
        const status = (yield* sandbox.run("cat /proc/self/status")).stdout
        expect(statusField(status, "NoNewPrivs")).toBe("1")
      })
    )

    it.effect("only the minimal capability set is left (bounding set; effective as root)", () =>
      Effect.gen(function* () {
        const sandbox = yield* Strict
        const status = (yield* sandbox.run("cat /proc/self/status", { user: "root" })).stdout
        expect(BigInt(`0x${statusField(status, "CapBnd")}`)).toBe(MINIMAL_CAPS)
        expect(BigInt(`0x${statusField(status, "CapEff")}`)).toBe(MINIMAL_CAPS)
        // KILL is kept: root inside can stop the sandbox user's processes
        yield* sandbox.run("sleep 61 >/dev/null 2>&1 &")
        const killed = yield* sandbox.run(
          "pid=$(ps -o pid,user,args | awk '$2 != \"root\" && /sleep 61$/ {print $1}'); kill $pid && echo killed $pid",
          { user: "root" }
        )
        expect(killed.stdout).toMatch(/^killed \d+\n$/)
      })
    )

    it.effect("a process burst stops at the pids limit and the sandbox still answers", () =>
      Effect.gen(function* () {
        const sandbox = yield* Strict
        expect((yield* sandbox.run(PIDS_MAX)).stdout.trim()).toBe("512")
        const small = yield* loose({ pidsLimit: 40 })
        // 200 short sleepers want to start; busybox sh gives up at the first
        // fork the limit refuses. Each one that started left a line.
        const burst = yield* small.run(
          "i=0; while [ $i -lt 200 ]; do (echo >>/tmp/started; exec sleep 3) & i=$((i+1)); done",
          { timeout: 20 }
        )
        expect(burst.stderr).toContain("fork")
        // once the sleepers are done, the sandbox answers again
        yield* Effect.sleep("4 seconds")
        const started = Number((yield* small.run("wc -l </tmp/started")).stdout.trim())
        expect(started).toBeGreaterThan(0)
        expect(started).toBeLessThan(40)
        const after = yield* small.run("echo alive")
        expect(after.stdout).toBe("alive\n")
      }).pipe(Effect.scoped)
    )

    describe("loosened by create options", () => {
      it.effect("user: 'root', noNewPrivileges: false, capabilities, pidsLimit: 0", () =>
        Effect.gen(function* () {
          const sandbox = yield* loose({
            user: "root",
            noNewPrivileges: false,
            capabilities: ["CHOWN", "NET_RAW"],
            pidsLimit: 0
          })
          expect((yield* sandbox.run("id -u")).stdout).toBe("0\n")
          const status = (yield* sandbox.run("cat /proc/self/status")).stdout
          expect(statusField(status, "NoNewPrivs")).toBe("0")
          expect(BigInt(`0x${statusField(status, "CapEff")}`)).toBe((1n << 0n) | (1n << 13n))
          expect((yield* sandbox.run(PIDS_MAX)).stdout.trim()).not.toBe("512")
          const wide = yield* loose({ capabilities: "engine-default", user: "root" })
          const wideStatus = (yield* wide.run("cat /proc/self/status")).stdout
          expect(BigInt(`0x${statusField(wideStatus, "CapEff")}`) & ~MINIMAL_CAPS).not.toBe(0n)
        }).pipe(Effect.scoped)
      )

      it.effect("bad loosening options are InvalidOption before the engine", () =>
        Effect.gen(function* () {
          for (const options of [{ pidsLimit: -1 }, { capabilities: ["ALL; rm"] }, { user: "a b" }]) {
            const error = yield* Effect.flip(loose(options))
            expect(error._tag).toBe("InvalidOption")
          }
        }).pipe(Effect.scoped)
      )
    })
  })
}
