import * as Path from "node:path"
import { defineConfig } from "vitest/config"

const alias = {
  "pocketdock/effect": Path.resolve(import.meta.dirname, "src/effect.ts"),
  pocketdock: Path.resolve(import.meta.dirname, "src/index.ts")
}

export default defineConfig({
  test: {
    // two cores: more workers only queue on the engines
    maxWorkers: 2,
    minWorkers: 1,
    teardownTimeout: 30_000,
    projects: [
      {
        resolve: { alias },
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], testTimeout: 30_000 }
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // real engines: containers start in ~0.1-0.3 s, but a loaded 2-core machine is slow
          testTimeout: 90_000,
          hookTimeout: 90_000,
          pool: "forks"
        }
      },
      {
        resolve: { alias },
        test: {
          // run on its own after the rest (scripts/test.sh): see test/load/load.test.ts
          name: "load",
          include: ["test/load/**/*.test.ts"],
          testTimeout: 480_000,
          hookTimeout: 90_000,
          pool: "forks"
        }
      }
    ]
  }
})
