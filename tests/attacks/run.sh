#!/usr/bin/env bash
# Runs the disclosure review's attacks (tests/attacks/attack.py) against a running
# service, from a fresh clone: a scratch database `lgb_attacks` with 30 weeks of demo
# data, `lagesbild serve` on port 18090, an admin, an Umeå coordinator (trends:read) and
# an Umeå reporter (role school). Prints the report; results in tests/attacks/RESULTS.md.
#
#   tests/attacks/run.sh                                   # all four attacks
#   tests/attacks/run.sh --only a,b                        # arguments go to attack.py
#   ADMIN_DATABASE_URL=postgres://postgres@dbhost:5432/postgres PORT=18091 tests/attacks/run.sh
#   QUERY_QUOTA=300 SIGNAL_QUOTA=2000 tests/attacks/run.sh # the default budgets: rate-limited
#   BIN=target/debug/lagesbild tests/attacks/run.sh         # another binary (default: release)
#
# The query budget is raised for the run (LAGESBILD_QUERY_QUOTA=1000000, and the
# submission quota LAGESBILD_SIGNAL_QUOTA=100000), so that the run measures what the
# attacks learn rather than how long the budget makes them wait (with the defaults, 300
# reads per 5 minutes and 2000 signals per 10 minutes, attack.py waits out each 429).
#
# Needs: psql (postgresql-client), curl, python3 (3.11, standard library only). The
# database user must be allowed to create databases. Creates and drops `lgb_attacks`
# (.ci/scratch-server.sh); the server is stopped and the database dropped on exit,
# whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${PORT:-18090}
bin=${BIN:-target/release/lagesbild}
password='correct horse battery staple'
for tool in psql curl python3; do
  command -v $tool >/dev/null || { echo "run.sh needs $tool" >&2; exit 1; }
done
[ -x "$bin" ] || cargo build --release --quiet

source .ci/scratch-server.sh
scratch_database lgb_attacks
export LAGESBILD_JWT_SECRET=attack-review-key-0123456789abcdef0123456789 \
       LAGESBILD_QUERY_QUOTA=${QUERY_QUOTA:-1000000} LAGESBILD_SIGNAL_QUOTA=${SIGNAL_QUOTA:-100000}
"$bin" migrate >/dev/null
echo "--- demo data: 30 weeks"
"$bin" demo-data --weeks 30 2>&1 | tail -1
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username atk-admin --area umea >/dev/null
scratch_serve "$bin" "$port"
api=$base

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
login() {
  curl -fs "$api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$password\"}" | json_field access_token
}
admin=$(login atk-admin)
create_user() { # username role
  local code
  code=$(curl -s -o "$work/user.json" -w '%{http_code}' "$api/v1/users" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"role\":\"$2\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}")
  [ "$code" = 201 ] || { echo "POST /v1/users ($1) -> $code: $(cat "$work/user.json")" >&2; exit 1; }
}
create_user atk-coord coordinator
create_user atk-school school

echo "--- attacks against $api ($(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
status=0
ATTACK_COORDINATOR=atk-coord ATTACK_COORDINATOR_PASSWORD=$password \
ATTACK_REPORTER=atk-school ATTACK_REPORTER_PASSWORD=$password \
  python3 tests/attacks/attack.py --base-url "$api" --database-url "$db_url" "$@" || status=$?
if grep -q ' ERROR ' "$work/serve.log"; then
  echo "--- the server logged errors:" >&2; grep ' ERROR ' "$work/serve.log" | head -20 >&2
fi
exit $status
