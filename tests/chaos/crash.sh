#!/usr/bin/env bash
# Crash safety (issue 6, docs/design.md §7: "no acknowledged signal is lost when PostgreSQL is
# killed; database down → 503 within 5 s, recovery without restart").
#
# Runs keyed intake load against Lägesbild, SIGKILLs its PostgreSQL's postmaster in the
# middle, restarts it (crash recovery) without touching Lägesbild, and then proves:
# every 201 is stored exactly once; every ambiguous request (timeout, connection error,
# 5xx), retried with its Idempotency-Key, ends in 200/201 without a duplicate; the cell
# tables agree with the signals; the service answered 503 with Retry-After (not 500, not
# a hang) and is the same, ready process at the end.
#
#   tests/chaos/crash.sh
#   DURATION=120 KILL_AT=40 DOWN_FOR=10 CLIENTS=32 tests/chaos/crash.sh
#   BIN=/path/to/lagesbild KEEP=1 tests/chaos/crash.sh     # KEEP: leave the work dir
#
# Needs: a release binary (cargo build --release), PostgreSQL 15 server binaries in
# /usr/lib/postgresql/15/bin (PG_BIN), psql, curl, jq, python3 (stdlib only). Runs as root
# (PostgreSQL runs as the postgres user) on its own ports; never touches the server on 5432.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-60}      # seconds of load
KILL_AT=${KILL_AT:-20}        # seconds into the load when the postmaster is SIGKILLed
DOWN_FOR=${DOWN_FOR:-5}       # seconds PostgreSQL stays down before the restart begins
CLIENTS=${CLIENTS:-32}        # concurrent HTTP clients, each request from one of CLIENTS reporters
TIMEOUT=${TIMEOUT:-10}        # client timeout per request, seconds
HANG_LIMIT=${HANG_LIMIT:-5}   # an answer slower than this counts as a hang (design.md §7: 503 within 5 s)
# postmaster: SIGKILL the postmaster only (its backends notice its death and exit);
# all: the postmaster and all its children at once, as an OOM kill or power cut would.
KILL_MODE=${KILL_MODE:-postmaster}
((KILL_AT + DOWN_FOR < DURATION)) || die "KILL_AT + DOWN_FOR must be below DURATION"

chaos_init crash
pg_init
pg_start
durability=$(psql_q -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings
                         WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')")
pg_show_durability || die "PostgreSQL is not in its durable configuration: $durability"

lgb_env
# The pool's checkout timeout bounds how long a request waits for the missing database
# before its 503; the service default (2 s) unless set in the environment.
export LAGESBILD_DB_CHECKOUT_TIMEOUT_MS=${LAGESBILD_DB_CHECKOUT_TIMEOUT_MS:-2000}
"$LGB" migrate >/dev/null
lgb_start "$WORK/lagesbild.log"
lgb_accounts "$CLIENTS"
lgb_pid=$LGB_PID
lgb_start_time=$(proc_start_time "$lgb_pid")

chaos() { python3 "$CHAOS_DIR/chaos.py" --work "$WORK" --port "$HTTP_PORT" --pg-port "$PG_PORT" "$@"; }

log "load: $CLIENTS clients for ${DURATION}s, every request with its own Idempotency-Key"
event load_start
chaos load --name load --mix crash --clients "$CLIENTS" --duration "$DURATION" --timeout "$TIMEOUT" &
LOAD_PID=$!

sleep "$KILL_AT"
postmaster=$(pg_postmaster_pid)
children=()
[[ $KILL_MODE == all ]] && mapfile -t children < <(pgrep -P "$postmaster")
log "SIGKILL PostgreSQL postmaster (pid $postmaster)${children[*]:+ and its ${#children[@]} children}"
event pg_kill
kill -9 "$postmaster" "${children[@]}"
sleep "$DOWN_FOR"
log "restarting PostgreSQL (crash recovery)"
event pg_restart
pg_start_retrying
event pg_up
log "PostgreSQL is back after $PG_START_ATTEMPTS start attempt(s): $(grep -o 'redo done.*elapsed: [0-9.]* s' "$PGLOG" | tail -1)"

wait "$LOAD_PID"
LOAD_PID=
event load_end
log "load done; verifying (and retrying ambiguous keys)"

kill -0 "$lgb_pid" 2>/dev/null || log "Lägesbild (pid $lgb_pid) is gone!"
chaos verify-crash --lgb-pid "$lgb_pid" --lgb-start-time "$lgb_start_time" --lgb-log "$WORK/lagesbild.log" \
  --clients "$CLIENTS" --hang-limit "$HANG_LIMIT" --timeout "$TIMEOUT" --durability "$durability" --kill-mode "$KILL_MODE"
