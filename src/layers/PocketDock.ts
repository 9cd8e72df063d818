/**
 * The default wiring: every pocketdock service on one engine socket.
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import type { ContainerService } from "../services/ContainerService.js"
import type { Engine } from "../services/Engine.js"
import type { ProjectHooks, ProjectService } from "../services/ProjectService.js"
import type { SessionService } from "../services/SessionService.js"
import * as ContainerServiceLive from "./ContainerServiceLive.js"
import * as EngineLive from "./EngineLive.js"
import * as ProjectServiceLive from "./ProjectServiceLive.js"
import * as SessionServiceLive from "./SessionServiceLive.js"

/**
 * Everything pocketdock provides.
 *
 * @since 0.1.0
 */
export type PocketDockServices = Engine | ContainerService | SessionService | ProjectService | ProjectHooks

/**
 * Every service, on the given socket or the auto-detected one. Building it
 * does not touch the engine: the first call does.
 *
 * @since 0.1.0
 */
export const layer = (options: EngineLive.EngineOptions = {}): Layer.Layer<PocketDockServices> =>
  Layer.mergeAll(ContainerServiceLive.layer, SessionServiceLive.layer).pipe(
    Layer.provideMerge(ProjectServiceLive.layer),
    Layer.provideMerge(EngineLive.layer(options))
  )
