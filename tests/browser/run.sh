#!/usr/bin/env bash
# The page tests in a real browser: Debian's Chromium driven by playwright-core, with
# axe-core, against the debug binary on a scratch database `lgb_browser` with 60 weeks of
# demo data, an Umeå admin, coordinator and reporter. Screenshots go to tests/browser/out/.
#
#   tests/browser/run.sh                     # builds target/debug/lagesbild if missing
#   BIN=target/release/lagesbild PORT=18111 tests/browser/run.sh
#
# Needs: psql, curl, node 20 and npm (the npm packages are installed here, into
# tests/browser/node_modules), chromium (CHROMIUM, default /usr/bin/chromium). Never
# downloads a browser. Creates and drops `lgb_browser`; the server is stopped and the
# database dropped on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${PORT:-18110}
bin=${BIN:-target/debug/lagesbild}
password='correct horse battery staple'
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for tool in psql curl node npm; do
  command -v $tool >/dev/null || { echo "run.sh needs $tool" >&2; exit 1; }
done
[ -x "$CHROMIUM" ] || { echo "no Chromium at $CHROMIUM (apt install chromium)" >&2; exit 1; }
[ -d tests/browser/node_modules/playwright-core ] ||
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
[ -x "$bin" ] || cargo build --quiet

source .ci/scratch-server.sh
scratch_database lgb_browser
export LAGESBILD_JWT_SECRET=browser-tests-key-0123456789abcdef0123456789
"$bin" migrate >/dev/null
"$bin" demo-data --weeks 60 --seed 7 >/dev/null 2>&1
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username br-admin --area umea >/dev/null
scratch_serve "$bin" "$port"

admin=$(curl -fs "$base/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"br-admin\",\"password\":\"$password\"}" | node -e 'process.stdin.on("data", d => console.log(JSON.parse(d).access_token))')
for user in "br-coord coordinator" "br-school school"; do
  set -- $user
  code=$(curl -s -o "$work/user.json" -w '%{http_code}' "$base/v1/users" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"role\":\"$2\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}")
  [ "$code" = 201 ] || { echo "POST /v1/users ($1) -> $code: $(cat "$work/user.json")" >&2; exit 1; }
done

status=0
BASE_URL=$base COORDINATOR=br-coord REPORTER=br-school ADMIN=br-admin PASSWORD=$password MIN_COUNT=5 \
OUT=${OUT:-tests/browser/out} \
  node --test --test-concurrency=1 --test-reporter=spec tests/browser/pages.test.mjs || status=$?
if grep -q ' ERROR ' "$work/serve.log"; then
  echo "--- the server logged errors:" >&2; grep ' ERROR ' "$work/serve.log" | head -20 >&2
  status=1
fi
exit $status
