/**
 * The image profiles: a fixed table, each with `profiles/NAME/Dockerfile`
 * shipped in the package.
 */
import * as Path from "node:path"
import * as Url from "node:url"
import { Effect } from "effect"
import { ProfileInfo } from "../schemas/Project.js"
import { ProfileNotFound } from "../services/ProjectService.js"

/** `profiles/` of the package: two levels above this file in `src/` and in `dist/`. */
export const PROFILES_DIR = Path.resolve(
  Path.dirname(Url.fileURLToPath(import.meta.url)),
  "..",
  "..",
  "profiles"
)

const profile = (
  name: string,
  networkDefault: boolean,
  description: string,
  sizeEstimate: string,
  buildsOffline = true
) =>
  new ProfileInfo({
    name,
    imageTag: `pocketdock/${name}`,
    dockerfileDir: Path.join(PROFILES_DIR, name),
    networkDefault,
    description,
    sizeEstimate,
    buildsOffline
  })

const PROFILES: ReadonlyArray<ProfileInfo> = [
  profile("minimal-python", false, "Debian bookworm + Python 3", "~220 MB"),
  profile("minimal-node", false, "Debian bookworm + Node.js (Debian's nodejs)", "~370 MB"),
  profile(
    "minimal-bun",
    false,
    "Debian bookworm + Bun (downloaded from github.com: needs the internet, not buildable offline)",
    "~250 MB",
    false
  ),
  profile("dev", true, "Debian bookworm + git, Python 3, Node.js, make, curl", "~490 MB"),
  profile("agent", true, "Debian bookworm + Python 3 with pip and venv, git, curl, jq", "~450 MB"),
  profile("embedded", false, "Debian bookworm + Python 3, pyserial, picocom, usbutils", "~260 MB")
]

/** Every profile. */
export const listProfiles = (): ReadonlyArray<ProfileInfo> => PROFILES

/** The profile of this name, or `ProfileNotFound`. */
export const resolveProfile = (name: string): Effect.Effect<ProfileInfo, ProfileNotFound> => {
  const found = PROFILES.find((p) => p.name === name)
  return found === undefined
    ? Effect.fail(new ProfileNotFound({ name, known: PROFILES.map((p) => p.name) }))
    : Effect.succeed(found)
}
