#!/usr/bin/env bash
# Login latency: the median (and spread) of 20 sequential POST /v1/auth/login calls
# against a fresh private instance. Most of the time is argon2id (m=19456 KiB, t=2, p=1)
# on purpose.
#
#   bench/login-latency.sh                      # builds and measures the release binary
#   PROFILE=dev bench/login-latency.sh          # the `cargo run` build
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
cargo build --quiet --profile "$profile"
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/lagesbild
data=$(mktemp -d /tmp/lagesbild-bench.XXXXXX)
chmod 755 "$data"
port=${PORT:-18080}
export LAGESBILD_DATA_DIR=$data LAGESBILD_BIND=127.0.0.1:$port LAGESBILD_METRICS_BIND=127.0.0.1:0 LAGESBILD_LOG=warn
unset DATABASE_URL
password='correct horse battery staple'
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username bench-admin --area umea >/dev/null
"$bin" serve & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
until curl -fs "localhost:$port/health/ready" >/dev/null; do sleep 0.1; done

body="{\"username\":\"bench-admin\",\"password\":\"$password\"}"
# One warm-up login (first connection, dummy-hash computation).
curl -fs -o /dev/null "localhost:$port/v1/auth/login" -H 'content-type: application/json' -d "$body"
for _ in $(seq 20); do
  curl -fs -o /dev/null -w '%{time_total}\n' "localhost:$port/v1/auth/login" -H 'content-type: application/json' -d "$body"
done | sort -n | awk '{ t[NR] = $1 * 1000 } END {
  printf "logins: %d  min %.1f ms  median %.1f ms  max %.1f ms\n", NR, t[1], (t[10] + t[11]) / 2, t[NR] }'
