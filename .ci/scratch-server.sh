# Sourced by the scripts that test the service from outside (tests/browser/run.sh,
# .ci/clients.sh, tests/attacks/run.sh, bench/alarms.sh): a scratch database and the
# service on it, both gone on exit.
#
#   source .ci/scratch-server.sh
#   scratch_database lgb_browser          # $db_url, $work; dropped and removed on exit
#   "$bin" migrate; "$bin" demo-data …    # the caller prepares the data
#   scratch_serve "$bin" 18110            # serves on 127.0.0.1:18110: $base, $pid
#
# Needs: psql, curl. ADMIN_DATABASE_URL names the server (default the machine's).

admin_url=${ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pid=''
work=''
scratch_db=''

scratch_cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$scratch_db" ]; then
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $scratch_db WITH (FORCE)" 2>/dev/null || true
  fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap scratch_cleanup EXIT

# A fresh, empty database NAME (dropped first if a killed run left it), a work
# directory, and the environment the service reads them from.
scratch_database() {
  scratch_db=$1
  db_url=${admin_url%/*}/$scratch_db
  work=$(mktemp -d "/tmp/lagesbild-$scratch_db.XXXXXX")
  PGOPTIONS="-c client_min_messages=warning" psql -q "$admin_url" \
    -c "DROP DATABASE IF EXISTS $scratch_db WITH (FORCE)" -c "CREATE DATABASE $scratch_db"
  export DATABASE_URL=$db_url LAGESBILD_METRICS_BIND=127.0.0.1:0 \
         LAGESBILD_LOG=${LAGESBILD_LOG:-warn} LAGESBILD_DATA_DIR=$work
}

# Starts BIN serve on 127.0.0.1:PORT (with what else the caller exported, e.g.
# LAGESBILD_JWT_SECRET) and waits until it is ready (30 s at most); its log is
# $work/serve.log.
scratch_serve() {
  local bin=$1 port=$2
  base=http://127.0.0.1:$port
  LAGESBILD_BIND=127.0.0.1:$port "$bin" serve >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    curl -fs "$base/health/ready" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "serve is not ready after 30 s" >&2
  exit 1
}
