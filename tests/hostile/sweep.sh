#!/usr/bin/env bash
# Hostile-input sweep (issue 6, item 6): starts a release Lägesbild on a fresh database
# and runs sweep.py against it. Exit status 0 only if every case passed. See README.md.
#
#   tests/hostile/sweep.sh
#   BIN=/path/to/lagesbild CASES=3-nesting,6b-storm-many-clients tests/hostile/sweep.sh
#
# Needs: python3 (standard library only), psql. Creates and drops the database
# `lgb_hostile` on $HOSTILE_DATABASE_URL's server; never stops that server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
admin_url=${HOSTILE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_name=${HOSTILE_DB:-lgb_hostile}
db_url=${admin_url%/*}/$db_name
port=${PORT:-18093}
out=${OUT:-$here/last-run}
src_bin=${BIN:-$repo/target/release/lagesbild}

if [ ! -x "$src_bin" ]; then
  echo "no Lägesbild binary at $src_bin: build one with 'cargo build --release' (or set BIN=)" >&2
  exit 1
fi
for tool in python3 psql; do
  command -v $tool >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

export PGOPTIONS='-c client_min_messages=warning'
work=$(mktemp -d /tmp/lagesbild-hostile.XXXXXX)
pid=''
cleanup() {
  local status=$?
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    # Graceful shutdown waits for in-flight requests (up to 30 s by default); a sweep
    # that failed may have left some hanging, so do not wait for all of them.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
  rm -rf "$work"
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private copy: the binary in target/ may be rebuilt while the sweep runs.
cp "$src_bin" "$work/lagesbild"
bin=$work/lagesbild
mkdir -p "$out"
: >"$out/service.log"

# A database left behind by a killed run is ours to drop.
psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" -c "CREATE DATABASE $db_name" >/dev/null
export DATABASE_URL=$db_url LAGESBILD_BIND=127.0.0.1:$port LAGESBILD_METRICS_BIND=127.0.0.1:0 LAGESBILD_DATA_DIR=$work \
       LAGESBILD_JWT_SECRET=hostile-sweep-key-0123456789abcdef0123456789 LAGESBILD_LOG=${LAGESBILD_LOG:-warn}
"$bin" migrate >/dev/null
LAGESBILD_ADMIN_PASSWORD='correct horse battery staple' "$bin" create-admin --username hostile-admin --area umea >/dev/null

# NOFILE: the service's open-file limit (e.g. 1024, systemd's default soft limit), to see
# what the slow-client cases do to a service that can run out of sockets.
( [ -z "${NOFILE:-}" ] || ulimit -n "$NOFILE"; exec "$bin" serve ) 2>>"$out/service.log" >/dev/null & pid=$!
for _ in $(seq 300); do
  curl -fs "127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "lagesbild serve exited at start:" >&2; cat "$out/service.log" >&2; exit 1; }
  sleep 0.1
done
curl -fs "127.0.0.1:$port/health/ready" >/dev/null || { echo "not ready after 30 s" >&2; exit 1; }
echo "lagesbild $("$bin" --version 2>/dev/null || true) (pid $pid) on port $port; results in $out"

python3 "$here/sweep.py" "$port" "$pid" "$out"
