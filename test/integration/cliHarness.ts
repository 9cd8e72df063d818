/**
 * The built `pocketdock` binary as the CLI tests run it: built once per test
 * file when a source file is newer than the binary, then run as a child
 * process with stdin closed (not a TTY).
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { beforeAll } from "vitest"

export const ROOT = Path.resolve(import.meta.dirname, "../..")
export const BIN = Path.join(ROOT, "dist/cli/main.js")

const newestMtime = (dir: string): number =>
  Fs.readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = Path.join(dir, entry.name)
    return Math.max(newest, entry.isDirectory() ? newestMtime(path) : Fs.statSync(path).mtimeMs)
  }, 0)

/** Registers a `beforeAll` that runs `npm run build` when the binary is older than `src`. */
export const buildBeforeAll = () =>
  beforeAll(async () => {
    const built = Fs.existsSync(BIN) ? Fs.statSync(BIN).mtimeMs : 0
    if (built < newestMtime(Path.join(ROOT, "src"))) {
      await new Promise<void>((resolve, reject) =>
        execFile("npm", ["run", "build"], { cwd: ROOT }, (error) => (error ? reject(error) : resolve()))
      )
    }
  }, 300_000)

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the binary with `args`; `POCKETDOCK_SOCKET` is cleared unless `env` sets it. */
export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {}
): Promise<Ran> =>
  new Promise((resolve) => {
    const child = execFile(
      BIN,
      [...args],
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, POCKETDOCK_SOCKET: "", ...options.env },
        timeout: 240_000
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
        resolve({ code, stdout, stderr })
      }
    )
    child.stdin?.end()
  })
