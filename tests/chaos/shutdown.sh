#!/usr/bin/env bash
# Graceful shutdown (issue 6): SIGTERM to Lägesbild while intake requests are in flight.
#
# Per scenario: start Lägesbild with LAGESBILD_SHUTDOWN_TIMEOUT_SECS=$SHUTDOWN_TIMEOUT, run
# intake load (single and batch, with and without Idempotency-Key), SIGTERM it after
# TERM_AT seconds, and measure SIGTERM → exit. Then start a fresh instance, retry the
# keyed requests that got no answer (same key, same body), and check: every 201 is
# stored, the cell tables equal the signals, requests in flight at SIGTERM were answered,
# single signals queued for group commit were answered, the process exited by itself
# within the timeout.
#
# Scenarios (SCENARIOS, default "plain slow dblock"):
#   plain   the load alone.
#   slow    large batches (200–500 signals) plus two requests that cannot finish within
#           the timeout: a slowly read CSV export of a big cube and a slowly uploaded
#           batch. The process must still exit within the timeout, cutting only those.
#   dblock  a database session holds a lock that blocks every intake INSERT from 2 s
#           before SIGTERM for LOCK_SECS: the in-flight requests hang in the database.
#           The process must still exit within the timeout.
#
#   tests/chaos/shutdown.sh
#   SCENARIOS=plain SHUTDOWN_TIMEOUT=5 TERM_AT=8 tests/chaos/shutdown.sh
#   BIN=/path/to/lagesbild KEEP=1 tests/chaos/shutdown.sh
#
# Needs what crash.sh needs (see README.md). Never touches the server on 5432.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-10}  # LAGESBILD_SHUTDOWN_TIMEOUT_SECS
TERM_AT=${TERM_AT:-10}                    # seconds of load before SIGTERM
CLIENTS=${CLIENTS:-32}                    # concurrent HTTP clients
# Client timeout per request: longer than the shutdown timeout, so that what the service
# does to a request it cannot finish (answer or cut) is seen, not the client giving up.
TIMEOUT=${TIMEOUT:-30}
SLACK=${SLACK:-2}                         # seconds allowed beyond the timeout (runtime teardown)
FILL=${FILL:-150000}                      # signals stored first so that the slow export is big
LOCK_SECS=${LOCK_SECS:-16}                # dblock: how long the blocking lock is held (from 2 s before SIGTERM)
SCENARIOS=${SCENARIOS:-plain slow dblock}
((TERM_AT >= 4)) || die "TERM_AT must be at least 4"

chaos_init shutdown
pg_init
pg_start
lgb_env
export LAGESBILD_SHUTDOWN_TIMEOUT_SECS=$SHUTDOWN_TIMEOUT
"$LGB" migrate >/dev/null

chaos() { python3 "$CHAOS_DIR/chaos.py" --work "$WORK" --port "$HTTP_PORT" --pg-port "$PG_PORT" "$@"; }

# lgb_stop: SIGTERM and wait (for the setup and resolver instances, not measured).
lgb_stop() { kill -TERM "$LGB_PID"; wait_exit "$LGB_PID" 60; LGB_PID=; }

# Accounts (and, for the slow export, a big cube) are made once, by a setup instance.
lgb_start "$WORK/lagesbild-setup.log"
lgb_accounts "$CLIENTS"
if [[ " $SCENARIOS " == *" slow "* ]]; then
  log "storing $FILL signals by batch so that the export is big"
  chaos fill --signals "$FILL"
fi
lgb_stop

failed=0
for scenario in $SCENARIOS; do
  case $scenario in
    plain) mix=shutdown; expect=() ;;
    slow) mix=heavy; expect=() ;;
    dblock) mix=shutdown; expect=(--expect-cut) ;;
    *) die "unknown scenario $scenario" ;;
  esac
  log "=== scenario $scenario"
  lgb_start "$WORK/lagesbild-$scenario.log"
  rm -f "$WORK/stop-load"
  event "${scenario}_load_start"
  # The load's own deadline is only a backstop: it stops when stop-load appears.
  chaos load --name "$scenario" --mix "$mix" --clients "$CLIENTS" --timeout "$TIMEOUT" \
    --duration $((TERM_AT + SHUTDOWN_TIMEOUT + 120)) &
  LOAD_PID=$!
  HELPER_PID=
  case $scenario in
    slow)
      # Started 3 s before SIGTERM, so that both are well under way when it comes.
      (sleep $((TERM_AT - 3)) && chaos slow --name "$scenario") &
      HELPER_PID=$!
      ;;
    dblock)
      # EXCLUSIVE blocks INSERT (ROW EXCLUSIVE) but not reads, so /health/ready still works.
      # Held past the process's exit (LOCK_SECS > 2 + SHUTDOWN_TIMEOUT): the statements it
      # blocked then resume in the database after their client is gone.
      (sleep $((TERM_AT - 2)) && psql_q -c "BEGIN" -c "LOCK TABLE signals IN EXCLUSIVE MODE" \
        -c "SELECT pg_sleep($LOCK_SECS)" -c "COMMIT" >/dev/null) &
      HELPER_PID=$!
      ;;
  esac

  sleep "$TERM_AT"
  pid=$LGB_PID
  log "SIGTERM to Lägesbild (pid $pid)"
  event "${scenario}_sigterm"
  kill -TERM "$pid"
  # A process still alive a minute after its timeout is SIGKILLed (and fails the check).
  wait_exit "$pid" $((SHUTDOWN_TIMEOUT + 60))
  event "${scenario}_exited"
  LGB_PID=
  log "Lägesbild exited: $EXIT_CODE"

  # Let clients see the closed listener for a moment, then stop the load.
  sleep 1
  touch "$WORK/stop-load"
  wait "$LOAD_PID"
  LOAD_PID=
  if [[ -n $HELPER_PID ]]; then wait "$HELPER_PID" || true; fi
  HELPER_PID=

  # A new instance answers the retries of the keyed requests left without an answer.
  lgb_start "$WORK/lagesbild-$scenario-resolver.log"
  chaos verify-shutdown --name "$scenario" --shutdown-timeout "$SHUTDOWN_TIMEOUT" --slack "$SLACK" \
    --exit-code "$EXIT_CODE" --lgb-log "$WORK/lagesbild-$scenario.log" "${expect[@]}" || failed=1
  lgb_stop
done

if ((failed)); then
  log "graceful shutdown: FAIL (see the checks above)"
  exit 1
fi
log "graceful shutdown: PASS in every scenario ($SCENARIOS)"
