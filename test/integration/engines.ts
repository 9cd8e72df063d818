/**
 * The engines every integration test runs against: both, unless
 * POCKETDOCK_TEST_ENGINES names fewer. A missing engine fails its tests:
 * it is never skipped silently.
 */
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { Context, Effect, Layer } from "effect"
import * as PocketDock from "../../src/layers/PocketDock.js"
import { type Container, ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"

export interface TestEngine {
  readonly name: "podman" | "docker"
  readonly socketPath: string
}

const all: ReadonlyArray<TestEngine> = [
  { name: "podman", socketPath: process.env.POCKETDOCK_TEST_PODMAN_SOCKET ?? "/run/podman/podman.sock" },
  { name: "docker", socketPath: process.env.POCKETDOCK_TEST_DOCKER_SOCKET ?? "/var/run/docker.sock" }
]

const wanted = (process.env.POCKETDOCK_TEST_ENGINES ?? "podman docker").split(/[\s,]+/).filter(Boolean)

export const engines: ReadonlyArray<TestEngine> = all.filter((engine) => wanted.includes(engine.name))

/** The small busybox image made by scripts/engine-setup.sh. */
export const BUSYBOX = "pocketdock/busybox"
/** Debian + python3, made by scripts/engine-setup.sh. */
export const PYTHON = "pocketdock/minimal-python"

export const servicesFor = (engine: TestEngine) => PocketDock.layer({ socketPath: engine.socketPath })

/** A new temporary directory, removed with the scope. */
export const scopedTempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )

/** Removes a container by name or id; already gone, or any failure, is fine. */
export const removeQuietly = (name: string) =>
  Effect.flatMap(Engine, (engine) => engine.removeContainer(name)).pipe(Effect.ignore)

/** Whether a container with this name or id still exists. */
export const containerExists = (id: string) =>
  Effect.flatMap(Engine, (engine) => engine.inspectContainer(id)).pipe(
    Effect.as(true),
    Effect.catchTag("ContainerNotFound", () => Effect.succeed(false))
  )

/** One sandbox shared by the tests of a block that do not disturb each other. */
export class Sandbox extends Context.Tag("test/Sandbox")<Sandbox, Container>() {}

/** A busybox `Sandbox` on `engine`, with every service, removed with the layer. */
export const withSandbox = (engine: TestEngine) =>
  Layer.scoped(
    Sandbox,
    Effect.flatMap(ContainerService, (service) => service.scoped({ image: BUSYBOX }))
  ).pipe(Layer.provideMerge(servicesFor(engine)))
