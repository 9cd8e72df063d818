/**
 * What pocketdock keeps on disk for a project: its configuration
 * (`.pocketdock/pocketdock.yaml`), each persistent instance's metadata
 * (`instances/NAME/instance.toml`) and command history (`history.jsonl`),
 * and what `doctor` and the profiles report.
 *
 * File fields are snake_case (as in the seed); the decoded values camelCase.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())

/**
 * `pocketdock.yaml` (or `pocketdock.toml`): every field optional, unknown
 * fields ignored.
 *
 * @since 0.1.0
 */
export class ProjectConfig extends Schema.Class<ProjectConfig>("ProjectConfig")({
  projectName: Schema.optionalWith(Schema.String, { default: () => "" }).pipe(Schema.fromKey("project_name")),
  /** Profile of containers created in the project without `image`/`profile`. */
  defaultProfile: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }).pipe(
    Schema.fromKey("default_profile")
  ),
  defaultPersist: Schema.optionalWith(Schema.Boolean, { default: () => false }).pipe(
    Schema.fromKey("default_persist")
  ),
  /** Write session and detached output of instances to `logs/`. */
  autoLog: Schema.optionalWith(Schema.Boolean, { default: () => true }).pipe(Schema.fromKey("auto_log")),
  /** Bytes per log file before it is rotated. */
  maxLogSize: Schema.optionalWith(NonNegativeInt, { default: () => 10 * 1024 * 1024 }).pipe(
    Schema.fromKey("max_log_size")
  ),
  /** Rotated log files kept per instance. */
  maxLogsPerInstance: Schema.optionalWith(NonNegativeInt, { default: () => 100 }).pipe(
    Schema.fromKey("max_logs_per_instance")
  ),
  /** Rotated log files older than this are deleted. */
  retentionDays: Schema.optionalWith(NonNegativeInt, { default: () => 30 }).pipe(
    Schema.fromKey("retention_days")
  ),
  socket: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  logLevel: Schema.optionalWith(Schema.Literal("debug", "info", "warning", "error"), {
    default: () => "info" as const
  }).pipe(Schema.fromKey("log_level"))
}) {}

/**
 * `instances/NAME/instance.toml`: what a persistent container was made with.
 *
 * @since 0.1.0
 */
export class InstanceMetadata extends Schema.Class<InstanceMetadata>("InstanceMetadata")({
  containerId: Schema.String.pipe(Schema.propertySignature, Schema.fromKey("container_id")),
  name: Schema.String,
  image: Schema.String,
  createdAt: Schema.String.pipe(Schema.propertySignature, Schema.fromKey("created_at")),
  persist: Schema.Boolean,
  project: Schema.String,
  profile: Schema.optional(Schema.String),
  memLimit: Schema.optional(Schema.Union(Schema.String, Schema.Number)).pipe(Schema.fromKey("mem_limit")),
  cpuPercent: Schema.optional(Schema.Number).pipe(Schema.fromKey("cpu_percent")),
  timeout: Schema.optional(Schema.Number),
  ports: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number })),
  volumes: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  devices: Schema.optional(Schema.Array(Schema.String))
}) {}

/**
 * One line of `history.jsonl`: a `run()` of an instance.
 *
 * @since 0.1.0
 */
export class HistoryEntry extends Schema.Class<HistoryEntry>("HistoryEntry")({
  command: Schema.String,
  exitCode: Schema.Number.pipe(Schema.propertySignature, Schema.fromKey("exit_code")),
  durationMs: Schema.Number.pipe(Schema.propertySignature, Schema.fromKey("duration_ms")),
  /** ISO 8601 time the command started. */
  time: Schema.String,
  timedOut: Schema.optionalWith(Schema.Boolean, { default: () => false }).pipe(Schema.fromKey("timed_out")),
  truncated: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {}

/**
 * What `doctor` finds when it cross-references instance directories with
 * the engine.
 *
 * @since 0.1.0
 */
export class DoctorReport extends Schema.Class<DoctorReport>("DoctorReport")({
  /** Names of the project's persistent containers that have no instance directory. */
  orphanedContainers: Schema.Array(Schema.String),
  /** Instance directories whose container no longer exists. */
  staleInstanceDirs: Schema.Array(Schema.String),
  /** Instances with both a directory and a container. */
  healthy: Schema.Number
}) {}

/**
 * An image profile: a Dockerfile under `profiles/NAME` and its image tag.
 *
 * @since 0.1.0
 */
export class ProfileInfo extends Schema.Class<ProfileInfo>("ProfileInfo")({
  name: Schema.String,
  /** `pocketdock/NAME` */
  imageTag: Schema.String,
  /** Absolute path of the directory holding the Dockerfile. */
  dockerfileDir: Schema.String,
  /** Whether containers of this profile get network access by default. */
  networkDefault: Schema.Boolean,
  description: Schema.String,
  /** Rough image size, e.g. `"~220 MB"`. */
  sizeEstimate: Schema.String,
  /** Whether it builds without a registry or the internet (only from Debian's mirror). */
  buildsOffline: Schema.Boolean
}) {}
