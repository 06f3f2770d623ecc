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
# drops the database `lgb_alarms` (.ci/scratch-server.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-18095}
bin=${BIN:-target/release/lagesbild}
gen_bin=${GEN_BIN:-$bin}
password='correct horse battery staple'
[ -x "$bin" ] || cargo build --release --quiet

source .ci/scratch-server.sh
scratch_database lgb_alarms
export LAGESBILD_JWT_SECRET=alarm-census-key-0123456789abcdef0123456789ab \
       LAGESBILD_QUERY_QUOTA=1000000
"$gen_bin" migrate >/dev/null
"$gen_bin" demo-data --weeks "${WEEKS:-104}" --seed "${SEED:-42}" 2>&1 | grep -v '^\s*$' | tail -2
"$bin" migrate >/dev/null
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username alarm-admin --area umea >/dev/null
scratch_serve "$bin" "$port"
api=$base
token=$(curl -fs "$api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"alarm-admin\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fs -o /dev/null "$api/v1/users" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"username\":\"alarm-coord\",\"role\":\"coordinator\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}"
echo "--- $("$bin" --version 2>/dev/null || echo "$bin") reading data made by $gen_bin (weeks ${WEEKS:-104}, seed ${SEED:-42})"
python3 bench/alarms.py --base-url "$api" --database-url "$db_url" "$@"
