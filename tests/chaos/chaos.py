#!/usr/bin/env python3
"""Load generator and verifier for the chaos scripts (crash.sh, shutdown.sh). Stdlib only.

Subcommands (all take --work, the run's work directory written by lib.sh):
  load            concurrent intake clients for a while; every request and every attempt
                  recorded in WORK/<name>.jsonl
  fill            quickly store many signals by batch (so an export is big)
  slow            requests that cannot finish soon: a slow-reading export download and a
                  slowly uploaded batch (for the graceful-shutdown test)
  verify-crash    resolve ambiguous keys by retrying them, then check storage; PASS/FAIL
  verify-shutdown the same for one graceful-shutdown scenario

Time is epoch seconds (time.time()) everywhere, the same clock as the shell's events.
"""

import argparse
import collections
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# ---------------------------------------------------------------------------- basics


def read_events(work):
    """The shell's events file: `name epoch` per line; a name may repeat (last wins)."""
    events = {}
    path = os.path.join(work, "events")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, at = line.split()
                events[name] = float(at)
    return events


class Db:
    """psql against the run's private PostgreSQL (the client is simpler than a driver)."""

    def __init__(self, port):
        self.port = str(port)

    def query(self, sql):
        out = subprocess.run(
            ["psql", "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", self.port,
             "-U", "postgres", "-d", "postgres", "-c", sql],
            check=True, capture_output=True, text=True).stdout
        return [line.split("|") for line in out.splitlines() if line]

    def signal_ids(self):
        return {row[0] for row in self.query("SELECT id FROM signals")}

    def one(self, sql):
        return self.query(sql)[0][0]


class Codes:
    """The reference codes the service listed, so that every generated signal is valid."""

    def __init__(self, work):
        def load(name):
            with open(os.path.join(work, name)) as f:
                return json.load(f)
        self.districts = [a["code"] for a in load("areas.json")
                          if a.get("level") == "district" and a.get("parent") == "umea" and a.get("active")]
        self.age_bands = [c["code"] for c in load("age-bands.json") if c.get("active")]
        self.categories = [c["code"] for c in load("categories.json") if c.get("active")]
        self.arenas = [c["code"] for c in load("arenas.json") if c.get("active")]
        # The last four ISO weeks in the municipality's time zone (the service accepts 8).
        today = datetime.now(ZoneInfo("Europe/Stockholm")).date()
        self.weeks = []
        for back in range(4):
            year, week, _ = (today - timedelta(weeks=back)).isocalendar()
            self.weeks.append(f"{year}-W{week:02d}")

    def signal(self, rng):
        s = {"area": rng.choice(self.districts), "age_band": rng.choice(self.age_bands),
             "category": rng.choice(self.categories), "arena": rng.choice(self.arenas),
             "observed_week": rng.choice(self.weeks)}
        gender = rng.choice([None, "girl", "boy", "other"])
        if gender:
            s["gender"] = gender
        return s


def tokens(work):
    with open(os.path.join(work, "tokens")) as f:
        return [line.strip() for line in f if line.strip()]


# ---------------------------------------------------------------------------- HTTP


class Client:
    """One keep-alive connection; reconnects after any failure."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def attempt(self, method, path, headers, body, keep_raw=False):
        """Sends one request. Returns the attempt record: t0 (start), ts (request written),
        t1 (end), the phase reached (connect, send, recv), HTTP status or error class,
        Retry-After, parsed JSON body."""
        rec = {"t0": time.time(), "st": None, "err": None, "phase": "connect"}
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.connect()
            rec["phase"] = "send"
            self.conn.request(method, path, body=body, headers=headers)
            rec["ts"] = time.time()
            rec["phase"] = "recv"
            resp = self.conn.getresponse()
            data = resp.read()
            rec["st"] = resp.status
            if keep_raw:
                rec["raw"] = data
            retry_after = resp.getheader("Retry-After")
            if retry_after is not None:
                rec["ra"] = retry_after
            if resp.will_close:
                self.close()
            try:
                rec["json"] = json.loads(data) if data and not keep_raw else None
            except ValueError:
                rec["json"] = None
        except TimeoutError:
            rec["err"] = "timeout"
            self.close()
        except (OSError, http.client.HTTPException) as e:
            rec["err"] = type(e).__name__
            self.close()
        rec["t1"] = time.time()
        return rec


def receipt_ids(op, rec):
    """The signal ids of a 200/201 answer, checked against what was sent."""
    body = rec.pop("json", None)
    if rec["st"] not in (200, 201):
        if rec["st"] is not None and body and isinstance(body, dict):
            rec["detail"] = str(body.get("detail", ""))[:200]
        return
    try:
        if op["kind"] == "batch":
            rec["ids"] = [s["id"] for s in body["signals"]]
        else:
            rec["ids"] = [body["id"]]
    except (KeyError, TypeError):
        rec["ids"] = []
    if len(rec["ids"]) != op["n"]:
        rec["bad_receipt"] = True


def send(client, tok, op):
    headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    if op["key"]:
        headers["Idempotency-Key"] = op["key"]
    path = "/v1/signals/batch" if op["kind"] == "batch" else "/v1/signals"
    rec = client.attempt("POST", path, headers, op["body"].encode())
    receipt_ids(op, rec)
    op["attempts"].append(rec)
    return rec


# ---------------------------------------------------------------------------- load

# Request mixes: (kind, keyed, weight, batch sizes).
MIXES = {
    # Crash test: every request keyed, so every ambiguous outcome can be resolved.
    "crash": [("single", True, 8, None), ("batch", True, 2, (2, 5))],
    # Graceful shutdown: single and batch, with and without a key.
    "shutdown": [("single", False, 4, None), ("single", True, 3, None),
                 ("batch", True, 2, (2, 20)), ("batch", False, 1, (2, 20))],
    # Graceful shutdown with heavy requests in flight: mostly large batches.
    "heavy": [("single", False, 2, None), ("single", True, 1, None),
              ("batch", True, 4, (200, 500)), ("batch", False, 2, (200, 500))],
}


def make_op(rng, codes, ntok, mix):
    kind, keyed, _, sizes = rng.choices(mix, weights=[m[2] for m in mix])[0]
    n = 1 if kind == "single" else rng.randint(*sizes)
    if kind == "single":
        body = codes.signal(rng)
    else:
        body = {"signals": [codes.signal(rng) for _ in range(n)]}
    return {"key": f"chaos-{uuid.uuid4()}" if keyed else None, "kind": kind, "n": n,
            "tok": rng.randrange(ntok), "body": json.dumps(body, separators=(",", ":")),
            "attempts": []}


def health_monitor(host, port, stop, out):
    """Polls /health/ready every 100 ms, recording status and latency."""
    client = Client(host, port, 10)
    while not stop.is_set():
        rec = client.attempt("GET", "/health/ready", {}, None)
        rec.pop("json", None)
        out.append(rec)
        stop.wait(0.1)


def cmd_load(args):
    codes, toks = Codes(args.work), tokens(args.work)
    mix = MIXES[args.mix]
    stop = threading.Event()
    stop_file = os.path.join(args.work, "stop-load")
    deadline = time.time() + args.duration
    ops_by_thread = [[] for _ in range(args.clients)]
    health = []
    baseline = Db(args.pg_port).signal_ids()

    def client_loop(i):
        rng = random.Random(f"{args.seed}-{i}")
        client = Client("127.0.0.1", args.port, args.timeout)
        while time.time() < deadline and not stop.is_set():
            op = make_op(rng, codes, len(toks), mix)
            rec = send(client, toks[op["tok"]], op)
            ops_by_thread[i].append(op)
            if rec["err"] and rec["phase"] == "connect":
                time.sleep(0.05)  # nothing listens (after shutdown): do not spin
        client.close()

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(args.clients)]
    monitor = threading.Thread(target=health_monitor, args=("127.0.0.1", args.port, stop, health), daemon=True)
    monitor.start()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if os.path.exists(stop_file):
            stop.set()
        time.sleep(0.1)
    stop.set()
    monitor.join()
    with open(os.path.join(args.work, f"{args.name}.jsonl"), "w") as f:
        for ops in ops_by_thread:
            for op in ops:
                f.write(json.dumps(op) + "\n")
    with open(os.path.join(args.work, f"{args.name}-health.jsonl"), "w") as f:
        for rec in health:
            f.write(json.dumps(rec) + "\n")
    with open(os.path.join(args.work, f"{args.name}-baseline.json"), "w") as f:
        json.dump(sorted(baseline), f)
    total = sum(len(ops) for ops in ops_by_thread)
    print(f"load: {total} requests by {args.clients} clients", file=sys.stderr)


def cmd_fill(args):
    """Stores `--signals` random signals by 500-signal batches from 4 clients."""
    codes, toks = Codes(args.work), tokens(args.work)
    per_thread = args.signals // 500 // 4 + 1
    failures = []

    def worker(i):
        rng = random.Random(f"fill-{i}")
        client = Client("127.0.0.1", args.port, 60)
        for _ in range(per_thread):
            body = json.dumps({"signals": [codes.signal(rng) for _ in range(500)]})
            rec = client.attempt("POST", "/v1/signals/batch",
                                 {"Authorization": f"Bearer {toks[i % len(toks)]}",
                                  "Content-Type": "application/json"}, body.encode())
            if rec["st"] != 201:
                failures.append(rec)
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"fill: {len(failures)} batches failed, e.g. {failures[0]}")


def cmd_slow(args):
    """Two requests that cannot finish within the shutdown timeout, each on a raw socket:
    an export read at ~10 KiB/s through a 4 KiB receive buffer (so the server's writes
    block), and a 500-signal batch (with a key) uploaded at ~2.5 KiB/s. Once the shell
    creates WORK/stop-load, the export reader drains what the kernel still buffers at
    full speed (the server is gone by then) to learn whether the body was complete."""
    codes, toks = Codes(args.work), tokens(args.work)
    with open(os.path.join(args.work, "analyst-token")) as f:
        analyst = f.read().strip()
    results = []
    stop_file = os.path.join(args.work, "stop-load")

    def export():
        rec = {"slow": "export", "t0": time.time(), "bytes": 0, "st": None, "err": None}
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.connect(("127.0.0.1", args.port))
            s.sendall((f"GET /v1/exports/signal-counts.csv HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {analyst}\r\n\r\n").encode())
            head, tail = b"", b""
            while True:
                chunk = s.recv(1024)
                if not chunk:
                    rec["err"] = "closed"
                    break
                rec["bytes"] += len(chunk)
                if rec["st"] is None:
                    head += chunk
                    m = re.match(rb"HTTP/1\.1 (\d+)", head)
                    if m:
                        rec["st"] = int(m.group(1))
                        rec["t_headers"] = time.time()
                tail = (tail + chunk)[-7:]
                if tail.endswith(b"\r\n0\r\n\r\n"):  # the last chunk of a chunked body
                    rec["complete"] = True
                    break
                if not os.path.exists(stop_file):
                    time.sleep(0.1)
        except OSError as e:
            rec["err"] = type(e).__name__
        rec["t1"] = time.time()
        s.close()
        results.append(rec)

    def upload():
        rng = random.Random("slow-upload")
        body = json.dumps({"signals": [codes.signal(rng) for _ in range(500)]}).encode()
        key = f"chaos-slow-{uuid.uuid4()}"
        op = {"key": key, "kind": "batch", "n": 500, "tok": 0, "body": body.decode(),
              "attempts": [], "slow": "upload"}
        rec = {"t0": time.time(), "st": None, "err": None, "phase": "connect"}
        s = socket.socket()
        s.settimeout(120)
        try:
            s.connect(("127.0.0.1", args.port))
            rec["phase"] = "send"
            s.sendall((f"POST /v1/signals/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {toks[0]}\r\n"
                       f"Content-Type: application/json\r\nIdempotency-Key: {key}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode())
            for i in range(0, len(body), 256):
                s.sendall(body[i:i + 256])
                time.sleep(0.1)
            rec["phase"] = "recv"
            data = s.recv(65536)
            m = re.match(rb"HTTP/1\.1 (\d+)", data)
            rec["st"] = int(m.group(1)) if m else None
            if not data:
                rec["err"] = "closed"
        except OSError as e:
            rec["err"] = type(e).__name__
        rec["t1"] = time.time()
        s.close()
        op["attempts"].append(rec)
        with open(os.path.join(args.work, f"{args.name}-upload.jsonl"), "w") as f:
            f.write(json.dumps(op) + "\n")
        results.append({"slow": "upload", **rec, "sent_bytes": len(body)})

    threads = [threading.Thread(target=export), threading.Thread(target=upload)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(os.path.join(args.work, f"{args.name}-slow.jsonl"), "w") as f:
        for rec in results:
            f.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------------------- verification


class Report:
    def __init__(self, title):
        self.title, self.checks, self.figures = title, [], []

    def figure(self, text):
        self.figures.append(text)

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))

    def print(self):
        print(f"\n=== {self.title}")
        for text in self.figures:
            print(f"  {text}")
        print("  --- checks")
        for name, ok, detail in self.checks:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}")
        failed = sum(1 for _, ok, _ in self.checks if not ok)
        print(f"=== {'PASS' if not failed else 'FAIL'}: {len(self.checks) - failed} of {len(self.checks)} checks passed\n")
        return failed == 0


def load_ops(work, names):
    ops = []
    for name in names:
        path = os.path.join(work, name)
        if os.path.exists(path):
            with open(path) as f:
                ops.extend(json.loads(line) for line in f)
    return ops


def save_ops(work, name, ops):
    """The records with the verifier's retries added (attempts marked "resolve")."""
    with open(os.path.join(work, name), "w") as f:
        for op in ops:
            f.write(json.dumps(op) + "\n")


def never_sent(op):
    return all(a["err"] and a["phase"] == "connect" for a in op["attempts"])


def acked(op):
    return [a for a in op["attempts"] if a["st"] in (200, 201)]


def resolve(ops, port, toks, rounds):
    """Retries every keyed request without a 200/201 answer, with the same key, body and
    credential, until it answers 200/201 (at most `rounds` rounds, 1 s apart). Returns
    how many needed it and those still unresolved."""
    # A request refused at connect was never sent, so it is not ambiguous: nothing to resolve.
    pending = [op for op in ops if op["key"] and not acked(op) and not never_sent(op)]
    first = len(pending)
    for _ in range(rounds):
        if not pending:
            break
        lock, queue = threading.Lock(), list(pending)

        def worker():
            client = Client("127.0.0.1", port, 10)
            while True:
                with lock:
                    if not queue:
                        break
                    op = queue.pop()
                send(client, toks[op["tok"]], op)["resolve"] = True
            client.close()

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pending = [op for op in pending if not acked(op)]
        if pending:
            time.sleep(1)
    return first, pending


def owners(ops):
    """Which request each answered signal id belongs to. A key whose 2xx answers name
    different signals, or a signal named by two requests, is inconsistent."""
    owner, inconsistent, bad_receipts = {}, set(), 0
    for i, op in enumerate(ops):
        answers = {tuple(a["ids"]) for a in acked(op)}
        bad_receipts += sum(1 for a in acked(op) if a.get("bad_receipt"))
        if len(answers) > 1:
            inconsistent.add(op["key"])
        for ids in answers:
            for sid in ids:
                if owner.setdefault(sid, i) != i:
                    inconsistent.add(op["key"])
    return owner, inconsistent, bad_receipts


def account(ops, db, baseline, report, port, toks, rounds):
    """The storage checks both tests share. Returns facts for the caller's figures."""
    # Before any retry: every acknowledged signal is stored.
    owner, _, bad_receipts = owners(ops)
    acked_ids = set(owner)
    before = db.signal_ids() - baseline
    missing = acked_ids - before
    report.check("every signal acknowledged with 201 is stored", not missing and not bad_receipts,
                 f"{len(acked_ids)} acknowledged signals, {len(missing)} missing"
                 + (f" (e.g. {sorted(missing)[:3]})" if missing else "")
                 + (f", {bad_receipts} receipts with the wrong number of ids" if bad_receipts else ""))

    # Retry the ambiguous keyed requests with their keys.
    n_ambiguous, unresolved = resolve(ops, port, toks, rounds)
    report.check("every ambiguous keyed request resolves to 200/201 when retried with its key",
                 not unresolved,
                 f"{n_ambiguous} retried, {len(unresolved)} unresolved"
                 + (f" (e.g. {unresolved[0]['key']}: {unresolved[0]['attempts'][-1]})" if unresolved else ""))

    owner, inconsistent, _ = owners(ops)
    report.check("a key's answers all name the same signals, and no signal answers two requests",
                 not inconsistent, f"{len(inconsistent)} keys differ"
                 + (f" (e.g. {sorted(inconsistent)[:3]})" if inconsistent else ""))

    # Where the retried requests' signals came from: stored before the retry (the first
    # attempt committed but its answer was lost: the retry replays it) or by the retry.
    resolved = [op for op in ops if op["key"] and any(a.get("resolve") for a in op["attempts"]) and acked(op)]
    committed_unacked = [op for op in resolved if set(acked(op)[0]["ids"]) <= before]
    stored_by_retry = [op for op in resolved if not set(acked(op)[0]["ids"]) & before]
    split = [op for op in resolved if op not in committed_unacked and op not in stored_by_retry]

    # Unkeyed requests that were sent but got no answer may or may not be stored; nothing
    # can tell (that is what Idempotency-Key is for), so they bound the unexplained rows.
    maybe = [op for op in ops if not op["key"] and not acked(op)
             and any(a["err"] and a["phase"] != "connect" for a in op["attempts"])]
    maybe_signals = sum(op["n"] for op in maybe)

    after = db.signal_ids() - baseline
    expected = set(owner)
    unexplained, lost = after - expected, expected - after
    detail = (f"{len(after)} stored vs {len(expected)} answered over all requests; "
              f"{len(lost)} answered but missing, {len(unexplained)} stored but answered to nobody")
    if maybe:
        detail += f" (≤ {maybe_signals} allowed: {len(maybe)} unkeyed requests sent without an answer)"
    if split:
        detail += f"; {len(split)} batches partly stored before their retry"
    report.check("stored signals == signals answered over all requests (no loss, no duplicate)",
                 not lost and not split and len(unexplained) <= maybe_signals, detail)

    sums = db.query("SELECT (SELECT count(*) FROM signals), (SELECT coalesce(sum(n), 0) FROM signal_cells), "
                    "(SELECT coalesce(sum(n), 0) FROM signal_cells_by_area), "
                    "(SELECT coalesce(sum(n), 0) FROM signal_cells_by_week_area), "
                    "(SELECT coalesce(sum(n), 0) FROM signal_cells_by_week_area_source)")[0]
    report.check("sum(n) of signal_cells == each coarser cell table == count(signals)",
                 len(set(sums)) == 1, "count {} / {} / {} / {} / {}".format(*sums))
    return {"acked_ids": acked_ids, "before": before, "after": after, "n_ambiguous": n_ambiguous,
            "committed_unacked": committed_unacked, "stored_by_retry": stored_by_retry, "maybe": maybe,
            "unexplained": unexplained}


def status_counts(attempts):
    c = collections.Counter()
    for a in attempts:
        c[str(a["st"]) if a["st"] is not None else a["err"]] += 1
    return c


def fmt_counts(c):
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))


def log_summary(path, report, limit=8):
    """Distinct warning/error messages of the service's log (timestamps and ids removed)."""
    if not path or not os.path.exists(path):
        return 0
    counts = collections.Counter()
    panics = 0
    with open(path, errors="replace") as f:
        for line in f:
            if "panicked" in line:
                panics += 1
            if " WARN " in line or " ERROR " in line:
                text = re.sub(r"\x1b\[[0-9;]*m", "", line.strip())
                text = re.sub(r"^\S+\s+", "", text)  # timestamp
                text = re.sub(r"request_id=\S+|[0-9a-f]{8}-[0-9a-f-]{27}", "…", text)
                text = re.sub(r"\d+\.\d+\.\d+\.\d+|port \d+|\d+(\.\d+)?(ms|µs|s)\b", "…", text)
                counts[text[:220]] += 1
    for text, n in counts.most_common(limit):
        report.figure(f"log x{n}: {text}")
    return panics


def cmd_verify_crash(args):
    report = Report(f"crash safety: PostgreSQL SIGKILLed mid-load ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    ev = read_events(args.work)
    db = Db(args.pg_port)
    with open(os.path.join(args.work, "load-baseline.json")) as f:
        baseline = set(json.load(f))
    ops = load_ops(args.work, ["load.jsonl"])
    health = load_ops(args.work, ["load-health.jsonl"])
    load_attempts = [a for op in ops for a in op["attempts"]]
    kill, up = ev["pg_kill"], ev["pg_up"]
    c = status_counts(load_attempts)
    n503 = [a for a in load_attempts if a["st"] == 503]
    with_ra = sum(1 for a in n503 if "ra" in a)
    timeouts = c.get("timeout", 0)
    report.figure(f"durability settings: {args.durability}")
    report.figure(f"load: {len(ops)} requests ({sum(1 for o in ops if o['kind'] == 'batch')} batches), "
                  f"{sum(o['n'] for o in ops)} signals, {args.clients} clients, {ev['load_end'] - ev['load_start']:.1f} s")
    report.figure(f"outcomes: {fmt_counts(c)}")
    report.figure(f"503s: {len(n503)}, with Retry-After: {with_ra}"
                  + (f" (values {sorted({a['ra'] for a in n503 if 'ra' in a})})" if with_ra else ""))
    report.figure(f"PostgreSQL {'postmaster' if args.kill_mode == 'postmaster' else 'postmaster and all its backends'} SIGKILLed at +{kill - ev['load_start']:.1f} s; restarted (crash recovery done) "
                  f"{up - kill:.1f} s later (pg_ctl start took {up - ev['pg_restart']:.1f} s)")

    failures_after = [a for a in load_attempts if a["t1"] >= kill and a["st"] not in (200, 201)]
    if failures_after:
        first_fail = min(a["t1"] for a in failures_after)
        last_fail = max(a["t1"] for a in failures_after)
        report.figure(f"first failed answer {first_fail - kill:.2f} s after the kill; "
                      f"last failed answer {last_fail - kill:.2f} s after the kill ({last_fail - up:+.2f} s vs restart)")
    if n503:
        report.figure(f"503s answered from {min(a['t1'] for a in n503) - kill:+.2f} s to {max(a['t1'] for a in n503) - kill:+.2f} s after the kill")
    ok_after = [a for a in load_attempts if a["st"] in (200, 201) and a["t0"] >= kill]
    ok_after_up = [a for a in load_attempts if a["st"] in (200, 201) and a["t1"] >= up]
    if ok_after:
        report.figure(f"first 201 to a request sent after the kill: {min(a['t1'] for a in ok_after) - kill:.2f} s after the kill")
    if ok_after_up:
        report.figure(f"first 201 after the restart: {min(a['t1'] for a in ok_after_up) - up:.2f} s after pg_ctl start returned")
    outage = [a for a in load_attempts if kill <= a["t1"] <= up + 5]
    if outage:
        report.figure(f"latency of answers from the kill to 5 s after the restart: max {max(a['t1'] - a['t0'] for a in outage):.2f} s")
    h_down = [h for h in health if h["t1"] >= kill and h["st"] != 200]
    h_up = [h for h in health if h["t1"] >= up and h["st"] == 200]
    if h_down:
        report.figure(f"/health/ready: first non-200 {min(h['t1'] for h in h_down) - kill:.2f} s after the kill, "
                      + (f"200 again {min(h['t1'] for h in h_up) - up:.2f} s after the restart" if h_up else "never 200 again"))

    facts = account(ops, db, baseline, report, args.port, tokens(args.work), args.rounds)
    save_ops(args.work, "load-final.jsonl", ops)
    report.figure(f"ambiguous requests retried with their key: {facts['n_ambiguous']}; of them "
                  f"{len(facts['committed_unacked'])} had committed before the client lost the answer "
                  f"(the retry replayed it), {len(facts['stored_by_retry'])} were stored by the retry")
    report.figure(f"signals stored: {len(facts['after'])} ({len(facts['acked_ids'])} acknowledged during the load)")

    # The outage must have happened and been answered properly.
    report.check("the outage was observed (failed answers after the kill) and intake recovered (201s after the restart)",
                 failures_after and ok_after_up)
    bad5xx = {k: v for k, v in c.items() if k.isdigit() and int(k) >= 500 and k != "503"}
    unexpected4xx = {k: v for k, v in c.items() if k.isdigit() and 400 <= int(k) < 500}
    report.check("database errors answer 503 (never 500 or another 5xx)", not bad5xx, fmt_counts(collections.Counter(bad5xx)) or "none")
    report.check("no unexpected 4xx answers", not unexpected4xx, fmt_counts(collections.Counter(unexpected4xx)) or "none")
    report.check("every 503 carries Retry-After", with_ra == len(n503), f"{with_ra} of {len(n503)}")
    slow = [a for a in load_attempts if a["t1"] - a["t0"] > args.hang_limit]
    report.check(f"no request hung longer than {args.hang_limit:g} s", not slow,
                 f"{len(slow)} slower ({timeouts} client timeouts at {args.timeout:g} s)")

    # Same process, ready.
    same = False
    try:
        with open(f"/proc/{args.lgb_pid}/stat") as f:
            same = f.read().rsplit(")", 1)[1].split()[19] == args.lgb_start_time
    except OSError:
        pass
    report.check("Lägesbild is the same process throughout (never restarted)", same, f"pid {args.lgb_pid}")
    rec = Client("127.0.0.1", args.port, 10).attempt("GET", "/health/ready", {}, None)
    report.check("/health/ready is 200 at the end", rec["st"] == 200, f"{rec['st'] or rec['err']}")
    panics = log_summary(args.lgb_log, report)
    report.check("no panic in the service's log", panics == 0, f"{panics} panics")
    sys.exit(0 if report.print() else 1)


def cmd_verify_shutdown(args):
    report = Report(f"graceful shutdown, scenario '{args.name}': SIGTERM mid-load, LAGESBILD_SHUTDOWN_TIMEOUT_SECS={args.shutdown_timeout:g} "
                    f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    ev = read_events(args.work)
    db = Db(args.pg_port)
    with open(os.path.join(args.work, f"{args.name}-baseline.json")) as f:
        baseline = set(json.load(f))
    ops = load_ops(args.work, [f"{args.name}.jsonl", f"{args.name}-upload.jsonl"])
    slow = load_ops(args.work, [f"{args.name}-slow.jsonl"])
    term, exited = ev[f"{args.name}_sigterm"], ev[f"{args.name}_exited"]
    first = [(op, op["attempts"][0]) for op in ops]
    c = status_counts(a for _, a in first)
    sent = [op for op in ops if not never_sent(op)]
    report.figure(f"load: {len(sent)} requests sent ({sum(1 for o in sent if o['kind'] == 'batch')} batches, "
                  f"{sum(1 for o in sent if o['key'])} with Idempotency-Key; {sum(o['n'] for o in sent)} signals), "
                  f"{len(ops) - len(sent)} more refused at connect; outcomes: {fmt_counts(c)}")
    shutdown_secs = exited - term
    report.figure(f"SIGTERM at +{term - ev[f'{args.name}_load_start']:.1f} s; the process exited {shutdown_secs:.2f} s later with exit code {args.exit_code}")

    # In flight at SIGTERM: written completely before it and not yet answered. A request
    # whose write failed (the shutdown had closed its keep-alive connection) never reached
    # the service: it counts with those sent after SIGTERM.
    before_term = [(op, a) for op, a in first if a["t1"] < term]
    in_flight = [(op, a) for op, a in first if a.get("ts", term) < term <= a["t1"]]
    after = [(op, a) for op, a in first if a["t1"] >= term and not a.get("ts", term) < term and not op.get("slow")]
    normal_in_flight = [(op, a) for op, a in in_flight if not op.get("slow")]
    report.figure(f"answered before SIGTERM: {len(before_term)}; sent (or written) after SIGTERM: {len(after)} "
                  f"({fmt_counts(status_counts(a for _, a in after))})")

    def kind(op):
        return ("batch" if op["kind"] == "batch" else "single") + (" keyed" if op["key"] else " unkeyed")
    for k in sorted({kind(op) for op, _ in normal_in_flight}):
        group = [a for op, a in normal_in_flight if kind(op) == k]
        report.figure(f"in flight at SIGTERM, {k}{' (group commit)' if k == 'single unkeyed' else ''}: "
                      f"{len(group)} ({fmt_counts(status_counts(group))})")
    if normal_in_flight:
        report.figure(f"in-flight requests (besides the deliberately slow ones) ended up to "
                      f"{max(a['t1'] for _, a in normal_in_flight) - term:.2f} s after SIGTERM")
    answered_after = [a for _, a in after if a["st"] is not None]
    if answered_after:
        report.figure(f"last answer to a request sent after SIGTERM: {max(a['t1'] for a in answered_after) - term:.2f} s after SIGTERM")
    refused = sum(1 for _, a in after if a["err"] and a["phase"] == "connect")
    # Requests a client put on its keep-alive connection just as the shutdown closed it:
    # the write fails (send) or the connection closes without an answer (recv).
    raced = [a for _, a in after if a["err"] and a["phase"] != "connect"]
    text = f"after SIGTERM: {refused} connections refused (listener closed)"
    if raced:
        text += (f"; {len(raced)} requests sent on keep-alive connections the shutdown was closing "
                 f"({sum(a['phase'] == 'send' for a in raced)} failed writes, "
                 f"{sum(a['phase'] == 'recv' for a in raced)} closed unanswered), "
                 f"started {min(a['t0'] for a in raced) - term:+.3f} to {max(a['t0'] for a in raced) - term:+.3f} s vs SIGTERM")
    report.figure(text)
    if slow:
        with open(os.path.join(args.work, "analyst-token")) as f:
            analyst = f.read().strip()
        full = Client("127.0.0.1", args.port, 120).attempt(
            "GET", "/v1/exports/signal-counts.csv", {"Authorization": f"Bearer {analyst}"}, None, keep_raw=True)
        report.figure(f"the same export read at full speed afterwards: status {full['st']}, "
                      f"{len(full.get('raw', b''))} bytes in {full['t1'] - full['t0']:.2f} s")
    for rec in slow:
        report.figure(f"slow {rec['slow']}: started {rec['t0'] - term:+.1f} s, ended {rec['t1'] - term:+.2f} s vs SIGTERM; "
                      f"status {rec['st']}, {rec.get('bytes', rec.get('sent_bytes'))} bytes, "
                      f"{'complete' if rec.get('complete') else 'cut: ' + str(rec['err'])}")

    # Resolve the keyed requests first: whether a cut request had been processed decides
    # whether its cut is a fault. Its checks are listed after the shutdown checks.
    storage = Report("")
    facts = account(ops, db, baseline, storage, args.port, tokens(args.work), args.rounds)
    save_ops(args.work, f"{args.name}-final.jsonl", ops)
    processed = {op["key"] for op in facts["committed_unacked"]}

    limit = args.shutdown_timeout + args.slack
    report.check(f"the process exited by itself within the shutdown timeout (+{args.slack:g} s slack)",
                 args.exit_code != "killed" and shutdown_secs <= limit,
                 f"{shutdown_secs:.2f} s (limit {limit:g} s)")
    report.check("exit code 0", args.exit_code == "0", args.exit_code)

    # A request the service had started is finished during the drain or cut at the
    # timeout. One cut well before the timeout was never started: actix-http's drain
    # closes a keep-alive connection whose next request it has not begun, even when that
    # request already sits in the socket buffer (the keep-alive race of RFC 9112 §9.3.1).
    # That is not a fault as long as nothing of it was stored; a keyed one is checked.
    cut = [(op, a) for op, a in normal_in_flight if a["st"] is None]
    forced = term + args.shutdown_timeout - 0.5
    late = [(op, a) for op, a in cut if a["t1"] >= forced]
    unstarted = [(op, a) for op, a in cut if a["t1"] < forced]
    harmed = [(op, a) for op, a in cut if op["key"] in processed]
    if unstarted:
        report.figure(f"in flight (written before SIGTERM) but closed unstarted by the drain: {len(unstarted)} "
                      f"({sum(1 for op, _ in unstarted if op['key'])} keyed, "
                      f"{sum(1 for op, _ in unstarted if op['key'] in processed)} of them found stored), written "
                      f"{min(a['ts'] for _, a in unstarted) - term:+.3f} to {max(a['ts'] for _, a in unstarted) - term:+.3f} s "
                      f"and closed {max(a['t1'] for _, a in unstarted) - term:+.3f} s vs SIGTERM")
    report.check("requests in flight at SIGTERM were answered (201 or a clean error), not cut at the timeout",
                 not late or args.expect_cut,
                 f"{len(late)} of {len(normal_in_flight)} cut at the timeout"
                 + (" (expected in this scenario: they could not finish within it)" if late and args.expect_cut else "")
                 + (f", e.g. {late[0][0]['kind']} keyed={bool(late[0][0]['key'])}: {late[0][1]['err']} "
                    f"after {late[0][1]['t1'] - late[0][1]['t0']:.2f} s" if late else ""))
    report.check("no request was processed and then left without its answer",
                 not harmed, f"{len(harmed)} keyed requests cut after their signals were stored")
    unanswered_group = [op for op, a in late if not op["key"] and op["kind"] == "single"]
    report.check("single signals queued for group commit at SIGTERM were all answered",
                 not unanswered_group or args.expect_cut, f"{len(unanswered_group)} unanswered"
                 + (" (expected in this scenario: the database blocked them past the timeout)"
                    if unanswered_group and args.expect_cut else ""))
    bad = collections.Counter(str(a["st"]) for op in ops for a in op["attempts"]
                              if a["st"] is not None and a["st"] not in (200, 201, 503))
    report.check("no answer other than 201/200/503", not bad, fmt_counts(bad) or "none")
    n503 = [a for op in ops for a in op["attempts"] if a["st"] == 503]
    report.check("every 503 carries Retry-After", all("ra" in a for a in n503), f"{sum('ra' in a for a in n503)} of {len(n503)}")

    report.checks.extend(storage.checks)
    report.figure(f"keyed requests without an answer, retried after a restart: {facts['n_ambiguous']}; "
                  f"{len(facts['committed_unacked'])} had been stored before the shutdown (replayed), "
                  f"{len(facts['stored_by_retry'])} stored by the retry")
    if facts["maybe"]:
        report.figure(f"unkeyed requests sent but unanswered (outcome unknowable to the client): {len(facts['maybe'])}, "
                      f"of which {len(facts['unexplained'])} signals are stored (answered to nobody)")
    report.figure(f"signals stored in this scenario: {len(facts['after'])}")
    panics = log_summary(args.lgb_log, report)
    report.check("no panic in the service's log", panics == 0, f"{panics} panics")
    sys.exit(0 if report.print() else 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True)
    p.add_argument("--port", type=int, required=True, help="Lägesbild's HTTP port")
    p.add_argument("--pg-port", type=int, required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    load = sub.add_parser("load")
    load.add_argument("--name", default="load")
    load.add_argument("--mix", choices=MIXES, default="crash")
    load.add_argument("--clients", type=int, default=32)
    load.add_argument("--duration", type=float, default=60)
    load.add_argument("--timeout", type=float, default=10)
    load.add_argument("--seed", default="chaos")
    fill = sub.add_parser("fill")
    fill.add_argument("--signals", type=int, default=150000)
    slow = sub.add_parser("slow")
    slow.add_argument("--name", required=True)
    for name in ("verify-crash", "verify-shutdown"):
        v = sub.add_parser(name)
        v.add_argument("--lgb-log")
        v.add_argument("--rounds", type=int, default=30, help="retry rounds for ambiguous keys")
        v.add_argument("--timeout", type=float, default=10)
    vc = sub.choices["verify-crash"]
    vc.add_argument("--lgb-pid", required=True)
    vc.add_argument("--lgb-start-time", required=True)
    vc.add_argument("--clients", type=int, default=32)
    vc.add_argument("--hang-limit", type=float, default=5)
    vc.add_argument("--durability", default="")
    vc.add_argument("--kill-mode", default="postmaster")
    vs = sub.choices["verify-shutdown"]
    vs.add_argument("--name", required=True)
    vs.add_argument("--shutdown-timeout", type=float, required=True)
    vs.add_argument("--slack", type=float, default=2)
    vs.add_argument("--exit-code", required=True)
    vs.add_argument("--expect-cut", action="store_true",
                    help="requests that cannot finish in time are in flight: cut ones are expected")
    args = p.parse_args()
    {"load": cmd_load, "fill": cmd_fill, "slow": cmd_slow,
     "verify-crash": cmd_verify_crash, "verify-shutdown": cmd_verify_shutdown}[args.cmd](args)


if __name__ == "__main__":
    main()
