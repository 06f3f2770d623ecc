#!/usr/bin/env bash
# Alarm census over a demo history (bench/alarms.py): how many EARS alarms an Umeå
# coordinator sees, week by week, sorted by what was really there.
#
#   bench/alarms.sh                               # 104 weeks, seed 42, target/release/lagesbild
#   WEEKS=104 SEED=7 BIN=target/debug/lagesbild bench/alarms.sh
#   GEN_BIN=/path/to/old/lagesbild BIN=target/release/lagesbild bench/alarms.sh
#
# GEN_BIN (default BIN) creates the data (migrate, demo-data); BIN migrates what is left
# and serves. So the same data can be read by two versions: GEN_BIN=old BIN=old, then
# GEN_BIN=old BIN=new — as in bench/README.md. Needs psql, curl, python3; creates and
# drops the database `lgb_alarms`.
set -euo pipefail
cd "$(dirname "$0")/.."
admin_url=${ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_name=lgb_alarms
db_url=${admin_url%/*}/$db_name
port=${PORT:-18095}
api=http://127.0.0.1:$port
bin=${BIN:-target/release/lagesbild}
gen_bin=${GEN_BIN:-$bin}
password='correct horse battery staple'
[ -x "$bin" ] || cargo build --release --quiet

work=$(mktemp -d /tmp/lagesbild-alarms.XXXXXX)
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
       LAGESBILD_JWT_SECRET=alarm-census-key-0123456789abcdef0123456789ab \
       LAGESBILD_QUERY_QUOTA=1000000
"$gen_bin" migrate >/dev/null
"$gen_bin" demo-data --weeks "${WEEKS:-104}" --seed "${SEED:-42}" 2>&1 | grep -v '^\s*$' | tail -2
"$bin" migrate >/dev/null
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username alarm-admin --area umea >/dev/null
"$bin" serve >"$work/serve.log" 2>&1 & pid=$!
for _ in $(seq 300); do
  curl -fs "$api/health/ready" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
token=$(curl -fs "$api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"alarm-admin\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fs -o /dev/null "$api/v1/users" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"username\":\"alarm-coord\",\"role\":\"coordinator\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}"
echo "--- $("$bin" --version 2>/dev/null || echo "$bin") reading data made by $gen_bin (weeks ${WEEKS:-104}, seed ${SEED:-42})"
python3 bench/alarms.py --base-url "$api" --database-url "$db_url" "$@"
