#!/usr/bin/env python3
"""The disclosure review's averaging attacks (issue 12), run against a RUNNING service.

    (a) window totals: summary.total over [s, W] minus over [s, W-1] for many starts s
        (and [W, e] minus [W+1, e] for many ends e), averaged, estimates week W's count;
    (b) filter unions: area=D,<S> minus area=<S> for many random sets S of other districts,
        and category=c,<C> minus category=<C> for many random sets C of other categories,
        averaged, estimates the cell (D, c, W);
    (c) re-randomisation: a reporter files 6 signals into a cell, a coordinator reads its
        (now published) count, the reporter retracts them; 40 rounds, average of
        (published - 6) estimates the cell;
    (b3) a probe of residual risk 3 (docs/privacy.md): a list naming every category is the
        district's atomic "all" cell, not a union; minus the sum of the other categories'
        published cells it gives one fixed answer per cell (nothing to average);
    (d) injection with known offsets (a documented residual risk, docs/privacy.md): the
        same, but filing j = 6, 7, ..., 25 signals, one reading per j, average of
        (published - j). Different true counts give different noise, so this is EXPECTED
        to recover the counts: it is why the threat model relies on roles and the audit.

(a) and (b) attack every suppressed (district x category x week) cell of the last
--weeks weeks in --area; (c) and (d) a handful of those cells inside the correction
window, each restored afterwards. The true counts come from the database (psql,
signal_cells joined to areas and categories). For each attack the report gives the
cells attacked, the requests made, how many cells' true counts the attack recovered
exactly, the naive baseline (always guessing the most common true value of all the
suppressed cells), and what the same requests would have recovered under the old behaviour
(simulated from the true counts with fresh noise for every new record set, as before
the fixes). Every `count` and `total` in every trends, alerts and export response
fetched is checked to be 0, null or >= k.

What (c) can still learn is what ONE reading of an injected cell gives, n + d (exact
for about half the cells): the fix makes the 40 rounds identical, so they add nothing
to the first; that one reading is (d) with a single offset.

Standard library only. Exit status: 0 when the fixed attacks learn nothing and the scan
is clean; 1 when the scan finds a count in 1..k-1; 2 when (a), (b1) or (b2) recover more
cells than guessing or give varying answers, or (c)'s rounds differ ((b3) and (d) are
reported, never failed).

    python3 tests/attacks/attack.py --base-url http://127.0.0.1:18090 \
        --database-url postgres://postgres@127.0.0.1:5432/lgb_attacks
    # credentials: ATTACK_COORDINATOR / ATTACK_COORDINATOR_PASSWORD,
    #              ATTACK_REPORTER / ATTACK_REPORTER_PASSWORD (or --coordinator etc.)
"""

import argparse
import collections
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# The cell key method's noise before and after the fixes (docs/design.md section 5):
# cumulative probabilities of d = -2 ... +2 (n = 1: -1 ... +1).
NOISE_ONE = [(-1, 0.25), (0, 0.75), (1, 1.0)]
NOISE_MANY = [(-2, 0.05), (-1, 0.25), (0, 0.75), (1, 0.95), (2, 1.0)]


def old_publish(n, rng, k):
    """A count as the OLD service published a fresh record set: new noise each time."""
    if n == 0:
        return 0
    u = rng.random()
    for d, cumulative in NOISE_ONE if n == 1 else NOISE_MANY:
        if u < cumulative:
            break
    p = n + d
    return None if p < k else p


# --- ISO weeks -----------------------------------------------------------------------

def parse_week(text):
    year, week = text.split("-W")
    return datetime.date.fromisocalendar(int(year), int(week), 1)


def week_text(monday):
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def add_weeks(text, n):
    return week_text(parse_week(text) + datetime.timedelta(weeks=n))


def weeks_between(first, last):
    out, w = [], first
    while parse_week(w) <= parse_week(last):
        out.append(w)
        w = add_weeks(w, 1)
    return out


# --- HTTP ----------------------------------------------------------------------------

class Api:
    """One principal's session: logs in, logs in again when the 15-minute access token
    expires, waits out 429s (and counts them), counts requests, scans every count."""

    def __init__(self, base, username, password, scanner, counter):
        self.base = base.rstrip("/")
        self.username, self.password = username, password
        self.scanner, self.counter = scanner, counter
        self.token = None
        self.login()

    def login(self):
        status, body, _ = self._send("POST", "/v1/auth/login",
                                     {"username": self.username, "password": self.password}, auth=False)
        if status != 200:
            sys.exit(f"login as {self.username} -> {status}: {body}")
        self.token = body["access_token"]

    def _send(self, method, path, body=None, auth=True):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if auth:
            request.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                raw, status, headers = response.read(), response.status, response.headers
        except urllib.error.HTTPError as error:
            raw, status, headers = error.read(), error.code, error.headers
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, parsed, headers

    def call(self, method, path, body=None, expect=(200,)):
        relogged = False
        while True:
            self.counter["requests"] += 1
            status, parsed, headers = self._send(method, path, body)
            if status == 401 and not relogged:
                relogged = True
                self.login()
                continue
            if status == 429:
                self.counter["throttled"] += 1
                wait = int(headers.get("retry-after") or 1)
                print(f"  429 on {path.split('?')[0]}: rate-limited, waiting {wait} s", file=sys.stderr)
                time.sleep(wait)
                continue
            break
        if status not in expect:
            sys.exit(f"{method} {path} -> {status}: {str(parsed)[:2000]}")
        if method == "GET" and path.startswith(("/v1/trends", "/v1/alerts", "/v1/exports")):
            self.scanner.scan(path, parsed)
        return parsed

    def get(self, path, **params):
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, safe=",")
        return self.call("GET", f"{path}?{query}" if query else path)


class Scanner:
    """Every `count` and `total` anywhere in a response must be 0, null or >= k."""

    def __init__(self, k):
        self.k = k
        self.responses = 0
        self.values = 0
        self.violations = []

    def scan(self, path, body):
        self.responses += 1
        self._walk(body, path, "")

    def _walk(self, value, path, at):
        if isinstance(value, dict):
            for key, child in value.items():
                if key in ("count", "total") and not isinstance(child, (dict, list)):
                    self.values += 1
                    if child is not None and not (isinstance(child, int) and (child == 0 or child >= self.k)):
                        self.violations.append((path, f"{at}.{key}", child))
                else:
                    self._walk(child, path, f"{at}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._walk(item, path, f"{at}[{i}]")


# --- Truth ---------------------------------------------------------------------------

def psql(database_url, sql):
    out = subprocess.run(["psql", "-Atq", "-F", "\t", "-v", "ON_ERROR_STOP=1", database_url, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def true_counts(database_url, area):
    """Exact n by (district, category, ISO week) for the districts under `area`."""
    rows = psql(database_url, f"""
        SELECT a.code, k.code, to_char(c.week, 'IYYY-"W"IW'), sum(c.n)
          FROM signal_cells c
          JOIN areas a ON a.id = c.area_id
          JOIN categories k ON k.id = c.category_id
          JOIN areas top ON top.code = '{area}'
         WHERE a.path LIKE top.path || '%'
         GROUP BY 1, 2, 3 HAVING sum(c.n) > 0""")
    return collections.defaultdict(int, {(d, c, w): int(n) for d, c, w, n in rows})


# --- Reporting -----------------------------------------------------------------------

def estimate(answers):
    return round(statistics.fmean(answers)) if answers else None


class Outcome:
    """One attack's result over its cells."""

    def __init__(self, name, k):
        self.name, self.k = name, k
        self.answers = {}      # cell -> the attack's answers (each an estimate of n)
        self.truth = {}        # cell -> true n
        self.requests = 0
        self.seconds = 0.0
        self.throttled = 0
        self.old = []          # simulated recoveries under the old behaviour, per repetition

    def exact(self):
        return sum(1 for c, a in self.answers.items() if estimate(a) == self.truth[c])

    def exact_clamped(self):
        """Estimates clamped to 1..k+1, where a suppressed non-empty cell must lie."""
        return sum(1 for c, a in self.answers.items()
                   if a and min(max(estimate(a), 1), self.k + 1) == self.truth[c])

    # The most common true count of all the suppressed cells attacked (set by main):
    # the best constant guess, and so the naive baseline, for every attack.
    prior = 1

    def guess(self):
        return self.prior, sum(1 for c in self.answers if self.truth[c] == self.prior)

    def varying(self):
        return sum(1 for a in self.answers.values() if len(set(a)) > 1)

    def per_cell(self):
        sizes = [len(a) for a in self.answers.values()]
        return f"{min(sizes)}-{max(sizes)}" if sizes and min(sizes) != max(sizes) else str(sizes[0] if sizes else 0)

    def details(self):
        by_truth = collections.defaultdict(list)
        for cell, answers in self.answers.items():
            by_truth[self.truth[cell]].extend(answers)
        parts = [f"true {n}: {len(v)} answers, mean {statistics.fmean(v):+.2f}, "
                 f"values {sorted(collections.Counter(v).items())}" for n, v in sorted(by_truth.items())]
        return "\n".join("      " + p for p in parts)

    def old_text(self):
        if not self.old:
            return "-"
        mean = statistics.fmean(self.old)
        return f"{mean:.1f} of {len(self.answers)} ({100 * mean / max(1, len(self.answers)):.0f}%)"


def percent(part, whole):
    return f"{part} ({100 * part / whole:.0f}%)" if whole else str(part)


# --- The attacks ---------------------------------------------------------------------

def attack_windows(coordinator, counter, args, weeks, targets, truth, k):
    """(a) Differences of window totals, backwards and forwards, for every target week."""
    outcome = Outcome("(a) window totals", k)
    start, before = time.monotonic(), collections.Counter(counter)
    last = weeks[-1]
    pairs = collections.defaultdict(list)   # target week -> [(window with, window without)]
    for w in weeks:
        for s in range(1, args.back + 1):
            first = add_weeks(w, -s)
            pairs[w].append(((first, w), (first, add_weeks(w, -1))))
        e = add_weeks(w, 1)
        while parse_week(e) <= parse_week(last):
            pairs[w].append(((w, e), (add_weeks(w, 1), e)))
            e = add_weeks(e, 1)
    windows = sorted({win for ps in pairs.values() for p in ps for win in p})
    totals = {}
    for first, to in windows:
        body = coordinator.get("/v1/trends", by="area,category", area=args.area, **{"from": first, "to": to})
        totals[(first, to)] = {(s["key"]["area"], s["key"]["category"]): s["summary"]["total"]
                               for s in body["series"]}
        for s in body["series"]:
            points = sum(p["count"] or 0 for p in s["points"])
            if points != s["summary"]["total"]:
                print(f"  NOTE: {first}..{to} {s['key']}: total {s['summary']['total']} is not the sum {points} of its points")
    for cell in targets:
        district, category, w = cell
        outcome.truth[cell] = truth[cell]
        outcome.answers[cell] = [totals[a][(district, category)] - totals[b][(district, category)]
                                 for a, b in pairs[w]]
    outcome.seconds = time.monotonic() - start
    outcome.requests = counter["requests"] - before["requests"]
    outcome.throttled = counter["throttled"] - before["throttled"]
    # The old behaviour: every window total was a fresh cell (sum of n and of keys), so
    # its noise was new for every window, the same on a repeated window.
    span = weeks_between(min(first for first, _ in windows), last)
    index = {w: i for i, w in enumerate(span)}
    prefixes = {}

    def prefix(series):
        if series not in prefixes:
            sums = [0]
            for w in span:
                sums.append(sums[-1] + truth[(*series, w)])
            prefixes[series] = sums
        return prefixes[series]

    for rep in range(args.simulations):
        rng = random.Random(args.seed * 1000 + rep)
        published = {}

        def old_total(series, first, to):
            key = (series, first, to)
            if key not in published:
                sums = prefix(series)
                published[key] = old_publish(sums[index[to] + 1] - sums[index[first]], rng, k)
            return published[key]

        hits = 0
        for cell in targets:
            series, w = cell[:2], cell[2]
            answers = []
            for a, b in pairs[w]:
                pa, pb = old_total(series, *a), old_total(series, *b)
                if pa is not None and pb is not None:
                    answers.append(pa - pb)
            hits += estimate(answers) == truth[cell]
        outcome.old.append(hits)
    return outcome


def union_sets(rng, others, count, largest):
    """`count` distinct non-empty random subsets of `others`, of at most `largest`."""
    seen, out = set(), []
    limit = sum(1 for bits in range(1, 2 ** len(others)) if bin(bits).count("1") <= largest)
    while len(out) < min(count, limit):
        size = rng.randint(1, largest)
        chosen = tuple(sorted(rng.sample(others, size)))
        if chosen not in seen:
            seen.add(chosen)
            out.append(list(chosen))
    return out


def count_of(point):
    return point["count"] or 0


def attack_area_unions(coordinator, counter, args, weeks, targets, truth, districts, k):
    """(b1) area=D,<S> minus area=<S>, keyed by category, over the whole window at once."""
    outcome = Outcome("(b1) area lists", k)
    start, before = time.monotonic(), collections.Counter(counter)
    rng = random.Random(args.seed)
    window = {"from": weeks[0], "to": weeks[-1]}
    by_district = collections.defaultdict(list)
    for cell in targets:
        by_district[cell[0]].append(cell)
    sets_used = {}
    for district, cells in sorted(by_district.items()):
        others = [d for d in districts if d != district]
        sets_used[district] = union_sets(rng, others, args.repeats, len(others))
        differences = collections.defaultdict(list)
        for s in sets_used[district]:
            with_ = coordinator.get("/v1/trends", by="category", area=",".join([district] + s), **window)
            without = coordinator.get("/v1/trends", by="category", area=",".join(s), **window)
            w_points = {(x["key"]["category"], p["period"]): count_of(p) for x in with_["series"] for p in x["points"]}
            o_points = {(x["key"]["category"], p["period"]): count_of(p) for x in without["series"] for p in x["points"]}
            for key in w_points:
                differences[key].append(w_points[key] - o_points[key])
        for cell in cells:
            outcome.truth[cell] = truth[cell]
            outcome.answers[cell] = differences[(cell[1], cell[2])]
    outcome.seconds = time.monotonic() - start
    outcome.requests = counter["requests"] - before["requests"]
    outcome.throttled = counter["throttled"] - before["throttled"]
    # The old behaviour: the union was a fresh cell over all listed areas.
    for rep in range(args.simulations):
        sim = random.Random(args.seed * 1000 + rep)
        hits = 0
        for cell in outcome.answers:
            district, category, w = cell
            answers = []
            for s in sets_used[district]:
                rest = sum(truth[(o, category, w)] for o in s)
                pa, pb = old_publish(truth[cell] + rest, sim, k), old_publish(rest, sim, k)
                if pa is not None and pb is not None:
                    answers.append(pa - pb)
            hits += estimate(answers) == truth[cell]
        outcome.old.append(hits)
    return outcome


def attack_category_unions(coordinator, counter, args, weeks, targets, truth, categories, k):
    """(b2) category=c,<C> minus category=<C>, keyed by district, over the whole window."""
    outcome = Outcome("(b2) category lists", k)
    start, before = time.monotonic(), collections.Counter(counter)
    rng = random.Random(args.seed + 1)
    window = {"from": weeks[0], "to": weeks[-1]}
    by_category = collections.defaultdict(list)
    for cell in targets:
        by_category[cell[1]].append(cell)
    sets_used = {}
    for category, cells in sorted(by_category.items()):
        others = [c for c in categories if c != category]
        # Not every other category: a list naming every code is "all", the atomic cell
        # of the district (design section 5), not a union; (b3) probes that one.
        sets_used[category] = union_sets(rng, others, args.repeats, len(others) - 1)
        differences = collections.defaultdict(list)
        for s in sets_used[category]:
            with_ = coordinator.get("/v1/trends", by="area", area=args.area,
                                    category=",".join([category] + s), **window)
            without = coordinator.get("/v1/trends", by="area", area=args.area, category=",".join(s), **window)
            w_points = {(x["key"]["area"], p["period"]): count_of(p) for x in with_["series"] for p in x["points"]}
            o_points = {(x["key"]["area"], p["period"]): count_of(p) for x in without["series"] for p in x["points"]}
            for key in w_points:
                differences[key].append(w_points[key] - o_points[key])
        for cell in cells:
            outcome.truth[cell] = truth[cell]
            outcome.answers[cell] = differences[(cell[0], cell[2])]
    outcome.seconds = time.monotonic() - start
    outcome.requests = counter["requests"] - before["requests"]
    outcome.throttled = counter["throttled"] - before["throttled"]
    for rep in range(args.simulations):
        sim = random.Random(args.seed * 1000 + rep)
        hits = 0
        for cell in outcome.answers:
            district, category, w = cell
            answers = []
            for s in sets_used[category]:
                rest = sum(truth[(district, o, w)] for o in s)
                pa, pb = old_publish(truth[cell] + rest, sim, k), old_publish(rest, sim, k)
                if pa is not None and pb is not None:
                    answers.append(pa - pb)
            hits += estimate(answers) == truth[cell]
        outcome.old.append(hits)
    return outcome


def attack_complement(coordinator, counter, args, weeks, targets, truth, categories, k):
    """(b3) The district's "all categories" cell minus the sum of the other categories'
    published cells: one fixed answer per cell (nothing to average), n plus the other
    suppressed categories' counts plus the noise of the published ones (privacy.md,
    residual risk 3)."""
    outcome = Outcome("(b3) all codes minus the others (residual 3)", k)
    start, before = time.monotonic(), collections.Counter(counter)
    window = {"from": weeks[0], "to": weeks[-1]}
    whole = coordinator.get("/v1/trends", by="area", area=args.area, **window)
    all_points = {(x["key"]["area"], p["period"]): count_of(p) for x in whole["series"] for p in x["points"]}
    by_category = collections.defaultdict(list)
    for cell in targets:
        by_category[cell[1]].append(cell)
    for category, cells in sorted(by_category.items()):
        others = [c for c in categories if c != category]
        rest = coordinator.get("/v1/trends", by="area", area=args.area, category=",".join(others), **window)
        rest_points = {(x["key"]["area"], p["period"]): count_of(p) for x in rest["series"] for p in x["points"]}
        for cell in cells:
            outcome.truth[cell] = truth[cell]
            outcome.answers[cell] = [all_points[(cell[0], cell[2])] - rest_points[(cell[0], cell[2])]]
    outcome.seconds = time.monotonic() - start
    outcome.requests = counter["requests"] - before["requests"]
    outcome.throttled = counter["throttled"] - before["throttled"]
    # The old behaviour: the list of the others was a fresh cell of its own.
    for rep in range(args.simulations):
        sim = random.Random(args.seed * 1000 + rep)
        hits = 0
        for cell in outcome.answers:
            district, category, w = cell
            rest = sum(truth[(district, o, w)] for o in categories if o != category)
            pa, pb = old_publish(truth[cell] + rest, sim, k), old_publish(rest, sim, k)
            hits += pa is not None and pb is not None and pa - pb == truth[cell]
        outcome.old.append(hits)
    return outcome


def file_and_read(coordinator, reporter, cell, j):
    """Files j signals into `cell`, reads the cell's published count, retracts them."""
    district, category, w = cell
    one = {"area": district, "age_band": "13-15", "category": category, "arena": "school", "observed_week": w}
    receipt = reporter.call("POST", "/v1/signals/batch", {"signals": [one] * j}, expect=(201,))
    body = coordinator.get("/v1/trends", area=district, category=category, **{"from": w, "to": w})
    point = body["series"][0]["points"][0]
    for signal in receipt["signals"]:
        reporter.call("DELETE", f"/v1/signals/{signal['id']}", expect=(204,))
    return point["count"]


def attack_injection(name, coordinator, reporter, counter, args, cells, truth, k, offsets):
    """(c) offsets = [6] * rounds: re-randomisation; (d) offsets = 6 ... 25: known offsets."""
    outcome = Outcome(name, k)
    start, before = time.monotonic(), collections.Counter(counter)
    unpublished = 0
    for cell in cells:
        outcome.truth[cell] = truth[cell]
        answers = []
        for j in offsets:
            count = file_and_read(coordinator, reporter, cell, j)
            if count is None:
                unpublished += 1
                continue
            answers.append(count - j)
        outcome.answers[cell] = answers
    if unpublished:
        print(f"  NOTE: {unpublished} readings were suppressed despite the injected signals")
    outcome.seconds = time.monotonic() - start
    outcome.requests = counter["requests"] - before["requests"]
    outcome.throttled = counter["throttled"] - before["throttled"]
    # The old behaviour: every round's signals got new random keys, so new noise.
    for rep in range(args.simulations):
        sim = random.Random(args.seed * 1000 + rep)
        hits = 0
        for cell in cells:
            answers = [p - j for j in offsets if (p := old_publish(truth[cell] + j, sim, k)) is not None]
            hits += estimate(answers) == truth[cell]
        outcome.old.append(hits)
    return outcome


# --- Main ----------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    parser.add_argument("--base-url", default=env("LAGESBILD_URL", "http://127.0.0.1:18090"))
    parser.add_argument("--database-url", default=env("DATABASE_URL"), help="for the true counts (psql)")
    parser.add_argument("--coordinator", default=env("ATTACK_COORDINATOR", "atk-coord"))
    parser.add_argument("--coordinator-password", default=env("ATTACK_COORDINATOR_PASSWORD"))
    parser.add_argument("--reporter", default=env("ATTACK_REPORTER", "atk-school"))
    parser.add_argument("--reporter-password", default=env("ATTACK_REPORTER_PASSWORD"))
    parser.add_argument("--area", default="umea", help="the municipality whose districts are attacked")
    parser.add_argument("--weeks", type=int, default=8, help="attack the suppressed cells of this many last weeks")
    parser.add_argument("--back", type=int, default=24, help="(a): start weeks per target week (plus every end week)")
    parser.add_argument("--repeats", type=int, default=20, help="(b): random sets per target")
    parser.add_argument("--rounds", type=int, default=40, help="(c): file-read-retract rounds per cell")
    parser.add_argument("--cells", type=int, default=8, help="(c), (d): cells attacked")
    parser.add_argument("--j-from", type=int, default=6, help="(d): first offset")
    parser.add_argument("--j-to", type=int, default=25, help="(d): last offset")
    parser.add_argument("--simulations", type=int, default=20, help="repetitions of the old-behaviour simulation")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--only", default="a,b,c,d", help="comma-separated attacks to run")
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("--database-url or DATABASE_URL is needed for the true counts")
    if not args.coordinator_password:
        sys.exit("--coordinator-password or ATTACK_COORDINATOR_PASSWORD is needed")
    only = set(args.only.split(","))

    began = time.monotonic()
    counter = collections.Counter()
    scanner = Scanner(5)
    coordinator = Api(args.base_url, args.coordinator, args.coordinator_password, scanner, counter)

    # What the attacker sees first: every district x category series of the last weeks.
    overview = coordinator.get("/v1/trends", by="area,category", area=args.area)
    k = overview["disclosure"]["min_count"]
    scanner.k = k
    this_week = overview["to"]
    weeks = [add_weeks(this_week, -i) for i in range(args.weeks - 1, -1, -1)]
    body = coordinator.get("/v1/trends", by="area,category", area=args.area, **{"from": weeks[0], "to": weeks[-1]})
    districts = sorted({s["key"]["area"] for s in body["series"]})
    categories = sorted({s["key"]["category"] for s in body["series"]})
    targets = sorted((s["key"]["area"], s["key"]["category"], p["period"])
                     for s in body["series"] for p in s["points"] if p["suppressed"])
    truth = true_counts(args.database_url, args.area)
    before = dict(truth)
    empty = [c for c in targets if truth[c] == 0]
    if empty:
        print(f"NOTE: {len(empty)} suppressed cells hold no signal (never expected): {empty[:5]}")
    spread = collections.Counter(truth[c] for c in targets)
    Outcome.prior = spread.most_common(1)[0][0] if spread else 1
    print(f"Lägesbild at {args.base_url}, k = {k}, this week {this_week}; {args.area}: {len(districts)} districts x "
          f"{len(categories)} categories x {len(weeks)} weeks ({weeks[0]}..{weeks[-1]}) = "
          f"{len(districts) * len(categories) * len(weeks)} cells, {len(targets)} suppressed; "
          f"their true counts: {dict(sorted(spread.items()))}")

    outcomes = []
    if "a" in only:
        outcomes.append(attack_windows(coordinator, counter, args, weeks, targets, truth, k))
    if "b" in only:
        outcomes.append(attack_area_unions(coordinator, counter, args, weeks, targets, truth, districts, k))
        outcomes.append(attack_category_unions(coordinator, counter, args, weeks, targets, truth, categories, k))
        outcomes.append(attack_complement(coordinator, counter, args, weeks, targets, truth, categories, k))

    # Alerts and the export of the same weeks, for the scan.
    for w in weeks:
        coordinator.get("/v1/alerts", week=w)
    coordinator.get("/v1/exports/signal-counts.json", area=args.area, **{"from": weeks[0], "to": weeks[-1]})
    coordinator.get("/v1/trends", by="area,category,age_band", area=args.area, **{"from": weeks[0], "to": weeks[-1]})

    if {"c", "d"} & only:
        if not args.reporter_password:
            sys.exit("--reporter-password or ATTACK_REPORTER_PASSWORD is needed for (c) and (d)")
        reporter = Api(args.base_url, args.reporter, args.reporter_password, scanner, counter)
        # Cells well inside the correction window, with the current week left out. The
        # script (not the attacker, who needs no such knowledge) picks them so that the
        # true counts 1, 2, 3, 4 take turns, to show the attack on each.
        window = set(weeks[-7:-1])
        rng = random.Random(args.seed)
        pools = collections.defaultdict(list)
        for c in targets:
            if c[2] in window:
                pools[truth[c]].append(c)
        for pool in pools.values():
            rng.shuffle(pool)
        cells = []
        while len(cells) < args.cells and any(pools.values()):
            for n in sorted(pools):
                if pools[n] and len(cells) < args.cells:
                    cells.append(pools[n].pop())
        cells.sort()
        print(f"(c), (d) attack {len(cells)} cells: " + ", ".join("/".join(c) for c in cells))
        if "c" in only:
            outcomes.append(attack_injection("(c) re-randomisation, j = 6", coordinator, reporter, counter,
                                             args, cells, truth, k, [6] * args.rounds))
        if "d" in only:
            outcomes.append(attack_injection(f"(d) known offsets, j = {args.j_from}..{args.j_to} (residual)",
                                             coordinator, reporter, counter, args, cells, truth, k,
                                             list(range(args.j_from, args.j_to + 1))))
        after = true_counts(args.database_url, args.area)
        changed = {c for c in set(before) | set(after) if before.get(c, 0) != after.get(c, 0)}
        print(f"cells restored after (c) and (d): {'yes' if not changed else f'NO, {len(changed)} differ'}")

    # --- Report.
    failed = False
    print()
    for o in outcomes:
        value, hits = o.guess()
        print(f"{o.name}: {len(o.answers)} cells, {o.requests} requests in {o.seconds:.1f} s"
              + (f" ({o.throttled} answered 429)" if o.throttled else ""))
        print(f"    answers per cell {o.per_cell()}; cells whose answers varied: {o.varying()}")
        print(f"    recovered exactly: {percent(o.exact(), len(o.answers))}; estimate clamped to 1..{k + 1}: "
              f"{percent(o.exact_clamped(), len(o.answers))}; always guessing {value}: {percent(hits, len(o.answers))}")
        print(f"    the same requests under the old behaviour (simulated, mean of {args.simulations}): {o.old_text()}")
        print(o.details())
        if o.name.startswith("(c)"):
            first = sum(1 for c, a in o.answers.items() if a and a[0] == o.truth[c])
            print(f"    one reading alone (round 1) is exact for {percent(first, len(o.answers))}: "
                  "the rounds add nothing to it" if o.varying() == 0 else "    ROUNDS VARIED")
            if o.varying() or o.exact() > first:
                failed = True
                print("    FAIL: re-filing the same signals gave different noise")
        elif not o.name.startswith(("(d)", "(b3)")):
            if o.exact() > hits or o.exact_clamped() > hits or o.varying():
                failed = True
                print("    FAIL: the attack did better than guessing, or its answers varied")
    print()
    print("| attack | cells | requests | time | answers per cell | recovered exactly now | always guessing | old behaviour (simulated) |")
    print("|---|---|---|---|---|---|---|---|")
    for o in outcomes:
        value, hits = o.guess()
        print(f"| {o.name} | {len(o.answers)} | {o.requests} | {o.seconds:.1f} s | {o.per_cell()} | "
              f"{percent(o.exact(), len(o.answers))} | {percent(hits, len(o.answers))} (guess {value}) | {o.old_text()} |")
    print()
    print(f"scan: {scanner.values} counts and totals in {scanner.responses} trends, alerts and export responses; "
          f"{len(scanner.violations)} in 1..{k - 1}")
    print(f"total: {counter['requests']} requests in {time.monotonic() - began:.1f} s"
          + (f", {counter['throttled']} answered 429 (query budget)" if counter["throttled"] else ""))
    if scanner.violations:
        print("\n!!!!!!!! DISCLOSURE: COUNTS BELOW THE THRESHOLD WERE PUBLISHED !!!!!!!!")
        for path, at, value in scanner.violations[:50]:
            print(f"!!! {path}: {at} = {value}")
        sys.exit(1)
    if failed:
        sys.exit(2)


if __name__ == "__main__":
    main()
