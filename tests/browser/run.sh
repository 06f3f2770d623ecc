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
admin_url=${ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_name=lgb_browser
db_url=${admin_url%/*}/$db_name
port=${PORT:-18110}
base=http://127.0.0.1:$port
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

work=$(mktemp -d /tmp/lagesbild-browser.XXXXXX)
pid=''
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

PGOPTIONS="-c client_min_messages=warning" psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" -c "CREATE DATABASE $db_name"
export DATABASE_URL=$db_url LAGESBILD_BIND=127.0.0.1:$port LAGESBILD_METRICS_BIND=127.0.0.1:0 \
       LAGESBILD_LOG=${LAGESBILD_LOG:-warn} LAGESBILD_DATA_DIR=$work \
       LAGESBILD_JWT_SECRET=browser-tests-key-0123456789abcdef0123456789
"$bin" migrate >/dev/null
"$bin" demo-data --weeks 60 --seed 7 >/dev/null 2>&1
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username br-admin --area umea >/dev/null

"$bin" serve >"$work/serve.log" 2>&1 & pid=$!
for _ in $(seq 300); do
  curl -fs "$base/health/ready" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
curl -fs "$base/health/ready" >/dev/null || { echo "serve is not ready after 30 s" >&2; exit 1; }

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
