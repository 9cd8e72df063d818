/**
 * `Engine` over a real Unix socket, spoken with Node's `http` (see
 * `internal/nodeHttp.ts` for why not HttpClient): a keep-alive Agent for
 * requests, connections of their own for exec output and hijacked execs.
 *
 * Nothing touches the socket while the Layer is built: the socket is found
 * and the engine identified on the first call, and only a success is cached,
 * so an engine started later is picked up by the next call.
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Config, Effect, Layer, Option, Schedule, Schema, type Scope, Stream } from "effect"
import { FrameDecoder } from "../internal/frames.js"
import {
  type Answer,
  header,
  hijack,
  pipeInto,
  postStreaming,
  type Refused,
  type Request,
  readableChunks,
  request,
  requestStreamed,
  type StreamedAnswer,
  type TransportFailure
} from "../internal/nodeHttp.js"
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
  type StdinAttachment,
  type TransportError
} from "../services/Engine.js"

/** How long a removal already under way (409) is waited for: about 10 s. */
const removalPoll = Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(200)))

const stoppedUnderRemoval = (error: EngineRequestError | TransportError): boolean =>
  error._tag === "EngineRequestError" && error.status === 500 && /could not be stopped/i.test(error.detail)

/** The highest API version pocketdock speaks; lower when the engine is older. */
const API_VERSION = "1.41"

interface Connection {
  readonly info: EngineInfo
  /** `/v1.41`: the prefix of every path */
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

// Built once: a schema made per call is compiled per call
const decodeErrorBody = Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))
const decodeProgressLine = Schema.decodeUnknown(Schema.parseJson(ProgressLine))
const decodePathStat = Schema.decodeUnknown(Schema.parseJson(PathStat))
const decodeContainerStats = Schema.decodeUnknown(Schema.parseJson(ContainerStats))
const decodeTopResult = Schema.decodeUnknown(Schema.parseJson(TopResult))
const ContainerSummaries = Schema.Array(ContainerSummary)
const ImageSummaries = Schema.Array(ImageSummary)

/**
 * Builds the live `Engine`. Its connections are closed with the scope.
 *
 * @since 0.1.0
 */
export const make = (options: EngineOptions = {}): Effect.Effect<Engine, never, Scope.Scope> =>
  Effect.gen(function* () {
    const envSocket = yield* Config.option(Config.string("POCKETDOCK_SOCKET")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const explicit = options.socketPath ?? Option.getOrUndefined(envSocket)
    // idle kept-alive connections do not keep the process alive (Node unrefs them)
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Http.Agent({ keepAlive: true })),
      (agent) => Effect.sync(() => agent.destroy())
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
      const answer = yield* request(socketPath, agent, { method: "GET", path: "/version" }).pipe(
        Effect.mapError((failure) => transportError(socketPath, failure))
      )
      const version = yield* decodeJson(answer, VersionInfo, "GET /version")
      const isPodman =
        (version.Components ?? []).some((component) => /podman/i.test(component.Name)) ||
        /libpod/i.test(header(answer.headers, "server"))
      const apiVersion = negotiateApiVersion(version)
      return {
        base: `/v${apiVersion}`,
        info: { kind: isPodman ? "podman" : "docker", version: version.Version, apiVersion, socketPath }
      } satisfies Connection
    })

    // Only a success is kept: an engine started later is found by the next call.
    let connected: Connection | undefined
    const connecting = yield* Effect.makeSemaphore(1)
    const connection: Effect.Effect<Connection, TransportError> = Effect.suspend(() =>
      connected !== undefined
        ? Effect.succeed(connected)
        : connecting.withPermits(1)(
            Effect.suspend(() =>
              connected !== undefined
                ? Effect.succeed(connected)
                : Effect.tap(connect, (conn) => {
                    connected = conn
                  })
            )
          )
    )

    interface Call {
      readonly method: Request["method"]
      readonly path: string
      readonly query?: Record<string, string | undefined>
      readonly json?: unknown
      /** Pieces are streamed in order with their total length, never joined. */
      readonly body?: Uint8Array | ReadonlyArray<Uint8Array>
      readonly contentType?: string
      /** A POST that may be sent again when a kept-alive connection was found closed. */
      readonly retrySafe?: boolean
    }

    const toRequest = (conn: Connection, call: Call): Request => {
      let path = `${conn.base}${call.path}`
      if (call.query) {
        const params = new URLSearchParams()
        for (const [key, value] of Object.entries(call.query)) if (value !== undefined) params.set(key, value)
        const query = params.toString()
        if (query !== "") path += `?${query}`
      }
      return {
        method: call.method,
        path,
        // Docker insists on the content type of JSON bodies.
        body: call.json !== undefined ? JSON.stringify(call.json) : call.body,
        contentType: call.json !== undefined ? "application/json" : (call.contentType ?? "application/x-tar"),
        retrySafe: call.retrySafe
      }
    }

    const send = (call: Call): Effect.Effect<Answer, TransportError> =>
      Effect.flatMap(connection, (conn) =>
        request(conn.info.socketPath, agent, toRequest(conn, call)).pipe(
          Effect.mapError((failure) => transportError(conn.info.socketPath, failure))
        )
      )

    /** Like `send`, with the answer's body left to the caller, as it arrives. */
    const sendStreamed = (call: Call): Effect.Effect<StreamedAnswer, TransportError> =>
      Effect.flatMap(connection, (conn) =>
        requestStreamed(conn.info.socketPath, toRequest(conn, call)).pipe(
          Effect.mapError((failure) => transportError(conn.info.socketPath, failure))
        )
      )

    const refusal = (status: number, body: string): Refusal => {
      const parsed = decodeErrorBody(body)
      const detail = Option.match(parsed, {
        onNone: () => body.trim() || `HTTP ${status}`,
        onSome: (error) => error.message
      })
      return { status, detail }
    }

    /** Sends, and hands anything but the expected statuses to `onRefusal`. */
    const expect = <E>(
      call: Call,
      ok: ReadonlyArray<number>,
      onRefusal: (refusal: Refusal) => E
    ): Effect.Effect<Answer, E | TransportError> =>
      Effect.flatMap(send(call), (answer) =>
        ok.includes(answer.status)
          ? Effect.succeed(answer)
          : Effect.fail(onRefusal(refusal(answer.status, answer.body.toString("utf8"))))
      )

    /** `expect` for an answer whose body is left to the caller, to read as it arrives. */
    const expectStreamedAnswer = <E>(
      call: Call,
      ok: ReadonlyArray<number>,
      onRefusal: (refusal: Refusal) => E
    ): Effect.Effect<StreamedAnswer, E | TransportError> =>
      Effect.flatMap(sendStreamed(call), (answer) =>
        ok.includes(answer.status)
          ? Effect.succeed(answer)
          : Stream.runFold(readableChunks(answer.body, readError), "", (text, chunk) =>
              text.concat(Buffer.from(chunk).toString("utf8"))
            ).pipe(
              Effect.orElseSucceed(() => ""),
              Effect.flatMap((text) => Effect.fail(onRefusal(refusal(answer.status, text))))
            )
      )

    /** `expectStreamedAnswer` with the body as a Stream of bytes. */
    const expectStreamed = <E>(
      call: Call,
      ok: ReadonlyArray<number>,
      onRefusal: (refusal: Refusal) => E
    ): Effect.Effect<
      {
        readonly headers: Http.IncomingHttpHeaders
        readonly body: Stream.Stream<Uint8Array, SocketCommunicationError>
      },
      E | TransportError
    > =>
      Effect.map(expectStreamedAnswer(call, ok, onRefusal), (answer) => ({
        headers: answer.headers,
        body: readableChunks(answer.body, readError)
      }))

    const archiveCall = (base: string, path: string): Call => ({
      method: "GET",
      path: `${base}/archive`,
      query: { path }
    })

    const archiveRefusal =
      (containerId: string, path: string) =>
      (r: Refusal): ContainerNotFound | EngineRequestError =>
        r.status === 404 && /no such container/i.test(r.detail)
          ? new ContainerNotFound({ containerId })
          : requestError(`read archive of ${path}`)(r)

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
      bytes: Stream.Stream<Uint8Array, SocketCommunicationError>
    ): Stream.Stream<ProgressLine, EngineRequestError | SocketCommunicationError> =>
      bytes.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.map((line) => line.trim()),
        Stream.filter((line) => line.length > 0),
        Stream.mapEffect((line) =>
          decodeProgressLine(line).pipe(
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

    /** A failed exec start or hijack, as the typed error of an exec. */
    const execError = (
      conn: Connection,
      operation: string,
      execId: string,
      failure: Refused | TransportFailure
    ): ContainerNotRunning | EngineRequestError | TransportError => {
      if (failure._tag !== "Refused") return transportError(conn.info.socketPath, failure)
      const r = refusal(failure.status, failure.body)
      return isNotRunning(r) ? new ContainerNotRunning({ containerId: execId }) : requestError(operation)(r)
    }

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
          OpenStdin: spec.stdinOnce,
          StdinOnce: spec.stdinOnce,
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
          Effect.flatMap((response) => decodeJson(response, ContainerSummaries, "container list")),
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
          Effect.flatMap((safe) => {
            const path = containerPath(safe)
            // 409: the engine is already removing it (auto-remove): done when it is gone
            const gone = expect(
              { method: "GET", path: `${path}/json` },
              [200, 404],
              requestError("inspect")
            ).pipe(
              // looked at again while it is there; any other answer ends the wait
              Effect.map((response) => response.status === 404),
              Effect.repeat({ schedule: removalPoll, until: (isGone) => isGone }),
              Effect.ignore
            )
            return expect(
              { method: "DELETE", path, query: { force: "true", v: "true" } },
              [200, 204, 404, 409],
              requestError("remove container")
            ).pipe(
              // Podman: the container stopped by itself while being removed ("could not be stopped: ...
              // container state improper: stopped"); stopped, it can be removed now
              Effect.retry({ times: 3, while: stoppedUnderRemoval }),
              Effect.flatMap((response) => (response.status === 409 ? gone : Effect.void))
            )
          }),
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

      attachStdin: (id) =>
        Effect.gen(function* () {
          const conn = yield* connection
          const path = yield* validId(id, notFound(id))
          const { socket } = yield* Effect.acquireRelease(
            hijack(conn.info.socketPath, `${conn.base}${containerPath(path)}/attach?stream=1&stdin=1`).pipe(
              Effect.mapError((failure) =>
                failure._tag === "Refused"
                  ? onlyNotFound(
                      containerError("attach container", id)(refusal(failure.status, failure.body)),
                      id
                    )
                  : transportError(conn.info.socketPath, failure)
              ),
              Effect.interruptible
            ),
            ({ socket }) => Effect.sync(() => socket.destroy())
          )
          // nothing comes back on a stdin-only attach; whatever does must not pile up
          socket.resume()
          const attachment: StdinAttachment = { unref: Effect.sync(() => void socket.unref()) }
          return attachment
        }).pipe(Effect.withSpan("Engine.attachStdin", { attributes: { containerId: id } })),

      execCreate: (containerId, spec) =>
        withContainer(containerId, (path) =>
          expect(
            {
              method: "POST",
              path: `${path}/exec`,
              // an exec created twice is harmless: the one never started is dropped by the engine
              retrySafe: true,
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

      execStart: (execId, onFrame) =>
        Effect.flatMap(connection, (conn) => {
          const decoder = new FrameDecoder()
          return postStreaming(
            conn.info.socketPath,
            `${conn.base}/exec/${encodeURIComponent(execId)}/start`,
            // Same Tty as at create: Docker frames by the start's value, Podman by the create's.
            { Detach: false, Tty: false },
            200,
            (chunk) => {
              for (const frame of decoder.push(chunk)) onFrame(frame)
            }
          ).pipe(
            Effect.flatMap(() => Effect.try({ try: () => decoder.end(), catch: readError })),
            Effect.catchAll((failure) =>
              failure instanceof SocketCommunicationError
                ? Effect.fail(failure)
                : // a connection reset between frames, once the process is done, is the end of its output
                  failure._tag === "Broken" && decoder.atFrameBoundary && isReset(failure.error)
                  ? Effect.void
                  : Effect.fail(execError(conn, "exec start", execId, failure))
            )
          )
        }),

      execAttach: (execId, options = {}) =>
        Effect.gen(function* () {
          const conn = yield* connection
          const { socket, head } = yield* Effect.acquireRelease(
            hijack(conn.info.socketPath, `${conn.base}/exec/${encodeURIComponent(execId)}/start`, {
              Detach: false,
              Tty: options.tty === true
            }).pipe(
              Effect.mapError((failure) => execError(conn, "exec attach", execId, failure)),
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
            const response = yield* expectStreamed(
              archiveCall(base, path),
              [200],
              archiveRefusal(containerId, path)
            )
            const pathStat = header(response.headers, "x-docker-container-path-stat")
            const stat = yield* decodePathStat(Buffer.from(pathStat, "base64").toString("utf8")).pipe(
              Effect.mapError(
                () => new SocketCommunicationError({ detail: `unreadable path stat header for ${path}` })
              )
            )
            return {
              stat,
              tar: response.body
            }
          })
        ).pipe(Effect.withSpan("Engine.getArchive", { attributes: { containerId, path } })),

      pipeArchive: (containerId, path, sink) =>
        withContainer(containerId, (base) =>
          expectStreamedAnswer(archiveCall(base, path), [200], archiveRefusal(containerId, path)).pipe(
            Effect.flatMap((answer) =>
              pipeInto(answer.body, sink).pipe(Effect.mapError((failure) => readError(failure.error)))
            )
          )
        ).pipe(Effect.withSpan("Engine.pipeArchive", { attributes: { containerId, path } })),

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
            const pathStat = header(response.headers, "x-docker-container-path-stat")
            return yield* decodePathStat(Buffer.from(pathStat, "base64").toString("utf8")).pipe(
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
            Effect.map((answer) => answer.body.toString("utf8")),
            // Podman answers an exited container with an empty body
            Effect.flatMap((text) =>
              text.trim() === ""
                ? Effect.succeed(undefined)
                : decodeContainerStats(text).pipe(
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
              Effect.map((answer) => answer.body.toString("utf8")),
              Effect.flatMap((text) =>
                text.trim() === ""
                  ? Effect.succeed({ Titles: [], Processes: [] })
                  : decodeTopResult(text).pipe(
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
        ).pipe(Effect.flatMap((response) => decodeJson(response, ImageSummaries, "image list"))),

      removeImage: (image, force) =>
        expect(
          { method: "DELETE", path: `/images/${encodeURIComponent(image)}`, query: { force: String(force) } },
          [200],
          (r) => (r.status === 404 ? new ImageNotFound({ image }) : requestError("remove image")(r))
        ).pipe(Effect.asVoid),

      build: (context, options) =>
        Stream.unwrap(
          expectStreamed(
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
          ).pipe(Effect.map((response) => progressLines(`build ${options.tag}`, response.body)))
        ),

      saveImage: (image) =>
        Stream.unwrap(
          expectStreamed(
            { method: "GET", path: `/images/${encodeURIComponent(image)}/get` },
            [200],
            () => new ImageNotFound({ image })
          ).pipe(Effect.map((response) => response.body))
        ),

      loadImage: (archive) =>
        Stream.unwrap(
          expectStreamed(
            { method: "POST", path: "/images/load", body: archive, contentType: "application/x-tar" },
            [200],
            requestError("load image")
          ).pipe(Effect.map((response) => progressLines("load image", response.body)))
        )
    }
    return engine
  })

const readError = (error: unknown) => new SocketCommunicationError({ detail: describe(error) })

/** A connection closed by a reset rather than an orderly end. */
const isReset = (error: unknown): boolean =>
  error instanceof Error &&
  ((error as NodeJS.ErrnoException).code === "ECONNRESET" || error.message === "aborted")

const transportError = (socketPath: string, failure: TransportFailure): TransportError =>
  failure._tag === "Connect"
    ? new SocketConnectionError({ socketPath, detail: describe(failure.error) })
    : new SocketCommunicationError({ detail: describe(failure.error) })

const parseJson = (text: string): unknown => (text === "" ? null : JSON.parse(text))

const decodeJson = <A, I>(
  answer: Answer,
  schema: Schema.Schema<A, I>,
  what: string
): Effect.Effect<A, SocketCommunicationError> =>
  Effect.try({
    try: () => parseJson(answer.body.toString("utf8")),
    catch: (error) => new SocketCommunicationError({ detail: `${what}: ${describe(error)}` })
  }).pipe(
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
