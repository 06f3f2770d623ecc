#!/usr/bin/env bash
# Trends and export benchmark (issue text: "with 10 million signals' worth of cells, one
# year, the seeded areas, all dimensions"), in one run on one machine:
#   (0) loads a year of aggregate cells straight into signal_cells (server-side
#       INSERT … SELECT, no HTTP: intake is bench/intake.sh's business) and derives
#       the coarser cell tables from them, as the service keeps them;
#   (1) GET /v1/trends?by=area&period=week over the full year as an Umeå coordinator
#       (14 district series × 52 weeks): p50/p95 of sequential requests, and the same
#       with an analyst's API token (the token is looked up on every request);
#   (1b) the pages Översikt and Utforska (a year, by area, weekly), signed in through
#       /login: p50/p95 of sequential requests (target p95 < 100 ms);
#   (2) GET /v1/exports/signal-counts.csv over the full year, after `refresh-cube` packed
#       the cube blocks (timed): the first request, a second one, an unchanged refresh
#       (304), one after a new signal this week, and a monthly one; time, size, rows,
#       and the service's resident memory sampled every 0.05 s while it streams.
# Targets: trends p95 < 50 ms; the export streams in < 2 s with memory flat.
#
#   bench/trends.sh                           # 52 weeks, ~10 M signals, 300 requests
#   SIGNALS=1000000 REQUESTS=500 BENCH_DATABASE_URL=postgres://postgres@dbhost:5432/postgres bench/trends.sh
#   SKIP_BUILD=1 bench/trends.sh              # use target/release/lagesbild as it is
#   WEEKS=105 SIGNALS=20000000 MEASURE_WEEKS=52 bench/trends.sh   # a year of history too
#
# The query budget is raised to 1,000 reads per principal per 5 minutes (QUERY_QUOTA), as
# phase 1 alone sends 320 per credential; the flood's 64 would fit the default 300 too.
#
# Needs: psql (postgresql-client), curl, jq. The database user must be a superuser (the
# load turns off foreign-key triggers for its session). Creates and drops `lgb_bench_trends`.
set -euo pipefail
cd "$(dirname "$0")/.."
signals=${SIGNALS:-10000000}   # target total of n over all cells (the actual total is printed)
weeks=${WEEKS:-52}             # the weeks ending with the current ISO week
measure_weeks=${MEASURE_WEEKS:-$weeks}  # the window trends and the export ask for
requests=${REQUESTS:-300}      # measured trend requests per credential (after 20 warm-up)
page_requests=${PAGE_REQUESTS:-100}  # measured requests per page (after 5 warm-up)
admin_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_name=lgb_bench_trends
db_url=${admin_url%/*}/$db_name
port=${PORT:-18082}
work=$(mktemp -d /tmp/lagesbild-trends.XXXXXX)
for tool in curl jq; do
  command -v $tool >/dev/null || { apt-get update -qq && apt-get install -y -qq $tool; }
done
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=target/release/lagesbild
ms() { date +%s%3N; }

psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" -c "CREATE DATABASE $db_name"
export DATABASE_URL=$db_url LAGESBILD_BIND=127.0.0.1:$port LAGESBILD_METRICS_BIND=127.0.0.1:0 LAGESBILD_LOG=${LAGESBILD_LOG:-warn} LAGESBILD_DATA_DIR=$work \
       LAGESBILD_QUERY_QUOTA=${QUERY_QUOTA:-1000} \
       LAGESBILD_JWT_SECRET=benchmark-key-0123456789abcdef0123456789
pid='' sampler=''
cleanup() {
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)"
}
trap cleanup EXIT
"$bin" migrate >/dev/null
password='correct horse battery staple'
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username bench-admin --area umea >/dev/null

# --- (0) Load the cells. The weeks are Mondays, the current one by the Stockholm clock
# (the service's default LAGESBILD_TIME_ZONE).
read -r first_monday this_monday from_week to_week < <(psql -Atq -F' ' "$db_url" -c "
  WITH t AS (SELECT date_trunc('week', now() AT TIME ZONE 'Europe/Stockholm')::date AS monday)
  SELECT monday - 7 * ($weeks - 1), monday,
         to_char(monday - 7 * ($measure_weeks - 1), 'IYYY-\"W\"IW'), to_char(monday, 'IYYY-\"W\"IW') FROM t")
# Every district × age band × category × arena × gender × source, every week: about a
# quarter of a million possible cells a week. n = floor(random() * k) with k chosen so
# that the mean is signals / cells (E[floor(U k)] = sum over j = 1..floor(k) of 1 - j/k,
# solved by bisection); cells with n = 0 are not stored, as in the service.
combos=$(psql -Atq "$db_url" -c "SELECT (SELECT count(*) FROM areas WHERE level = 'district')
  * (SELECT count(*) FROM age_bands) * (SELECT count(*) FROM categories) * (SELECT count(*) FROM arenas) * 4 * 5")
k=$(awk -v mu="$(awk -v s="$signals" -v c="$combos" -v w="$weeks" 'BEGIN { print s / (c * w) }')" '
  function f(k,   s, j) { s = 0; for (j = 1; j <= k; j++) s += 1 - j / k; return s }
  BEGIN { lo = 1; hi = 2 * mu + 2; for (i = 0; i < 60; i++) { mid = (lo + hi) / 2; if (f(mid) < mu) lo = mid; else hi = mid }
          printf "%.6f", lo }')
echo "--- (0) loading $weeks weeks ($from_week … $to_week) × $combos combinations, n = floor(random() * $k)"
start=$(ms)
# key_sum: the sum of n keys uniform in [0, 2^31) has mean n·2^30 and standard deviation
# 2^31·sqrt(n/12); (random() - 0.5)·2^31·sqrt(n) has that spread. synchronous_commit off
# only spares the commit's fsync; session_replication_role = replica skips the four
# foreign-key checks per row (every id comes from the reference tables themselves),
# which would otherwise double the load time. The tables stay logged.
psql -q -v ON_ERROR_STOP=1 "$db_url" <<SQL
SET synchronous_commit = off;
SET session_replication_role = replica;
INSERT INTO signal_cells (week, area_id, age_band_id, category_id, arena_id, gender, source, n, key_sum)
SELECT week, area_id, age_band_id, category_id, arena_id, gender, source, n,
       greatest(0, n * 1073741824 + floor((random() - 0.5) * 2147483648 * sqrt(n)))::bigint
  FROM (SELECT w.week::date AS week, d.id AS area_id, ab.id AS age_band_id, c.id AS category_id,
               ar.id AS arena_id, g.gender, s.source, floor(random() * $k)::bigint AS n
          FROM generate_series('$first_monday'::date, '$this_monday'::date, interval '1 week') w (week)
         CROSS JOIN (SELECT id FROM areas WHERE level = 'district') d
         CROSS JOIN age_bands ab CROSS JOIN categories c CROSS JOIN arenas ar
         CROSS JOIN unnest(ARRAY['girl', 'boy', 'other', 'unspecified']) g (gender)
         CROSS JOIN unnest(ARRAY['school', 'field_worker', 'police', 'social_services', 'leisure']) s (source)
       ) cells
 WHERE n > 0;
-- The coarse table must equal the cells summed over arena, gender and source.
INSERT INTO signal_cells_by_area (week, area_id, category_id, age_band_id, n, key_sum)
SELECT week, area_id, category_id, age_band_id, sum(n), sum(key_sum) FROM signal_cells GROUP BY 1, 2, 3, 4;
INSERT INTO signal_cells_by_week_area (week, area_id, n, key_sum)
SELECT week, area_id, sum(n), sum(key_sum) FROM signal_cells GROUP BY 1, 2;
INSERT INTO signal_cells_by_week_area_source (week, area_id, source, n, key_sum)
SELECT week, area_id, source, sum(n), sum(key_sum) FROM signal_cells GROUP BY 1, 2, 3;
SQL
load_ms=$(( $(ms) - start ))
# Statistics and the visibility map, as autovacuum would leave an insert-only table; then
# a checkpoint, so that writing out the load's dirty pages does not overlap the timings.
psql -q "$db_url" -c 'VACUUM (ANALYZE) signal_cells' -c 'VACUUM (ANALYZE) signal_cells_by_area' -c 'VACUUM (ANALYZE) signal_cells_by_week_area' -c 'VACUUM (ANALYZE) signal_cells_by_week_area_source' -c 'CHECKPOINT'
read -r cells total by_area cells_size < <(psql -Atq -F' ' "$db_url" -c "
  SELECT count(*), sum(n), (SELECT count(*) FROM signal_cells_by_area),
         pg_size_pretty(pg_total_relation_size('signal_cells')) FROM signal_cells")
read -r umea_rows umea_total < <(psql -Atq -F' ' "$db_url" -c "
  SELECT count(*), sum(n) FROM signal_cells
   WHERE area_id IN (SELECT id FROM areas WHERE level = 'district' AND path LIKE '/vasterbotten/umea/%')")
echo "loaded $total signals in $cells cells ($cells_size) and $by_area by-area rows in $(( load_ms / 1000 )).$(( load_ms % 1000 / 100 )) s" \
     "(Umeå: $umea_total signals in $umea_rows cells)"

# --- Pack the cube blocks that exports read, as `serve` does within a minute of any
# change (done here first, so that the trend timings below do not share the CPU with it).
start=$(ms)
"$bin" refresh-cube 2>/dev/null
pack_ms=$(( $(ms) - start ))
read -r blocks blocks_size < <(psql -Atq -F' ' "$db_url" -c "SELECT count(*), pg_size_pretty(pg_total_relation_size('cube_blocks')) FROM cube_blocks")
echo "packed $blocks cube blocks ($blocks_size) in $(( pack_ms / 1000 )).$(( pack_ms % 1000 / 100 )) s"

# --- Serve, and get the two credentials (after loading, so the 15-minute access token
# cannot expire mid-run).
"$bin" serve & pid=$!
until curl -fs "localhost:$port/health/ready" >/dev/null; do sleep 0.1; done
api=http://localhost:$port
login() {
  curl -fs "$api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$password\"}" | jq -r .access_token
}
admin=$(login bench-admin)
post() { # path body → response body; any non-2xx answer is printed and ends the run
  local code
  code=$(curl -s -o "$work/post.json" -w '%{http_code}' "$api$1" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d "$2")
  [[ $code == 2* ]] || { echo "POST $1 -> $code: $(cat "$work/post.json")" >&2; exit 1; }
  cat "$work/post.json"
}
post /v1/users "{\"username\":\"bench-coord\",\"role\":\"coordinator\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}" >/dev/null
coordinator=$(login bench-coord)
analyst_id=$(post /v1/users '{"username":"bench-bi","role":"analyst","area":"umea","kind":"service"}' | jq -r .id)
analyst=$(post /v1/api-tokens "{\"name\":\"bench\",\"user_id\":\"$analyst_id\",\"permissions\":[\"trends:read\"],\"expires_in_days\":1}" | jq -r .token)

# --- (1) Trends. The first answer is checked; then 20 warm-up and $requests measured
# requests, one at a time, each timed by curl (connect to last byte).
trends_url="$api/v1/trends?by=area&period=week&from=$from_week&to=$to_week"
code=$(curl -s -o "$work/trends.json" -w '%{http_code}' "$trends_url" -H "authorization: Bearer $coordinator")
series=$(jq '.series | length' "$work/trends.json" 2>/dev/null || echo '?')
points=$(jq '[.series[].points | length] | add' "$work/trends.json" 2>/dev/null || echo '?')
if [ "$code" != 200 ] || [ "$series" != 14 ]; then
  echo "GET /v1/trends -> $code with $series series: $(head -c 2000 "$work/trends.json")" >&2; exit 1
fi
percentiles() { # stdin: seconds, one a line → "p50 p95 max" in ms (nearest rank)
  sort -n | awk '{ t[NR] = $1 * 1000 } END {
    i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
    i95 = int(NR * 0.95); if (i95 < NR * 0.95) i95++
    printf "%.1f %.1f %.1f %d\n", t[i50], t[i95], t[NR], NR }'
}
measure() { # token → "p50 p95 max count"
  local i
  for i in $(seq 20); do curl -fs -o /dev/null "$trends_url" -H "authorization: Bearer $1"; done
  for i in $(seq "$requests"); do
    curl -fs -o /dev/null -w '%{time_total}\n' "$trends_url" -H "authorization: Bearer $1"
  done | percentiles
}
echo "--- (1) GET /v1/trends by=area period=week $from_week…$to_week: $series series, $points points, $(wc -c < "$work/trends.json") bytes"
read -r t50 t95 tmax tn < <(measure "$coordinator")
[ "$tn" = "$requests" ] || { echo "only $tn of $requests trend requests succeeded" >&2; exit 1; }
echo "coordinator (access token): p50 $t50 ms, p95 $t95 ms, max $tmax ms over $tn requests"
read -r a50 a95 amax an < <(measure "$analyst")
[ "$an" = "$requests" ] || { echo "only $an of $requests trend requests succeeded" >&2; exit 1; }
echo "analyst (API token):        p50 $a50 ms, p95 $a95 ms, max $amax ms over $an requests"

# --- (1b) The pages, signed in through /login as the coordinator: Översikt (this and
# last week's alerts, 52 weeks per district and per source) and Utforska over the same
# year by area, weekly; 5 warm-up and $page_requests measured requests each, curl's time
# from connect to last byte (the page's server time plus a local transfer).
jar=$work/cookies
curl -fs -c "$jar" -b "$jar" -o "$work/login.html" "$api/login"
form_token=$(grep -o 'name="form_token" value="[^"]*"' "$work/login.html" | sed 's/.*value="//; s/"$//')
curl -fs -c "$jar" -b "$jar" -o /dev/null "$api/login" --data-urlencode "username=bench-coord" \
  --data-urlencode "password=$password" --data-urlencode "form_token=$form_token"
measure_page() { # url → "p50 p95 max count"
  local i
  for i in $(seq 5); do curl -fs -o /dev/null -b "$jar" -c "$jar" "$1"; done
  for i in $(seq "$page_requests"); do
    curl -fs -o /dev/null -b "$jar" -c "$jar" -w '%{time_total}\n' "$1"
  done | percentiles
}
overview_bytes=$(curl -fs -b "$jar" -c "$jar" "$api/" | wc -c)
explore_url="$api/utforska?by=area&period=week&from=$from_week&to=$to_week"
read -r o50 o95 omax on < <(measure_page "$api/")
read -r x50 x95 xmax xn < <(measure_page "$explore_url")
[ "$on" = "$page_requests" ] && [ "$xn" = "$page_requests" ] || { echo "page requests failed ($on, $xn of $page_requests)" >&2; exit 1; }
echo "--- (1b) pages: Översikt p50 $o50 ms, p95 $o95 ms ($overview_bytes bytes of HTML); Utforska p50 $x50 ms, p95 $x95 ms"

# --- (2) The full-year CSV export crossing every dimension (so every stored cell is read;
# only those published with a count are listed), with the service's resident memory
# sampled every 0.05 s while it runs: streamed from the packed blocks, RSS should not grow.
export_url="$api/v1/exports/signal-counts.csv?from=$from_week&to=$to_week&dims=age_band,category,arena,gender,source"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
timed_export() { # url [curl args…] → "code first-byte total size"
  local url=$1; shift
  curl -s -o /dev/null -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' "$url" \
    -H "authorization: Bearer $coordinator" "$@"
}
rss_before=$(rss)
( while :; do rss; sleep 0.05; done ) > "$work/rss.txt" & sampler=$!
# (2a) the first request computes the ETag, a digest of every published value, before
# the body; (2b) a second download finds the digests remembered.
read -r ecode efirst etotal esize < <(timed_export "$export_url")
read -r rcode rfirst rtotal rsize < <(timed_export "$export_url")
kill "$sampler"; wait "$sampler" 2>/dev/null || true; sampler=''
[ "$ecode" = 200 ] && [ "$rcode" = 200 ] || { echo "GET /v1/exports/signal-counts.csv -> $ecode: $(curl -s "$export_url" -H "authorization: Bearer $coordinator" | head -c 2000)" >&2; exit 1; }
rss_peak=$(sort -n "$work/rss.txt" | tail -1)
samples=$(wc -l < "$work/rss.txt")
lines=$(curl -fs -D "$work/headers" "$export_url" -H "authorization: Bearer $coordinator" | wc -l)
# (2c) A nightly refresh that finds nothing changed: If-None-Match with the ETag just given.
etag=$(awk 'tolower($1) == "etag:" {print $2}' "$work/headers" | tr -d '\r')
read -r ncode ntotal < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$export_url" \
  -H "authorization: Bearer $coordinator" -H "if-none-match: $etag")
# (2d) The same after a signal arrived this week, as in production: that district's
# block is stale, so the export reads its cells and digests it anew.
post /v1/users "{\"username\":\"bench-school\",\"role\":\"school\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}" >/dev/null
school=$(login bench-school)
post_as_school=$(curl -s -o /dev/null -w '%{http_code}' "$api/v1/signals" -H "authorization: Bearer $school" \
  -H 'content-type: application/json' \
  -d "{\"area\":\"teg\",\"age_band\":\"13-15\",\"category\":\"weapons\",\"arena\":\"school\",\"observed_week\":\"$to_week\"}")
[ "$post_as_school" = 201 ] || { echo "POST /v1/signals -> $post_as_school" >&2; exit 1; }
read -r scode sfirst stotal ssize < <(timed_export "$export_url")
# (2e) Monthly, the other common BI shape (its first request: ETag computed too).
read -r mcode mfirst mtotal msize < <(timed_export "$export_url&period=month")
echo "--- (2) GET /v1/exports/signal-counts.csv $from_week…$to_week"
echo "(2a) first request: HTTP $ecode, first byte after ${efirst}s, done after ${etotal}s, $esize bytes, $(( lines - 1 )) rows (+ header)" \
     "(of $umea_rows stored Umeå cells, those published with a count)"
echo "(2b) again:         HTTP $rcode, first byte after ${rfirst}s, done after ${rtotal}s"
echo "RSS before $(( rss_before / 1024 )) MB, peak during (2a)+(2b) $(( rss_peak / 1024 )) MB over $samples samples"
echo "(2c) unchanged refresh (If-None-Match): HTTP $ncode in ${ntotal}s"
echo "(2d) after a new signal this week: HTTP $scode, first byte after ${sfirst}s, done after ${stotal}s"
echo "(2e) monthly: HTTP $mcode, first byte after ${mfirst}s, done after ${mtotal}s, $msize bytes"

# --- (3) A flood: 64 of the heaviest trend requests at once from one coordinator — every
# category × arena × source (650 series) over the full year, which reads the widest cell
# table with a year of history for the indicators. Resident memory is sampled every
# 0.05 s during the flood and for a minute after it; the answers are counted by status
# (429: over the query budget; 503: no heavy-query slot within 10 s).
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")  # the peak before the flood
heavy_url="$api/v1/trends?by=category,arena,source&period=week&from=$from_week&to=$to_week"
rss_calm=$(rss)
( while :; do rss; sleep 0.05; done ) > "$work/rss-flood.txt" & sampler=$!
start=$(ms)
seq 64 | xargs -P 64 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$heavy_url" \
  -H "authorization: Bearer $coordinator" > "$work/flood.txt"
flood_ms=$(( $(ms) - start ))
kill "$sampler"; wait "$sampler" 2>/dev/null || true; sampler=''
flood_peak=$(sort -n "$work/rss-flood.txt" | tail -1)
statuses=$(sort "$work/flood.txt" | uniq -c | awk '{printf "%s%s × %s", sep, $1, $2; sep = ", "}')
too_many=$(grep -c '^429$' "$work/flood.txt" || true)
sleep 60
rss_after=$(rss)
echo "--- (3) 64 × GET $heavy_url at once"
echo "answers: $statuses in $(( flood_ms / 1000 )).$(( flood_ms % 1000 / 100 )) s; RSS $(( rss_calm / 1024 )) MB before," \
     "peak $(( flood_peak / 1024 )) MB, $(( rss_after / 1024 )) MB a minute after"

verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "met" : "NOT met" }'; }
growth=$(( (rss_peak - rss_before) / 1024 ))
echo
echo "=== trends benchmark, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $weeks weeks, $requests requests per credential"
echo "data:    $total signals in $cells cells + $by_area by-area rows, loaded in $(( load_ms / 1000 )) s; Umeå $umea_total signals in $umea_rows cells"
echo "trends:  p50 $t50 ms, p95 $t95 ms (target p95 < 50 ms: $(verdict "$t95" 50)); $series series × $(( points / series )) weeks"
echo "         with an analyst API token: p50 $a50 ms, p95 $a95 ms ($(verdict "$a95" 50))"
echo "pages:   Översikt p50 $o50 ms, p95 $o95 ms (target p95 < 100 ms: $(verdict "$o95" 100)), $overview_bytes bytes of HTML;" \
     "Utforska a year by area p50 $x50 ms, p95 $x95 ms ($(verdict "$x95" 100))"
echo "packed:  $blocks cube blocks ($blocks_size) built in $(( pack_ms / 1000 )).$(( pack_ms % 1000 / 100 )) s"
echo "export:  $(( lines - 1 )) rows, $(( esize / 1048576 )) MB in ${etotal} s first, ${rtotal} s again (target < 2 s: $(verdict "$etotal" 2));" \
     "after a new signal ${stotal} s ($(verdict "$stotal" 2)); monthly ${mtotal} s; unchanged refresh: HTTP $ncode in ${ntotal} s"
echo "memory:  RSS ${rss_before:+$(( rss_before / 1024 ))} MB before, $(( rss_peak / 1024 )) MB peak during the export: +$growth MB" \
     "(target flat, taken as < 16 MB: $(verdict "$growth" 16)); peak resident overall (before the flood) $(( hwm_kb / 1024 )) MB"
echo "flood:   64 heaviest trend requests at once: $statuses; $too_many got 429; RSS peak $(( flood_peak / 1024 )) MB" \
     "(target < 300 MB: $(verdict "$(( flood_peak / 1024 ))" 300)), $(( rss_after / 1024 )) MB a minute after (target < 150 MB: $(verdict "$(( rss_after / 1024 ))" 150))"
