/**
 * The engines every integration test runs against: both, unless
 * POCKETDOCK_TEST_ENGINES names fewer. A missing engine fails its tests:
 * it is never skipped silently.
 */
import * as PocketDock from "../../src/layers/PocketDock.js"

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
