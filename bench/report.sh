#!/usr/bin/env bash
# One run, one machine, one table (issue 6): intake (single and batch) against
# pgbench's raw rate for the same statement, trends at 10 million signals, the full-year
# export, login latency, the service's peak resident memory under each load, and 64 of
# the heaviest trend requests at once (issue 12). Runs
# bench/intake.sh, bench/trends.sh and bench/login-latency.sh one after another (never
# at once: they share two cores) and prints their figures as one Markdown table.
#
#   bench/report.sh                       # ~8 min; the full logs go to $OUT (default a temp dir)
#   DURATION=60 bench/report.sh           # longer intake phases
#
# Needs what the three scripts need: psql and pgbench, wrk, curl, jq, and a PostgreSQL
# superuser at 127.0.0.1:5432 (or BENCH_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d /tmp/lagesbild-report.XXXXXX)}
mkdir -p "$out"
cargo build --release --quiet

echo "--- intake (bench/intake.sh), log in $out/intake.txt"
bench/intake.sh > "$out/intake.txt" 2>&1
echo "--- trends and export (bench/trends.sh), log in $out/trends.txt"
SKIP_BUILD=1 bench/trends.sh > "$out/trends.txt" 2>&1
echo "--- login latency (bench/login-latency.sh), log in $out/login.txt"
bench/login-latency.sh > "$out/login.txt" 2>&1

field() { # file pattern awk-program
  grep -m1 -E "$2" "$1" | awk "$3"
}
i=$out/intake.txt t=$out/trends.txt l=$out/login.txt
pg=$(field "$i" '^pgbench:' '{print $2}')
http=$(field "$i" '^HTTP:' '{print $2}')
ratio=$(awk -v a="$http" -v b="$pg" 'BEGIN { printf "%.2f", a / b }')
p50=$(field "$i" '^single: p50' '{print $3}' | tr -d ,)
p99=$(field "$i" '^single: p50' '{print $5}')
pg_p50=$(field "$i" '^pgbench:' '{print $9}' | tr -d ,)
pg_p99=$(field "$i" '^pgbench:' '{print $11}')
batch=$(field "$i" '^batch:' '{print $2}')
intake_rss=$(field "$i" '^memory:' '{print $4}')
stored=$(field "$i" '^stored:' '{print $2}')
agree=$(field "$i" '^stored:' '{print $NF}')
trends=$(field "$t" '^trends:' '{print $3, $6}')
analyst=$(field "$t" 'with an analyst API token' '{print $7, $10}')
export_first=$(field "$t" '^export:' '{print $7}')
export_again=$(field "$t" '^export:' '{print $10}')
packed=$(field "$t" '^packed:' '{print $2, $9}')
trends_rss=$(field "$t" 'peak resident overall' '{print $(NF-1)}')
flood_peak=$(grep -m1 '^flood:' "$t" | sed -E 's/.*RSS peak ([0-9]+) MB.*/\1/')
flood_after=$(grep -m1 '^flood:' "$t" | sed -E 's/.*, ([0-9]+) MB a minute after.*/\1/')
flood_429=$(grep -m1 '^flood:' "$t" | sed -E 's/.*; ([0-9]+) got 429.*/\1/')
flood_answers=$(grep -m1 '^flood:' "$t" | sed -E 's/^flood: +64 heaviest trend requests at once: ([^;]*);.*/\1/')
data=$(field "$t" '^data:' '{print $2 " signals in " $5 " cells"}')
login=$(field "$l" '^logins:' '{print $4, $7, $10}')
peak=$(( intake_rss > trends_rss ? intake_rss : trends_rss ))
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == "<") ? (v < t) : (v >= t); print ok ? "met" : "**not met**" }'; }
ms() { tr -d 'ms' <<< "$1"; }

cat <<TABLE

Machine: $(nproc) vCPU, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(psql -Atq "${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -c 'SHOW server_version' | cut -d' ' -f1) PostgreSQL (fsync $(psql -Atq "${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -c 'SHOW fsync'), synchronous_commit $(psql -Atq "${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -c 'SHOW synchronous_commit')); $(date -u +%Y-%m-%dT%H:%MZ); \`bench/report.sh\`

| measure | result | target | |
|---|---|---|---|
| pgbench, the intake statement, 32 clients | $pg signals/s | | |
| \`POST /v1/signals\`, 32 connections | $http signals/s | | |
| ratio to pgbench | **$ratio** | ≥ 0.70 | $(verdict "$ratio" 0.70 '>=') |
| single-signal latency | p50 $p50, **p99 $p99** | p99 < 25 ms | $(verdict "$(ms "$p99")" 25 '<') |
| pgbench's own latency for the statement (each 201 waits for a commit) | p50 $pg_p50, p99 $pg_p99 | | |
| \`POST /v1/signals/batch\` (500 a request) | **$batch signals/s** | ≥ 20,000 | $(verdict "$batch" 20000 '>=') |
| stored after the intake load; cell tables agree | $stored signals; $agree | | |
| trends \`by=area\`, weekly, a year of 10 M signals ($data) | p50 / p95 $(awk '{print $1 " / " $2}' <<< "$trends") ms | p95 < 50 ms | $(verdict "$(awk '{print $2}' <<< "$trends")" 50 '<') |
| the same with an analyst API token | p50 / p95 $(awk '{print $1 " / " $2}' <<< "$analyst") ms | p95 < 50 ms | $(verdict "$(awk '{print $2}' <<< "$analyst")" 50 '<') |
| full-year CSV export (first / again) | $export_first s / $export_again s | < 2 s | $(verdict "$export_first" 2 '<') |
| packing the export blocks after the bulk load | $(awk '{print $1 " blocks in " $2}' <<< "$packed") s | | |
| login (median of 20; min, max) | $(awk '{print $2 " ms (" $1 ", " $3 " ms)"}' <<< "$login") | | |
| peak resident memory under intake load | $intake_rss MB | < 150 MB | $(verdict "$intake_rss" 150 '<') |
| peak resident memory over trends and exports | $trends_rss MB | < 150 MB | $(verdict "$trends_rss" 150 '<') |
| peak resident memory, highest of the runs | **$peak MB** | < 150 MB | $(verdict "$peak" 150 '<') |
| 64 heaviest trend requests at once, one coordinator: answers | $flood_answers; $flood_429 got 429 | | |
| … peak resident memory during them | **$flood_peak MB** | < 300 MB | $(verdict "$flood_peak" 300 '<') |
| … resident memory a minute later | **$flood_after MB** | < 150 MB | $(verdict "$flood_after" 150 '<') |
TABLE
