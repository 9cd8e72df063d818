/**
 * Validation of user options before anything reaches a URL or the engine.
 */
import * as Crypto from "node:crypto"
import * as Path from "node:path"
import { Effect } from "effect"
import { type CreateOptions, InvalidOption } from "../services/ContainerService.js"
import type { ContainerSpec } from "../services/Engine.js"

export const DEFAULT_IMAGE = "pocketdock/minimal-python"

/**
 * An ephemeral container's main process: it reads the stdin this process
 * holds open (`stdinOnce`) and returns at end-of-file, which stops the
 * container and so removes it.
 */
export const LEASE_CMD: ReadonlyArray<string> = ["cat"]

export const DEFAULT_TIMEOUT_SECONDS = 30
export const DEFAULT_MAX_OUTPUT = 10 * 1024 * 1024
/** Default most processes in a sandbox: room for real work, not for a fork bomb. */
export const DEFAULT_PIDS_LIMIT = 512
/**
 * Capabilities a sandbox keeps by default; every other one is dropped.
 * KILL: pocketdock kills commands of other users inside the container as root.
 */
export const DEFAULT_CAPABILITIES: ReadonlyArray<string> = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "SETUID",
  "SETGID",
  "KILL",
  "NET_BIND_SERVICE"
]
/** The non-root user commands run as when the image has it. */
export const SANDBOX_USER = "sandbox"

/** Labels that mark pocketdock's own containers. */
export const Labels = {
  managed: "pocketdock.managed",
  persist: "pocketdock.persist",
  project: "pocketdock.project",
  instance: "pocketdock.instance",
  timeout: "pocketdock.timeout",
  profile: "pocketdock.profile",
  /** The instance directory of a persistent container in a project. */
  dataPath: "pocketdock.data-path"
} as const

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/
// repository[:tag][@digest], lowercase path components, optional registry host:port
const IMAGE = /^[a-z0-9][a-z0-9._/:-]*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/

const invalid = (option: string, detail: string) => new InvalidOption({ option, detail })

export const validateName = (name: string): Effect.Effect<string, InvalidOption> =>
  NAME.test(name)
    ? Effect.succeed(name)
    : Effect.fail(invalid("name", `${JSON.stringify(name)}: use letters, digits, '_', '.', '-' (max 128)`))

export const validateImage = (image: string): Effect.Effect<string, InvalidOption> =>
  IMAGE.test(image) && !image.includes("..") && !image.includes("//")
    ? Effect.succeed(image)
    : Effect.fail(invalid("image", `${JSON.stringify(image)} is not an image reference`))

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** `"256m"`, `"1g"`, `"512k"`, `"1.5g"`, or a number of bytes. */
export const parseMemory = (value: string | number): Effect.Effect<number, InvalidOption> => {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value > 0
      ? Effect.succeed(value)
      : Effect.fail(invalid("memLimit", `${value} is not a positive whole number of bytes`))
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt])?b?\s*$/i.exec(value)
  const amount = match?.[1]
  if (amount === undefined) {
    return Effect.fail(invalid("memLimit", `${JSON.stringify(value)}: expected e.g. "256m", "1g" or bytes`))
  }
  const bytes = Math.floor(Number(amount) * (UNITS[(match?.[2] ?? "b").toLowerCase()] ?? 1))
  return bytes > 0 ? Effect.succeed(bytes) : Effect.fail(invalid("memLimit", `${value} is zero`))
}

const validPort = (port: number) => Number.isInteger(port) && port >= 0 && port <= 65535

const absolute = (option: string, path: string): Effect.Effect<string, InvalidOption> =>
  path.startsWith("/") && !path.includes(":") && !path.includes("\0")
    ? Effect.succeed(Path.posix.normalize(path))
    : Effect.fail(invalid(option, `${JSON.stringify(path)} must be an absolute path without ':'`))

export const generateName = (): string => `pd-${Crypto.randomBytes(4).toString("hex")}`

/** What pocketdock decided for a new container, ready for the engine. */
export interface ResolvedCreate {
  readonly spec: ContainerSpec
  readonly timeout: number
  readonly persist: boolean
  readonly project: string
  /** The user asked for; undefined: `sandbox` if the image has it (found after start). */
  readonly user: string | undefined
}

export const resolveCreate = (
  options: CreateOptions,
  defaults: { readonly image: string; readonly network: boolean; readonly profile?: string | undefined }
): Effect.Effect<ResolvedCreate, InvalidOption> =>
  Effect.gen(function* () {
    const image = yield* validateImage(options.image ?? defaults.image)
    const name = yield* validateName(options.name ?? generateName())
    const timeout = options.timeout ?? DEFAULT_TIMEOUT_SECONDS
    if (!(timeout > 0)) return yield* invalid("timeout", `${timeout}: must be a positive number of seconds`)
    const memoryBytes = options.memLimit === undefined ? undefined : yield* parseMemory(options.memLimit)
    const cpu = options.cpuPercent
    if (cpu !== undefined && !(cpu > 0 && cpu <= 100 * 1024)) {
      return yield* invalid("cpuPercent", `${cpu}: must be above 0 (100 = one core)`)
    }
    const ports: Array<{ hostPort: number; containerPort: number }> = []
    for (const [host, container] of Object.entries(options.ports ?? {})) {
      const hostPort = Number(host)
      if (!validPort(hostPort) || !validPort(container) || container === 0) {
        return yield* invalid("ports", `${host} -> ${container}: ports are whole numbers 0-65535`)
      }
      ports.push({ hostPort, containerPort: container })
    }
    const binds: Array<string> = []
    for (const [host, target] of Object.entries(options.volumes ?? {})) {
      const [containerPath = "", mode, ...rest] = target.split(":")
      if (rest.length > 0 || (mode !== undefined && mode !== "ro" && mode !== "rw")) {
        return yield* invalid("volumes", `${JSON.stringify(target)}: expected /path or /path:ro`)
      }
      const hostPath = yield* absolute("volumes", Path.resolve(host))
      const inside = yield* absolute("volumes", containerPath)
      binds.push(`${hostPath}:${inside}:${mode ?? "rw"}`)
    }
    const devices: Array<{ host: string; container: string }> = []
    for (const device of options.devices ?? []) {
      const [host = "", container = host, ...rest] = device.split(":")
      if (rest.length > 0)
        return yield* invalid("devices", `${JSON.stringify(device)}: expected /dev/x[:/dev/y]`)
      devices.push({
        host: yield* absolute("devices", host),
        container: yield* absolute("devices", container)
      })
    }
    const env: Array<string> = []
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
        return yield* invalid("env", `${JSON.stringify(key)} is not a name`)
      env.push(`${key}=${value}`)
    }
    const user = options.user
    if (
      user !== undefined &&
      !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/.test(user)
    ) {
      return yield* invalid("user", `${JSON.stringify(user)}: a user name or uid, optionally :group`)
    }
    const pidsLimit = options.pidsLimit ?? DEFAULT_PIDS_LIMIT
    if (!Number.isSafeInteger(pidsLimit) || pidsLimit < 0) {
      return yield* invalid("pidsLimit", `${pidsLimit}: a whole number of processes (0: engine default)`)
    }
    const capabilities = options.capabilities ?? DEFAULT_CAPABILITIES
    const capAdd: Array<string> = []
    if (capabilities !== "engine-default") {
      for (const cap of capabilities) {
        const name = cap.toUpperCase().replace(/^CAP_/, "")
        if (!/^[A-Z_]{2,32}$/.test(name)) return yield* invalid("capabilities", `${JSON.stringify(cap)}`)
        capAdd.push(name)
      }
    }
    const project = options.project ?? ""
    if (project !== "") yield* validateName(project).pipe(Effect.mapError(() => invalid("project", project)))
    const persist = options.persist === true
    const labels: Record<string, string> = {
      [Labels.managed]: "true",
      [Labels.persist]: String(persist),
      [Labels.project]: project,
      [Labels.instance]: name,
      [Labels.timeout]: String(timeout)
    }
    if (defaults.profile !== undefined) labels[Labels.profile] = defaults.profile
    const spec: ContainerSpec = {
      image,
      name,
      // An ephemeral container's main process is its lease (see ContainerServiceLive):
      // it ends when this process's attached stdin closes, and the container
      // removes itself, even when this process dies.
      cmd: persist ? ["sleep", "infinity"] : LEASE_CMD,
      stdinOnce: !persist,
      labels,
      env,
      network: options.network ?? defaults.network,
      autoRemove: !persist,
      init: true,
      ...(pidsLimit === 0 ? {} : { pidsLimit }),
      ...(capabilities === "engine-default" ? {} : { capDrop: ["ALL"], capAdd }),
      ...(options.noNewPrivileges === false ? {} : { securityOpt: ["no-new-privileges"] }),
      ...(memoryBytes === undefined ? {} : { memoryBytes }),
      ...(cpu === undefined ? {} : { nanoCpus: Math.round((cpu / 100) * 1e9) }),
      ...(ports.length === 0 ? {} : { ports }),
      ...(binds.length === 0 ? {} : { binds }),
      ...(devices.length === 0 ? {} : { devices })
    }
    return { spec, timeout, persist, project, user: user === "root" ? "0" : user }
  })
