#!/usr/bin/env bash
# Intake benchmark (issue 4, docs/design.md §7), all in one run on one machine:
#   (a) PostgreSQL's own rate for the statement the service runs for one signal
#       (quota counter, ordinal counter, insert, the cell upserts; one statement) via pgbench, 32 clients;
#   (b) POST /v1/signals through HTTP, 32 connections, API tokens of 32 reporters;
#   (c) POST /v1/signals/batch (500 signals per request);
# and prints the ratio (b)/(a), p50/p99 latency and the service's peak resident memory.
#
#   bench/intake.sh                        # 20 s per phase against 127.0.0.1:5432
#   DURATION=60 BENCH_DATABASE_URL=postgres://postgres@dbhost:5432/postgres bench/intake.sh
#
# Needs: pgbench and psql (postgresql-client), wrk (apt-get install wrk; installed here
# if missing), curl, jq. Creates and drops the database `lgb_bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-20}
clients=32
admin_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_url=${admin_url%/*}/lgb_bench
port=${PORT:-18081}
work=$(mktemp -d /tmp/lagesbild-intake.XXXXXX)
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --quiet
bin=target/release/lagesbild

psql -q "$admin_url" -c 'DROP DATABASE IF EXISTS lgb_bench WITH (FORCE)' -c 'CREATE DATABASE lgb_bench'
export DATABASE_URL=$db_url LAGESBILD_BIND=127.0.0.1:$port LAGESBILD_METRICS_BIND=127.0.0.1:0 LAGESBILD_LOG=warn LAGESBILD_DATA_DIR=$work \
       LAGESBILD_SIGNAL_QUOTA=100000000 ${POOL:+LAGESBILD_DB_POOL_SIZE=$POOL} ${COMMITTERS:+LAGESBILD_INTAKE_COMMITTERS=$COMMITTERS} \
       LAGESBILD_JWT_SECRET=benchmark-key-0123456789abcdef0123456789
"$bin" migrate >/dev/null
password='correct horse battery staple'
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username bench-admin --area umea >/dev/null

"$bin" serve & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"; psql -q "$admin_url" -c "DROP DATABASE IF EXISTS lgb_bench WITH (FORCE)"' EXIT
until curl -fs "localhost:$port/health/ready" >/dev/null; do sleep 0.1; done
api=http://localhost:$port
admin=$(curl -fs "$api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"bench-admin\",\"password\":\"$password\"}" | jq -r .access_token)

# 32 reporters (school systems), each with its own API token, as 32 apps would have.
tokens=()
for n in $(seq $clients); do
  id=$(curl -fs "$api/v1/users" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"username\":\"bench-school-$n\",\"role\":\"school\",\"area\":\"umea\",\"kind\":\"service\"}" | jq -r .id)
  tokens+=("$(curl -fs "$api/v1/api-tokens" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"name\":\"bench\",\"user_id\":\"$id\",\"permissions\":[\"signals:submit\"],\"expires_in_days\":1}" | jq -r .token)")
done
week=$(psql -Atq "$db_url" -c "SELECT to_char(now() AT TIME ZONE 'Europe/Stockholm', 'IYYY-\"W\"IW')")
read -r area_min area_max < <(psql -Atq -F' ' "$db_url" -c \
  "SELECT min(id), max(id) FROM areas WHERE level = 'district' AND path LIKE '/vasterbotten/umea/%'")

# (a) pgbench: the statement of src/db/queries/signals.rs::insert for one signal, each
# client as its own submitter, random codes over Umeå's districts.
psql -q "$db_url" -c "INSERT INTO users (id, username, role, area_id, kind)
  SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'pgbench-' || n, 'school',
         (SELECT id FROM areas WHERE code = 'umea'), 'service' FROM generate_series(1, $clients) n"
cat > "$work/intake.sql" <<SQL
\set area random($area_min, $area_max)
\set age random(1, 5)
\set category random(1, 13)
\set arena random(1, 10)
\set submitter :client_id + 1
WITH input AS (
  SELECT s.*, 1 AS turn
    FROM unnest(ARRAY[gen_random_uuid()], ARRAY[('00000000-0000-4000-8000-' || lpad(:submitter::text, 12, '0'))::uuid],
                ARRAY['school'], ARRAY[date_trunc('week', now())::date], ARRAY[:area]::int4[], ARRAY[:age]::int2[],
                ARRAY[:category]::int2[], ARRAY[:arena]::int2[], ARRAY['girl']) WITH ORDINALITY
         AS s (id, submitted_by, source, week, area_id, age_band_id, category_id, arena_id, gender, position)
), granted AS (
  INSERT INTO quota_usage AS q (user_id, window_start, used, previous)
  SELECT submitted_by, to_timestamp((floor(extract(epoch FROM now()) / 600) * 600)::float8), least(100000000, count(*)), 0
    FROM input GROUP BY submitted_by
  ON CONFLICT (user_id, window_start) DO UPDATE SET previous = q.used, used = least(100000000, q.used + EXCLUDED.used)
  RETURNING user_id, used - previous AS admitted
), admitted AS (
  SELECT input.*, row_number() OVER same_cell AS rank,
         count(*) OVER (PARTITION BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source) AS added
    FROM input JOIN granted ON granted.user_id = input.submitted_by WHERE input.turn <= granted.admitted
  WINDOW same_cell AS (PARTITION BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source ORDER BY position)
), counters AS (
  INSERT INTO submitter_cells AS c (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, live)
  SELECT submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, count(*) FROM admitted
   GROUP BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source
  ON CONFLICT (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source)
  DO UPDATE SET live = c.live + EXCLUDED.live
  RETURNING submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, live
), keyed AS (
  SELECT a.*, k.ordinal,
         derived_record_key(a.submitted_by, a.week, a.area_id, a.age_band_id, a.category_id, a.arena_id, a.gender, a.source, k.ordinal) AS record_key
    FROM admitted AS a
    JOIN counters AS c USING (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source)
   CROSS JOIN LATERAL (SELECT (c.live - a.added + a.rank - 1)::int AS ordinal) AS k
), ins AS (
  INSERT INTO signals (id, week, area_id, age_band_id, category_id, arena_id, gender, source, submitted_by, ordinal)
  SELECT id, week, area_id, age_band_id, category_id, arena_id, gender, source, submitted_by, ordinal FROM keyed
  RETURNING id, week, area_id, age_band_id, category_id, arena_id, gender, source, created_at
), cells AS (
  INSERT INTO signal_cells (week, area_id, age_band_id, category_id, arena_id, gender, source, n, key_sum)
  SELECT week, area_id, age_band_id, category_id, arena_id, gender, source, count(*), sum(record_key) FROM keyed
   GROUP BY week, area_id, age_band_id, category_id, arena_id, gender, source
  ON CONFLICT (week, area_id, age_band_id, category_id, arena_id, gender, source)
  DO UPDATE SET n = signal_cells.n + EXCLUDED.n, key_sum = signal_cells.key_sum + EXCLUDED.key_sum
), by_area AS (
  INSERT INTO signal_cells_by_area (week, area_id, category_id, age_band_id, n, key_sum)
  SELECT week, area_id, category_id, age_band_id, count(*), sum(record_key) FROM keyed
   GROUP BY week, area_id, category_id, age_band_id
  ON CONFLICT (week, area_id, category_id, age_band_id)
  DO UPDATE SET n = signal_cells_by_area.n + EXCLUDED.n, key_sum = signal_cells_by_area.key_sum + EXCLUDED.key_sum
), by_source AS (
  INSERT INTO signal_cells_by_week_area_source (week, area_id, source, n, key_sum)
  SELECT week, area_id, source, count(*), sum(record_key) FROM keyed GROUP BY week, area_id, source
  ON CONFLICT (week, area_id, source)
  DO UPDATE SET n = signal_cells_by_week_area_source.n + EXCLUDED.n, key_sum = signal_cells_by_week_area_source.key_sum + EXCLUDED.key_sum
), by_week_area AS (
  INSERT INTO signal_cells_by_week_area (week, area_id, n, key_sum)
  SELECT week, area_id, count(*), sum(record_key) FROM keyed GROUP BY week, area_id
  ON CONFLICT (week, area_id)
  DO UPDATE SET n = signal_cells_by_week_area.n + EXCLUDED.n, key_sum = signal_cells_by_week_area.key_sum + EXCLUDED.key_sum,
                revision = nextval('cell_revisions')
)
SELECT id FROM ins;
SQL
echo "--- (a) pgbench, $clients clients, ${duration}s"
# -l logs every transaction's latency, so that PostgreSQL's own p99 for the statement
# stands beside the service's: a signal's 201 waits for its commit.
(cd "$work" && pgbench -n -c $clients -j 2 -T "$duration" -M prepared -l --log-prefix=pgbench-log \
  -f "$work/intake.sql" "$db_url" > "$work/pgbench.txt" 2>&1)
pg_tps=$(awk '/^tps/ {print $3; exit}' "$work/pgbench.txt")
pg_lat=$(awk '/latency average/ {print $4; exit}' "$work/pgbench.txt")
read -r pg_p50 pg_p99 < <(cat "$work"/pgbench-log.* | awk '{print $3}' | sort -n | awk '{ t[NR] = $1 } END {
  i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
  printf "%.2fms %.2fms\n", t[i50] / 1000, t[i99] / 1000 }')
echo "pgbench: $pg_tps signals/s, mean latency $pg_lat ms, p50 $pg_p50, p99 $pg_p99"

# (b) HTTP: wrk spreads requests over the 32 tokens; bodies use random Umeå districts.
districts=$(psql -Atq "$db_url" -c "SELECT string_agg(quote_literal(code), ',') FROM areas WHERE level = 'district' AND path LIKE '/vasterbotten/umea/%'")
token_list=$(printf '"%s",' "${tokens[@]}")
cat > "$work/single.lua" <<LUA
local tokens = {${token_list%,}}
local districts = {${districts//\'/\"}}
local categories = {"recruitment_approach","digital_recruitment","drug_handling","unexplained_money","weapons","older_contacts"}
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"area":"%s","age_band":"13-15","category":"%s","arena":"school","observed_week":"$week"}',
    districts[n % #districts + 1], categories[n % #categories + 1])
  return wrk.format("POST", "/v1/signals", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[n % #tokens + 1]}, body)
end
LUA
echo "--- (b) POST /v1/signals, $clients connections, ${duration}s"
wrk -t2 -c$clients -d"${duration}s" --latency -s "$work/single.lua" "$api" > "$work/single.txt"
http_rps=$(awk '/^Requests\/sec/ {print $2}' "$work/single.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/single.txt"); p99=$(awk '$1 == "99%" {print $2}' "$work/single.txt")
errors=$(awk '/Non-2xx/ {print $5}' "$work/single.txt"); errors=${errors:-0}
echo "HTTP: $http_rps signals/s, p50 $p50, p99 $p99, non-2xx: $errors"

# (c) batches of 500.
item='{"area":"teg","age_band":"13-15","category":"weapons","arena":"school","observed_week":"'$week'"}'
batch=$(printf "$item,%.0s" $(seq 500)); batch="{\"signals\":[${batch%,}]}"
printf '%s' "$batch" > "$work/batch.json"
cat > "$work/batch.lua" <<LUA
local tokens = {${token_list%,}}
local f = io.open("$work/batch.json"); local body = f:read("*a"); f:close()
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/signals/batch", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[n % #tokens + 1]}, body)
end
LUA
echo "--- (c) POST /v1/signals/batch (500 each), 4 connections, ${duration}s"
wrk -t2 -c4 -d"${duration}s" --latency -s "$work/batch.lua" "$api" > "$work/batch.txt"
batch_rps=$(awk '/^Requests\/sec/ {print $2}' "$work/batch.txt")
batch_errors=$(awk '/Non-2xx/ {print $5}' "$work/batch.txt"); batch_errors=${batch_errors:-0}
batch_p99=$(awk '$1 == "99%" {print $2}' "$work/batch.txt")

rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
stored=$(psql -Atq "$db_url" -c "SELECT count(*) FROM signals")
cells_ok=$(psql -Atq "$db_url" -c "SELECT (SELECT sum(n) FROM signal_cells) = (SELECT count(*) FROM signals) AND (SELECT sum(n) FROM signal_cells_by_area) = (SELECT count(*) FROM signals) AND (SELECT sum(n) FROM signal_cells_by_week_area) = (SELECT count(*) FROM signals) AND (SELECT sum(n) FROM signal_cells_by_week_area_source) = (SELECT count(*) FROM signals)")
echo
echo "=== intake benchmark, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), ${duration}s per phase"
awk -v pg="$pg_tps" -v http="$http_rps" 'BEGIN { printf "single: HTTP %.0f/s vs pgbench %.0f/s: ratio %.2f (target >= 0.70)\n", http, pg, http / pg }'
echo "single: p50 $p50, p99 $p99 (target p99 < 25ms); non-2xx $errors; pgbench's own p50 $pg_p50, p99 $pg_p99"
awk -v r="$batch_rps" 'BEGIN { printf "batch:  %.0f signals/s (target >= 20000)", r * 500 }'; echo "; p99 per batch $batch_p99; non-2xx $batch_errors"
echo "memory: peak resident $((rss_kb / 1024)) MB (target < 150 MB)"
echo "stored: $stored signals; cells agree with signals: $cells_ok"
