#!/usr/bin/env bash
# The test command (`npm test`): from a fresh machine to a full run.
# Installs and starts both engines and builds the test images (fast when they
# are there), installs node modules when the lock changed, then type-checks,
# lints, and runs unit and integration tests against Podman and Docker, then
# the load test on its own. Arguments go to a single vitest run instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/engine-setup.sh
bash scripts/node-modules.sh

echo "== type check"
npx tsc --noEmit -p tsconfig.json
echo "== lint and format"
npx biome ci --reporter=summary .
echo "== tests (unit, then integration on: ${POCKETDOCK_TEST_ENGINES:-podman docker}, then load)"
reports=$(mktemp -d)
status=0
run_vitest() {
  local name=$1
  shift
  npx vitest run --reporter=default --reporter=json --outputFile.json="$reports/$name.json" "$@" || status=$?
}
if [ $# -gt 0 ]; then
  run_vitest selected "$@"
else
  run_vitest suite --project unit --project integration
  # the load test last, on a machine the other tests no longer share
  run_vitest load --project load
fi
node -e '
  const fs = require("fs")
  const total = { passed: 0, failed: 0, skipped: 0 }
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${file}`, "utf8"))
    total.passed += r.numPassedTests
    total.failed += r.numFailedTests
    total.skipped += r.numPendingTests + r.numTodoTests
  }
  console.log(`vitest: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`)
' "$reports" 2>/dev/null || true
rm -rf "$reports"
exit "$status"
