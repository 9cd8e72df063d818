import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createNewContainer, PathNotFound } from "../../src/index.js"
import { ContainerService } from "../../src/services/ContainerService.js"
import { BUSYBOX, engines, Sandbox, scopedTempDir, withSandbox } from "./engines.js"

/** Type, mode, bytes and link target of every path below `root`, by relative path. */
const describeTree = (root: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (dir: string, rel: string) => {
    for (const name of Fs.readdirSync(dir).sort()) {
      const full = Path.join(dir, name)
      const key = rel === "" ? name : `${rel}/${name}`
      const stat = Fs.lstatSync(full)
      if (stat.isSymbolicLink()) out[key] = `link -> ${Fs.readlinkSync(full)}`
      else if (stat.isDirectory()) {
        out[key] = `dir ${(stat.mode & 0o777).toString(8)}`
        walk(full, key)
      } else {
        const hash = Crypto.createHash("sha256").update(Fs.readFileSync(full)).digest("hex")
        out[key] = `file ${(stat.mode & 0o777).toString(8)} ${hash}`
      }
    }
  }
  walk(root, "")
  return out
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

for (const engine of engines) {
  layer(withSandbox(engine), { excludeTestServices: true })(`Container files [${engine.name}]`, (it) => {
    it.effect("writes text and random bytes and reads them back exactly", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        yield* sandbox.writeFile("/home/sandbox/hello.txt", "héllo ✓\n")
        expect(text(yield* sandbox.readFile("/home/sandbox/hello.txt"))).toBe("héllo ✓\n")
        const bytes = new Uint8Array(Crypto.randomBytes(300_000))
        yield* sandbox.writeFile("/tmp/random.bin", bytes)
        const back = yield* sandbox.readFile("/tmp/random.bin")
        expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true)
        yield* sandbox.writeFile("/tmp/empty", new Uint8Array(0))
        expect((yield* sandbox.readFile("/tmp/empty")).byteLength).toBe(0)
      })
    )

    it.effect("creates missing parents, owned by the sandbox user in its home, and leaves /tmp alone", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        yield* sandbox.writeFile("/home/sandbox/deep/er/note.txt", "v1")
        const owners = yield* sandbox.run(
          "stat -c '%u %a' /home/sandbox /home/sandbox/deep /home/sandbox/deep/er /home/sandbox/deep/er/note.txt"
        )
        expect(owners.stdout).toBe("1000 755\n1000 755\n1000 755\n1000 644\n")
        const append = yield* sandbox.run(
          "echo more >> /home/sandbox/deep/er/note.txt && touch /home/sandbox/deep/new",
          {
            user: "1000"
          }
        )
        expect(append.exitCode).toBe(0)
        yield* sandbox.writeFile("/tmp/a/b/c.txt", "x")
        const tmp = yield* sandbox.run("stat -c '%u %a' /tmp /tmp/a /tmp/a/b/c.txt")
        expect(tmp.stdout).toBe("0 1777\n0 755\n0 644\n")
        // overwrite replaces the content
        yield* sandbox.writeFile("/home/sandbox/deep/er/note.txt", "v2")
        expect(text(yield* sandbox.readFile("/home/sandbox/deep/er/note.txt"))).toBe("v2")
        // parents removed behind our back are made again, with the same owners
        yield* sandbox.run("rm -rf /home/sandbox/deep")
        yield* sandbox.writeFile("/home/sandbox/deep/er/note.txt", "v3")
        const again = yield* sandbox.run("stat -c '%u %a' /home/sandbox/deep /home/sandbox/deep/er")
        expect(again.stdout).toBe("1000 755\n1000 755\n")
        expect(text(yield* sandbox.readFile("/home/sandbox/deep/er/note.txt"))).toBe("v3")
      })
    )

    it.effect("lists a directory: hidden files, spaces, newlines, directories marked", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        yield* sandbox.run(
          "mkdir -p /tmp/ls/sub /tmp/ls/'dir with space' && cd /tmp/ls && touch .hidden 'a b' \"$(printf 'new\\nline')\" '*' && ln -s sub link && ln -s /nowhere dangling"
        )
        expect(yield* sandbox.listFiles("/tmp/ls")).toEqual(
          [".hidden", "*", "a b", "dangling", "dir with space/", "link", "new\nline", "sub/"].sort()
        )
        expect(yield* sandbox.listFiles("/tmp/ls/sub")).toEqual([])
        expect(yield* sandbox.listFiles()).toContain("hello.txt")
      })
    )

    it.effect("missing paths are PathNotFound; a directory is not a file", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const read = yield* Effect.flip(sandbox.readFile("/tmp/nope/nothing.txt"))
        expect(read).toBeInstanceOf(PathNotFound)
        expect(read).toMatchObject({
          _tag: "PathNotFound",
          path: "/tmp/nope/nothing.txt",
          containerId: sandbox.id
        })
        expect((yield* Effect.flip(sandbox.listFiles("/tmp/nope")))._tag).toBe("PathNotFound")
        expect((yield* Effect.flip(sandbox.pull("/tmp/nope", "/tmp/never-written")))._tag).toBe(
          "PathNotFound"
        )
        expect(Fs.existsSync("/tmp/never-written")).toBe(false)
        expect((yield* Effect.flip(sandbox.readFile("/tmp")))._tag).toBe("InvalidOption")
        expect((yield* Effect.flip(sandbox.writeFile("relative.txt", "x")))._tag).toBe("InvalidOption")
        const onFile = yield* Effect.flip(sandbox.writeFile("/tmp/random.bin/inside.txt", "x"))
        expect(onFile._tag).toBe("InvalidOption")
      })
    )

    it.effect("reads and pulls through a symlink", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        yield* sandbox.run(
          "mkdir -p /tmp/links && echo target > /tmp/links/real && ln -sf real /tmp/links/alias"
        )
        expect(text(yield* sandbox.readFile("/tmp/links/alias"))).toBe("target\n")
        // pull follows a symlink given as the source on both engines (Podman does it on its own)
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-link-"))
        try {
          yield* sandbox.pull("/tmp/links/alias", Path.join(dir, "copy"))
          expect(Fs.lstatSync(Path.join(dir, "copy")).isFile()).toBe(true)
          expect(Fs.readFileSync(Path.join(dir, "copy"), "utf8")).toBe("target\n")
        } finally {
          Fs.rmSync(dir, { recursive: true, force: true })
        }
      })
    )

    it.scoped("push and pull a tree: bytes, modes, symlinks, empty dirs", () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox
        const dir = yield* scopedTempDir("pd-files-")
        const src = Path.join(dir, "src")
        Fs.mkdirSync(Path.join(src, "nested", "empty"), { recursive: true })
        Fs.writeFileSync(Path.join(src, "random.bin"), Crypto.randomBytes(200_000))
        Fs.writeFileSync(Path.join(src, "run.sh"), "#!/bin/sh\necho ran\n", { mode: 0o755 })
        Fs.writeFileSync(Path.join(src, "nested", "secret"), "s", { mode: 0o600 })
        Fs.writeFileSync(Path.join(src, "nested", "name with\nnewline"), "n")
        Fs.symlinkSync("../run.sh", Path.join(src, "nested", "link"))
        Fs.chmodSync(Path.join(src, "nested", "empty"), 0o750)
        Fs.chmodSync(Path.join(src, "run.sh"), 0o755)
        Fs.chmodSync(Path.join(src, "nested", "secret"), 0o600)

        yield* sandbox.push(src, "/home/sandbox/project/tree")
        const inside = yield* sandbox.run(
          "cd /home/sandbox/project/tree && stat -c '%n %a %u' run.sh nested/secret nested/empty && readlink nested/link && ./nested/link"
        )
        expect(inside.stdout).toBe(
          "run.sh 755 1000\nnested/secret 600 1000\nnested/empty 750 1000\n../run.sh\nran\n"
        )

        const back = Path.join(dir, "back")
        yield* sandbox.pull("/home/sandbox/project/tree", back)
        expect(describeTree(back)).toEqual(describeTree(src))

        // single files both ways
        yield* sandbox.push(Path.join(src, "random.bin"), "/tmp/single/copy.bin")
        yield* sandbox.pull("/tmp/single/copy.bin", Path.join(dir, "out", "copy.bin"))
        expect(
          Fs.readFileSync(Path.join(dir, "out", "copy.bin")).equals(
            Fs.readFileSync(Path.join(src, "random.bin"))
          )
        ).toBe(true)
        expect((yield* Effect.flip(sandbox.push(Path.join(dir, "missing"), "/tmp/x")))._tag).toBe(
          "HostPathError"
        )
      })
    )

    it.effect("a shut down container is ContainerGone", () =>
      Effect.gen(function* () {
        const service = yield* ContainerService
        const other = yield* service.create({ image: BUSYBOX })
        yield* other.shutdown()
        expect((yield* Effect.flip(other.readFile("/etc/hostname")))._tag).toBe("ContainerGone")
        expect((yield* Effect.flip(other.writeFile("/tmp/x", "x")))._tag).toBe("ContainerGone")
        expect((yield* Effect.flip(other.listFiles("/")))._tag).toBe("ContainerGone")
      })
    )
  })

  describe(`Container files, Promise facade [${engine.name}]`, () => {
    it("writeFile, readFile, listFiles, push and pull through the Promise API", async () => {
      await using sandbox = await createNewContainer({ image: BUSYBOX, socketPath: engine.socketPath })
      await sandbox.writeFile("/home/sandbox/a.txt", "a")
      await sandbox.writeFile("/home/sandbox/b.bin", new Uint8Array([0, 255, 1]))
      expect([...(await sandbox.readFile("/home/sandbox/b.bin"))]).toEqual([0, 255, 1])
      expect(await sandbox.listFiles()).toEqual(["a.txt", "b.bin"])
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pd-facade-"))
      try {
        await sandbox.pull("/home/sandbox", Path.join(dir, "home"))
        expect(Fs.readFileSync(Path.join(dir, "home", "a.txt"), "utf8")).toBe("a")
        await sandbox.push(Path.join(dir, "home", "a.txt"), "/tmp/a-again.txt")
        expect(new TextDecoder().decode(await sandbox.readFile("/tmp/a-again.txt"))).toBe("a")
      } finally {
        Fs.rmSync(dir, { recursive: true, force: true })
      }
      await expect(sandbox.readFile("/nope")).rejects.toBeInstanceOf(PathNotFound)
    })
  })
}
