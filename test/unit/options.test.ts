import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { OutputCollector, PidReader, toArgv, withPidReport } from "../../src/internal/exec.js"
import { parseMemory, resolveCreate, validateImage, validateName } from "../../src/internal/options.js"

const defaults = { image: "pocketdock/minimal-python", network: true }

describe("option validation", () => {
  it.effect("memory sizes", () =>
    Effect.gen(function* () {
      expect(yield* parseMemory("256m")).toBe(256 * 1024 * 1024)
      expect(yield* parseMemory("1g")).toBe(1024 ** 3)
      expect(yield* parseMemory("1.5G")).toBe(1.5 * 1024 ** 3)
      expect(yield* parseMemory("512kb")).toBe(512 * 1024)
      expect(yield* parseMemory(4096)).toBe(4096)
      for (const bad of ["", "lots", "-1m", "0", "1x", 1.5, -3]) {
        expect(Either.isLeft(yield* Effect.either(parseMemory(bad)))).toBe(true)
      }
    })
  )

  it.effect("names and images that could change a request are refused", () =>
    Effect.gen(function* () {
      for (const bad of ["../x?y", "a/b", "", "x y", "-lead", "a#b", "a".repeat(200)]) {
        expect(Either.isLeft(yield* Effect.either(validateName(bad)))).toBe(true)
      }
      for (const bad of ["Bad", "a b", "x?y=1", "../../etc", "a//b", ""]) {
        expect(Either.isLeft(yield* Effect.either(validateImage(bad)))).toBe(true)
      }
      for (const good of [
        "pocketdock/minimal-python",
        "localhost:5000/a/b:1.2",
        "busybox",
        `a@sha256:${"0".repeat(64)}`
      ]) {
        expect(yield* validateImage(good)).toBe(good)
      }
    })
  )

  it.effect("resolves a full set of options to an engine spec", () =>
    Effect.gen(function* () {
      const { spec, timeout, persist } = yield* resolveCreate(
        {
          name: "box",
          memLimit: "64m",
          cpuPercent: 50,
          ports: { 8080: 80 },
          volumes: { "/tmp/data": "/data:ro" },
          devices: ["/dev/zero:/dev/z"],
          env: { A: "1" },
          project: "demo",
          timeout: 5
        },
        defaults
      )
      expect(spec.memoryBytes).toBe(64 * 1024 * 1024)
      expect(spec.nanoCpus).toBe(5e8)
      expect(spec.ports).toEqual([{ hostPort: 8080, containerPort: 80 }])
      expect(spec.binds).toEqual(["/tmp/data:/data:ro"])
      expect(spec.devices).toEqual([{ host: "/dev/zero", container: "/dev/z" }])
      expect(spec.env).toEqual(["A=1"])
      expect(spec.labels["pocketdock.project"]).toBe("demo")
      expect(spec.autoRemove).toBe(true)
      expect(timeout).toBe(5)
      expect(persist).toBe(false)
    })
  )

  it.effect("generated names are pd-<8 hex>", () =>
    Effect.gen(function* () {
      const { spec } = yield* resolveCreate({}, defaults)
      expect(spec.name).toMatch(/^pd-[0-9a-f]{8}$/)
      expect(spec.image).toBe("pocketdock/minimal-python")
    })
  )
})

describe("commands", () => {
  it.effect("strings run in sh, arrays as argv, lang as code", () =>
    Effect.gen(function* () {
      expect(yield* toArgv("echo hi")).toEqual(["/bin/sh", "-c", "echo hi"])
      expect(yield* toArgv(["ls", "-l"])).toEqual(["ls", "-l"])
      expect(yield* toArgv("print(1)", "python")).toEqual(["python3", "-c", "print(1)"])
      expect(Either.isLeft(yield* Effect.either(toArgv("x", "klingon")))).toBe(true)
      expect(Either.isLeft(yield* Effect.either(toArgv([])))).toBe(true)
      expect(withPidReport(["ls"]).slice(-1)).toEqual(["ls"])
    })
  )
})

describe("PidReader", () => {
  const bytes = (s: string) => new TextEncoder().encode(s)
  const text = (b: Uint8Array) => new TextDecoder().decode(b)

  it.effect("strips the PID report, even split across frames", () =>
    Effect.gen(function* () {
      const reader = new PidReader()
      expect(text(reader.feed(bytes("\u001epocketdock-p")))).toBe("")
      expect(text(reader.feed(bytes("id:42\nwarning\n")))).toBe("warning\n")
      expect(text(reader.feed(bytes("more")))).toBe("more")
      expect(yield* reader.pid).toBe(42)
    })
  )

  it("leaves stderr alone when there is no report", () => {
    const reader = new PidReader()
    expect(text(reader.feed(bytes("plain error\n")))).toBe("plain error\n")
    const short = new PidReader()
    expect(text(short.feed(bytes("no newline")))).toBe("")
    expect(text(short.flush())).toBe("no newline")
  })
})

describe("OutputCollector", () => {
  it("keeps exactly maxOutput bytes and drops the rest", () => {
    const collector = new OutputCollector(10)
    expect(collector.add("stdout", new TextEncoder().encode("12345"))).toBe(true)
    expect(collector.add("stderr", new TextEncoder().encode("abcdefgh"))).toBe(false)
    expect(collector.add("stdout", new TextEncoder().encode("zzz"))).toBe(false)
    expect(collector.text("stdout")).toBe("12345")
    expect(collector.text("stderr")).toBe("abcde")
    expect(collector.truncated).toBe(true)
  })
})
