# shellcheck shell=bash
# Helpers shared by crash.sh and shutdown.sh: a private PostgreSQL that the script may
# kill at will (never the machine's shared server on 5432), a copy of the release binary
# (so a concurrent `cargo build` cannot swap it mid-run), and reporter credentials.
#
# Sourced, not run. The caller sets `set -euo pipefail` and calls chaos_init first.

CHAOS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$CHAOS_DIR/../.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ADMIN_PASSWORD='chaos monkey ate the spreadsheet'
JWT_SECRET='chaos-test-key-0123456789abcdef0123456789abcdef'

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }                      # epoch seconds, the time base of events and records
event() { printf '%s %s\n' "$1" "$(now)" >> "$WORK/events"; }

# A free TCP port on 127.0.0.1 (the kernel picks it; a tiny race with other programs is
# acceptable for a test).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# chaos_init NAME: a work directory, the binary copied into it, ports, and the cleanup trap.
chaos_init() {
  local name=$1 src=${BIN:-$REPO_DIR/target/release/lagesbild}
  if [[ ! -x $src ]]; then
    echo "no Lägesbild binary at $src; build it first:  (cd $REPO_DIR && cargo build --release)" >&2
    echo "or point BIN=/path/to/lagesbild at one" >&2
    exit 1
  fi
  WORK=$(mktemp -d "/tmp/lagesbild-chaos-$name.XXXXXX")
  # The postgres user must reach its data directory below WORK.
  chmod 0711 "$WORK"
  cp "$src" "$WORK/lagesbild"
  LGB=$WORK/lagesbild
  PGDATA=$WORK/pgdata
  PGSOCK=$WORK/pgsock
  PGLOG=$WORK/postgres.log
  PG_PORT=${PG_PORT:-$(free_port)}
  HTTP_PORT=${HTTP_PORT:-$(free_port)}
  API=http://127.0.0.1:$HTTP_PORT
  DB_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
  LGB_PID=
  : > "$WORK/events"
  trap chaos_cleanup EXIT
  trap 'exit 130' INT TERM
  log "work dir $WORK; binary $src ($(stat -c %y "$src" | cut -d. -f1)); PostgreSQL port $PG_PORT; HTTP port $HTTP_PORT"
}

# Stops only what this run started: its Lägesbild (by pid) and its PostgreSQL (by data
# directory). Keeps the work directory (logs, records) after a failure or with KEEP=1.
chaos_cleanup() {
  local rc=$?
  set +e
  if [[ -n ${LOAD_PID:-} ]] && kill -0 "$LOAD_PID" 2>/dev/null; then kill "$LOAD_PID"; wait "$LOAD_PID"; fi
  if [[ -n ${HELPER_PID:-} ]] && kill -0 "$HELPER_PID" 2>/dev/null; then
    pkill -P "$HELPER_PID"  # the helper subshell's children (sleep, python, psql), by parent pid
    kill "$HELPER_PID"
    wait "$HELPER_PID"
  fi
  lgb_kill
  if [[ -f $PGDATA/postmaster.pid ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 ||
      kill -9 "$(head -1 "$PGDATA/postmaster.pid")" 2>/dev/null
  fi
  if [[ $rc -eq 0 && -z ${KEEP:-} ]]; then
    rm -rf "$WORK"
  else
    log "kept $WORK (logs: lagesbild*.log, postgres.log; records: *.jsonl)"
  fi
  exit "$rc"
}

psql_q() { psql -X -Atq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }

# A private cluster with the durable defaults (fsync, synchronous_commit and
# full_page_writes are left alone: the point is to test a durable setup).
pg_init() {
  install -d -o postgres -g postgres -m 0700 "$PGDATA" "$PGSOCK"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGSOCK'
max_connections = 100
CONF
  # Extra settings for experiments, e.g. PG_EXTRA_CONF="client_connection_check_interval = '1s'".
  [[ -z ${PG_EXTRA_CONF:-} ]] || printf '%s\n' "$PG_EXTRA_CONF" >> "$PGDATA/postgresql.conf"
  touch "$PGLOG" && chown postgres "$PGLOG"
}

pg_start() {
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 start >/dev/null
}

# After a SIGKILL of the postmaster its backends linger until they notice, and a new
# postmaster refuses to start while they still hold the old shared memory: retry.
pg_start_retrying() {
  local deadline=$((SECONDS + 60))
  PG_START_ATTEMPTS=1
  until pg_start 2>>"$WORK/pg_ctl.err"; do
    ((SECONDS < deadline)) || die "PostgreSQL did not come back within 60 s (see $PGLOG)"
    PG_START_ATTEMPTS=$((PG_START_ATTEMPTS + 1))
    sleep 0.2
  done
}

pg_postmaster_pid() { head -1 "$PGDATA/postmaster.pid"; }

pg_show_durability() {
  local setting value ok=1
  for setting in fsync synchronous_commit full_page_writes wal_sync_method; do
    value=$(psql_q -c "SHOW $setting")
    log "PostgreSQL $setting = $value"
    case $setting:$value in fsync:on | synchronous_commit:on | full_page_writes:on | wal_sync_method:*) ;; *) ok=0 ;; esac
  done
  [[ $ok == 1 ]]
}

# The environment of every Lägesbild command of a run.
lgb_env() {
  export DATABASE_URL=$DB_URL LAGESBILD_BIND=127.0.0.1:$HTTP_PORT LAGESBILD_METRICS_BIND=127.0.0.1:0 LAGESBILD_DATA_DIR=$WORK/data \
    LAGESBILD_JWT_SECRET=$JWT_SECRET LAGESBILD_LOG=${LAGESBILD_LOG:-warn} LAGESBILD_SIGNAL_QUOTA=100000000
  mkdir -p "$WORK/data"
}

# lgb_start LOGFILE: serve in the background, wait until /health/ready says 200.
lgb_start() {
  local logfile=$1 deadline=$((SECONDS + 30))
  "$LGB" serve >>"$logfile" 2>&1 &
  LGB_PID=$!
  until curl -fs -o /dev/null "$API/health/ready"; do
    kill -0 "$LGB_PID" 2>/dev/null || { tail -20 "$logfile" >&2; die "lagesbild serve exited at start"; }
    ((SECONDS < deadline)) || die "lagesbild not ready within 30 s"
    sleep 0.1
  done
  log "lagesbild serve ready (pid $LGB_PID)"
}

lgb_kill() {
  if [[ -n ${LGB_PID:-} ]] && kill -0 "$LGB_PID" 2>/dev/null; then
    kill -9 "$LGB_PID"
    wait "$LGB_PID" 2>/dev/null
  fi
  LGB_PID=
}

# wait_exit PID LIMIT: waits for a child to exit (SIGKILLs it after LIMIT seconds, as a
# backstop), reaps it and sets EXIT_CODE to its exit status, or to "killed". It polls
# /proc rather than blocking in `wait` so that no watchdog process is left behind; a
# zombie (state Z) has exited.
# shellcheck disable=SC2034  # EXIT_CODE is read by the caller
wait_exit() {
  local pid=$1 deadline=$((SECONDS + $2)) state killed=
  while state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) && [[ -n $state && $state != Z ]]; do
    if ((SECONDS >= deadline)) && [[ -z $killed ]]; then kill -9 "$pid"; killed=1; fi
    sleep 0.01
  done
  EXIT_CODE=0
  wait "$pid" || EXIT_CODE=$?
  [[ -z $killed ]] || EXIT_CODE=killed
}

# Kernel start time of a process (field 22 of /proc/PID/stat): with the pid, it tells
# "the same process" from a restarted one that happens to get the same pid.
proc_start_time() { awk '{print $22}' "/proc/$1/stat"; }

api_json() {  # api_json METHOD PATH TOKEN [BODY]
  curl -fsS -X "$1" "$API$2" -H "authorization: Bearer $3" -H 'content-type: application/json' ${4:+-d "$4"}
}

# lgb_accounts N: an admin, N school service accounts with a signals:submit API token each
# (one per line in $WORK/tokens) and an analyst token for exports ($WORK/analyst-token).
lgb_accounts() {
  local n=$1 admin id i
  LAGESBILD_ADMIN_PASSWORD=$ADMIN_PASSWORD "$LGB" create-admin --username chaos-admin --area umea >/dev/null
  admin=$(curl -fsS "$API/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"chaos-admin\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token)
  : > "$WORK/tokens"
  for ((i = 1; i <= n; i++)); do
    id=$(api_json POST /v1/users "$admin" "{\"username\":\"chaos-school-$i\",\"role\":\"school\",\"area\":\"umea\",\"kind\":\"service\"}" | jq -r .id)
    api_json POST /v1/api-tokens "$admin" \
      "{\"name\":\"chaos\",\"user_id\":\"$id\",\"permissions\":[\"signals:submit\"],\"expires_in_days\":1}" | jq -r .token >> "$WORK/tokens"
  done
  id=$(api_json POST /v1/users "$admin" '{"username":"chaos-analyst","role":"analyst","area":"umea","kind":"service"}' | jq -r .id)
  api_json POST /v1/api-tokens "$admin" \
    "{\"name\":\"chaos\",\"user_id\":\"$id\",\"permissions\":[\"trends:read\"],\"expires_in_days\":1}" | jq -r .token > "$WORK/analyst-token"
  # The codes the load generator draws from, as the service lists them.
  api_json GET /v1/areas "${admin}" > "$WORK/areas.json"
  api_json GET /v1/age-bands "${admin}" > "$WORK/age-bands.json"
  api_json GET /v1/categories "${admin}" > "$WORK/categories.json"
  api_json GET /v1/arenas "${admin}" > "$WORK/arenas.json"
  log "created $n reporters with API tokens and an analyst token"
}
