#!/usr/bin/env bash
# The share of non-empty cells the export lists, per BI recipe (period × crossed
# dimensions), on two years of demo data for Umeå — the table in docs/bi.md. A cell the
# export leaves out holds fewer than k signals (it is suppressed); the rest are listed.
#
#   bench/bi-recipes.sh                 # ~2 min; WEEKS=52 for one year
#
# Needs psql, curl, jq and a PostgreSQL superuser at 127.0.0.1:5432 (or
# BENCH_DATABASE_URL). Creates and drops `lgb_bi_recipes`.
set -euo pipefail
cd "$(dirname "$0")/.."
weeks=${WEEKS:-104}
admin_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_name=lgb_bi_recipes
db_url=${admin_url%/*}/$db_name
port=${PORT:-18095}
work=$(mktemp -d /tmp/lagesbild-bi.XXXXXX)
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin=target/release/lagesbild
psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" -c "CREATE DATABASE $db_name"
export DATABASE_URL=$db_url LAGESBILD_BIND=127.0.0.1:$port LAGESBILD_METRICS_BIND=127.0.0.1:0 LAGESBILD_LOG=warn \
       LAGESBILD_DATA_DIR=$work LAGESBILD_JWT_SECRET=bi-recipes-key-0123456789abcdef0123456789 LAGESBILD_QUERY_QUOTA=100000
pid=''
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)"
}
trap cleanup EXIT
"$bin" migrate >/dev/null
"$bin" demo-data --weeks "$weeks" >/dev/null 2>&1
password='correct horse battery staple'
LAGESBILD_ADMIN_PASSWORD=$password "$bin" create-admin --username bi-admin --area umea >/dev/null
"$bin" serve & pid=$!
until curl -fs "localhost:$port/health/ready" >/dev/null; do sleep 0.1; done
api=http://localhost:$port
login() { curl -fs "$api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"$1\",\"password\":\"$password\"}" | jq -r .access_token; }
admin=$(login bi-admin)
curl -fs "$api/v1/users" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d "{\"username\":\"bi-coord\",\"role\":\"coordinator\",\"area\":\"umea\",\"kind\":\"person\",\"password\":\"$password\"}" >/dev/null
token=$(login bi-coord)
read -r from to < <(psql -Atq -F' ' "$db_url" -c "
  WITH t AS (SELECT date_trunc('week', now() AT TIME ZONE 'Europe/Stockholm')::date AS monday)
  SELECT to_char(monday - 7 * ($weeks - 1), 'IYYY-\"W\"IW'), to_char(monday, 'IYYY-\"W\"IW') FROM t")
first_monday=$(psql -Atq "$db_url" -c "SELECT date_trunc('week', now() AT TIME ZONE 'Europe/Stockholm')::date - 7 * ($weeks - 1)")

label() { # period → SQL label of a cell's week (a week counts in the month of its Thursday)
  case $1 in
    week) echo "to_char(week, 'IYYY-\"W\"IW')" ;;
    month) echo "to_char(week + 3, 'YYYY-MM')" ;;
    quarter) echo "to_char(week + 3, 'YYYY') || '-Q' || to_char(week + 3, 'Q')" ;;
  esac
}
echo "Demo data: $weeks weeks ($from … $to), Umeå's 14 districts; k = 5; $(date -u +%Y-%m-%d), \`bench/bi-recipes.sh\`"
echo
echo "| recipe | period | \`dims\` | non-empty cells | listed | share suppressed (left out) |"
echo "|---|---|---|---|---|---|"
while read -r name period dims; do
  [ "$dims" = "-" ] && dims=""
  columns=$(tr ',' '\n' <<< "$dims" | sed -E 's/^age_band$/age_band_id/; s/^category$/category_id/; s/^arena$/arena_id/' | { grep -v '^$' || true; } | paste -sd, -)
  group="area_id, $(label "$period")${columns:+, $columns}"
  # The export reads whole periods: from the first period that holds the first week.
  cells=$(psql -Atq "$db_url" -c "
    SELECT count(*) FROM (SELECT 1 FROM signal_cells c
     WHERE area_id IN (SELECT id FROM areas WHERE path LIKE '/vasterbotten/umea/%')
       AND week >= '$first_monday'::date - 92
       AND $(label "$period") >= (SELECT $(label "$period") FROM (SELECT '$first_monday'::date AS week) f)
     GROUP BY $group HAVING sum(n) > 0) g")
  listed=$(curl -fs "$api/v1/exports/signal-counts.csv?period=$period&from=$from&to=$to${dims:+&dims=$dims}" \
    -H "authorization: Bearer $token" | tail -n +2 | wc -l)
  share=$(awk -v c="$cells" -v l="$listed" 'BEGIN { printf "%.0f %%", c ? 100 * (c - l) / c : 0 }')
  echo "| $name | $period | ${dims:-(none)} | $cells | $listed | $share |"
done <<'RECIPES'
district-weekly week -
district-monthly month -
category-monthly month category
age-monthly month age_band
source-monthly month source
category-quarterly quarter category
category-age-quarterly quarter category,age_band
category-weekly week category
finest-monthly month age_band,category,arena,gender,source
RECIPES
