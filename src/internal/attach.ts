/**
 * Attaching to a sandbox that already runs (made by another process, e.g. an
 * earlier `pocketdock create`), by name or id.
 *
 * The handle does not own the container: no lease is taken, and closing the
 * caller's scope only closes the handle's own scope (its sessions and
 * processes), never the container. `shutdown()` on the handle still shuts the
 * container down, as for any handle.
 */
import { Effect, ExecutionStrategy, Scope } from "effect"
import type { AttachError, Container } from "../services/ContainerService.js"
import { ContainerNotFound, ContainerNotRunning, type Engine } from "../services/Engine.js"
import { DEFAULT_TIMEOUT_SECONDS, Labels, type ResolvedCreate } from "./options.js"

/** Builds the handle; supplied by the ContainerService implementation. */
export type MakeHandle = (
  resolved: ResolvedCreate,
  id: string,
  socketPath: string,
  scope: Scope.CloseableScope
) => Container

/**
 * Looks the container up, checks it is pocketdock's and running, and returns a
 * handle whose scope is a child of the caller's.
 */
export const attach = (
  engine: Engine,
  nameOrId: string,
  makeHandle: MakeHandle
): Effect.Effect<Container, AttachError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Effect.annotateCurrentSpan({ container: nameOrId })
    // An empty or path-like name would address another endpoint, not a container.
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(nameOrId)) {
      return yield* new ContainerNotFound({ containerId: nameOrId })
    }
    const info = yield* engine.info
    const inspect = yield* engine.inspectContainer(nameOrId)
    const labels = inspect.Config.Labels ?? {}
    if (labels[Labels.managed] !== "true") return yield* new ContainerNotFound({ containerId: nameOrId })
    if (!inspect.State.Running) return yield* new ContainerNotRunning({ containerId: nameOrId })
    const timeout = Number(labels[Labels.timeout])
    const name = inspect.Name.replace(/^\//, "")
    const resolved: ResolvedCreate = {
      spec: {
        image: inspect.Config.Image,
        name,
        cmd: inspect.Config.Cmd ?? [],
        // an ephemeral sandbox's main process is its lease: made again (a fresh reboot), it needs the same stdin
        stdinOnce: inspect.Config.OpenStdin === true,
        labels,
        network: inspect.HostConfig.NetworkMode !== "none",
        autoRemove: inspect.HostConfig.AutoRemove === true,
        init: true
      },
      timeout: timeout > 0 ? timeout : DEFAULT_TIMEOUT_SECONDS,
      persist: labels[Labels.persist] === "true",
      project: labels[Labels.project] ?? "",
      user: undefined
    }
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    return makeHandle(resolved, inspect.Id, info.socketPath, scope)
  }).pipe(Effect.withSpan("ContainerService.attach"))
