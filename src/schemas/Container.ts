/**
 * What pocketdock reports about containers.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A pocketdock container as `listContainers` reports it.
 *
 * @since 0.1.0
 */
export class ContainerListItem extends Schema.Class<ContainerListItem>("ContainerListItem")({
  id: Schema.String,
  name: Schema.String,
  /** The engine's state: `"running"`, `"exited"`, `"created"`, ... */
  status: Schema.String,
  image: Schema.String,
  /** ISO 8601 creation time. */
  createdAt: Schema.String,
  persist: Schema.Boolean,
  project: Schema.String
}) {}

/**
 * A live snapshot of a container: state, resources and processes.
 *
 * @since 0.1.0
 */
export class ContainerInfo extends Schema.Class<ContainerInfo>("ContainerInfo")({
  id: Schema.String,
  name: Schema.String,
  status: Schema.String,
  image: Schema.String,
  createdAt: Schema.DateFromSelf,
  startedAt: Schema.NullOr(Schema.DateFromSelf),
  /** Milliseconds since the container started, or null when it is not running. */
  uptime: Schema.NullOr(Schema.Number),
  /** Human-readable, e.g. `"42.1 MB"`. */
  memoryUsage: Schema.String,
  memoryLimit: Schema.String,
  memoryPercent: Schema.Number,
  /** Percent of one core, measured over a short interval. */
  cpuPercent: Schema.Number,
  pids: Schema.Number,
  network: Schema.Boolean,
  ipAddress: Schema.String,
  /** Host port -> container port. */
  ports: Schema.Record({ key: Schema.String, value: Schema.Number }),
  processes: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.String }))
}) {}
