import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  buildProfile,
  createNewContainer,
  exportImage,
  importImage,
  listProfiles,
  ProfileNotFound,
  ProfileUnavailable,
  resolveProfile
} from "../../src/index.js"
import * as Images from "../../src/internal/images.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { Engine } from "../../src/services/Engine.js"
import { BUSYBOX, engines, servicesFor } from "./engines.js"

const NAMES = ["minimal-python", "minimal-node", "minimal-bun", "dev", "agent", "embedded"]

describe("profiles", () => {
  it("lists the six profiles, each with a Dockerfile", async () => {
    const profiles = listProfiles()
    expect(profiles.map((p) => p.name)).toEqual(NAMES)
    for (const profile of profiles) {
      expect(profile.imageTag).toBe(`pocketdock/${profile.name}`)
      const dockerfile = await Fs.readFile(Path.join(profile.dockerfileDir, "Dockerfile"), "utf8")
      expect(dockerfile).toMatch(/^FROM pocketdock\//m)
    }
    expect(resolveProfile("dev").networkDefault).toBe(true)
    expect(() => resolveProfile("nope")).toThrow(ProfileNotFound)
  })
})

const BUILD_BUDGET_MS = 900_000

/** What each built profile must run, and print. */
const LANGUAGE_CHECKS: ReadonlyArray<readonly [string, string, string]> = [
  ["minimal-python", "python3 -c 'print(6 * 7)'", "42\n"],
  ["minimal-node", "node -e 'console.log(6 * 7)'", "42\n"],
  [
    "dev",
    "python3 -c 'print(6 * 7)' && node -e 'console.log(6 * 7)' && git --version | cut -c1-11",
    "42\n42\ngit version\n"
  ]
]

for (const engine of engines) {
  layer(servicesFor(engine), { excludeTestServices: true })(`profile builds [${engine.name}]`, (it) => {
    // Each build runs once per engine: an image built from the same files is reused (see the cache test).
    for (const [name, command, expected] of LANGUAGE_CHECKS) {
      it.scoped(
        `builds ${name} through the engine's build API and runs its language`,
        () =>
          Effect.gen(function* () {
            const lines: Array<string> = []
            const result = yield* Images.buildProfile(name, {
              onProgress: (line) => Effect.sync(() => lines.push(line))
            })
            expect(result.image).toBe(`pocketdock/${name}`)
            if (result.built) expect(lines.length).toBeGreaterThan(0)
            const image = yield* Effect.flatMap(Engine, (e) => e.inspectImage(result.image))
            expect(image.Config?.Labels?.[Images.ImageLabels.hash]).toBe(result.hash)

            const service = yield* ContainerService
            const sandbox = yield* service.scoped({ profile: name })
            expect(sandbox.image).toBe(`pocketdock/${name}`)
            const run = yield* sandbox.run(command)
            expect(run.stderr).toBe("")
            expect(run.stdout).toBe(expected)

            // the second time is a cache hit: same files, same hash, nothing built
            const again = yield* Images.buildProfile(name)
            expect(again.built).toBe(false)
            expect(again.hash).toBe(result.hash)
          }),
        // a first build apt-gets from the Debian mirror: minutes on a loaded machine (cached after)
        BUILD_BUDGET_MS
      )
    }

    it.scoped("the profile's network default applies unless overridden", () =>
      Effect.gen(function* () {
        const service = yield* ContainerService
        yield* Images.buildProfile("minimal-python")
        const offline = yield* service.scoped({ profile: "minimal-python" })
        const inspect = yield* Effect.flatMap(Engine, (e) => e.inspectContainer(offline.id))
        expect(inspect.HostConfig.NetworkMode).toBe("none")
        expect(inspect.Config.Labels?.["pocketdock.profile"]).toBe("minimal-python")
        const online = yield* service.scoped({ profile: "minimal-python", network: true })
        const inspectOnline = yield* Effect.flatMap(Engine, (e) => e.inspectContainer(online.id))
        expect(inspectOnline.HostConfig.NetworkMode).not.toBe("none")
        const unknown = yield* Effect.flip(service.create({ profile: "nope" }))
        expect(unknown._tag).toBe("ProfileNotFound")
      })
    )

    it.effect("minimal-bun is refused offline with a typed error", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Images.buildProfile("minimal-bun"))
        expect(error._tag).toBe("ProfileUnavailable")
      })
    )
  })

  describe(`image export and import [${engine.name}]`, () => {
    const socketPath = engine.socketPath
    it("exports an image to .tar and .tar.gz and imports it back; buildProfile through the facade", async () => {
      const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "pd-images-"))
      const tag = `pocketdock/pdtest-export-${engine.name}-${process.pid}`
      const { Agent, request } = await import("undici")
      const agent = new Agent({ connect: { socketPath } })
      const api = async (method: "POST" | "DELETE", path: string) => {
        const response = await request(`http://engine${path}`, { method, dispatcher: agent })
        await response.body.text()
        return response.statusCode
      }
      try {
        const lines: Array<string> = []
        const built = await buildProfile("minimal-python", { socketPath, onProgress: (l) => lines.push(l) })
        expect(built.image).toBe("pocketdock/minimal-python")
        const bun = await buildProfile("minimal-bun", { socketPath }).catch((e: unknown) => e)
        expect(bun).toBeInstanceOf(ProfileUnavailable)

        expect(
          await api(
            "POST",
            `/images/${encodeURIComponent(BUSYBOX)}/tag?repo=${encodeURIComponent(tag)}&tag=latest`
          )
        ).toBe(201)
        for (const file of ["busybox.tar", "busybox.tar.gz"]) {
          const path = Path.join(dir, file)
          await exportImage(tag, path, { socketPath })
          const head = (await Fs.readFile(path)).subarray(0, 2)
          expect(head[0] === 0x1f && head[1] === 0x8b).toBe(file.endsWith(".gz"))
          expect(await api("DELETE", `/images/${encodeURIComponent(tag)}`)).toBe(200)
          await importImage(path, { socketPath })
          await using sandbox = await createNewContainer({ image: tag, socketPath })
          expect((await sandbox.run("echo imported")).stdout).toBe("imported\n")
        }
        const missing = await exportImage("pocketdock/nope", Path.join(dir, "x.tar"), { socketPath }).catch(
          (e: unknown) => e
        )
        expect((missing as { _tag: string })._tag).toBe("ImageNotFound")
      } finally {
        await api("DELETE", `/images/${encodeURIComponent(tag)}`).catch(() => 0)
        await agent.close()
        await Fs.rm(dir, { recursive: true, force: true })
      }
    })
  })
}
