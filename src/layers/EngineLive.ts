/**
 * `Engine` over a real Unix socket: @effect/platform's HttpClient on an undici
 * Agent bound to the socket, plus Node's `http` for the one hijacked request.
 *
 * Nothing touches the socket while the Layer is built: the socket is found
 * and the engine identified on the first call, and only a success is cached,
 * so an engine started later is picked up by the next call.
 *
 * @since 0.1.0
 */
import { type HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import type { HttpClientError } from "@effect/platform/HttpClientError"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Config, Effect, Layer, Option, Schema, type Scope, Stream, SynchronizedRef } from "effect"
import { Agent } from "undici"
import { FrameDecoder } from "../internal/frames.js"
import { hijack } from "../internal/hijack.js"
import { defaultSocketCandidates, engineHint, probeSocket } from "../internal/socket.js"
import {
  ContainerInspect,
  ContainerStats,
  ContainerSummary,
  ErrorBody,
  ExecInspect,
  IdResponse,
  ImageInspect,
  ImageSummary,
  PathStat,
  ProgressLine,
  TopResult,
  VersionInfo,
  WaitResult
} from "../schemas/EngineApi.js"
import {
  type AttachedExec,
  ContainerNotFound,
  ContainerNotRunning,
  type ContainerSpec,
  Engine,
  type EngineInfo,
  EngineNotRunning,
  EngineRequestError,
  type ExecFrame,
  ImageNotFound,
  NameConflict,
  SocketCommunicationError,
  SocketConnectionError,
  type TransportError
} from "../services/Engine.js"

/** The highest API version pocketdock speaks; lower when the engine is older. */
const API_VERSION = "1.41"

interface Connection {
  readonly info: EngineInfo
  readonly client: HttpClient.HttpClient
  /** `http://engine/v1.41` */
  readonly base: string
}

/** An engine refusal: HTTP status and the engine's own words. */
interface Refusal {
  readonly status: number
  readonly detail: string
}

const compareVersions = (a: string, b: string): number => {
  const pa = a.split(".").map(Number)
  const pb = b.split(".").map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

const negotiateApiVersion = (version: VersionInfo): string => {
  if (compareVersions(version.ApiVersion, API_VERSION) <= 0) return version.ApiVersion
  if (version.MinAPIVersion && compareVersions(version.MinAPIVersion, API_VERSION) > 0) {
    return version.MinAPIVersion
  }
  return API_VERSION
}

const describe = (error: unknown): string => {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code
    const cause = error.cause instanceof Error ? `: ${describe(error.cause)}` : ""
    return `${code ? `${code} ` : ""}${error.message}${cause}`
  }
  return String(error)
}

const isPathSafe = (segment: string): boolean => /^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$/.test(segment)

/**
 * Options of the live engine.
 *
 * @since 0.1.0
 */
export interface EngineOptions {
  /** The engine's socket. Absent: `POCKETDOCK_SOCKET`, then auto-detection. */
  readonly socketPath?: string | undefined
  /** Where auto-detection looks, in order; default the seed's list. */
  readonly candidates?: ReadonlyArray<string> | undefined
  /**
   * How many commands may be starting at once (see `Engine.execAdmission`);
   * absent: `POCKETDOCK_MAX_STARTING_EXECS`, then 8. More does not start them faster: each start is a runtime
   * process in the engine, and on a small machine the engine is the limit.
   */
  readonly maxStartingExecs?: number | undefined
}

const DEFAULT_MAX_STARTING_EXECS = 8

/**
 * Builds the live `Engine`. The Agent (and its connections) is closed with the scope.
 *
 * @since 0.1.0
 */
export const make = (options: EngineOptions = {}): Effect.Effect<Engine, never, Scope.Scope> =>
  Effect.gen(function* () {
    const envSocket = yield* Config.option(Config.string("POCKETDOCK_SOCKET")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const explicit = options.socketPath ?? Option.getOrUndefined(envSocket)
    const agents: Array<Agent> = []
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.allSettled(agents.map((agent) => agent.destroy()))).pipe(
        Effect.timeoutOption("2 seconds")
      )
    )

    const findSocket: Effect.Effect<string, SocketConnectionError | EngineNotRunning> = Effect.gen(
      function* () {
        if (explicit !== undefined) {
          const problem = yield* probeSocket(explicit)
          if (problem !== undefined) {
            return yield* new SocketConnectionError({ socketPath: explicit, detail: problem })
          }
          return explicit
        }
        const candidates = options.candidates ?? defaultSocketCandidates()
        for (const candidate of candidates) {
          if ((yield* probeSocket(candidate, 500)) === undefined) return candidate
        }
        return yield* new EngineNotRunning({ searched: candidates, hint: engineHint() })
      }
    )

    const connect: Effect.Effect<Connection, TransportError> = Effect.gen(function* () {
      const socketPath = yield* findSocket
      // Exec output may be silent for as long as a command runs: no body timeout.
      const agent = new Agent({ connect: { socketPath }, headersTimeout: 0, bodyTimeout: 0 })
      agents.push(agent)
      const client = NodeHttpClient.makeUndici(agent)
      const response = yield* client
        .get("http://engine/version")
        .pipe(Effect.mapError((error) => transportError(socketPath, error)))
      const version = yield* decodeJson(response, VersionInfo, "GET /version")
      const isPodman =
        (version.Components ?? []).some((component) => /podman/i.test(component.Name)) ||
        /libpod/i.test(response.headers.server ?? "")
      const apiVersion = negotiateApiVersion(version)
      return {
        client,
        base: `http://engine/v${apiVersion}`,
        info: { kind: isPodman ? "podman" : "docker", version: version.Version, apiVersion, socketPath }
      } satisfies Connection
    })

    const cache = yield* SynchronizedRef.make(Option.none<Connection>())
    const connection: Effect.Effect<Connection, TransportError> = SynchronizedRef.modifyEffect(
      cache,
      (cached) =>
        Option.match(cached, {
          onSome: (conn) => Effect.succeed([conn, cached] as const),
          onNone: () => Effect.map(connect, (conn) => [conn, Option.some(conn)] as const)
        })
    )

    const transportError = (socketPath: string, error: HttpClientError): TransportError =>
      error._tag === "RequestError" && error.reason === "Transport"
        ? new SocketConnectionError({ socketPath, detail: describe(error.cause ?? error) })
        : new SocketCommunicationError({ detail: describe(error.cause ?? error) })

    interface Call {
      readonly method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD"
      readonly path: string
      readonly query?: Record<string, string | undefined>
      readonly json?: unknown
      /** Pieces are streamed in order with their total length, never joined. */
      readonly body?: Uint8Array | ReadonlyArray<Uint8Array>
      readonly contentType?: string
    }

    const send = (call: Call): Effect.Effect<HttpClientResponse.HttpClientResponse, TransportError> =>
      Effect.flatMap(connection, (conn) => {
        let request = HttpClientRequest.make(call.method)(`${conn.base}${call.path}`)
        if (call.query) {
          const params: Record<string, string> = {}
          for (const [key, value] of Object.entries(call.query)) if (value !== undefined) params[key] = value
          request = HttpClientRequest.setUrlParams(request, params)
        }
        if (call.json !== undefined) {
          // Docker insists on the content type of JSON bodies.
          request = HttpClientRequest.bodyUnsafeJson(request, call.json)
        } else if (call.body instanceof Uint8Array) {
          request = HttpClientRequest.bodyUint8Array(
            request,
            call.body,
            call.contentType ?? "application/x-tar"
          )
        } else if (call.body !== undefined) {
          request = HttpClientRequest.bodyStream(request, Stream.fromIterable(call.body), {
            contentType: call.contentType ?? "application/x-tar",
            contentLength: call.body.reduce((total, piece) => total + piece.byteLength, 0)
          })
        }
        return conn.client
          .execute(request)
          .pipe(Effect.mapError((error) => transportError(conn.info.socketPath, error)))
      })

    const refusal = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<Refusal> =>
      response.text.pipe(
        Effect.orElseSucceed(() => ""),
        Effect.map((text) => {
          const parsed = Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))(text)
          const detail = Option.match(parsed, {
            onNone: () => text.trim() || `HTTP ${response.status}`,
            onSome: (body) => body.message
          })
          return { status: response.status, detail }
        })
      )

    /** Sends, and hands anything but the expected statuses to `onRefusal`. */
    const expect = <E>(
      call: Call,
      ok: ReadonlyArray<number>,
      onRefusal: (refusal: Refusal) => E
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, E | TransportError> =>
      Effect.flatMap(send(call), (response) =>
        ok.includes(response.status)
          ? Effect.succeed(response)
          : Effect.flatMap(refusal(response), (r) => Effect.fail(onRefusal(r)))
      )

    const requestError =
      (operation: string) =>
      (r: Refusal): EngineRequestError =>
        new EngineRequestError({ operation, status: r.status, detail: r.detail })

    const isNotRunning = (r: Refusal) =>
      r.status === 409 || (r.status === 500 && /state improper|not running/i.test(r.detail))

    /** 404 -> ContainerNotFound; "not running" -> ContainerNotRunning; else EngineRequestError. */
    const containerError =
      (operation: string, id: string) =>
      (r: Refusal): ContainerNotFound | ContainerNotRunning | EngineRequestError =>
        r.status === 404
          ? new ContainerNotFound({ containerId: id })
          : isNotRunning(r)
            ? new ContainerNotRunning({ containerId: id })
            : requestError(operation)(r)

    const containerPath = (id: string) => `/containers/${encodeURIComponent(id)}`

    const validId = <E>(id: string, onInvalid: () => E): Effect.Effect<string, E> =>
      isPathSafe(id) ? Effect.succeed(id) : Effect.fail(onInvalid())

    const notFound = (id: string) => () => new ContainerNotFound({ containerId: id })

    const withContainer = <A, E>(
      id: string,
      body: (path: string) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | ContainerNotFound> =>
      Effect.flatMap(validId(id, notFound(id)), (safe) => body(containerPath(safe)))

    const onlyNotFound = <E>(e: E | ContainerNotRunning, id: string): E | ContainerNotFound =>
      e instanceof ContainerNotRunning ? new ContainerNotFound({ containerId: id }) : e

    const labelFilters = (labels: ReadonlyArray<string>) =>
      labels.length === 0 ? undefined : JSON.stringify({ label: labels })

    const progressLines = (
      operation: string,
      response: HttpClientResponse.HttpClientResponse
    ): Stream.Stream<ProgressLine, EngineRequestError | SocketCommunicationError> =>
      response.stream.pipe(
        Stream.mapError((error) => new SocketCommunicationError({ detail: describe(error) })),
        Stream.decodeText(),
        Stream.splitLines,
        Stream.map((line) => line.trim()),
        Stream.filter((line) => line.length > 0),
        Stream.mapEffect((line) =>
          Schema.decodeUnknown(Schema.parseJson(ProgressLine))(line).pipe(
            Effect.mapError(
              () => new SocketCommunicationError({ detail: `${operation}: unreadable progress line ${line}` })
            ),
            Effect.flatMap((progress) =>
              progress.error !== undefined || progress.errorDetail !== undefined
                ? Effect.fail(
                    new EngineRequestError({
                      operation,
                      status: 200,
                      detail: (progress.errorDetail?.message ?? progress.error ?? "").trim()
                    })
                  )
                : Effect.succeed(progress)
            )
          )
        )
      )

    const frames = <E>(
      bytes: Stream.Stream<Uint8Array, E>
    ): Stream.Stream<ExecFrame, E | SocketCommunicationError> =>
      Stream.suspend(() => {
        const decoder = new FrameDecoder()
        const fail = (error: unknown) => new SocketCommunicationError({ detail: describe(error) })
        return bytes.pipe(
          Stream.mapConcatEffect((chunk) => Effect.try({ try: () => decoder.push(chunk), catch: fail })),
          Stream.concat(Stream.execute(Effect.try({ try: () => decoder.end(), catch: fail })))
        )
      })

    const envMaxStarting = yield* Config.option(Config.integer("POCKETDOCK_MAX_STARTING_EXECS")).pipe(
      Effect.orElseSucceed(() => Option.none<number>())
    )
    const execAdmission = yield* Effect.makeSemaphore(
      Math.max(
        1,
        options.maxStartingExecs ?? Option.getOrElse(envMaxStarting, () => DEFAULT_MAX_STARTING_EXECS)
      )
    )

    const engine: Engine = {
      info: Effect.map(connection, (conn) => conn.info),
      execAdmission,

      createContainer: Effect.fn("Engine.createContainer")(function* (spec: ContainerSpec) {
        yield* Effect.annotateCurrentSpan({ image: spec.image, name: spec.name })
        const exposed: Record<string, object> = {}
        const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {}
        for (const { hostPort, containerPort } of spec.ports ?? []) {
          exposed[`${containerPort}/tcp`] = {}
          const list = bindings[`${containerPort}/tcp`] ?? []
          list.push({ HostIp: "127.0.0.1", HostPort: String(hostPort) })
          bindings[`${containerPort}/tcp`] = list
        }
        const body = {
          Image: spec.image,
          Cmd: spec.cmd,
          Labels: spec.labels,
          Env: spec.env,
          User: spec.user,
          WorkingDir: spec.workingDir,
          ExposedPorts: exposed,
          StopTimeout: spec.stopTimeout,
          HostConfig: {
            Init: spec.init,
            AutoRemove: spec.autoRemove,
            Memory: spec.memoryBytes,
            // swap as large as memory: the limit means what it says
            MemorySwap: spec.memoryBytes,
            NanoCpus: spec.nanoCpus,
            PidsLimit: spec.pidsLimit,
            PortBindings: bindings,
            Binds: spec.binds,
            Devices: spec.devices?.map((device) => ({
              PathOnHost: device.host,
              PathInContainer: device.container,
              CgroupPermissions: "rwm"
            })),
            NetworkMode: spec.network ? undefined : "none",
            CapDrop: spec.capDrop,
            CapAdd: spec.capAdd,
            SecurityOpt: spec.securityOpt
          }
        }
        const response = yield* expect(
          { method: "POST", path: "/containers/create", query: { name: spec.name }, json: body },
          [201],
          (r): ImageNotFound | NameConflict | EngineRequestError =>
            r.status === 404 && /image/i.test(r.detail)
              ? new ImageNotFound({ image: spec.image })
              : r.status === 409 || /already in use/i.test(r.detail)
                ? new NameConflict({ name: spec.name })
                : requestError("create container")(r)
        )
        return (yield* decodeJson(response, IdResponse, "container create")).Id
      }),

      startContainer: (id) =>
        withContainer(id, (path) =>
          expect({ method: "POST", path: `${path}/start` }, [204, 304], containerError("start container", id))
        ).pipe(
          Effect.asVoid,
          Effect.mapError((e) => onlyNotFound(e, id)),
          Effect.withSpan("Engine.startContainer", { attributes: { containerId: id } })
        ),

      inspectContainer: (id) =>
        withContainer(id, (path) =>
          expect(
            { method: "GET", path: `${path}/json` },
            [200],
            () => new ContainerNotFound({ containerId: id })
          ).pipe(Effect.flatMap((response) => decodeJson(response, ContainerInspect, "container inspect")))
        ).pipe(Effect.withSpan("Engine.inspectContainer", { attributes: { containerId: id } })),

      listContainers: (labels) =>
        expect(
          { method: "GET", path: "/containers/json", query: { all: "true", filters: labelFilters(labels) } },
          [200],
          requestError("list containers")
        ).pipe(
          Effect.flatMap((response) =>
            decodeJson(response, Schema.Array(ContainerSummary), "container list")
          ),
          Effect.withSpan("Engine.listContainers")
        ),

      stopContainer: (id, timeoutSeconds) =>
        withContainer(id, (path) =>
          expect(
            {
              method: "POST",
              path: `${path}/stop`,
              query: { t: String(Math.max(0, Math.round(timeoutSeconds))) }
            },
            [204, 304],
            containerError("stop container", id)
          )
        ).pipe(
          Effect.asVoid,
          Effect.mapError((e) => onlyNotFound(e, id)),
          Effect.withSpan("Engine.stopContainer", { attributes: { containerId: id } })
        ),

      restartContainer: (id, timeoutSeconds) =>
        withContainer(id, (path) =>
          expect(
            {
              method: "POST",
              path: `${path}/restart`,
              query: { t: String(Math.max(0, Math.round(timeoutSeconds))) }
            },
            [204],
            containerError("restart container", id)
          )
        ).pipe(
          Effect.asVoid,
          Effect.mapError((e) => onlyNotFound(e, id)),
          Effect.withSpan("Engine.restartContainer", { attributes: { containerId: id } })
        ),

      killContainer: (id, signal) =>
        withContainer(id, (path) =>
          expect(
            { method: "POST", path: `${path}/kill`, query: { signal } },
            [204],
            containerError("kill container", id)
          )
        ).pipe(
          Effect.asVoid,
          Effect.withSpan("Engine.killContainer", { attributes: { containerId: id, signal } })
        ),

      removeContainer: (id) =>
        validId(
          id,
          () => new EngineRequestError({ operation: "remove container", status: 400, detail: "bad id" })
        ).pipe(
          Effect.flatMap((safe) =>
            expect(
              { method: "DELETE", path: containerPath(safe), query: { force: "true", v: "true" } },
              // 404: already gone; 409: Docker is already removing it (auto-remove)
              [200, 204, 404, 409],
              requestError("remove container")
            )
          ),
          Effect.asVoid,
          Effect.withSpan("Engine.removeContainer", { attributes: { containerId: id } })
        ),

      waitContainer: (id) =>
        withContainer(id, (path) =>
          expect(
            { method: "POST", path: `${path}/wait` },
            [200],
            () => new ContainerNotFound({ containerId: id })
          ).pipe(
            Effect.flatMap((response) => decodeJson(response, WaitResult, "container wait")),
            Effect.map((result) => result.StatusCode)
          )
        ),

      execCreate: (containerId, spec) =>
        withContainer(containerId, (path) =>
          expect(
            {
              method: "POST",
              path: `${path}/exec`,
              json: {
                AttachStdin: spec.stdin === true,
                AttachStdout: true,
                AttachStderr: true,
                Tty: spec.tty === true,
                Cmd: spec.cmd,
                Env: spec.env,
                WorkingDir: spec.workingDir,
                User: spec.user
              }
            },
            [201],
            containerError("exec create", containerId)
          ).pipe(
            Effect.flatMap((response) => decodeJson(response, IdResponse, "exec create")),
            Effect.map((created) => created.Id)
          )
        ).pipe(Effect.withSpan("Engine.execCreate", { attributes: { containerId } })),

      execStart: (execId) =>
        Stream.unwrap(
          expect(
            // Same Tty as at create: Docker frames by the start's value, Podman by the create's.
            {
              method: "POST",
              path: `/exec/${encodeURIComponent(execId)}/start`,
              json: { Detach: false, Tty: false }
            },
            [200],
            (r) =>
              isNotRunning(r)
                ? new ContainerNotRunning({ containerId: execId })
                : requestError("exec start")(r)
          ).pipe(
            Effect.map((response) =>
              frames(
                response.stream.pipe(
                  Stream.mapError((error) => new SocketCommunicationError({ detail: describe(error) }))
                )
              )
            )
          )
        ),

      execAttach: (execId, options = {}) =>
        Effect.gen(function* () {
          const conn = yield* connection
          const { socket, head } = yield* Effect.acquireRelease(
            hijack(
              conn.info.socketPath,
              `${new URL(conn.base).pathname}/exec/${encodeURIComponent(execId)}/start`,
              {
                Detach: false,
                Tty: options.tty === true
              }
            ).pipe(
              Effect.mapError((failure) => {
                if (failure._tag === "Transport") {
                  return new SocketConnectionError({
                    socketPath: conn.info.socketPath,
                    detail: describe(failure.error)
                  })
                }
                const detail = Option.match(
                  Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))(failure.body),
                  { onNone: () => failure.body.trim(), onSome: (body) => body.message }
                )
                const r = { status: failure.status, detail }
                return isNotRunning(r)
                  ? new ContainerNotRunning({ containerId: execId })
                  : requestError("exec attach")(r)
              }),
              Effect.interruptible
            ),
            ({ socket }) => Effect.sync(() => socket.destroy())
          )
          const bytes = Stream.concat(
            head.length > 0 ? Stream.make(new Uint8Array(head)) : Stream.empty,
            NodeStream.fromReadable<SocketCommunicationError, Uint8Array>(
              () => socket,
              (error) => new SocketCommunicationError({ detail: describe(error) }),
              // sockets of finished execs may end with a reset: that is the end of output
              { closeOnDone: false }
            )
          )
          const attached: AttachedExec = {
            execId,
            // a TTY exec's output is the terminal's bytes, without 8-byte frame headers
            output:
              options.tty === true
                ? Stream.map(bytes, (data): ExecFrame => ({ stream: "stdout", data }))
                : frames(bytes),
            write: (data) =>
              Effect.async<void, SocketCommunicationError>((resume) => {
                if (socket.destroyed || socket.writableEnded) {
                  resume(Effect.fail(new SocketCommunicationError({ detail: "stdin is closed" })))
                  return
                }
                socket.write(data, (error) =>
                  resume(
                    error
                      ? Effect.fail(new SocketCommunicationError({ detail: describe(error) }))
                      : Effect.void
                  )
                )
              }),
            endInput: Effect.sync(() => {
              if (!socket.destroyed && !socket.writableEnded) socket.end()
            }),
            unref: Effect.sync(() => {
              socket.unref()
            })
          }
          return attached
        }),

      execInspect: (execId) =>
        expect(
          { method: "GET", path: `/exec/${encodeURIComponent(execId)}/json` },
          [200],
          requestError("exec inspect")
        ).pipe(Effect.flatMap((response) => decodeJson(response, ExecInspect, "exec inspect"))),

      putArchive: (containerId, path, tar) =>
        withContainer(containerId, (base) =>
          expect(
            // Content-Type matters: a form-urlencoded body is accepted and silently dropped.
            {
              method: "PUT",
              path: `${base}/archive`,
              query: { path },
              body: tar,
              contentType: "application/x-tar"
            },
            [200],
            (r) =>
              r.status === 404 && /no such container/i.test(r.detail)
                ? new ContainerNotFound({ containerId })
                : requestError(`write archive to ${path}`)(r)
          )
        ).pipe(Effect.asVoid, Effect.withSpan("Engine.putArchive", { attributes: { containerId, path } })),

      getArchive: (containerId, path) =>
        withContainer(containerId, (base) =>
          Effect.gen(function* () {
            const response = yield* expect(
              { method: "GET", path: `${base}/archive`, query: { path } },
              [200],
              (r) =>
                r.status === 404 && /no such container/i.test(r.detail)
                  ? new ContainerNotFound({ containerId })
                  : requestError(`read archive of ${path}`)(r)
            )
            const header = response.headers["x-docker-container-path-stat"] ?? ""
            const stat = yield* Schema.decodeUnknown(Schema.parseJson(PathStat))(
              Buffer.from(header, "base64").toString("utf8")
            ).pipe(
              Effect.mapError(
                () => new SocketCommunicationError({ detail: `unreadable path stat header for ${path}` })
              )
            )
            return {
              stat,
              tar: response.stream.pipe(
                Stream.mapError((error) => new SocketCommunicationError({ detail: describe(error) }))
              )
            }
          })
        ).pipe(Effect.withSpan("Engine.getArchive", { attributes: { containerId, path } })),

      statPath: (containerId, path) =>
        withContainer(containerId, (base) =>
          Effect.gen(function* () {
            // HEAD has no body: a 404 cannot tell a missing path from a missing container
            const response = yield* expect(
              { method: "HEAD", path: `${base}/archive`, query: { path } },
              [200, 404],
              requestError(`stat ${path}`)
            )
            if (response.status === 404) return undefined
            const header = response.headers["x-docker-container-path-stat"] ?? ""
            return yield* Schema.decodeUnknown(Schema.parseJson(PathStat))(
              Buffer.from(header, "base64").toString("utf8")
            ).pipe(
              Effect.mapError(
                () => new SocketCommunicationError({ detail: `unreadable path stat header for ${path}` })
              )
            )
          })
        ).pipe(Effect.withSpan("Engine.statPath", { attributes: { containerId, path } })),

      stats: (containerId) =>
        withContainer(containerId, (path) =>
          expect(
            { method: "GET", path: `${path}/stats`, query: { stream: "false", "one-shot": "true" } },
            [200],
            () => new ContainerNotFound({ containerId })
          ).pipe(
            Effect.flatMap((response) => response.text.pipe(Effect.mapError(readError))),
            // Podman answers an exited container with an empty body
            Effect.flatMap((text) =>
              text.trim() === ""
                ? Effect.succeed(undefined)
                : Schema.decodeUnknown(Schema.parseJson(ContainerStats))(text).pipe(
                    Effect.mapError(
                      () => new SocketCommunicationError({ detail: "unreadable container stats" })
                    )
                  )
            )
          )
        ),

      top: (containerId) =>
        Effect.gen(function* () {
          const conn = yield* connection
          const psArgs = conn.info.kind === "podman" ? "pid,user,args" : "-o pid,user,args"
          return yield* withContainer(containerId, (path) =>
            expect({ method: "GET", path: `${path}/top`, query: { ps_args: psArgs } }, [200], (r) =>
              r.status === 404 ? new ContainerNotFound({ containerId }) : r
            ).pipe(
              Effect.flatMap((response) => response.text.pipe(Effect.mapError(readError))),
              Effect.flatMap((text) =>
                text.trim() === ""
                  ? Effect.succeed({ Titles: [], Processes: [] })
                  : Schema.decodeUnknown(Schema.parseJson(TopResult))(text).pipe(
                      Effect.mapError(
                        () => new SocketCommunicationError({ detail: "unreadable process list" })
                      )
                    )
              ),
              Effect.map((top) => ({ titles: top.Titles ?? [], processes: top.Processes ?? [] })),
              // a stopped container, or one without `ps`: no processes to show
              Effect.catchIf(
                (e): e is Refusal => typeof e === "object" && e !== null && "status" in e && !("_tag" in e),
                () => Effect.succeed({ titles: [], processes: [] })
              )
            )
          )
        }),

      commit: (containerId, repo, tag, labels) =>
        expect(
          {
            method: "POST",
            path: "/commit",
            query: { container: containerId, repo, tag, pause: "true" },
            // Podman fails on a commit without a body
            json: { Labels: labels }
          },
          [201],
          (r) => (r.status === 404 ? new ContainerNotFound({ containerId }) : requestError("commit")(r))
        ).pipe(
          Effect.flatMap((response) => decodeJson(response, IdResponse, "commit")),
          Effect.map(({ Id }) => (Id.startsWith("sha256:") ? Id : `sha256:${Id}`)),
          Effect.withSpan("Engine.commit", { attributes: { containerId, repo, tag } })
        ),

      inspectImage: (image) =>
        expect(
          { method: "GET", path: `/images/${encodeURIComponent(image)}/json` },
          [200],
          () => new ImageNotFound({ image })
        ).pipe(Effect.flatMap((response) => decodeJson(response, ImageInspect, "image inspect"))),

      listImages: (labels) =>
        expect(
          { method: "GET", path: "/images/json", query: { filters: labelFilters(labels) } },
          [200],
          requestError("list images")
        ).pipe(Effect.flatMap((response) => decodeJson(response, Schema.Array(ImageSummary), "image list"))),

      removeImage: (image, force) =>
        expect(
          { method: "DELETE", path: `/images/${encodeURIComponent(image)}`, query: { force: String(force) } },
          [200],
          (r) => (r.status === 404 ? new ImageNotFound({ image }) : requestError("remove image")(r))
        ).pipe(Effect.asVoid),

      build: (context, options) =>
        Stream.unwrap(
          expect(
            {
              method: "POST",
              path: "/build",
              query: {
                t: options.tag,
                rm: "1",
                forcerm: "1",
                labels: options.labels ? JSON.stringify(options.labels) : undefined
              },
              body: context,
              contentType: "application/x-tar"
            },
            [200],
            requestError(`build ${options.tag}`)
          ).pipe(Effect.map((response) => progressLines(`build ${options.tag}`, response)))
        ),

      saveImage: (image) =>
        Stream.unwrap(
          expect(
            { method: "GET", path: `/images/${encodeURIComponent(image)}/get` },
            [200],
            () => new ImageNotFound({ image })
          ).pipe(
            Effect.map((response) =>
              response.stream.pipe(
                Stream.mapError((error) => new SocketCommunicationError({ detail: describe(error) }))
              )
            )
          )
        ),

      loadImage: (archive) =>
        Stream.unwrap(
          expect(
            { method: "POST", path: "/images/load", body: archive, contentType: "application/x-tar" },
            [200],
            requestError("load image")
          ).pipe(Effect.map((response) => progressLines("load image", response)))
        )
    }
    return engine
  })

const readError = (error: unknown) => new SocketCommunicationError({ detail: describe(error) })

const decodeJson = <A, I>(
  response: HttpClientResponse.HttpClientResponse,
  schema: Schema.Schema<A, I>,
  what: string
): Effect.Effect<A, SocketCommunicationError> =>
  response.json.pipe(
    Effect.mapError((error) => new SocketCommunicationError({ detail: `${what}: ${describe(error)}` })),
    Effect.flatMap((json) =>
      Schema.decodeUnknown(schema)(json).pipe(
        Effect.mapError(
          (error) =>
            new SocketCommunicationError({ detail: `${what}: answer does not decode: ${error.message}` })
        )
      )
    )
  )

/**
 * `Engine` on the given socket, or `POCKETDOCK_SOCKET`, or the first socket
 * that answers in the seed's order. Builds without touching the socket.
 *
 * @since 0.1.0
 */
export const layer = (options: EngineOptions = {}): Layer.Layer<Engine> => Layer.scoped(Engine, make(options))

/**
 * `Engine` on exactly this socket.
 *
 * @since 0.1.0
 */
export const layerFromSocket = (socketPath: string): Layer.Layer<Engine> => layer({ socketPath })

/** @internal exported for tests */
export const negotiateApiVersionForTest = negotiateApiVersion
