import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { cpuPercent, humanBytes, parseProcesses, psProcesses, snapshotRef } from "../../src/internal/info.js"
import { ContainerStats } from "../../src/schemas/EngineApi.js"

const at = (totalUsage: number, ms: number) => ({
  stats: new ContainerStats({ cpu_stats: { cpu_usage: { total_usage: totalUsage } } }),
  at: ms
})

describe("info helpers", () => {
  it("formats bytes like the seed", () => {
    expect(humanBytes(256 * 1024 * 1024)).toBe("256 MB")
    expect(humanBytes(44_150_784)).toBe("42.1 MB")
    expect(humanBytes(0)).toBe("0 B")
    expect(humanBytes(1536)).toBe("1.5 KB")
    expect(humanBytes(25_276_502_016)).toBe("23.5 GB")
  })

  it("CPU percent is Δcpu over Δwall-clock, per one core", () => {
    // half a core: 0.5 s of CPU in 1 s
    expect(cpuPercent(at(1e9, 1000), at(1.5e9, 2000))).toBe(50)
    expect(cpuPercent(at(0, 0), at(3e9, 1500))).toBe(200)
    expect(cpuPercent(at(5, 1000), at(5, 1000))).toBe(0)
    expect(cpuPercent({ stats: undefined, at: 0 }, { stats: undefined, at: 10 })).toBe(0)
  })

  it("parses ps output and split or unsplit top rows", () => {
    const ps =
      "PID   USER     COMMAND\n    1 root     /sbin/docker-init -- sleep infinity\n   20 sandbox  python3 -c print(1)\n   31 root     ps -o pid,user,args\n"
    expect(psProcesses(ps)).toEqual([
      { PID: "1", USER: "root", COMMAND: "/sbin/docker-init -- sleep infinity" },
      { PID: "20", USER: "sandbox", COMMAND: "python3 -c print(1)" }
    ])
    expect(parseProcesses(["PID", "USER", "COMMAND"], [["7", "root", "sleep infinity"]])).toEqual([
      { PID: "7", USER: "root", COMMAND: "sleep infinity" }
    ])
    expect(parseProcesses(["PID   USER     COMMAND"], [["1 root     sleep infinity"]])).toEqual([
      { PID: "1", USER: "root", COMMAND: "sleep infinity" }
    ])
  })

  it("names snapshots so that each engine finds them by the given name", () => {
    const ref = (name: string, kind: "podman" | "docker") => Effect.runSync(snapshotRef(name, kind))
    expect(ref("snap:v1", "podman")).toEqual({ repo: "localhost/snap", tag: "v1" })
    expect(ref("snap:v1", "docker")).toEqual({ repo: "snap", tag: "v1" })
    expect(ref("team/snap", "podman")).toEqual({ repo: "localhost/team/snap", tag: "latest" })
    expect(ref("registry.local:5000/snap:2", "podman")).toEqual({
      repo: "registry.local:5000/snap",
      tag: "2"
    })
    expect(ref("localhost/snap:3", "podman")).toEqual({ repo: "localhost/snap", tag: "3" })
    expect(Exit.isFailure(Effect.runSyncExit(snapshotRef("Bad Name", "docker")))).toBe(true)
  })
})
