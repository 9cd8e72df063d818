/**
 * pocketdock's Effect API: services, Layers, schemas and typed errors.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ContainerService, PocketDock } from "pocketdock/effect"
 *
 * const program = Effect.gen(function* () {
 *   const containers = yield* ContainerService
 *   const sandbox = yield* containers.scoped({ image: "pocketdock/minimal-python" })
 *   const result = yield* sandbox.run("echo hello")
 *   console.log(result.stdout)
 * }).pipe(Effect.scoped, Effect.provide(PocketDock.layer()))
 * ```
 *
 * @since 0.1.0
 */
export * as Images from "./internal/images.js"
export { listProfiles, resolveProfile } from "./internal/profiles.js"
export * as ContainerPoolLive from "./layers/ContainerPoolLive.js"
export * as ContainerServiceLive from "./layers/ContainerServiceLive.js"
export * as EngineLive from "./layers/EngineLive.js"
export * as PocketDock from "./layers/PocketDock.js"
export * as ProjectServiceLive from "./layers/ProjectServiceLive.js"
export * as SessionServiceLive from "./layers/SessionServiceLive.js"
export * from "./schemas/Container.js"
export * from "./schemas/ExecResult.js"
export * from "./schemas/Project.js"
export * from "./services/ContainerPool.js"
export * from "./services/ContainerService.js"
export * from "./services/Engine.js"
export * from "./services/PocketDockError.js"
export * from "./services/Process.js"
export * from "./services/ProjectService.js"
export * from "./services/SessionService.js"
