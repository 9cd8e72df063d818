/**
 * Shapes of the engine's JSON answers (Docker Engine API, as served by Docker
 * and by Podman's compat layer). Fields differ between engines and versions, so
 * everything that is not always present is optional; only what pocketdock
 * reads is declared.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const Labels = Schema.NullishOr(Schema.Record({ key: Schema.String, value: Schema.String }))

/** `GET /version` */
export class VersionInfo extends Schema.Class<VersionInfo>("VersionInfo")({
  Version: Schema.String,
  ApiVersion: Schema.String,
  MinAPIVersion: Schema.optional(Schema.String),
  Os: Schema.optional(Schema.String),
  Arch: Schema.optional(Schema.String),
  Components: Schema.optional(
    Schema.NullOr(
      Schema.Array(Schema.Struct({ Name: Schema.String, Version: Schema.optional(Schema.String) }))
    )
  )
}) {}

/** `{"Id": ...}` answers: container create, exec create, commit. */
export const IdResponse = Schema.Struct({ Id: Schema.String })

/** Error bodies: Docker `{"message"}`, Podman `{"cause","message","response"}`. */
export const ErrorBody = Schema.Struct({ message: Schema.String, cause: Schema.optional(Schema.String) })

const PortBinding = Schema.Struct({
  HostIp: Schema.optional(Schema.String),
  HostPort: Schema.optional(Schema.String)
})

/** `NetworkSettings.Ports`: `"80/tcp" -> [{HostIp, HostPort}] | null` */
export const PortMap = Schema.NullishOr(
  Schema.Record({ key: Schema.String, value: Schema.NullishOr(Schema.Array(PortBinding)) })
)

/** `GET /containers/{id}/json` */
export class ContainerInspect extends Schema.Class<ContainerInspect>("ContainerInspect")({
  Id: Schema.String,
  Name: Schema.String,
  Created: Schema.String,
  Image: Schema.String,
  State: Schema.Struct({
    Status: Schema.String,
    Running: Schema.Boolean,
    ExitCode: Schema.optional(Schema.NullOr(Schema.Number)),
    StartedAt: Schema.optional(Schema.String),
    FinishedAt: Schema.optional(Schema.String)
  }),
  Config: Schema.Struct({
    Image: Schema.String,
    Labels: Labels,
    Cmd: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
    // Podman reports StdinOnce false whatever was asked, and closes stdin when the attached client goes anyway
    OpenStdin: Schema.optional(Schema.Boolean),
    Env: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
    User: Schema.optional(Schema.String),
    WorkingDir: Schema.optional(Schema.String)
  }),
  HostConfig: Schema.Struct({
    Memory: Schema.optional(Schema.NullOr(Schema.Number)),
    NanoCpus: Schema.optional(Schema.NullOr(Schema.Number)),
    NetworkMode: Schema.optional(Schema.String),
    AutoRemove: Schema.optional(Schema.Boolean),
    Binds: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
    PortBindings: PortMap
  }),
  NetworkSettings: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        IPAddress: Schema.optional(Schema.String),
        Ports: PortMap,
        Networks: Schema.optional(
          Schema.NullOr(
            Schema.Record({
              key: Schema.String,
              value: Schema.Struct({ IPAddress: Schema.optional(Schema.String) })
            })
          )
        )
      })
    )
  )
}) {}

/** One entry of `GET /containers/json` */
export class ContainerSummary extends Schema.Class<ContainerSummary>("ContainerSummary")({
  Id: Schema.String,
  Names: Schema.Array(Schema.String),
  Image: Schema.String,
  Created: Schema.Number,
  State: Schema.String,
  Status: Schema.optional(Schema.String),
  Labels: Labels
}) {}

/** `GET /exec/{id}/json` */
export class ExecInspect extends Schema.Class<ExecInspect>("ExecInspect")({
  ID: Schema.String,
  Running: Schema.Boolean,
  ExitCode: Schema.NullishOr(Schema.Number),
  Pid: Schema.optional(Schema.Number)
}) {}

/** `GET /containers/{id}/stats?stream=false` (fields common to both engines) */
export class ContainerStats extends Schema.Class<ContainerStats>("ContainerStats")({
  read: Schema.optional(Schema.String),
  memory_stats: Schema.optional(
    Schema.Struct({ usage: Schema.optional(Schema.Number), limit: Schema.optional(Schema.Number) })
  ),
  cpu_stats: Schema.optional(
    Schema.Struct({
      cpu_usage: Schema.Struct({ total_usage: Schema.Number }),
      online_cpus: Schema.optional(Schema.Number)
    })
  ),
  pids_stats: Schema.optional(Schema.Struct({ current: Schema.optional(Schema.Number) }))
}) {}

/** `GET /containers/{id}/top` */
export const TopResult = Schema.Struct({
  Titles: Schema.NullishOr(Schema.Array(Schema.String)),
  Processes: Schema.NullishOr(Schema.Array(Schema.Array(Schema.String)))
})

/** The `X-Docker-Container-Path-Stat` header of the archive endpoints, base64 JSON. */
export const PathStat = Schema.Struct({
  name: Schema.String,
  size: Schema.Number,
  mode: Schema.Number,
  mtime: Schema.optional(Schema.String),
  linkTarget: Schema.optional(Schema.String)
})
export type PathStat = typeof PathStat.Type

/** One line of `POST /build`, `POST /images/load`, `POST /images/create` progress. */
export const ProgressLine = Schema.Struct({
  stream: Schema.optional(Schema.String),
  status: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
  errorDetail: Schema.optional(Schema.Struct({ message: Schema.optional(Schema.String) })),
  aux: Schema.optional(Schema.Struct({ ID: Schema.optional(Schema.String) }))
})
export type ProgressLine = typeof ProgressLine.Type

/** One entry of `GET /images/json` */
export const ImageSummary = Schema.Struct({
  Id: Schema.String,
  RepoTags: Schema.NullishOr(Schema.Array(Schema.String)),
  Labels: Labels,
  Size: Schema.optional(Schema.Number),
  Created: Schema.optional(Schema.Number)
})
export type ImageSummary = typeof ImageSummary.Type

/** `GET /images/{name}/json` */
export const ImageInspect = Schema.Struct({
  Id: Schema.String,
  RepoTags: Schema.NullishOr(Schema.Array(Schema.String)),
  Config: Schema.optional(
    Schema.NullOr(Schema.Struct({ Labels: Labels, User: Schema.optional(Schema.String) }))
  )
})
export type ImageInspect = typeof ImageInspect.Type

/** `POST /containers/{id}/wait` */
export const WaitResult = Schema.Struct({
  StatusCode: Schema.Number,
  Error: Schema.optional(Schema.NullOr(Schema.Struct({ Message: Schema.optional(Schema.String) })))
})
