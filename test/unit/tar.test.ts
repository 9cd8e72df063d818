import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Stream } from "effect"
import * as fc from "fast-check"
import type * as TarStream from "tar-stream"
import { extractTree, hostError, packWith, readFirstEntry, withEntries } from "../../src/internal/tar.js"

interface Entry {
  readonly name: string
  readonly type?: "file" | "directory" | "symlink" | "link" | "fifo"
  readonly linkname?: string
  readonly data?: string
  readonly mode?: number
}

/** A tar built with tar-stream, entries in order, exactly as given. */
const tarOf = (entries: ReadonlyArray<Entry>): Promise<Uint8Array> =>
  packWith(async (pack) => {
    for (const entry of entries) {
      const type = entry.type ?? "file"
      const data = type === "file" ? Buffer.from(entry.data ?? "") : undefined
      await new Promise<void>((resolve, reject) => {
        const header: TarStream.Headers = {
          name: entry.name,
          type,
          mode: entry.mode ?? (type === "directory" ? 0o755 : 0o644),
          ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
          ...(data === undefined ? {} : { size: data.length })
        }
        const done = (error?: Error | null) => (error ? reject(error) : resolve())
        if (data === undefined) pack.entry(header, done)
        else pack.entry(header, data, done)
      })
    }
  })

/** Extracts `bytes` into `dest`, fed in small chunks like a socket would. */
const extract = (bytes: Uint8Array, dest: string) => {
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += 700) chunks.push(bytes.subarray(i, i + 700))
  return withEntries(Stream.fromIterable(chunks), (entries) => extractTree(entries, dest), hostError(dest))
}

/** Everything below `root` (not following symlinks): path -> kind and content. */
const snapshot = (root: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const name of Fs.readdirSync(dir)) {
      const full = Path.join(dir, name)
      const stat = Fs.lstatSync(full)
      if (stat.isSymbolicLink()) out[full] = `link ${Fs.readlinkSync(full)}`
      else if (stat.isDirectory()) {
        out[full] = `dir ${stat.mode & 0o777}`
        walk(full)
      } else out[full] = `file ${stat.mode & 0o777} ${Fs.readFileSync(full, "latin1")}`
    }
  }
  walk(root)
  return out
}

/**
 * A scratch area: `outside/victim` must never change, nothing may appear
 * next to `dest`. Returns a check to run afterwards.
 */
const scratch = () => {
  const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-tar-"))
  Fs.mkdirSync(Path.join(base, "outside"))
  Fs.writeFileSync(Path.join(base, "outside", "victim"), "original")
  const dest = Path.join(base, "work", "dest")
  Fs.mkdirSync(Path.join(base, "work"))
  const before = snapshot(base)
  const outsideUnchanged = () => {
    const after = snapshot(base)
    const strip = (s: Record<string, string>) =>
      Object.fromEntries(Object.entries(s).filter(([k]) => k !== dest && !k.startsWith(`${dest}/`)))
    expect(strip(after)).toEqual(strip(before))
  }
  const cleanup = () => {
    // a read-only directory from an archive must not block the cleanup
    Fs.rmSync(base, { recursive: true, force: true })
  }
  return { base, dest, outsideUnchanged, cleanup }
}

const failureTag = (exit: Exit.Exit<unknown, { readonly _tag: string }>): string | undefined =>
  Exit.isFailure(exit)
    ? Option.getOrUndefined(Option.map(Cause.failureOption(exit.cause), (e) => e._tag))
    : undefined

const hostile = async (entries: ReadonlyArray<Entry>) => {
  const area = scratch()
  try {
    const exit = await Effect.runPromiseExit(extract(await tarOf(entries), area.dest))
    area.outsideUnchanged()
    return { exit, tag: failureTag(exit), dest: area.dest, base: area.base }
  } finally {
    area.cleanup()
  }
}

describe("tar extraction", () => {
  it("extracts a tree so that dest becomes the archive's top directory", async () => {
    const area = scratch()
    try {
      const bytes = await tarOf([
        { name: "top/", type: "directory", mode: 0o750 },
        { name: "top/a.txt", data: "a", mode: 0o600 },
        { name: "top/sub/", type: "directory" },
        { name: "top/sub/run.sh", data: "#!/bin/sh", mode: 0o755 },
        { name: "top/sub/link", type: "symlink", linkname: "../a.txt" },
        { name: "top/hard", type: "link", linkname: "top/a.txt" },
        { name: "top/empty/", type: "directory" },
        { name: "top/fifo", type: "fifo" }
      ])
      await Effect.runPromise(extract(bytes, area.dest))
      expect(Fs.readFileSync(Path.join(area.dest, "a.txt"), "utf8")).toBe("a")
      expect(Fs.statSync(Path.join(area.dest, "a.txt")).mode & 0o777).toBe(0o600)
      expect(Fs.statSync(Path.join(area.dest, "sub", "run.sh")).mode & 0o777).toBe(0o755)
      expect(Fs.statSync(area.dest).mode & 0o777).toBe(0o750)
      expect(Fs.readlinkSync(Path.join(area.dest, "sub", "link"))).toBe("../a.txt")
      expect(Fs.statSync(Path.join(area.dest, "hard")).ino).toBe(
        Fs.statSync(Path.join(area.dest, "a.txt")).ino
      )
      expect(Fs.readdirSync(Path.join(area.dest, "empty"))).toEqual([])
      expect(Fs.existsSync(Path.join(area.dest, "fifo"))).toBe(false)
      area.outsideUnchanged()
    } finally {
      area.cleanup()
    }
  })

  it("writes a single-file archive as dest itself", async () => {
    const area = scratch()
    try {
      await Effect.runPromise(extract(await tarOf([{ name: "whatever.bin", data: "bytes" }]), area.dest))
      expect(Fs.readFileSync(area.dest, "utf8")).toBe("bytes")
    } finally {
      area.cleanup()
    }
  })

  it("refuses '..' entries", async () => {
    expect((await hostile([{ name: "../outside/evil", data: "x" }])).tag).toBe("UnsafeArchive")
    expect(
      (
        await hostile([
          { name: "top/", type: "directory" },
          { name: "top/../../outside/evil", data: "x" }
        ])
      ).tag
    ).toBe("UnsafeArchive")
    expect((await hostile([{ name: "top/a/../../../outside/victim", data: "pwned" }])).tag).toBe(
      "UnsafeArchive"
    )
  })

  it("refuses absolute entries", async () => {
    const area = scratch()
    area.cleanup()
    const result = await hostile([{ name: `${area.base}/outside/victim`, data: "pwned" }])
    expect(result.tag).toBe("UnsafeArchive")
    expect((await hostile([{ name: "/etc/pocketdock-evil", data: "x" }])).tag).toBe("UnsafeArchive")
    expect(Fs.existsSync("/etc/pocketdock-evil")).toBe(false)
  })

  it("refuses a second top-level name", async () => {
    expect(
      (
        await hostile([
          { name: "top/a", data: "a" },
          { name: "other/b", data: "b" }
        ])
      ).tag
    ).toBe("UnsafeArchive")
  })

  it("never writes through a symlink, relative or absolute", async () => {
    expect(
      (
        await hostile([
          { name: "top/", type: "directory" },
          { name: "top/link", type: "symlink", linkname: "../../outside" },
          { name: "top/link/victim", data: "pwned" }
        ])
      ).tag
    ).toBe("UnsafeArchive")
    expect(
      (
        await hostile([
          { name: "top/", type: "directory" },
          { name: "top/abs", type: "symlink", linkname: "/etc" },
          { name: "top/abs/pocketdock-evil", data: "x" }
        ])
      ).tag
    ).toBe("UnsafeArchive")
    expect(Fs.existsSync("/etc/pocketdock-evil")).toBe(false)
    // a directory entry through a symlink
    expect(
      (
        await hostile([
          { name: "top/", type: "directory" },
          { name: "top/link", type: "symlink", linkname: "../../outside" },
          { name: "top/link/newdir/", type: "directory" }
        ])
      ).tag
    ).toBe("UnsafeArchive")
  })

  it("a file entry replaces a symlink of the same name instead of following it", async () => {
    const result = await hostile([
      { name: "top/", type: "directory" },
      { name: "top/link", type: "symlink", linkname: "../../outside/victim" },
      { name: "top/link", data: "mine" }
    ])
    expect(Exit.isSuccess(result.exit)).toBe(true)
  })

  it("a symlink as the archive's root is created, never followed", async () => {
    const result = await hostile([
      { name: "top", type: "symlink", linkname: "../outside" },
      { name: "top/victim", data: "pwned" }
    ])
    expect(result.tag).toBe("UnsafeArchive")
  })

  it("refuses hard links out of the archive, or to a symlink", async () => {
    expect((await hostile([{ name: "top/hl", type: "link", linkname: "../outside/victim" }])).tag).toBe(
      "UnsafeArchive"
    )
    expect(
      (await hostile([{ name: "top/hl", type: "link", linkname: "top/../../outside/victim" }])).tag
    ).toBe("UnsafeArchive")
    expect(
      (
        await hostile([
          { name: "top/", type: "directory" },
          { name: "top/sym", type: "symlink", linkname: "../../outside/victim" },
          { name: "top/hl", type: "link", linkname: "top/sym" },
          { name: "top/hl", data: "pwned" }
        ])
      ).tag
    ).toBe("UnsafeArchive")
    // a file written over a hard link does not change the other name
    const area = scratch()
    try {
      await Effect.runPromise(
        extract(
          await tarOf([
            { name: "top/", type: "directory" },
            { name: "top/a", data: "a" },
            { name: "top/hl", type: "link", linkname: "top/a" },
            { name: "top/hl", data: "changed" }
          ]),
          area.dest
        )
      )
      expect(Fs.readFileSync(Path.join(area.dest, "a"), "utf8")).toBe("a")
      expect(Fs.readFileSync(Path.join(area.dest, "hl"), "utf8")).toBe("changed")
    } finally {
      area.cleanup()
    }
  })

  it("a malformed or truncated tar is an UnsafeArchive", async () => {
    const area = scratch()
    try {
      const garbage = new Uint8Array(Crypto.randomBytes(2048))
      const exit = await Effect.runPromiseExit(extract(garbage, area.dest))
      expect(failureTag(exit)).toBe("UnsafeArchive")
      const good = await tarOf([{ name: "top/a", data: "x".repeat(5000) }])
      const cut = await Effect.runPromiseExit(
        extract(good.subarray(0, 1500), Path.join(area.base, "work", "d2"))
      )
      expect(failureTag(cut)).toBe("UnsafeArchive")
    } finally {
      area.cleanup()
    }
  })

  it("readFirstEntry returns a file's bytes, a symlink's target", async () => {
    const read = (bytes: Uint8Array) =>
      Effect.runPromise(withEntries(Stream.make(bytes), readFirstEntry, hostError("<memory>")))
    expect(await read(await tarOf([{ name: "f", data: "content" }]))).toMatchObject({ _tag: "file" })
    expect(await read(await tarOf([{ name: "l", type: "symlink", linkname: "busybox" }]))).toEqual({
      _tag: "symlink",
      target: "busybox"
    })
    expect(await read(await tarOf([{ name: "d/", type: "directory" }]))).toEqual({
      _tag: "other",
      type: "directory"
    })
  })

  it("property: arbitrary archives never write outside dest and fail only with typed errors", async () => {
    // small alphabets, so that a link and a path through it meet often
    const component = fc.constantFrom("link", "victim", "a", "..", ".", "", "x y", "outside")
    const path = fc
      .tuple(
        fc.oneof({ weight: 8, arbitrary: fc.constant("top") }, { weight: 1, arbitrary: component }),
        fc.array(component, { maxLength: 3 }),
        fc.oneof({ weight: 9, arbitrary: fc.constant("") }, { weight: 1, arbitrary: fc.constant("/") })
      )
      .map(([first, rest, lead]) => `${lead}${[first, ...rest].join("/")}`)
      .filter((name) => name !== "" && name !== "/")
    const entry: fc.Arbitrary<Entry> = fc.record({
      name: path,
      type: fc.constantFrom("file", "directory", "symlink", "link", "fifo"),
      linkname: fc.oneof(
        path,
        fc.constantFrom(
          "../outside",
          "../../outside",
          "../../../outside",
          "../../outside/victim",
          "/etc",
          "top/a",
          "top/victim"
        )
      ),
      data: fc.string({ maxLength: 20 }),
      mode: fc.constantFrom(0o644, 0o755, 0o600, 0o000, 0o555)
    })
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 8 }), async (entries) => {
        const area = scratch()
        try {
          const exit = await Effect.runPromiseExit(extract(await tarOf(entries), area.dest))
          if (Exit.isFailure(exit)) {
            const failure = Cause.failureOption(exit.cause)
            expect(Option.isSome(failure)).toBe(true)
            expect(["UnsafeArchive", "HostPathError"]).toContain(Option.getOrThrow(failure)._tag)
          }
          area.outsideUnchanged()
          expect(Fs.existsSync("/etc/victim")).toBe(false)
        } finally {
          Fs.chmodSync(area.base, 0o755)
          // entries may have made read-only directories: open them up to clean
          const reopen = (dir: string) => {
            for (const name of Fs.existsSync(dir) ? Fs.readdirSync(dir) : []) {
              const full = Path.join(dir, name)
              if (Fs.lstatSync(full).isDirectory()) {
                Fs.chmodSync(full, 0o755)
                reopen(full)
              }
            }
          }
          if (Fs.existsSync(area.dest) && Fs.lstatSync(area.dest).isDirectory()) {
            Fs.chmodSync(area.dest, 0o755)
            reopen(area.dest)
          }
          area.cleanup()
        }
      }),
      { numRuns: 200 }
    )
  })
})
