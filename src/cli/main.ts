#!/usr/bin/env node
/**
 * The `pocketdock` binary.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Exit } from "effect"
import { main } from "./app.js"
import { ExitCodes } from "./errors.js"

NodeRuntime.runMain(main(process.argv), {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) onExit(typeof exit.value === "number" ? exit.value : ExitCodes.error)
    else onExit(Exit.isInterrupted(exit) ? ExitCodes.interrupted : ExitCodes.error)
  }
})
