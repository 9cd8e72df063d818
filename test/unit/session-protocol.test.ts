import { describe, expect, it } from "vitest"
import { MarkerScanner, type ScanEvent, shellQuote } from "../../src/internal/session.js"

const prefix = `PD${"ab".repeat(16)}`

/** Feeds `text` in pieces of `size` bytes; content joined, markers in order. */
const scan = (text: string, size: number) => {
  const scanner = new MarkerScanner(prefix)
  const bytes = Buffer.from(text, "utf8")
  const events: Array<ScanEvent> = []
  for (let i = 0; i < bytes.length; i += size) events.push(...scanner.feed(bytes.subarray(i, i + size)))
  events.push({ _tag: "Content", data: scanner.flush() })
  const content = Buffer.concat(events.flatMap((e) => (e._tag === "Content" ? [e.data] : []))).toString(
    "utf8"
  )
  const markers = events.flatMap((e) => (e._tag === "Marker" ? [e.marker] : []))
  return { content, markers }
}

describe("MarkerScanner", () => {
  const text = `abc${prefix}:o:3:0:123.45:17;${prefix}:p:3;${prefix.slice(0, 10)}tail ✓${prefix}:e:4:2;PD:o:1:0;x`
  for (const size of [1, 2, 7, 64, 10_000]) {
    it(`finds markers anywhere, split every ${size} bytes, and keeps the rest exactly`, () => {
      const { content, markers } = scan(text, size)
      expect(content).toBe(`abc${prefix.slice(0, 10)}tail ✓PD:o:1:0;x`)
      expect(markers).toEqual([
        { kind: "o", seq: 3, status: 0, uptime: 12345, lastBackground: 17 },
        { kind: "p", seq: 3 },
        { kind: "e", seq: 4, status: 2 }
      ])
    })
  }

  it("passes a malformed marker through as content", () => {
    expect(scan(`${prefix}:zz;${prefix}:o:x:1;`, 3).content).toBe(`${prefix}:zz;${prefix}:o:x:1;`)
  })

  it("holds back a possible prefix at the end until flushed", () => {
    const scanner = new MarkerScanner(prefix)
    const events = scanner.feed(Buffer.from(`hello ${prefix.slice(0, 5)}`))
    expect(events).toEqual([{ _tag: "Content", data: Uint8Array.from(Buffer.from("hello ")) }])
    expect(Buffer.from(scanner.flush()).toString()).toBe(prefix.slice(0, 5))
  })
})

describe("shellQuote", () => {
  it("quotes single quotes and keeps newlines", () => {
    expect(shellQuote("it's\nok")).toBe("'it'\\''s\nok'")
  })
})
