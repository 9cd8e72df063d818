/**
 * Defined, not registered yet: `push`, `pull` (Container.push / Container.pull).
 * See PENDING.md for how a definition becomes a command.
 */
import { Args, Command } from "@effect/cli"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))

export const pushDefinition = Command.make("push", {
  container,
  source: Args.path({ name: "source", exists: "yes" }).pipe(Args.withDescription("Host file or directory")),
  destination: Args.text({ name: "destination" }).pipe(Args.withDescription("Path in the sandbox"))
}).pipe(Command.withDescription("Copy a file or directory into a sandbox (with progress)"))

export const pullDefinition = Command.make("pull", {
  container,
  source: Args.text({ name: "source" }).pipe(Args.withDescription("Path in the sandbox")),
  destination: Args.path({ name: "destination" }).pipe(Args.withDescription("Host path"))
}).pipe(Command.withDescription("Copy a file or directory out of a sandbox (with progress)"))
