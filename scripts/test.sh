#!/usr/bin/env bash
# The test command (`npm test`): from a fresh machine to a full run.
# Installs and starts both engines and builds the test images (fast when they
# are there), installs node modules when the lock changed, then type-checks,
# lints, and runs unit and integration tests against Podman and Docker.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/engine-setup.sh
bash scripts/node-modules.sh

echo "== type check"
npx tsc --noEmit -p tsconfig.json
echo "== lint and format"
npx biome ci --reporter=summary .
echo "== tests (unit, then integration on: ${POCKETDOCK_TEST_ENGINES:-podman docker})"
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)
' "$report" 2>/dev/null || true
rm -f "$report"
exit "$status"
