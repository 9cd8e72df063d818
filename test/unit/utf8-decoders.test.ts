import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Utf8Decoders } from "../../src/internal/stream.js"

/** `bytes` cut at `cuts` (positions, any order, duplicates allowed). */
const pieces = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let from = 0
  for (const cut of [...at, bytes.length]) {
    out.push(bytes.subarray(from, cut))
    from = cut
  }
  return out
}

describe("Utf8Decoders", () => {
  it("decodes any text cut anywhere, stdout and stderr apart", () =>
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.array(fc.nat()), (text, cuts) => {
        const decoders = new Utf8Decoders()
        const bytes = new TextEncoder().encode(text)
        let stdout = ""
        let stderr = ""
        for (const piece of pieces(bytes, cuts)) {
          stdout += decoders.decode("stdout", piece)
          // interleaved with stdout: a character split on one stream must not mix with the other
          stderr += decoders.decode("stderr", piece)
        }
        stdout += decoders.flush("stdout")
        stderr += decoders.flush("stderr")
        expect(stdout).toBe(text)
        expect(stderr).toBe(text)
      })
    ))

  it("turns invalid and truncated bytes into U+FFFD as TextDecoder does", () =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat()), (bytes, cuts) => {
        const decoders = new Utf8Decoders()
        let text = ""
        for (const piece of pieces(bytes, cuts)) text += decoders.decode("stdout", piece)
        text += decoders.flush("stdout")
        expect(text).toBe(new TextDecoder().decode(bytes))
      })
    ))
})
