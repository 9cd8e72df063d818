import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { incompleteUtf8Tail, RingBuffer } from "../../src/internal/ringBuffer.js"

type Write = { readonly stream: "stdout" | "stderr"; readonly text: string }

const asciiWrites = fc.array(
  fc.record({
    stream: fc.constantFrom("stdout" as const, "stderr" as const),
    text: fc.string({ unit: fc.constantFrom(..."abcdefghij\n"), maxLength: 300 })
  }),
  { maxLength: 60 }
)

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** Text that survives UTF-8 (no lone surrogates) and has no U+FFFD of its own. */
const cleanText = (maxLength: number) =>
  fc
    .string({ unit: "grapheme", maxLength })
    .filter((text) => !text.includes("\uFFFD") && decoder.decode(encoder.encode(text)) === text)

/** The model: all bytes in order, each tagged with its stream; the buffer keeps the last `capacity`. */
const model = (writes: ReadonlyArray<Write>, capacity: number) => {
  const all = writes.flatMap((w) => [...w.text].map((ch) => ({ stream: w.stream, ch })))
  const kept = all.slice(Math.max(0, all.length - capacity))
  const text = (stream: "stdout" | "stderr") =>
    kept
      .filter((b) => b.stream === stream)
      .map((b) => b.ch)
      .join("")
  return {
    stdout: text("stdout"),
    stderr: text("stderr"),
    overflow: all.length > capacity,
    size: kept.length
  }
}

describe("RingBuffer", () => {
  it("keeps exactly the newest `capacity` bytes of both streams, in order", () => {
    fc.assert(
      fc.property(asciiWrites, fc.integer({ min: 1, max: 2000 }), (writes, capacity) => {
        const ring = new RingBuffer(capacity)
        for (const w of writes) ring.push(w.stream, encoder.encode(w.text))
        const expected = model(writes, capacity)
        expect(ring.size).toBe(expected.size)
        expect(ring.size).toBeLessThanOrEqual(capacity)
        expect(ring.overflow).toBe(expected.overflow)
        expect(ring.peek()).toEqual({ stdout: expected.stdout, stderr: expected.stderr })
      })
    )
  })

  it("peek leaves the content, drain empties it; overflow stays set", () => {
    fc.assert(
      fc.property(asciiWrites, fc.integer({ min: 1, max: 500 }), (writes, capacity) => {
        const ring = new RingBuffer(capacity)
        for (const w of writes) ring.push(w.stream, encoder.encode(w.text))
        const overflow = ring.overflow
        const first = ring.peek()
        expect(ring.peek()).toEqual(first)
        expect(ring.drain()).toEqual(first)
        expect(ring.size).toBe(0)
        expect(ring.drain()).toEqual({ stdout: "", stderr: "" })
        expect(ring.overflow).toBe(overflow)
      })
    )
  })

  it("never splits a character: drains of any byte split decode to the original text", () => {
    fc.assert(
      fc.property(cleanText(200), fc.array(fc.nat(), { maxLength: 20 }), (text, cuts) => {
        const bytes = encoder.encode(text)
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
        const ring = new RingBuffer(1 << 20)
        let out = ""
        let from = 0
        for (const at of [...points, bytes.length]) {
          ring.push("stdout", bytes.subarray(from, at))
          from = at
          out += ring.drain().stdout
        }
        expect(out).toBe(text)
        expect(ring.size).toBe(0)
      })
    )
  })

  it("evicting never leaves half a character at the head of either stream", () => {
    fc.assert(
      fc.property(
        cleanText(300),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 4, max: 200 }),
        (text, cuts, capacity) => {
          // the text written in arbitrary byte pieces, with stderr writes in between
          const bytes = encoder.encode(text)
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
          const ring = new RingBuffer(capacity)
          let from = 0
          for (const at of [...points, bytes.length]) {
            ring.push("stdout", bytes.subarray(from, at))
            ring.push("stderr", encoder.encode("e"))
            from = at
          }
          const kept = ring.peek().stdout
          expect(kept).not.toContain("\uFFFD")
          expect(text.endsWith(kept)).toBe(true)
          expect(ring.size).toBeLessThanOrEqual(capacity)
        }
      )
    )
  })

  it("incompleteUtf8Tail finds an unfinished sequence at the end", () => {
    expect(incompleteUtf8Tail(encoder.encode("abc"))).toBe(0)
    expect(incompleteUtf8Tail(encoder.encode("é").subarray(0, 1))).toBe(1)
    expect(incompleteUtf8Tail(encoder.encode("😀").subarray(0, 3))).toBe(3)
    expect(incompleteUtf8Tail(encoder.encode("😀"))).toBe(0)
  })
})
