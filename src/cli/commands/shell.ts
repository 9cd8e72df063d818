/**
 * Defined, not registered yet: `shell` (an interactive TTY exec, SessionService).
 * See PENDING.md for how a definition becomes a command.
 */
import { Args, Command, Options } from "@effect/cli"

const container = Args.text({ name: "container" }).pipe(Args.withDescription("Sandbox name or id"))

export const shellDefinition = Command.make("shell", {
  container,
  shell: Options.text("shell").pipe(
    Options.withDescription("Shell to start (default /bin/sh)"),
    Options.optional
  )
}).pipe(Command.withDescription("An interactive shell in a sandbox, on a real TTY"))
