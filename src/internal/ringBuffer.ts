/**
 * The output buffer of a detached process: stdout and stderr in one byte
 * budget. When it is full the oldest bytes go, whichever stream they came
 * from, and `overflow` stays set.
 */
import type { StreamName } from "../schemas/ExecResult.js"

/** 1 MiB: the default size of a detached process's buffer. */
export const DEFAULT_BUFFER_SIZE = 1024 * 1024

interface Piece {
  readonly stream: StreamName
  data: Uint8Array
}

/**
 * Bytes at the end of `bytes` that start a UTF-8 sequence not yet complete
 * (0 to 3). Kept back by `drain` so that a character split between two reads
 * is decoded whole.
 */
export const incompleteUtf8Tail = (bytes: Uint8Array): number => {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] ?? 0
    if ((byte & 0xc0) === 0x80) continue // continuation byte: look further back
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
    return need > back ? back : 0
  }
  return 0
}

/** The first index at or after `at` that does not fall inside a UTF-8 character. */
const skipContinuation = (bytes: Uint8Array, at: number): number => {
  let index = at
  while (index < bytes.length && ((bytes[index] ?? 0) & 0xc0) === 0x80) index++
  return index
}

const concat = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0))
  let at = 0
  for (const piece of pieces) {
    out.set(piece, at)
    at += piece.length
  }
  return out
}

const decoder = new TextDecoder()

export class RingBuffer {
  private pieces: Array<Piece> = []
  private bytes = 0
  /** Bytes held per stream. */
  private readonly held: Record<StreamName, number> = { stdout: 0, stderr: 0 }
  private overflowed = false

  constructor(readonly capacity: number = DEFAULT_BUFFER_SIZE) {}

  /** Bytes held now. */
  get size(): number {
    return this.bytes
  }

  /** Whether bytes were ever evicted to make room. */
  get overflow(): boolean {
    return this.overflowed
  }

  /** Appends a copy of `data`, evicting the oldest bytes past the capacity. */
  push(stream: StreamName, data: Uint8Array): void {
    if (data.length === 0) return
    const before = this.bytes
    let from = Math.max(0, data.length - this.capacity)
    if (from > 0) {
      // this write alone fills the buffer: everything held is older than what it drops
      this.overflowed = true
      this.pieces = []
      this.bytes = 0
      this.held.stdout = 0
      this.held.stderr = 0
    }
    // nothing of this stream held: bytes continuing a character whose start was evicted are orphans
    if (from > 0 || this.held[stream] === 0) from = skipContinuation(data, from)
    const copy = data.slice(from)
    if (copy.length === 0) return
    const last = this.pieces[this.pieces.length - 1]
    // merge small writes so that many tiny frames do not make many pieces
    if (last !== undefined && last.stream === stream && last.data.length + copy.length <= 4096) {
      const merged = new Uint8Array(last.data.length + copy.length)
      merged.set(last.data)
      merged.set(copy, last.data.length)
      last.data = merged
    } else {
      this.pieces.push({ stream, data: copy })
    }
    this.bytes += copy.length
    this.held[stream] += copy.length
    let excess = this.bytes - this.capacity
    if (excess > 0) this.overflowed = true
    while (excess > 0) {
      const head = this.pieces[0]
      if (head === undefined) break
      if (head.data.length <= excess) {
        this.pieces.shift()
        excess -= head.data.length
        this.bytes -= head.data.length
        this.held[head.stream] -= head.data.length
      } else {
        // cut, and do not leave half a character at the head
        const cut = skipContinuation(head.data, excess)
        head.data = head.data.subarray(cut)
        this.bytes -= cut
        this.held[head.stream] -= cut
        excess = 0
        if (head.data.length === 0) this.pieces.shift()
      }
    }
    if (this.bytes < before + copy.length) this.trimHeads()
  }

  /** After an eviction: no stream may start in the middle of a character. */
  private trimHeads(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      for (const piece of this.pieces) {
        if (piece.stream !== stream) continue
        const cut = skipContinuation(piece.data, 0)
        piece.data = piece.data.subarray(cut)
        this.bytes -= cut
        this.held[stream] -= cut
        // a piece that was all continuation bytes: the character goes on in the next one
        if (piece.data.length > 0) break
      }
    }
    this.pieces = this.pieces.filter((piece) => piece.data.length > 0)
  }

  private bytesOf(stream: StreamName): Uint8Array {
    return concat(this.pieces.filter((piece) => piece.stream === stream).map((piece) => piece.data))
  }

  /** What is held, decoded, without consuming it. */
  peek(): { stdout: string; stderr: string } {
    const text = (bytes: Uint8Array) =>
      decoder.decode(bytes.subarray(0, bytes.length - incompleteUtf8Tail(bytes)))
    return { stdout: text(this.bytesOf("stdout")), stderr: text(this.bytesOf("stderr")) }
  }

  /**
   * What is held, decoded, and empties the buffer. A character whose bytes
   * have not all arrived stays for the next read.
   */
  drain(): { stdout: string; stderr: string } {
    const out = { stdout: "", stderr: "" }
    const kept: Array<Piece> = []
    for (const stream of ["stdout", "stderr"] as const) {
      const bytes = this.bytesOf(stream)
      const tail = incompleteUtf8Tail(bytes)
      out[stream] = decoder.decode(bytes.subarray(0, bytes.length - tail))
      if (tail > 0) kept.push({ stream, data: bytes.slice(bytes.length - tail) })
    }
    this.pieces = kept
    this.held.stdout = 0
    this.held.stderr = 0
    for (const piece of kept) this.held[piece.stream] += piece.data.length
    this.bytes = this.held.stdout + this.held.stderr
    return out
  }
}
