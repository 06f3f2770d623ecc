#!/usr/bin/env bash
# Property-based API fuzzing (issue 6): schemathesis against the running service's own
# /openapi.json with every check, a fixed seed and a bounded number of examples, once
# per credential class — anonymous, a reporter, a coordinator, an analyst's API token
# and an admin — on a fresh database. Any failure (a 5xx, a response the spec does not
# describe, invalid input accepted, valid input refused without a documented reason,
# authentication ignored) fails the run.
#
#   .ci/schemathesis.sh                         # target/debug/lagesbild, 127.0.0.1:5432 if it answers
#   BIN=target/release/lagesbild EXAMPLES=50 .ci/schemathesis.sh
#   ONLY=coordinator .ci/schemathesis.sh        # one credential class
#
# Needs python3 with pip (installs schemathesis once), curl and jq. With DATABASE_URL
# unset and no server at 127.0.0.1:5432, the service starts its private PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
examples=${EXAMPLES:-25}
seed=${SEED:-20261202}
bin=${BIN:-target/debug/lagesbild}
port=${PORT:-18099}
[ -x "$bin" ] || cargo build --quiet
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq; }
if ! schemathesis --version 2>/dev/null | grep -q "$version"; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "schemathesis==$version"
fi

# Private state where the postgres user can reach it (the embedded server runs as it).
work=$(mktemp -d /tmp/lagesbild-fuzz.XXXXXX)
chmod 755 "$work"
admin_url=${DATABASE_URL:-}
if [ -z "$admin_url" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  admin_url=postgres://postgres@127.0.0.1:5432/postgres
fi
db_name=lgb_fuzz_$$
pid=''
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  [ -z "$admin_url" ] || psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
[ -z "${KEEP_LOG:-}" ] || trap 'cp "$work/serve.log" "$KEEP_LOG"; cleanup' EXIT
export LAGESBILD_DATA_DIR=$work LAGESBILD_BIND=127.0.0.1:$port LAGESBILD_METRICS_BIND=127.0.0.1:0 LAGESBILD_LOG=${LAGESBILD_LOG:-warn} \
       LAGESBILD_JWT_SECRET=schemathesis-key-0123456789abcdef0123456789 \
       LAGESBILD_QUERY_QUOTA=1000000  # the fuzzing is many queries of one principal: not a budget test
unset DATABASE_URL
if [ -n "$admin_url" ]; then
  psql -q "$admin_url" -c "CREATE DATABASE $db_name"
  export DATABASE_URL=${admin_url%/*}/$db_name
fi

# Not a password from the spec's examples: the examples phase would change it with
# PUT /v1/me/password and so revoke the very sessions the run uses.
password="fuzz-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username fuzz-admin --area umea >/dev/null
"$bin" serve 2>"$work/serve.log" & pid=$!
for _ in $(seq 100); do curl -fs "localhost:$port/health/ready" >/dev/null && break; sleep 0.1; done
api=http://127.0.0.1:$port

call() { # method path token body → response body; a non-2xx answer ends the run
  local code
  code=$(curl -s -o "$work/out.json" -w '%{http_code}' -X "$1" "$api$2" -H "authorization: Bearer $3" \
    -H 'content-type: application/json' ${4:+-d "$4"})
  [[ $code == 2* ]] || { echo "$1 $2 -> $code: $(cat "$work/out.json")" >&2; exit 1; }
  cat "$work/out.json"
}
login() {
  curl -fs "$api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$password\"}" | jq -r .access_token
}
admin=$(login fuzz-admin)
for role in school coordinator; do
  call POST /v1/users "$admin" "{\"username\":\"fuzz-$role\",\"role\":\"$role\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}" >/dev/null
done
analyst_id=$(call POST /v1/users "$admin" '{"username":"fuzz-bi","role":"analyst","area":"umea","kind":"service"}' | jq -r .id)
analyst=$(call POST /v1/api-tokens "$admin" "{\"name\":\"schemathesis\",\"user_id\":\"$analyst_id\",\"permissions\":[\"reference:read\",\"trends:read\"],\"expires_in_days\":1}" | jq -r .token)

# Something to find: a few signals, so that reads have rows and ids to chew on.
school=$(login fuzz-school)
# UTC's week is never ahead of Stockholm's, so it is never "in the future" there.
week=$(date -u +%G-W%V)
for area in teg haga centrum; do
  call POST /v1/signals "$school" "{\"area\":\"$area\",\"age_band\":\"13-15\",\"category\":\"weapons\",\"arena\":\"school\",\"observed_week\":\"$week\"}" >/dev/null
done

fuzz() { # class token
  local class=$1 token=$2 auth=()
  [ -z "${ONLY:-}" ] || [ "$ONLY" = "$class" ] || return 0
  [ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
  echo "--- schemathesis as $class"
  local started=$SECONDS
  # Logging out would end the session the rest of the run relies on: the anonymous
  # run covers that operation.
  local skip=()
  [ -z "$token" ] || skip=(--exclude-path /v1/auth/logout)
  SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=.ci \
  schemathesis --config-file .ci/schemathesis.toml run "$api/openapi.json" --checks all --seed "$seed" --max-examples "$examples" \
    --workers 1 --no-color --request-timeout 10 "${auth[@]}" "${skip[@]}" \
    --report junit --report-junit-path "$work/junit-$class.xml" || failed+=("$class")
  echo "--- $class: $(( SECONDS - started )) s"
}

failed=()
fuzz anonymous ''
fuzz reporter "$school"
fuzz coordinator "$(login fuzz-coordinator)"
fuzz analyst-token "$analyst"
fuzz admin "$(login fuzz-admin)"
if grep -q 'panicked' "$work/serve.log"; then
  echo "the service panicked:" >&2; grep -B2 -A5 panicked "$work/serve.log" >&2; failed+=(panic)
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "schemathesis failed for: ${failed[*]}" >&2
  exit 1
fi
echo "schemathesis: no failures for any credential class"
