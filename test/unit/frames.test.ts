import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { encodeFrame, FrameDecoder, FrameError } from "../../src/internal/frames.js"

const frame = fc.record({
  stream: fc.constantFrom("stdout" as const, "stderr" as const),
  data: fc.uint8Array({ minLength: 0, maxLength: 300 })
})

/** Cuts bytes at the given (sorted, deduplicated) offsets. */
const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const parts: Array<Uint8Array> = []
  let last = 0
  for (const point of points) {
    parts.push(bytes.subarray(last, point))
    last = point
  }
  parts.push(bytes.subarray(last))
  return parts
}

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

describe("FrameDecoder", () => {
  it("decodes any sequence of frames, however the bytes are split", () => {
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const bytes = concat(frames.map((f) => encodeFrame(f.stream, f.data)))
          const decoder = new FrameDecoder()
          const decoded = split(bytes, cuts).flatMap((part) => decoder.push(part))
          decoder.end()
          for (const name of ["stdout", "stderr"] as const) {
            const expected = concat(frames.filter((f) => f.stream === name).map((f) => f.data))
            const actual = concat(decoded.filter((f) => f.stream === name).map((f) => f.data))
            expect(actual).toEqual(expected)
          }
        }
      )
    )
  })

  it("arbitrary bytes give frames or a FrameError, never another failure", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (parts) => {
        const decoder = new FrameDecoder()
        try {
          for (const part of parts) decoder.push(part)
          decoder.end()
        } catch (error) {
          expect(error).toBeInstanceOf(FrameError)
        }
      })
    )
  })

  it("output cut inside a frame is an error at the end", () => {
    const bytes = encodeFrame("stdout", new TextEncoder().encode("hello"))
    const decoder = new FrameDecoder()
    decoder.push(bytes.subarray(0, 10))
    expect(() => decoder.end()).toThrow(FrameError)
  })

  it("stdin echo frames (type 0) count as stdout", () => {
    const decoder = new FrameDecoder()
    const [decoded] = decoder.push(encodeFrame("stdin", new Uint8Array([65])))
    expect(decoded?.stream).toBe("stdout")
  })
})
