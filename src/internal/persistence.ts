/**
 * Persistent containers by name: resume, list, stop, destroy, prune. Only
 * containers labelled `pocketdock.managed=true` are seen; any other name is
 * `ContainerNotFound`.
 */
import { Effect } from "effect"
import { ContainerListItem } from "../schemas/Container.js"
import type { ContainerInspect, ContainerSummary } from "../schemas/EngineApi.js"
import { InvalidOption } from "../services/ContainerService.js"
import { ContainerNotFound, type Engine } from "../services/Engine.js"
import type { ProjectError } from "../services/ProjectService.js"
import { DEFAULT_TIMEOUT_SECONDS, Labels, type ResolvedCreate } from "./options.js"

const labelsOf = (labels: Readonly<Record<string, string>> | null | undefined) => labels ?? {}

/** The managed container of this name, or `ContainerNotFound`. */
export const inspectManaged = (engine: Engine, name: string) =>
  engine.inspectContainer(name).pipe(
    Effect.filterOrFail(
      (inspect: ContainerInspect) => labelsOf(inspect.Config.Labels)[Labels.managed] === "true",
      () => new ContainerNotFound({ containerId: name })
    )
  )

const toItem = (summary: ContainerSummary): ContainerListItem => {
  const labels = labelsOf(summary.Labels)
  return new ContainerListItem({
    id: summary.Id,
    name: (summary.Names[0] ?? "").replace(/^\//, ""),
    status: summary.State,
    image: summary.Image,
    createdAt: new Date(summary.Created * 1000).toISOString(),
    persist: labels[Labels.persist] === "true",
    project: labels[Labels.project] ?? ""
  })
}

const managedFilter = (project: string | undefined) =>
  project === undefined
    ? [`${Labels.managed}=true`]
    : [`${Labels.managed}=true`, `${Labels.project}=${project}`]

export const list = (engine: Engine, options: { readonly project?: string | undefined }) =>
  engine.listContainers(managedFilter(options.project)).pipe(
    Effect.map((summaries) => summaries.map(toItem)),
    Effect.withSpan("ContainerService.list")
  )

export const resume = (engine: Engine, name: string, options: { readonly timeout?: number | undefined }) =>
  Effect.gen(function* () {
    const inspect = yield* inspectManaged(engine, name)
    const labels = labelsOf(inspect.Config.Labels)
    if (labels[Labels.persist] !== "true") {
      return yield* new InvalidOption({
        option: "name",
        detail: `${name} is not a persistent container (ephemeral ones are removed when they stop)`
      })
    }
    const timeout = options.timeout ?? (Number(labels[Labels.timeout]) || DEFAULT_TIMEOUT_SECONDS)
    if (!(timeout > 0)) return yield* new InvalidOption({ option: "timeout", detail: `${timeout}` })
    if (!inspect.State.Running) yield* engine.startContainer(inspect.Id)
    const resolved: ResolvedCreate = {
      spec: {
        image: inspect.Config.Image,
        name: inspect.Name.replace(/^\//, ""),
        cmd: inspect.Config.Cmd ?? [],
        labels,
        network: inspect.HostConfig.NetworkMode !== "none",
        autoRemove: false,
        init: true
      },
      timeout,
      persist: true,
      project: labels[Labels.project] ?? "",
      user: undefined
    }
    return { id: inspect.Id, resolved, dataPath: labels[Labels.dataPath] ?? "" }
  })

export const stop = (engine: Engine, name: string) =>
  inspectManaged(engine, name).pipe(
    Effect.flatMap((inspect) => engine.stopContainer(inspect.Id, 10)),
    Effect.withSpan("ContainerService.stop", { attributes: { name } })
  )

export const destroy = (
  engine: Engine,
  name: string,
  removeInstance: (dataPath: string) => Effect.Effect<void, ProjectError>
) =>
  Effect.gen(function* () {
    const inspect = yield* inspectManaged(engine, name)
    yield* engine.removeContainer(inspect.Id)
    const dataPath = labelsOf(inspect.Config.Labels)[Labels.dataPath] ?? ""
    if (dataPath !== "") yield* removeInstance(dataPath)
  }).pipe(Effect.withSpan("ContainerService.destroy", { attributes: { name } }))

/** Removes stopped managed containers and their instance directories. */
export const prune = (
  engine: Engine,
  options: { readonly project?: string | undefined },
  removeInstance: (dataPath: string) => Effect.Effect<void, ProjectError>
) =>
  Effect.gen(function* () {
    const summaries = yield* engine.listContainers(managedFilter(options.project))
    const stopped = summaries.filter((s) => s.State !== "running" && s.State !== "paused")
    let removed = 0
    for (const summary of stopped) {
      yield* engine.removeContainer(summary.Id)
      const dataPath = labelsOf(summary.Labels)[Labels.dataPath] ?? ""
      if (dataPath !== "") yield* removeInstance(dataPath)
      removed++
    }
    return removed
  }).pipe(Effect.withSpan("ContainerService.prune"))
