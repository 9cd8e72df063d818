/**
 * `Container.info()` and `Container.snapshot()`: a live view assembled from
 * inspect, two stats samples and a process list; a commit named so that
 * either engine finds the image again by the name the caller gave.
 */
import { Clock, Duration, Effect } from "effect"
import { ContainerInfo } from "../schemas/Container.js"
import type { ContainerInspect, ContainerStats } from "../schemas/EngineApi.js"
import type { ExecResult } from "../schemas/ExecResult.js"
import { InvalidOption } from "../services/ContainerService.js"
import type { EngineKind } from "../services/Engine.js"
import { validateImage } from "./options.js"

/** Least time between the two CPU samples (Docker's stats call alone takes ~1 s). */
const CPU_INTERVAL_MS = 500

const UNITS = ["B", "KB", "MB", "GB", "TB"]

/** `44150784` -> `"42.1 MB"` (powers of 1024, as the seed prints them). */
export const humanBytes = (bytes: number): string => {
  let value = Math.max(0, bytes)
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  const rounded = Math.round(value * 10) / 10
  return `${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)} ${UNITS[unit]}`
}

/** Engines write "0001-01-01T00:00:00Z" for "never". */
const parseTime = (text: string | undefined): Date | null => {
  if (text === undefined || text.startsWith("0001-")) return null
  const time = Date.parse(text)
  return Number.isNaN(time) ? null : new Date(time)
}

interface Sample {
  readonly stats: ContainerStats | undefined
  /** When the sample was taken, in ms (the engine's `read`, or our clock). */
  readonly at: number
}

/**
 * Percent of one core: Δcpu_usage.total_usage / Δwall-clock. The Docker CLI
 * formula divides by system_cpu_usage, which Podman fills with busy time only.
 */
export const cpuPercent = (first: Sample, second: Sample): number => {
  const used =
    (second.stats?.cpu_stats?.cpu_usage.total_usage ?? 0) -
    (first.stats?.cpu_stats?.cpu_usage.total_usage ?? 0)
  const wallNs = (second.at - first.at) * 1e6
  if (!(used > 0) || !(wallNs > 0)) return 0
  return Math.round((used / wallNs) * 10000) / 100
}

/** Splits `ps`-style rows: every title but the last is one word, the last takes the rest. */
export const parseProcesses = (
  titles: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>
): ReadonlyArray<Record<string, string>> => {
  // Podman's fallback (and our own `ps`) gives one unsplit header and unsplit rows
  const header = titles.length === 1 ? (titles[0] ?? "").trim().split(/\s+/) : titles
  return rows.map((row) => {
    const cells = row.length === 1 && header.length > 1 ? splitRow(row[0] ?? "", header.length) : row
    const record: Record<string, string> = {}
    header.forEach((title, i) => {
      record[title] = cells[i] ?? ""
    })
    return record
  })
}

const splitRow = (line: string, columns: number): ReadonlyArray<string> => {
  const words = line.trim().split(/\s+/)
  return [...words.slice(0, columns - 1), words.slice(columns - 1).join(" ")]
}

/** `ps` inside the container: procps wants `-e` to show everyone, busybox shows everyone anyway. */
export const PS_COMMAND = ["/bin/sh", "-c", "ps -e -o pid,user,args 2>/dev/null || ps -o pid,user,args"]

/** The process list from our `ps` output, without the `ps` (and its shell) themselves. */
export const psProcesses = (stdout: string): ReadonlyArray<Record<string, string>> => {
  const [head = "", ...lines] = stdout.split("\n").filter((line) => line.trim() !== "")
  return parseProcesses(
    [head],
    lines.map((line) => [line])
  ).filter((process) => !(process.COMMAND ?? "").includes("pid,user,args"))
}

/** Host port -> container port, from `NetworkSettings.Ports`. */
const portsOf = (inspect: ContainerInspect): Record<string, number> => {
  const ports: Record<string, number> = {}
  for (const [key, bindings] of Object.entries(inspect.NetworkSettings?.Ports ?? {})) {
    const containerPort = Number.parseInt(key, 10)
    for (const binding of bindings ?? []) {
      if (binding.HostPort !== undefined && binding.HostPort !== "" && Number.isFinite(containerPort)) {
        ports[binding.HostPort] = containerPort
      }
    }
  }
  return ports
}

const ipOf = (inspect: ContainerInspect): string => {
  const settings = inspect.NetworkSettings
  if (settings?.IPAddress) return settings.IPAddress
  for (const network of Object.values(settings?.Networks ?? {}))
    if (network.IPAddress) return network.IPAddress
  return ""
}

/**
 * Assembles a `ContainerInfo`. `ps` is a run of `PS_COMMAND` inside the
 * container; when it fails (no `ps` in the image) the engine's `top` is used.
 */
export const containerInfo = <E1, E2, E3, E4>(
  containerId: string,
  /** The image as the caller named it (Podman's inspect says `localhost/x:latest`). */
  image: string,
  inspectContainer: Effect.Effect<ContainerInspect, E1>,
  stats: (id: string) => Effect.Effect<ContainerStats | undefined, E2>,
  ps: Effect.Effect<ExecResult, E3>,
  top: Effect.Effect<
    { readonly titles: ReadonlyArray<string>; readonly processes: ReadonlyArray<ReadonlyArray<string>> },
    E4
  >
) =>
  Effect.gen(function* () {
    const inspect = yield* inspectContainer
    const running = inspect.State.Running
    const measure = Effect.gen(function* () {
      if (!running) return [undefined, 0] as const
      const first = yield* sampleWith(stats, containerId)
      const now = yield* Clock.currentTimeMillis
      const wait = CPU_INTERVAL_MS - (now - first.at)
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      const second = yield* sampleWith(stats, containerId)
      return [second.stats, cpuPercent(first, second)] as const
    })
    const processes = !running
      ? Effect.succeed<ReadonlyArray<Record<string, string>>>([])
      : ps.pipe(
          Effect.flatMap((result) =>
            result.exitCode === 0 ? Effect.succeed(psProcesses(result.stdout)) : Effect.fail("no ps" as const)
          ),
          Effect.catchAll(() => top.pipe(Effect.map((t) => parseProcesses(t.titles, t.processes))))
        )
    // `ps` first: run during the samples, its own CPU time would count as the container's
    const processList = yield* processes
    const [stats_, cpu] = yield* measure
    const usage = stats_?.memory_stats?.usage ?? 0
    const limit = stats_?.memory_stats?.limit ?? 0
    const createdAt = parseTime(inspect.Created) ?? new Date(0)
    const startedAt = parseTime(inspect.State.StartedAt)
    const now = yield* Clock.currentTimeMillis
    return new ContainerInfo({
      id: inspect.Id,
      name: inspect.Name.replace(/^\//, ""),
      status: inspect.State.Status,
      image,
      createdAt,
      startedAt,
      uptime: running && startedAt !== null ? Math.max(0, now - startedAt.getTime()) : null,
      memoryUsage: humanBytes(usage),
      memoryLimit: humanBytes(limit),
      memoryPercent: limit > 0 ? Math.round((usage / limit) * 10000) / 100 : 0,
      cpuPercent: cpu,
      pids: stats_?.pids_stats?.current ?? 0,
      network: (inspect.HostConfig.NetworkMode ?? "") !== "none",
      ipAddress: ipOf(inspect),
      ports: portsOf(inspect),
      processes: processList
    })
  }).pipe(Effect.withSpan("Container.info", { attributes: { containerId } }))

const sampleWith = <E>(
  stats: (id: string) => Effect.Effect<ContainerStats | undefined, E>,
  containerId: string
) =>
  Effect.gen(function* () {
    const before = yield* Clock.currentTimeMillis
    const result = yield* stats(containerId)
    const after = yield* Clock.currentTimeMillis
    const read = parseTime(result?.read)?.getTime()
    return { stats: result, at: read ?? (before + after) / 2 } satisfies Sample
  })

/**
 * The repository and tag to commit `imageName` as. Podman stores a bare
 * `x` as `docker.io/library/x` but looks a bare name up as `localhost/x`
 * first, so a bare name is committed as `localhost/x` there.
 */
export const snapshotRef = (
  imageName: string,
  kind: EngineKind
): Effect.Effect<{ readonly repo: string; readonly tag: string }, InvalidOption> =>
  Effect.gen(function* () {
    const image = yield* validateImage(imageName)
    if (image.includes("@")) {
      return yield* new InvalidOption({
        option: "imageName",
        detail: `${image}: a snapshot takes a tag, not a digest`
      })
    }
    const slash = image.lastIndexOf("/")
    const colon = image.lastIndexOf(":")
    const [repo, tag] = colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, "latest"]
    const firstPart = repo.split("/")[0] ?? ""
    const hasRegistry =
      repo.includes("/") && (firstPart.includes(".") || firstPart.includes(":") || firstPart === "localhost")
    return { repo: kind === "podman" && !hasRegistry ? `localhost/${repo}` : repo, tag }
  })
