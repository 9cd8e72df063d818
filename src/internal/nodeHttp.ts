/**
 * HTTP over the engine's Unix socket with Node's own `http`: the transport of
 * `EngineLive`.
 *
 * Why not @effect/platform's HttpClient (which pocketdock used first): every
 * command makes three requests (exec create, start, inspect), and through
 * HttpClient on undici each cost about 0.6 ms more host CPU and latency than
 * the same request made here (measured on both engines; a command's output
 * through HttpClient's response stream cost about 5 ms more). On a small
 * machine that is time the engine waits for. Node's `http` also does what
 * HttpClient cannot: the upgraded (hijacked) exec connection.
 *
 * Requests go through one keep-alive `Agent` per engine; exec output and
 * hijacked execs use connections of their own, which the engine closes.
 */
import * as Http from "node:http"
import type * as Net from "node:net"
import type { Readable, Writable } from "node:stream"
import { Effect, Stream } from "effect"

/** How a request failed below HTTP. */
export type TransportFailure =
  /** No connection could be made: no socket, refused, no permission. */
  | { readonly _tag: "Connect"; readonly error: Error }
  /** The connection broke, or the answer could not be read. */
  | { readonly _tag: "Broken"; readonly error: unknown }

export interface Request {
  readonly method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD"
  /** Path and query string. */
  readonly path: string
  /** A JSON text, or bytes; pieces are sent in order with their total length, never joined. */
  readonly body?: string | Uint8Array | ReadonlyArray<Uint8Array> | undefined
  readonly contentType?: string | undefined
  readonly headers?: Http.OutgoingHttpHeaders | undefined
  /**
   * Whether the request may be sent again on a new connection when a kept-alive
   * one turns out closed by the engine before it answered. True for all but
   * POST (a POST that creates something must not be repeated blindly).
   */
  readonly retrySafe?: boolean | undefined
}

export interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  /** The whole body. */
  readonly body: Buffer
}

/** One header's value (the first, when repeated); "" when absent. */
export const header = (headers: Http.IncomingHttpHeaders, name: string): string => {
  const value = headers[name.toLowerCase()]
  return (Array.isArray(value) ? value[0] : value) ?? ""
}

export interface StreamedAnswer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  /** The body as it arrives; whoever takes it must read or destroy it. */
  readonly body: Http.IncomingMessage
}

const CONNECT_CODES = new Set(["ENOENT", "ECONNREFUSED", "EACCES", "EPERM", "ENOTSOCK", "ENOTDIR"])

const transportFailure = (error: unknown, answered: boolean): TransportFailure =>
  !answered && error instanceof Error && CONNECT_CODES.has((error as NodeJS.ErrnoException).code ?? "")
    ? { _tag: "Connect", error }
    : { _tag: "Broken", error }

/** A kept-alive connection that the engine had closed: the request never reached it. */
const isStaleConnection = (request: Http.ClientRequest, error: unknown): boolean =>
  request.reusedSocket &&
  error instanceof Error &&
  ["ECONNRESET", "EPIPE"].includes((error as NodeJS.ErrnoException).code ?? "")

const bodyLength = (body: Request["body"]): number =>
  body === undefined
    ? 0
    : typeof body === "string"
      ? Buffer.byteLength(body)
      : body instanceof Uint8Array
        ? body.byteLength
        : body.reduce((total, piece) => total + piece.byteLength, 0)

/** Sends the body, piece by piece, waiting for the socket to drain between pieces. */
const sendBody = (request: Http.ClientRequest, body: Request["body"]) => {
  if (body === undefined || typeof body === "string" || body instanceof Uint8Array) {
    request.end(body)
    return
  }
  let next = 0
  const write = () => {
    while (next < body.length) {
      const piece = body[next++]
      if (piece !== undefined && !request.write(piece)) {
        request.once("drain", write)
        return
      }
    }
    request.end()
  }
  write()
}

const open = (
  socketPath: string,
  agent: Http.Agent | false,
  call: Request,
  onAnswer: (response: Http.IncomingMessage) => void,
  onFailure: (failure: TransportFailure, request: Http.ClientRequest) => void
): Http.ClientRequest => {
  const headers: Http.OutgoingHttpHeaders = { ...call.headers }
  if (call.body !== undefined) {
    headers["Content-Type"] = call.contentType ?? "application/json"
    headers["Content-Length"] = bodyLength(call.body)
  } else if (call.method !== "GET" && call.method !== "HEAD") {
    // not chunked: an empty body said plainly
    headers["Content-Length"] = 0
  }
  const request = Http.request({ socketPath, agent, method: call.method, path: call.path, headers })
  let answered = false
  request.once("response", (response) => {
    answered = true
    // Both engines answer HEAD without Content-Length; Node then closes the
    // connection although the answer has no body. Keep it, unless told not to.
    if (call.method === "HEAD" && agent !== false && response.headers.connection !== "close") {
      request.shouldKeepAlive = true
    }
    onAnswer(response)
  })
  request.on("error", (error) => onFailure(transportFailure(error, answered), request))
  sendBody(request, call.body)
  return request
}

/** Reads a whole body; fails when the connection breaks before its end. */
const readAll = (
  response: Http.IncomingMessage,
  done: (outcome: { readonly _tag: "Body"; readonly body: Buffer } | TransportFailure) => void
) => {
  const chunks: Array<Buffer> = []
  response.on("data", (chunk: Buffer) => chunks.push(chunk))
  response.once("end", () => {
    done({ _tag: "Body", body: Buffer.concat(chunks) })
  })
  response.on("error", (error) => done({ _tag: "Broken", error }))
  response.once("close", () => {
    if (!response.complete) done({ _tag: "Broken", error: new Error("the answer was cut short") })
  })
}

/**
 * The `resume` of an `Effect.async`, taking the first outcome only: Node may
 * report an end and then an error, or an error twice. `settled` is also set
 * when the caller is interrupted, so that nothing resumes after.
 */
class Outcome<A, E> {
  settled = false
  constructor(private readonly resume: (effect: Effect.Effect<A, E>) => void) {}

  succeed(value: A): void {
    this.settle(Effect.succeed(value))
  }

  fail(error: E): void {
    this.settle(Effect.fail(error))
  }

  private settle(effect: Effect.Effect<A, E>): void {
    if (this.settled) return
    this.settled = true
    this.resume(effect)
  }
}

/**
 * Makes a request and reads its whole answer. Interrupting closes the
 * connection. A kept-alive connection found closed is retried once, when the
 * request allows it.
 */
export const request = (
  socketPath: string,
  agent: Http.Agent,
  call: Request
): Effect.Effect<Answer, TransportFailure> =>
  Effect.async<Answer, TransportFailure>((resume) => {
    const outcome = new Outcome(resume)
    let current: Http.ClientRequest | undefined
    const attempt = (retries: number) => {
      current = open(
        socketPath,
        agent,
        call,
        (response) =>
          readAll(response, (read) =>
            read._tag === "Body"
              ? outcome.succeed({
                  status: response.statusCode ?? 0,
                  headers: response.headers,
                  body: read.body
                })
              : outcome.fail(read)
          ),
        (failure, failed) => {
          if (
            retries > 0 &&
            (call.retrySafe ?? call.method !== "POST") &&
            isStaleConnection(failed, failure.error)
          )
            attempt(retries - 1)
          else outcome.fail(failure)
        }
      )
    }
    attempt(1)
    return Effect.sync(() => {
      outcome.settled = true
      current?.destroy()
    })
  })

/**
 * Makes a request on a connection of its own and hands over the answer as
 * soon as its headers are in; the body is the caller's to read. Interrupted
 * before that, the connection is closed.
 */
export const requestStreamed = (
  socketPath: string,
  call: Request
): Effect.Effect<StreamedAnswer, TransportFailure> =>
  Effect.async<StreamedAnswer, TransportFailure>((resume) => {
    const outcome = new Outcome(resume)
    const request = open(
      socketPath,
      false,
      call,
      (response) => {
        // its reader handles errors; unread, they must not crash the process
        response.on("error", () => {})
        outcome.succeed({ status: response.statusCode ?? 0, headers: response.headers, body: response })
      },
      (failure) => outcome.fail(failure)
    )
    return Effect.sync(() => {
      if (!outcome.settled) request.destroy()
    })
  })

export interface Hijacked {
  readonly socket: Net.Socket
  /** Bytes that arrived with the 101 answer, before the socket was handed over. */
  readonly head: Buffer
}

/** The engine refused a hijack or an exec start: its status and body. */
export interface Refused {
  readonly _tag: "Refused"
  readonly status: number
  readonly body: string
}

/** POSTs `body` (if any) as JSON to `path` with `Upgrade: tcp`; the raw socket once the engine says 101. */
export const hijack = (
  socketPath: string,
  path: string,
  body?: unknown
): Effect.Effect<Hijacked, Refused | TransportFailure> =>
  Effect.async<Hijacked, Refused | TransportFailure>((resume) => {
    const outcome = new Outcome(resume)
    let upgraded: Net.Socket | undefined
    const request = open(
      socketPath,
      false,
      {
        method: "POST",
        path,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: { Connection: "Upgrade", Upgrade: "tcp" }
      },
      (response) => refusal(response, (failure) => outcome.fail(failure)),
      (failure) => outcome.fail(failure)
    )
    request.once("upgrade", (_response, socket, head) => {
      upgraded = socket
      socket.setNoDelay(true)
      // errors surface through whoever reads the socket; unread, they must not crash the process
      socket.on("error", () => {})
      outcome.succeed({ socket, head })
    })
    // runs only when the caller is interrupted: nothing may stay open then
    return Effect.sync(() => {
      request.destroy()
      upgraded?.destroy()
    })
  })

const refusal = (response: Http.IncomingMessage, done: (failure: Refused | TransportFailure) => void) =>
  readAll(response, (outcome) =>
    done(
      outcome._tag === "Body"
        ? { _tag: "Refused", status: response.statusCode ?? 0, body: outcome.body.toString("utf8") }
        : outcome
    )
  )

/**
 * POSTs `body` as JSON to `path` on a connection of its own and, when the
 * answer is `ok`, feeds every piece of it to `onChunk` as it is read, until
 * the engine ends it: exec output, with nothing between the socket and the
 * frame decoder. Any other status fails with the refusal. `onChunk` throwing
 * fails the request as `Broken`. Interrupting closes the connection.
 */
export const postStreaming = (
  socketPath: string,
  path: string,
  body: unknown,
  ok: number,
  onChunk: (chunk: Buffer) => void
): Effect.Effect<void, Refused | TransportFailure> =>
  Effect.async<void, Refused | TransportFailure>((resume) => {
    const outcome = new Outcome(resume)
    const request = open(
      socketPath,
      false,
      { method: "POST", path, body: JSON.stringify(body) },
      (response) => {
        if (response.statusCode !== ok) {
          refusal(response, (failure) => outcome.fail(failure))
          return
        }
        response.on("data", (chunk: Buffer) => {
          if (outcome.settled) return
          try {
            onChunk(chunk)
          } catch (error) {
            request.destroy()
            outcome.fail({ _tag: "Broken", error })
          }
        })
        response.once("end", () => {
          outcome.succeed(undefined)
        })
        response.on("error", (error) => outcome.fail({ _tag: "Broken", error }))
        // closed without an end: the connection was cut under the answer
        response.once("close", () => {
          if (!response.complete) outcome.fail({ _tag: "Broken", error: new Error("aborted") })
        })
      },
      (failure) => outcome.fail(failure)
    )
    return Effect.sync(() => {
      outcome.settled = true
      request.destroy()
    })
  })

/**
 * A Node Readable as a Stream of its chunks, each as it was read: paused
 * while the Stream's buffer is full, never joined into bigger pieces (the
 * platform's `NodeStream.fromReadable` reads with `read()`, which copies
 * whatever is buffered into one Buffer). Closing the Stream destroys it.
 */
export const readableChunks = <E>(
  readable: Readable,
  onError: (error: unknown) => E
): Stream.Stream<Uint8Array, E> =>
  Stream.async<Uint8Array, E>((emit) => {
    readable.on("data", (chunk: Buffer) => {
      readable.pause()
      void emit.single(chunk).then(() => readable.resume())
    })
    readable.once("end", () => void emit.end())
    readable.on("error", (error) => void emit.fail(onError(error)))
    readable.once("close", () => {
      if (!readable.readableEnded) void emit.fail(onError(new Error("the answer was cut short")))
    })
    return Effect.sync(() => readable.destroy())
  }, 16)

/**
 * Pipes `readable` into `sink` (with the sink's backpressure, ending it) and
 * succeeds once all of it has been read. Interrupting destroys `readable`.
 */
export const pipeInto = (
  readable: Readable,
  sink: Writable | NodeJS.WritableStream
): Effect.Effect<void, { readonly _tag: "Broken"; readonly error: unknown }> =>
  Effect.async((resume) => {
    const outcome = new Outcome(resume)
    readable.once("end", () => outcome.succeed(undefined))
    readable.on("error", (error) => outcome.fail({ _tag: "Broken", error }))
    readable.once("close", () => {
      if (!readable.readableEnded)
        outcome.fail({ _tag: "Broken", error: new Error("the answer was cut short") })
    })
    readable.pipe(sink)
    return Effect.sync(() => {
      outcome.settled = true
      readable.unpipe(sink)
      readable.destroy()
    })
  })
