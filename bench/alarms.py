#!/usr/bin/env python3
"""Alarm census: every EARS alarm a coordinator sees over a demo history, classified
against the true counts in the database (issue 13's "done when").

For every week of the history, GET /v1/alerts?week=W as an Umeå coordinator (district
level), then sort each alarm by what was really there:
  - planted:  Östra Ersboda x a rising category, in the last RISE_WEEKS weeks
              (services/demo.rs plants a step rise there);
  - startup:  in the first 9 weeks of the history (reporting had just begun);
  - sparse:   any other, whose true 7-week baseline (t-7 .. t-1) averages below 1 a week;
  - other:    the rest.
Prints the counts, and for each rising category the first week of the rise (1 = its
first week) with an alarm. Standard library only; psql reads the true counts.

    python3 bench/alarms.py --base-url http://127.0.0.1:18095 --database-url postgres://…
"""
import argparse
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request

RISING_DISTRICT = "ostra-ersboda"
RISING_CATEGORIES = ["recruitment_approach", "digital_recruitment", "drug_handling", "older_contacts"]
RISE_WEEKS = 10
STARTUP_WEEKS = 9


def psql(database_url, sql):
    out = subprocess.run(["psql", "-Atq", "-F", "\t", "-v", "ON_ERROR_STOP=1", database_url, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--username", default=os.environ.get("ALARMS_USER", "alarm-coord"))
    parser.add_argument("--password", default=os.environ.get("ALARMS_PASSWORD", "correct horse battery staple"))
    parser.add_argument("--json", help="also write every alarm, classified, to this file")
    args = parser.parse_args()

    token = call(args.base_url, "POST", "/v1/auth/login",
                 body={"username": args.username, "password": args.password})["access_token"]
    weeks = [row[0] for row in psql(args.database_url, """
        SELECT DISTINCT to_char(week, 'IYYY-"W"IW') FROM signal_cells ORDER BY 1""")]
    truth = {}
    for area, category, week, n in psql(args.database_url, """
        SELECT a.code, k.code, to_char(c.week, 'IYYY-"W"IW'), sum(c.n)
          FROM signal_cells c JOIN areas a ON a.id = c.area_id JOIN categories k ON k.id = c.category_id
         WHERE a.path LIKE '%/umea/%' GROUP BY 1, 2, 3"""):
        truth[(area, category, week)] = int(n)
    index = {week: i for i, week in enumerate(weeks)}

    census = {"planted": {"alert": 0, "warning": 0}, "startup": {"alert": 0, "warning": 0},
              "sparse": {"alert": 0, "warning": 0}, "other": {"alert": 0, "warning": 0}}
    first_in_rise = {c: None for c in RISING_CATEGORIES}
    rise_start = len(weeks) - RISE_WEEKS
    listed = []
    for week in weeks:
        t = index[week]
        report = call(args.base_url, "GET", "/v1/alerts?" + urllib.parse.urlencode({"week": week}), token)
        for alert in report["alerts"]:
            area, category, level = alert["area"], alert["category"], alert["alarm"]
            baseline = [truth.get((area, category, weeks[i]), 0) for i in range(max(0, t - 7), t)]
            mean = sum(baseline) / len(baseline) if baseline else 0.0
            if area == RISING_DISTRICT and category in RISING_CATEGORIES and t >= rise_start:
                kind = "planted"
                rise_week = t - rise_start + 1
                if first_in_rise[category] is None:
                    first_in_rise[category] = rise_week
            elif t < STARTUP_WEEKS:
                kind = "startup"
            elif mean < 1.0:
                kind = "sparse"
            else:
                kind = "other"
            census[kind][level] += 1
            listed.append({"week": week, "area": area, "category": category, "alarm": level, "kind": kind,
                           "published": alert.get("count"), "true": truth.get((area, category, week), 0),
                           "true_baseline_mean": round(mean, 2)})

    print(f"weeks read: {len(weeks)} ({weeks[0]} … {weeks[-1]}); alarms: {len(listed)}")
    for kind, levels in census.items():
        print(f"  {kind:8} alerts {levels['alert']:4}  warnings {levels['warning']:4}")
    for category, week in first_in_rise.items():
        print(f"  first alarm in the rise of {category}: "
              + (f"week {week} of {RISE_WEEKS}" if week else "none"))
    true_rise = {c: [truth.get((RISING_DISTRICT, c, weeks[i]), 0) for i in range(rise_start, len(weeks))]
                 for c in RISING_CATEGORIES}
    print("  true counts in the rise:", json.dumps(true_rise))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"census": census, "first_in_rise": first_in_rise, "alarms": listed}, out, indent=1)


if __name__ == "__main__":
    sys.exit(main())
