/**
 * Demultiplexer of exec output without a TTY: both engines send 8-byte headers
 * `[stream, 0, 0, 0, length (u32 big-endian)]` followed by `length` bytes.
 * Headers and payloads may be split across reads at any byte; payloads are
 * emitted as they arrive, never buffered whole (a frame may be megabytes).
 */
import type { StreamName } from "../schemas/ExecResult.js"

export interface Frame {
  readonly stream: StreamName
  readonly data: Uint8Array
}

export class FrameError extends Error {}

const HEADER = 8

export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER)
  private headerFilled = 0
  private remaining = 0
  private current: StreamName = "stdout"

  /** Decodes one chunk; throws `FrameError` on a header no engine sends. */
  push(chunk: Uint8Array): Array<Frame> {
    const frames: Array<Frame> = []
    let offset = 0
    while (offset < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - offset)
        frames.push({ stream: this.current, data: chunk.subarray(offset, offset + take) })
        this.remaining -= take
        offset += take
        continue
      }
      const take = Math.min(HEADER - this.headerFilled, chunk.length - offset)
      this.header.set(chunk.subarray(offset, offset + take), this.headerFilled)
      this.headerFilled += take
      offset += take
      if (this.headerFilled === HEADER) {
        this.headerFilled = 0
        this.current = streamOf(this.header)
        this.remaining = new DataView(this.header.buffer).getUint32(4)
      }
    }
    return frames
  }

  /** True between frames: no header or payload is half read. */
  get atFrameBoundary(): boolean {
    return this.headerFilled === 0 && this.remaining === 0
  }

  /** At end of input: throws when a frame was cut short. */
  end(): void {
    if (!this.atFrameBoundary) {
      throw new FrameError(
        this.remaining > 0
          ? `exec output ended inside a frame (${this.remaining} bytes missing)`
          : `exec output ended inside a frame header (${this.headerFilled} of 8 bytes)`
      )
    }
  }
}

const streamOf = (header: Uint8Array): StreamName => {
  const kind = header[0]
  if (header[1] !== 0 || header[2] !== 0 || header[3] !== 0) {
    throw new FrameError(`malformed exec frame header ${Array.from(header.subarray(0, 4)).join(",")}`)
  }
  switch (kind) {
    case 0: // stdin echo: Docker documents it; treat as stdout
    case 1:
      return "stdout"
    case 2:
      return "stderr"
    default:
      throw new FrameError(`unknown exec stream type ${kind}`)
  }
}

/** Encodes frames (tests and fakes). */
export const encodeFrame = (stream: StreamName | "stdin", data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(HEADER + data.length)
  out[0] = stream === "stdin" ? 0 : stream === "stdout" ? 1 : 2
  new DataView(out.buffer).setUint32(4, data.length)
  out.set(data, HEADER)
  return out
}
