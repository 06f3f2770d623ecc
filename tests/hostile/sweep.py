#!/usr/bin/env python3
"""Hostile-input sweep against one running Lägesbild (started by sweep.sh).

Every case sends something no schema describes, over raw sockets (no HTTP library
would send most of it), and judges the service from outside: the answer must be a 4xx
(2xx where the request is otherwise valid and the hostile part is harmlessly ignored) or
a closed connection, within a stated bound, with the process alive, its resident memory
under a stated bound, and normal requests answered right afterwards. See README.md.

Usage: sweep.py PORT PID OUT_DIR   (the knobs are environment variables, see README.md)
"""

import asyncio
import datetime
import json
import os
import signal
import statistics
import sys
import threading
import time

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
PID = int(sys.argv[2])
OUT = sys.argv[3]
LOG = os.path.join(OUT, "service.log")

RESPONSE_BOUND = float(os.environ.get("RESPONSE_BOUND", 10))  # s, one answer
SLOW_BOUND = float(os.environ.get("SLOW_BOUND", 60))  # s, a slow connection closed
SLOW_CONNS = int(os.environ.get("SLOW_CONNS", 300))
TRICKLE = float(os.environ.get("TRICKLE_SECS", 1))  # s between bytes of a slow client
STORM = int(os.environ.get("STORM", 1000))
STORM_BOUND = float(os.environ.get("STORM_BOUND", 60))  # s, the last storm answer
RSS_BOUND_MB = float(os.environ.get("RSS_BOUND_MB", 300))
# The machine is shared: a service whose memory runs away is killed here rather than
# left to push other people's compilers into the OOM killer.
HARD_CAP_MB = float(os.environ.get("RSS_HARD_CAP_MB", 4096))
ONLY = [c for c in os.environ.get("CASES", "").split(",") if c]
# Every argon2id call leaves up to 19 MiB in glibc's malloc arenas (see README), so the
# service's RSS before a case depends on how many logins came before it. A case fails on
# memory only if its peak is over RSS_BOUND_MB *and* it grew by more than GROWTH_MB itself:
# the memory that earlier logins left behind is blamed on the login cases, not on
# whichever case happens to run next.
GROWTH_MB = float(os.environ.get("GROWTH_MB", 64))

PASSWORD = "correct horse battery staple"
ADMIN = "hostile-admin"
COORD = "hostile-coord"
REPORTER = "hostile-school"


# --------------------------------------------------------------------------- memory


class Sampler(threading.Thread):
    """Samples the service's /proc status every 5 ms: VmRSS, Threads, and whether it
    still lives. A thread, not a task, so that a busy event loop cannot skip the peak;
    VmHWM (reset through clear_refs at each window) catches what falls between samples."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lock = threading.Lock()
        self.peak_kb = 0
        self.peak_threads = 0
        self.killed = False
        self.stop = False

    @staticmethod
    def status():
        try:
            with open(f"/proc/{PID}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except (FileNotFoundError, ProcessLookupError):
            return None
        if fields.get("State", "").strip().startswith(("Z", "X")):
            return None
        kb = lambda k: int(fields.get(k, "0 kB").split()[0])
        return {"rss": kb("VmRSS"), "hwm": kb("VmHWM"), "threads": int(fields["Threads"])}

    def window(self):
        """Starts a measuring window; returns the RSS (kB) and thread count now."""
        try:
            with open(f"/proc/{PID}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass
        s = self.status() or {"rss": 0, "threads": 0}
        with self.lock:
            self.peak_kb = s["rss"]
            self.peak_threads = s["threads"]
        return s["rss"], s["threads"]

    def peak(self):
        s = self.status()
        with self.lock:
            kb = max(self.peak_kb, s["hwm"] if s else 0)
            return kb, self.peak_threads

    def run(self):
        while not self.stop:
            s = self.status()
            if s:
                with self.lock:
                    self.peak_kb = max(self.peak_kb, s["rss"])
                    self.peak_threads = max(self.peak_threads, s["threads"])
                if s["rss"] > HARD_CAP_MB * 1024 and not self.killed:
                    self.killed = True
                    print(f"!! service RSS {s['rss'] // 1024} MB > hard cap {HARD_CAP_MB:.0f} MB: killing it",
                          flush=True)
                    os.kill(PID, signal.SIGKILL)
            time.sleep(0.005)


SAMPLER = Sampler()


def alive():
    return Sampler.status() is not None


# --------------------------------------------------------------------------- HTTP


class Outcome:
    """What came back on one connection: a status (or None), how it ended, and when."""

    def __init__(self, ended, seconds, raw=b"", note="", first=None):
        self.ended = ended  # response | closed | reset | timeout | refused
        self.seconds = seconds  # until the connection ended
        self.first = first  # until the first byte of the answer, if any
        self.note = note
        self.status = None
        self.headers = {}
        self.body = b""
        if raw.startswith(b"HTTP/1."):
            head, _, self.body = raw.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            try:
                self.status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                pass
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                self.headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def label(self):
        if self.status is not None:
            return str(self.status)
        return self.ended

    def excerpt(self, n=160):
        return self.body[:n].decode("utf-8", "replace").replace("\n", " ")


async def exchange(data, timeout=RESPONSE_BOUND, src=None, gate=None):
    """Sends raw bytes and reads until the server closes (every request here says
    `Connection: close`). Sending and reading run together: a server that answers 431
    halfway through a huge head must not deadlock against our unfinished write. With a
    `gate`, the connection is opened, then the request waits for the gate to open (and
    its time is counted from then)."""
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, PORT, local_addr=(src, 0) if src else None), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        return Outcome("refused", time.monotonic() - t0, note=repr(e))
    if gate:
        gate.arrived()
        await gate.wait()
        t0 = time.monotonic()
    chunks, ended, note, first = [], "closed", "", None

    async def send():
        try:
            writer.write(data)
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the server stopped reading; what it answered is still read below

    async def receive():
        nonlocal ended, note, first
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionError, OSError) as e:
                ended, note = "reset", type(e).__name__
                return
            if not chunk:
                return
            if first is None:
                first = time.monotonic() - t0
            chunks.append(chunk)

    try:
        await asyncio.wait_for(asyncio.gather(send(), receive()), timeout)
    except asyncio.TimeoutError:
        ended = "timeout"
    finally:
        writer.transport.abort()
    raw = b"".join(chunks)
    outcome = Outcome(ended, time.monotonic() - t0, raw, note, first)
    if outcome.status is not None and ended != "timeout":
        outcome.ended = "response"
    return outcome


def request(method, target, *, token=None, body=None, headers=(), content_type="application/json"):
    """Builds request bytes. `target` and header values may be bytes, to carry what a
    well-behaved client library would refuse to send."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    if isinstance(body, str):
        body = body.encode()
    target = target if isinstance(target, bytes) else target.encode()
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + f"{HOST}:{PORT}".encode(),
             b"Connection: close"]
    if token:
        lines.append(b"Authorization: Bearer " + token.encode())
    if body is not None:
        ct = content_type if isinstance(content_type, bytes) else content_type.encode()
        lines.append(b"Content-Type: " + ct)
        lines.append(b"Content-Length: " + str(len(body)).encode())
    for name, value in headers:
        name = name if isinstance(name, bytes) else name.encode()
        value = value if isinstance(value, bytes) else value.encode()
        lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


async def call(method, target, **kw):
    timeout = kw.pop("timeout", RESPONSE_BOUND)
    src = kw.pop("src", None)
    gate = kw.pop("gate", None)
    return await exchange(request(method, target, **kw), timeout=timeout, src=src, gate=gate)


class Gate(asyncio.Event):
    """Opens once `n` connections are established (or after `patience` seconds), so that
    their requests leave together."""

    def __init__(self, n, patience=4.0):
        super().__init__()
        self.n, self.count = n, 0
        asyncio.get_running_loop().call_later(patience, self.set)

    def arrived(self):
        self.count += 1
        if self.count >= self.n:
            self.set()


async def login(username, password=PASSWORD, src=None):
    return await call("POST", "/v1/auth/login", body={"username": username, "password": password}, src=src)


async def token_of(username):
    o = await login(username)
    if o.status != 200:
        raise SystemExit(f"setup: login {username} -> {o.label()} {o.excerpt()}")
    return o.json()["access_token"]


# --------------------------------------------------------------------------- judging


async def healthy():
    """The three normal requests the brief asks for, each within RESPONSE_BOUND."""
    checks = []
    live = await call("GET", "/health/live")
    checks.append(("live", live))
    lg = await login(COORD)
    checks.append(("login", lg))
    token = (lg.json() or {}).get("access_token") if lg.status == 200 else None
    tr = await call("GET", "/v1/trends?by=area", token=token) if token else None
    if tr:
        checks.append(("trends", tr))
    ok = alive() and len(checks) == 3 and all(o.status == 200 for _, o in checks)
    text = " ".join(f"{n} {o.label()} {o.seconds * 1000:.0f}ms" for n, o in checks)
    return ok, text


RESULTS = []


def summarize(outcomes):
    """`422×3 (12–40 ms)` per distinct outcome: time to the answer, or to the close."""
    groups = {}
    for o in outcomes:
        groups.setdefault(o.label(), []).append(o.first if o.first is not None else o.seconds)
    parts = []
    for label, secs in sorted(groups.items()):
        lo, hi = min(secs), max(secs)
        span = f"{lo * 1000:.0f} ms" if hi - lo < 0.0005 else f"{lo * 1000:.0f}–{hi * 1000:.0f} ms"
        if hi >= 2:
            span = f"{lo:.1f}–{hi:.1f} s"
        parts.append(f"{label}×{len(secs)} ({span})" if len(secs) > 1 else f"{label} ({span})")
    return ", ".join(parts)


def log_tail_since(offset):
    try:
        with open(LOG, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def log_size():
    try:
        return os.path.getsize(LOG)
    except OSError:
        return 0


async def case(key, title, sent, probes, *, accept, bound=RESPONSE_BOUND, extra=None, soft=lambda o: False,
               judge_time=True):
    """Runs `probes` (a coroutine returning a list of (description, Outcome)) as one
    case and judges it. `accept(outcome)` says which answers are acceptable for this
    input; 5xx, timeouts, a dead process, memory over the bound or an unhealthy
    service afterwards always fail, except a 5xx that `soft(outcome)` forgives."""
    if ONLY and key not in ONLY:
        return
    print(f"--- {key}: {title}", flush=True)
    log_at = log_size()
    rss0, threads0 = SAMPLER.window()
    t0 = time.monotonic()
    details = await probes()
    elapsed = time.monotonic() - t0
    peak_kb, peak_threads = SAMPLER.peak()
    ok_health, health = await healthy()
    rss_after = (Sampler.status() or {"rss": 0})["rss"]
    problems = []
    for desc, o in details:
        if o.status is not None and o.status >= 500 and not soft(o):
            problems.append(f"{desc}: {o.status} {o.excerpt()}")
        elif judge_time and (o.ended == "timeout" or o.seconds > bound):
            problems.append(f"{desc}: no answer within {bound:.0f} s ({o.label()}, {o.seconds:.1f} s)")
        elif not accept(o):
            problems.append(f"{desc}: unexpected {o.label()} {o.excerpt()}")
    if len(problems) > 4:  # 300 slow connections failing alike need not be listed one by one
        problems = problems[:3] + [f"… and {len(problems) - 3} more probes like these"]
    if peak_kb > RSS_BOUND_MB * 1024 and peak_kb - rss0 > GROWTH_MB * 1024:
        problems.append(f"peak RSS {peak_kb / 1024:.0f} MB > {RSS_BOUND_MB:.0f} MB, "
                        f"{(peak_kb - rss0) / 1024:.0f} MB of it added during the case")
    if SAMPLER.killed:
        problems.append(f"killed at the hard cap of {HARD_CAP_MB:.0f} MB")
    if not alive():
        problems.append("the service process is gone")
    if not ok_health:
        problems.append(f"not healthy afterwards: {health}")
    if extra:
        problems.extend(extra.get("problems", []))
    logs = log_tail_since(log_at)
    panics = [l for l in logs.splitlines() if "panick" in l.lower()]
    problems.extend(f"log: {l[:200]}" for l in panics[:3])
    result = {
        "case": key,
        "title": title,
        "sent": sent,
        "outcome": summarize([o for _, o in details]) if details else "",
        "per_probe": [
            {"probe": d, "status": o.status, "ended": o.ended, "ms": round(o.seconds * 1000, 1),
             "first_byte_ms": None if o.first is None else round(o.first * 1000, 1),
             "body": o.excerpt(200), "note": o.note}
            for d, o in details
        ],
        "seconds": round(elapsed, 2),
        "rss_before_mb": round(rss0 / 1024, 1),
        "rss_peak_mb": round(peak_kb / 1024, 1),
        "rss_after_mb": round(rss_after / 1024, 1),
        "threads_before": threads0,
        "threads_peak": peak_threads,
        "healthy_after": health if ok_health else f"NO: {health}",
        "verdict": "PASS" if not problems else "FAIL",
        "problems": problems,
        "service_log": logs[-4000:],
    }
    if extra:
        result.update({k: v for k, v in extra.items() if k != "problems"})
    RESULTS.append(result)
    print(f"    {result['verdict']}: {result['outcome']}; RSS {result['rss_before_mb']} → peak "
          f"{result['rss_peak_mb']} MB; after: {health}", flush=True)
    for p in problems:
        print(f"    !! {p}", flush=True)


def client_error(o):
    return o.status is not None and 400 <= o.status < 500


def refused(o):
    """A 4xx, or the server hung up without an answer."""
    return client_error(o) or (o.status is None and o.ended in ("closed", "reset"))


def ok_or_refused(o):
    return refused(o) or (o.status is not None and 200 <= o.status < 300)


async def each(*probes):
    """Runs (description, coroutine) pairs one after another."""
    out = []
    for desc, coro in probes:
        out.append((desc, await coro))
    return out


# --------------------------------------------------------------------------- cases


def many_params(n, fmt):
    return "&".join(fmt(i) for i in range(n))


async def case_query(tokens):
    coord, school = tokens["coord"], tokens["school"]
    # actix-http refuses a request target over 65,534 bytes (the `http` crate's URI
    # limit) with 400 before any handler runs, so 10,000 parameters must be short to
    # reach the query extractors at all: hex names without values (49 KB).
    distinct = many_params(10_000, lambda i: f"{i:x}")
    repeated_by = many_params(10_000, lambda i: "by=")
    repeated_limit = many_params(10_000, lambda i: "limit")
    one_long = "area=" + ",".join(("teg", "haga")[i % 2] for i in range(10_000))
    long_names = many_params(10_000, lambda i: f"p{i}=1")  # 78 KB: over the URI limit
    huge = many_params(20_000, lambda i: f"param{i:05d}=xxxx")  # 320 KB: over the 128 KiB head limit
    login = {"username": COORD, "password": PASSWORD}
    await case(
        "1-query", "10,000 query parameters",
        "10,000 distinct params (`0&1&…&270f`, 49 KB) on GET /v1/trends (coordinator), "
        "GET /v1/signals/mine (reporter), unauthenticated GET /v1/trends, /health/live and "
        "POST /v1/auth/login (valid body); 10,000 repeats of a real param (`by=` on trends, "
        "`limit` on mine); one `area` of 10,000 comma-separated district codes (45 KB); "
        "10,000 `p<i>=1` (78 KB) and 20,000 params (320 KB) on /health/live",
        lambda: each(
            ("trends 10k distinct", call("GET", "/v1/trends?" + distinct, token=coord)),
            ("trends 10k × by=", call("GET", "/v1/trends?" + repeated_by, token=coord)),
            ("trends area=<10k codes>", call("GET", "/v1/trends?by=area&" + one_long, token=coord)),
            ("mine 10k distinct", call("GET", "/v1/signals/mine?" + distinct, token=school)),
            ("mine 10k × limit", call("GET", "/v1/signals/mine?" + repeated_limit, token=school)),
            ("trends unauthenticated 10k", call("GET", "/v1/trends?" + distinct)),
            ("live 10k", call("GET", "/health/live?" + distinct)),
            ("login 10k", call("POST", "/v1/auth/login?" + distinct, body=login)),
            ("live 10k long (78 KB)", call("GET", "/health/live?" + long_names)),
            ("live 20k (320 KB)", call("GET", "/health/live?" + huge)),
        ),
        # /health/live and login take no parameters and rightly ignore them.
        accept=ok_or_refused,
    )


async def case_headers(tokens):
    coord = tokens["coord"]
    big = "x" * 100_000
    many = [(f"X-Pad-{i}", "y" * 90) for i in range(1000)]  # 1,000 × ~100 B
    under = [(f"X-Pad-{i}", "y" * 1100) for i in range(90)]  # 90 × 1.1 KB: under both actix limits
    await case(
        "2-headers", "100 KB of headers",
        "one 100 KB header (X-Pad) on /health/live and on /v1/trends; a 100 KB bearer token; "
        "a 100 KB Content-Type on POST /v1/auth/login; 1,000 headers of 100 B; 90 headers "
        "of 1.1 KB (99 KB, under actix's 96-header and 128 KiB limits); one 1 MB header",
        lambda: each(
            ("live + 100 KB header", call("GET", "/health/live", headers=[("X-Pad", big)])),
            ("trends + 100 KB header", call("GET", "/v1/trends?by=area", token=coord, headers=[("X-Pad", big)])),
            ("100 KB bearer token", call("GET", "/v1/trends", token="a" * 100_000)),
            ("100 KB content-type", call("POST", "/v1/auth/login", body={"username": "x", "password": "y"},
                                         content_type="application/json; x=" + big)),
            ("1,000 headers", call("GET", "/health/live", headers=many)),
            ("90 × 1.1 KB headers", call("GET", "/v1/trends?by=area", token=coord, headers=under)),
            ("one 1 MB header", call("GET", "/health/live", headers=[("X-Pad", "x" * 1_000_000)])),
        ),
        accept=ok_or_refused,
    )


async def case_nesting(tokens):
    school = tokens["school"]
    n = 10_000
    arrays = "[" * n + "]" * n
    objects = '{"a":' * n + "1" + "}" * n
    open_only = "[" * 60_000
    await case(
        "3-nesting", "deeply nested JSON",
        f"{n:,} levels of `[`…`]` (20 KB) and of `{{\"a\":`…`}}` (60 KB) as the body of "
        "POST /v1/auth/login, POST /v1/signals (reporter; its limit is 4 KiB, so also a "
        "4 KB-deep `[` prefix under it) and POST /v1/signals/batch (1 MiB limit: 500,000 "
        "levels of `[`…`]`); 60,000 unclosed `[` on login",
        lambda: each(
            ("login [×10k]", call("POST", "/v1/auth/login", body=arrays)),
            ("login {a:×10k}", call("POST", "/v1/auth/login", body=objects)),
            ("login [×60k unclosed]", call("POST", "/v1/auth/login", body=open_only)),
            ("signals [×10k]", call("POST", "/v1/signals", token=school, body=arrays)),
            ("signals {a:×10k}", call("POST", "/v1/signals", token=school, body=objects)),
            ("signals [×2k] (4 KB)", call("POST", "/v1/signals", token=school, body="[" * 2000 + "]" * 2000)),
            ("batch [×500k] (1 MB)", call("POST", "/v1/signals/batch", token=school,
                                          body="[" * 500_000 + "]" * 500_000)),
            ("batch {signals:[{a:×10k}]}", call("POST", "/v1/signals/batch", token=school,
                                                body='{"signals":[' + objects + "]}")),
        ),
        accept=client_error,
    )


async def case_utf8(tokens):
    coord, school = tokens["coord"], tokens["school"]
    bad_login = b'{"username":"\xff\xfe\xc0\xaf","password":"correct horse battery staple"}'
    bad_key = b'{"\xff":"x","username":"a","password":"b"}'
    surrogate = b'{"username":"\\ud800","password":"correct horse battery staple"}'
    bad_signal = b'{"area":"teg\xff","age_band":"13-15","category":"drug_handling","arena":"school","observed_week":"2026-W48"}'
    await case(
        "4-utf8", "invalid UTF-8",
        "bodies: bytes FF FE C0 AF in a login username, FF as a JSON key, a lone surrogate "
        "escape \\ud800, FF in a signal's area (POST /v1/signals); path: raw FF in the "
        "request line, %FF%FE and overlong %C0%AF in path parameters; query: raw FF and "
        "%FF in /v1/trends?area=; header values: FF in Authorization, Content-Type, "
        "Idempotency-Key, Host and an unknown header",
        lambda: each(
            ("body: login username", call("POST", "/v1/auth/login", body=bad_login)),
            ("body: JSON key", call("POST", "/v1/auth/login", body=bad_key)),
            ("body: lone surrogate", call("POST", "/v1/auth/login", body=surrogate)),
            ("body: signal area", call("POST", "/v1/signals", token=school, body=bad_signal)),
            ("path: raw FF", call("GET", b"/v1/\xff\xfe", token=coord)),
            ("path: %FF%FE in /v1/users/{id}", call("GET", "/v1/users/%FF%FE", token=tokens["admin"])),
            ("path: %C0%AF in /v1/signals/{id}", call("DELETE", "/v1/signals/%C0%AF", token=school)),
            ("query: raw FF", call("GET", b"/v1/trends?area=\xff\xfe", token=coord)),
            ("query: %FF", call("GET", "/v1/trends?area=%FF%FE", token=coord)),
            ("query: %FF in key", call("GET", "/v1/signals/mine?%FF=1", token=school)),
            ("header: Authorization", call("GET", "/v1/trends", headers=[("Authorization", b"Bearer \xff\xfe")])),
            ("header: Content-Type", call("POST", "/v1/auth/login", body={"username": "a", "password": "b"},
                                          content_type=b"application/json; charset=\xff\xfe")),
            ("header: Idempotency-Key", call("POST", "/v1/signals", token=school, body="{}",
                                             headers=[("Idempotency-Key", b"\xff\xfe")])),
            ("header: Host", exchange(b"GET /health/live HTTP/1.1\r\nHost: \xff\xfe\r\nConnection: close\r\n\r\n")),
            ("header: unknown", call("GET", "/v1/trends?by=area", token=coord, headers=[("X-Junk", b"\xff\xfe")])),
        ),
        # An unknown header with junk is rightly ignored; the Host one too (actix does not
        # route by host).
        accept=ok_or_refused,
    )


async def case_churn(tokens):
    n = int(os.environ.get("CHURN", 100))

    async def probes():
        return [(f"login #{i}", await login(COORD)) for i in range(n)]

    await case(
        "0-sequential-logins", "baseline: logins one at a time",
        f"{n} correct logins of one user, strictly one after another (normal use, not an "
        "attack): the memory that the storms below start from",
        probes, accept=lambda o: o.status == 200)


# --- slow clients


async def slow_connection(head, trickle, deadline):
    """One slow client: sends `head`, then one byte of `trickle` every TRICKLE seconds
    (nothing if it is empty). Returns when the server closes the connection or at the
    deadline (then it is recorded as still open)."""
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, PORT), 10)
    except (OSError, asyncio.TimeoutError) as e:
        return Outcome("refused", time.monotonic() - t0, note=repr(e))
    raw, i, ended = b"", 0, "timeout"
    try:
        if head:
            writer.write(head)
            await writer.drain()
        while time.monotonic() - t0 < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), TRICKLE)
            except asyncio.TimeoutError:
                chunk = None
            if chunk == b"":
                ended = "closed"
                break
            if chunk:
                raw += chunk
                continue
            if trickle:
                writer.write(trickle[i % len(trickle):i % len(trickle) + 1])
                await writer.drain()
                i += 1
    except (ConnectionError, OSError):
        ended = "reset"
    finally:
        writer.transport.abort()
    o = Outcome(ended, time.monotonic() - t0, raw)
    o.ended = ended
    o.note = f"{i} bytes trickled"
    return o


async def meanwhile(stop, coord_token):
    """Normal traffic during a slow-client case: /health/live and a trends request every
    0.5 s. Each must be 200 within RESPONSE_BOUND."""
    seen = []
    while not stop.is_set():
        for target, token in (("/health/live", None), ("/v1/trends?by=area", coord_token)):
            seen.append((target, await call("GET", target, token=token)))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    return seen


async def slow_case(key, title, sent, head, trickle, tokens):
    if ONLY and key not in ONLY:
        return
    coord = tokens["coord"]
    extra = {}

    async def probes():
        stop = asyncio.Event()
        normal = asyncio.create_task(meanwhile(stop, coord))
        conns = await asyncio.gather(*(slow_connection(head, trickle, SLOW_BOUND) for _ in range(SLOW_CONNS)))
        stop.set()
        seen = await normal
        bad = [(t, o) for t, o in seen if o.status != 200 or o.seconds > RESPONSE_BOUND]
        lat = sorted(o.seconds for _, o in seen)
        closed = sorted(o.seconds for o in conns if o.ended in ("closed", "reset"))
        open_ = [o for o in conns if o.ended == "timeout"]
        extra["normal_requests"] = (
            f"{len(seen)} normal requests meanwhile, {len(seen) - len(bad)} × 200; latency "
            f"p50 {statistics.median(lat) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms" if lat else "none")
        extra["closed_after"] = (
            f"{len(closed)}/{len(conns)} closed by the server: min {closed[0]:.1f} s, "
            f"median {statistics.median(closed):.1f} s, max {closed[-1]:.1f} s" if closed else
            f"0/{len(conns)} closed by the server")
        extra["problems"] = [f"normal request during the case: {t} -> {o.label()} in {o.seconds:.1f} s"
                             for t, o in bad[:5]]
        if open_:
            extra["problems"].append(
                f"{len(open_)}/{len(conns)} slow connections still open after {SLOW_BOUND:.0f} s "
                f"(the client kept them alive; {open_[0].note} on one)")
        # One outcome per distinct result is enough for the table; all are counted above.
        return [(f"slow #{i}", o) for i, o in enumerate(conns)]

    # Connections still open at the deadline are judged once, as a count, in `probes`.
    await case(key, title, sent, probes, accept=lambda o: refused(o) or o.ended == "timeout",
               extra=extra, judge_time=False)
    r = RESULTS[-1] if RESULTS and RESULTS[-1]["case"] == key else None
    if r:
        r["per_probe"] = r["per_probe"][:3]
        print(f"    {r.get('closed_after')}; {r.get('normal_requests')}", flush=True)


async def case_slow(tokens):
    host = f"Host: {HOST}:{PORT}\r\n".encode()
    n = SLOW_CONNS
    await slow_case(
        "5a-idle", "connections that send nothing",
        f"{n} connections opened at once that never send a byte", b"", b"", tokens)
    await slow_case(
        "5b-slowloris", "slowloris: headers a byte at a time",
        f"{n} connections sending `GET /health/live HTTP/1.1` + Host, then an endless header "
        f"one byte every {TRICKLE:g} s",
        b"GET /health/live HTTP/1.1\r\n" + host, b"X-Slow-" + b"a" * 60 + b": b\r\n", tokens)
    await slow_case(
        "5c-slow-post", "slow POST: body a byte at a time",
        f"{n} connections sending complete headers of POST /v1/auth/login with Content-Length: "
        f"10000, then the body one byte every {TRICKLE:g} s",
        b"POST /v1/auth/login HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
        b"Content-Length: 10000\r\n\r\n{\"username\":\"", b"a", tokens)
    await slow_case(
        "5d-stalled-body", "Content-Length and then silence",
        f"{n} connections sending complete headers of POST /v1/signals (reporter token) with "
        "Content-Length: 1000 and 10 bytes of body, then nothing",
        b"POST /v1/signals HTTP/1.1\r\n" + host + b"Authorization: Bearer " + tokens["school"].encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"area\":\"",
        b"", tokens)


# --- login storm


async def storm_case(key, title, sent, plan):
    """`plan`: (source address, username, password, kind) per login. All connections are
    opened first, then every request is written at once, so that the logins really
    arrive together."""
    if ONLY and key not in ONLY:
        return
    extra = {}

    async def probes():
        # Under actix's 5 s limit for a request head: connections waiting longer for
        # the gate would be closed with 408 before their login was even sent.
        gate = Gate(len(plan), patience=3.0)

        async def one(src, user, pw, kind):
            return kind, await call("POST", "/v1/auth/login", body={"username": user, "password": pw},
                                    src=src, timeout=STORM_BOUND, gate=gate)

        results = await asyncio.gather(*(one(*p) for p in plan))
        extra["connected_before_send"] = f"{gate.count}/{len(plan)} connections open when the requests left"
        by_kind = {}
        for kind, o in results:
            by_kind.setdefault(kind, []).append(o.label())
        extra["by_kind"] = {k: {s: v.count(s) for s in sorted(set(v))} for k, v in by_kind.items()}
        lat = sorted(o.seconds for _, o in results)
        extra["latency"] = (f"p50 {statistics.median(lat):.2f} s, p95 {lat[int(len(lat) * .95)]:.2f} s, "
                            f"max {lat[-1]:.2f} s")
        problems = []
        for kind, o in results:
            if o.status == 503 and "retry-after" not in o.headers:
                problems.append(f"{kind}: 503 without Retry-After: {o.excerpt()}")
            if o.status == 429 and "retry-after" not in o.headers:
                problems.append(f"{kind}: 429 without Retry-After")
            if o.status == 200 and kind != "correct":
                problems.append(f"{kind}: 200 for a wrong password or unknown user")
        extra["problems"] = problems[:5]
        return [(kind, o) for kind, o in results]

    def retry_later(o):
        return o.status == 503 and "retry-after" in o.headers

    # A 503 with Retry-After is an answer here ("busy, come back"), not a failure.
    await case(key, title, sent, probes, bound=STORM_BOUND, extra=extra, soft=retry_later,
               accept=lambda o: o.status in (200, 401, 429) or retry_later(o))
    r = RESULTS[-1] if RESULTS and RESULTS[-1]["case"] == key else None
    if r:
        r["per_probe"] = r["per_probe"][:3]
        buffers = max(0.0, r["rss_peak_mb"] - r["rss_before_mb"]) / 19.0
        r["concurrency"] = (f"service threads {r['threads_before']} → peak {r['threads_peak']} (tokio "
                            f"starts a blocking thread only when all are busy: the rise is the argon2 "
                            f"and database calls in flight at once); the RSS rise is ≈ {buffers:.0f} "
                            f"argon2id buffers of 19 MiB")
        print(f"    by kind: {r['by_kind']}; latency {r['latency']}; {r['concurrency']}", flush=True)


async def case_storm(tokens, storm_users):
    n = STORM
    # (a) One attacker address: the per-client limit (100 failures) should turn most away
    # before argon2 runs. Its own users, so that the lockouts do not touch case (b).
    a_users = storm_users["a"]
    plan_a = []
    for i in range(n):
        kind = ("correct", "wrong", "unknown")[i % 3]
        user = a_users[i % len(a_users)] if kind != "unknown" else f"nobody-a-{i}"
        plan_a.append(("127.0.0.2", user, PASSWORD if kind == "correct" else "wrong password " + str(i), kind))
    await storm_case(
        "6a-storm-one-client", f"{n:,} concurrent logins from one address",
        f"{n:,} POST /v1/auth/login at once from 127.0.0.2: a third correct passwords of "
        f"{len(a_users)} users, a third wrong passwords for them, a third unknown users",
        plan_a)
    # (b) A botnet: every login from its own address, at most 5 per account, so that no
    # throttle applies and every request reaches argon2.
    b_users = storm_users["b"]
    plan_b = []
    for i in range(n):
        src = f"127.{10 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        if i % 2:
            plan_b.append((src, f"nobody-b-{i}", "wrong password " + str(i), "unknown"))
        else:
            j = i // 2
            user = b_users[j % len(b_users)]
            kind = "correct" if (j // len(b_users)) % 5 < 3 else "wrong"
            plan_b.append((src, user, PASSWORD if kind == "correct" else "wrong password " + str(i), kind))
    await storm_case(
        "6b-storm-many-clients", f"{n:,} concurrent logins from {n:,} addresses",
        f"{n:,} POST /v1/auth/login at once, each from its own 127.x.y.z address: half unknown "
        f"users, half {len(b_users)} real users × 5 (3 correct, 2 wrong passwords: under every "
        "lockout), so every one runs argon2id",
        plan_b)


# --- framing


async def case_framing(tokens):
    school = tokens["school"]
    body = b'{"username":"' + b"a" * 1_000_000 + b'"}'
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                       for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
    await case(
        "7-framing", "body framing",
        "a 1 MB login body sent chunked (no Content-Length); Content-Length 10^18; "
        "Content-Length with Transfer-Encoding (smuggling); a negative and a non-numeric "
        "Content-Length; a 2 MB batch body (limit 1 MiB)",
        lambda: each(
            ("1 MB chunked", exchange(b"POST /v1/auth/login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                                      b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      + chunked)),
            ("CL 10^18", exchange(b"POST /v1/auth/login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: 1000000000000000000\r\n\r\n{}")),
            ("CL + TE", exchange(b"POST /v1/auth/login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                                 b"Content-Type: application/json\r\nContent-Length: 4\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
            ("CL -1", exchange(b"POST /v1/auth/login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                               b"Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}")),
            ("CL abc", exchange(b"POST /v1/auth/login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                                b"Content-Type: application/json\r\nContent-Length: abc\r\n\r\n{}")),
            ("batch 2 MB", call("POST", "/v1/signals/batch", token=school,
                                body=b'{"signals":[' + b",".join([b"{}"] * 700_000) + b"]}")),
        ),
        accept=refused,
    )


# --------------------------------------------------------------------------- setup


async def create_user(admin, username, role):
    o = await call("POST", "/v1/users", token=admin, body={
        "username": username, "role": role, "area": "umea", "kind": "person", "password": PASSWORD})
    if o.status not in (200, 201):
        raise SystemExit(f"setup: POST /v1/users {username} -> {o.label()} {o.excerpt()}")


async def setup():
    admin = await token_of(ADMIN)
    await create_user(admin, COORD, "coordinator")
    await create_user(admin, REPORTER, "school")
    return {"coord": await token_of(COORD), "school": await token_of(REPORTER), "admin": admin}


async def create_storm_users(admin):
    """Made just before the storms: 110 password hashes would otherwise leave ~300 MB in
    malloc arenas before the first case."""
    storm_users = {"a": [f"storm-a-{i}" for i in range(10)], "b": [f"storm-b-{i}" for i in range(100)]}
    names = storm_users["a"] + storm_users["b"]
    for i in range(0, len(names), 4):  # a few at a time: each one hashes a password
        await asyncio.gather(*(create_user(admin, u, "school") for u in names[i:i + 4]))
    return storm_users


async def main():
    SAMPLER.start()
    tokens = await setup()
    ok, health = await healthy()
    if not ok:
        raise SystemExit(f"the service is not healthy before the sweep: {health}")
    started = datetime.datetime.now(datetime.timezone.utc)
    await case_churn(tokens)
    await case_query(tokens)
    await case_headers(tokens)
    await case_nesting(tokens)
    await case_utf8(tokens)
    await case_framing(tokens)
    # Access tokens live 15 minutes; the slow cases can take minutes.
    tokens = {"coord": await token_of(COORD), "school": await token_of(REPORTER),
              "admin": await token_of(ADMIN)}
    await case_slow(tokens)
    if not ONLY or any(c.startswith("6") for c in ONLY):
        await case_storm(tokens, await create_storm_users(tokens["admin"]))
    SAMPLER.stop = True
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') >> 20} MB",
        "bounds": {"response_s": RESPONSE_BOUND, "slow_close_s": SLOW_BOUND, "storm_s": STORM_BOUND,
                   "rss_mb": RSS_BOUND_MB, "growth_mb": GROWTH_MB, "slow_conns": SLOW_CONNS, "storm": STORM},
        "cases": RESULTS,
    }
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    write_markdown(report)
    failed = [r["case"] for r in RESULTS if r["verdict"] != "PASS"]
    print(f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} cases passed" +
          (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def write_markdown(report):
    lines = [f"Run {report['date']} on {report['machine']}; bounds: answer ≤ {RESPONSE_BOUND:g} s, "
             f"slow connection closed ≤ {SLOW_BOUND:g} s, storm ≤ {STORM_BOUND:g} s, "
             f"peak RSS ≤ {RSS_BOUND_MB:g} MB unless the case itself added ≤ {GROWTH_MB:g} MB.", "",
             "| case | sent | outcome (status × count, time) | RSS before → peak MB | healthy after | verdict |",
             "|---|---|---|---|---|---|"]
    for r in report["cases"]:
        outcome = r["outcome"]
        for k in ("closed_after", "normal_requests", "connected_before_send", "by_kind", "latency",
                  "concurrency"):
            if k in r:
                outcome += f"<br>{k}: {r[k]}"
        verdict = r["verdict"] + ("<br>" + "<br>".join(r["problems"]) if r["problems"] else "")
        lines.append(f"| {r['case']} | {r['sent']} | {outcome} | {r['rss_before_mb']} → {r['rss_peak_mb']} "
                     f"(after {r['rss_after_mb']}) | {r['healthy_after']} | {verdict} |")
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
