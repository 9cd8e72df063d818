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
export * as ContainerServiceLive from "./layers/ContainerServiceLive.js"
export * as EngineLive from "./layers/EngineLive.js"
export * as PocketDock from "./layers/PocketDock.js"
export * from "./schemas/Container.js"
export * from "./schemas/ExecResult.js"
export * from "./services/ContainerService.js"
export * from "./services/Engine.js"
export * from "./services/PocketDockError.js"
export * from "./services/Process.js"
