/**
 * The live `ProjectService` and the `ProjectHooks` that `ContainerService`
 * uses, on the local filesystem (`@effect/platform` FileSystem and Path).
 *
 * @since 0.1.0
 */
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as InstanceLog from "../internal/instanceLog.js"
import { generateName, Labels, validateName } from "../internal/options.js"
import {
  CONFIG_FILES,
  decodeConfig,
  defaultConfig,
  encodeConfig,
  encodeInstance,
  HISTORY_FILE,
  INSTANCE_FILE,
  INSTANCES_DIR,
  PROJECT_DIR
} from "../internal/projectFiles.js"
import { DoctorReport, HistoryEntry, InstanceMetadata, ProjectConfig } from "../schemas/Project.js"
import type { CreateOptions } from "../services/ContainerService.js"
import { Engine } from "../services/Engine.js"
import {
  type LoadedConfig,
  type LogKind,
  ProjectHooks,
  ProjectIOError,
  ProjectNotInitialized,
  ProjectService
} from "../services/ProjectService.js"

const ioError = (path: string) => (error: PlatformError) =>
  new ProjectIOError({ path, detail: error.message })

/**
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const engine = yield* Engine
  const platform = Layer.mergeAll(Layer.succeed(FileSystem.FileSystem, fs), Layer.succeed(Path.Path, path))

  const configFileIn = (root: string) =>
    Effect.gen(function* () {
      for (const name of CONFIG_FILES) {
        const file = path.join(root, PROJECT_DIR, name)
        if (yield* fs.exists(file).pipe(Effect.mapError(ioError(file)))) return Option.some(file)
      }
      return Option.none<string>()
    })

  const findProjectRoot = (start?: string) =>
    Effect.gen(function* () {
      let dir = path.resolve(start ?? process.cwd())
      for (;;) {
        if (Option.isSome(yield* configFileIn(dir))) return Option.some(dir)
        const parent = path.dirname(dir)
        if (parent === dir) return Option.none<string>()
        dir = parent
      }
    }).pipe(Effect.withSpan("ProjectService.findProjectRoot"))

  const readConfig = (root: string) =>
    Effect.gen(function* () {
      const file = yield* configFileIn(root)
      if (Option.isNone(file)) return defaultConfig()
      const text = yield* fs.readFileString(file.value).pipe(Effect.mapError(ioError(file.value)))
      return yield* decodeConfig(file.value, text)
    })

  const loadConfig = (
    options: { readonly start?: string | undefined; readonly socketPath?: string | undefined } = {}
  ) =>
    Effect.gen(function* () {
      const root = yield* findProjectRoot(options.start)
      const config = Option.isSome(root) ? yield* readConfig(root.value) : defaultConfig()
      const env = process.env.POCKETDOCK_SOCKET
      const loaded: LoadedConfig =
        options.socketPath !== undefined
          ? { root, config, socketPath: options.socketPath, socketSource: "explicit" }
          : env !== undefined && env !== ""
            ? { root, config, socketPath: env, socketSource: "env" }
            : config.socket !== null
              ? { root, config, socketPath: config.socket, socketSource: "project" }
              : { root, config, socketPath: undefined, socketSource: "auto" }
      return loaded
    }).pipe(Effect.withSpan("ProjectService.loadConfig"))

  const projectNameOf = (root: string, config: ProjectConfig) =>
    config.projectName !== "" ? config.projectName : path.basename(root)

  const initProject = (at?: string, options: { readonly projectName?: string | undefined } = {}) =>
    Effect.gen(function* () {
      const root = path.resolve(at ?? process.cwd())
      const dir = path.join(root, PROJECT_DIR)
      yield* fs
        .makeDirectory(path.join(dir, INSTANCES_DIR), { recursive: true })
        .pipe(Effect.mapError(ioError(dir)))
      if (Option.isNone(yield* configFileIn(root))) {
        const file = path.join(dir, CONFIG_FILES[0])
        const content = encodeConfig(
          new ProjectConfig({ ...defaultConfig(), projectName: options.projectName ?? path.basename(root) })
        )
        yield* fs.writeFileString(file, content, { flag: "wx" }).pipe(
          Effect.catchIf(
            (e) => e._tag === "SystemError" && e.reason === "AlreadyExists",
            () => Effect.void
          ),
          Effect.mapError(ioError(file))
        )
      }
      return root
    }).pipe(Effect.withSpan("ProjectService.initProject"))

  const instancesDirOf = (root: string) => path.join(root, PROJECT_DIR, INSTANCES_DIR)

  const doctor = (options: { readonly projectRoot?: string | undefined } = {}) =>
    Effect.gen(function* () {
      const start = path.resolve(options.projectRoot ?? process.cwd())
      const root = yield* findProjectRoot(start)
      if (Option.isNone(root)) return yield* new ProjectNotInitialized({ path: start })
      const config = yield* readConfig(root.value)
      const instances = instancesDirOf(root.value)
      const dirs = (yield* fs.exists(instances).pipe(Effect.mapError(ioError(instances))))
        ? yield* fs.readDirectory(instances).pipe(Effect.mapError(ioError(instances)))
        : []
      const containers = yield* engine.listContainers([
        `${Labels.managed}=true`,
        `${Labels.project}=${projectNameOf(root.value, config)}`
      ])
      const persistent = new Set(
        containers
          .filter((c) => c.Labels?.[Labels.persist] === "true")
          .map((c) => (c.Names[0] ?? "").replace(/^\//, ""))
      )
      const dirSet = new Set(dirs)
      return new DoctorReport({
        orphanedContainers: [...persistent].filter((name) => !dirSet.has(name)).sort(),
        staleInstanceDirs: dirs.filter((name) => !persistent.has(name)).sort(),
        healthy: dirs.filter((name) => persistent.has(name)).length
      })
    }).pipe(Effect.withSpan("ProjectService.doctor"))

  // The configuration of the project an instance directory belongs to, read once per process.
  const configs = new Map<string, ProjectConfig>()
  const rootOfInstance = (dataPath: string) => path.dirname(path.dirname(path.dirname(dataPath)))
  const configOfInstance = (dataPath: string) => {
    const root = rootOfInstance(dataPath)
    const cached = configs.get(root)
    return cached !== undefined
      ? Effect.succeed(cached)
      : readConfig(root).pipe(Effect.tap((config) => Effect.sync(() => configs.set(root, config))))
  }

  const appendLog = (dataPath: string, kind: LogKind, data: string | Uint8Array) =>
    Effect.gen(function* () {
      if (dataPath === "") return
      const config = yield* configOfInstance(dataPath)
      if (!config.autoLog) return
      yield* InstanceLog.append(dataPath, kind, data, config).pipe(
        Effect.provide(platform),
        Effect.mapError(ioError(path.join(dataPath, "logs")))
      )
    })

  const service: ProjectService = { initProject, findProjectRoot, loadConfig, doctor, appendLog }

  const prepare = (options: CreateOptions) =>
    Effect.gen(function* () {
      if (options.project === "") return { options, dataPath: "" }
      const loaded = yield* loadConfig({ start: options.projectRoot })
      if (Option.isNone(loaded.root)) return { options, dataPath: "" }
      const root = loaded.root.value
      const config = loaded.config
      configs.set(root, config)
      const project = projectNameOf(root, config)
      if (options.project !== undefined && options.project !== project) return { options, dataPath: "" }
      const persist = options.persist ?? config.defaultPersist
      const profile =
        options.profile ?? (options.image === undefined ? (config.defaultProfile ?? undefined) : undefined)
      const name = yield* validateName(options.name ?? generateName())
      const prepared: CreateOptions = { ...options, project, persist, profile, name }
      return { options: prepared, dataPath: persist ? path.join(instancesDirOf(root), name) : "" }
    })

  const created = (
    dataPath: string,
    container: { readonly id: string; readonly options: CreateOptions; readonly image: string }
  ) =>
    Effect.gen(function* () {
      const o = container.options
      const metadata = new InstanceMetadata({
        containerId: container.id,
        name: o.name ?? path.basename(dataPath),
        image: container.image,
        createdAt: new Date().toISOString(),
        persist: o.persist === true,
        project: o.project ?? "",
        profile: o.profile,
        memLimit: o.memLimit,
        cpuPercent: o.cpuPercent,
        timeout: o.timeout,
        ports: o.ports === undefined ? undefined : Object.fromEntries(Object.entries(o.ports)),
        volumes: o.volumes,
        devices: o.devices
      })
      yield* fs
        .makeDirectory(path.join(dataPath, "logs"), { recursive: true })
        .pipe(Effect.mapError(ioError(dataPath)))
      const file = path.join(dataPath, INSTANCE_FILE)
      // write-then-rename: another process never reads half a file
      const temp = `${file}.${process.pid}.tmp`
      yield* fs.writeFileString(temp, encodeInstance(metadata)).pipe(Effect.mapError(ioError(temp)))
      yield* fs.rename(temp, file).pipe(Effect.mapError(ioError(file)))
    })

  const encodeEntry = Schema.encodeSync(HistoryEntry)
  const encoder = new TextEncoder()
  const record = (dataPath: string, entry: HistoryEntry) => {
    const file = path.join(dataPath, HISTORY_FILE)
    // One write of one whole line with O_APPEND: concurrent writers interleave lines, never bytes.
    return fs
      .writeFile(file, encoder.encode(`${JSON.stringify(encodeEntry(entry))}\n`), { flag: "a" })
      .pipe(Effect.catchAll((error) => Effect.logWarning(`pocketdock: history line lost: ${error.message}`)))
  }

  const log = (dataPath: string, kind: LogKind, data: string | Uint8Array) =>
    appendLog(dataPath, kind, data).pipe(
      Effect.catchAll((error) => Effect.logWarning(`pocketdock: log output lost: ${error.message}`))
    )

  const autoLog = (dataPath: string) =>
    dataPath === ""
      ? Effect.succeed(false)
      : configOfInstance(dataPath).pipe(
          Effect.map((config) => config.autoLog),
          Effect.catchAll((error) =>
            Effect.as(Effect.logWarning(`pocketdock: output not logged: ${error.message}`), false)
          )
        )

  const removeInstance = (dataPath: string) =>
    // the path comes from a container label: remove only what looks like an instance directory
    path.basename(path.dirname(dataPath)) === INSTANCES_DIR &&
    path.basename(path.dirname(path.dirname(dataPath))) === PROJECT_DIR
      ? fs.remove(dataPath, { recursive: true, force: true }).pipe(Effect.mapError(ioError(dataPath)))
      : Effect.logWarning(`pocketdock: not removing ${dataPath}: not an instance directory`)

  const hooks: ProjectHooks = { prepare, created, record, log, autoLog, removeInstance }
  return { service, hooks }
})

/**
 * `ProjectService` and the `ProjectHooks` of `ContainerService`, on the local
 * filesystem and the `Engine` in context.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<ProjectService | ProjectHooks, never, Engine> = Layer.effectContext(
  make.pipe(
    Effect.map(({ service, hooks }) =>
      Context.make(ProjectService, service).pipe(Context.add(ProjectHooks, hooks))
    )
  )
).pipe(Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)))
