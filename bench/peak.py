#!/usr/bin/env python3
"""Morning peak: app traffic while a burst of reminders goes out. wrk's 64 connections (bench/peak.lua) send in
turn a sync (`GET /v1/sync?limit=50`: a user's first 50 changes, the same answer throughout), a page of 50 pump
sessions (`GET /v1/pump-sessions?limit=50`) and a PUT of a new pump session, as 64 users with 60 pump sessions each.
The traffic is measured twice in one run: with the scheduler idle (the reminders already staged, nothing due), then
from 1 s before USERS x ROUTINES reminders fall due until all of them have reached the Web Push sink (at least
--seconds). The goal: the traffic's p99 during the burst at most 50 ms. Reports requests/s and p99 of both windows,
the reminders delivered and their p99 lateness (arrival at the sink minus the due instant), the RSS of every
process during (the highest of 1-s samples) and after the burst, and per request type the API's own request
histogram (`/metrics`: bucket bounds, not wrk's clock).

With --rate N the connections keep N requests a second between them (each waits a random time before its next
request) instead of sending as fast as the answers come: a peak the API is sized for, rather than its saturation,
where the traffic's own queue sets the p99.

Two set-ups: SQLite, one milkflow-api running its embedded scheduler; PostgreSQL, two `milkflow-api --no-scheduler`
(the connections split over both, one wrk each, their latencies merged) and two milkflow-scheduler.

    MILKFLOW_BIN_DIR=target/release python3 bench/peak.py                        # 10,000 users x 10 routines
    MILKFLOW_BIN_DIR=target/release python3 bench/peak.py --small --only sqlite   # 1,000 x 5
    MILKFLOW_BIN_DIR=target/release python3 bench/peak.py --rate 1000              # traffic at 1,000 a second

Needs wrk (`apt-get install wrk`) and the workspace's release binaries (`cargo build --release --workspace`).
"""
import argparse, json, os, re, shutil, signal, sqlite3, subprocess, sys, tempfile, time, urllib.request, uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfbench as mf

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peak.lua")
GOAL_MS = 50
CONNECTIONS = 64
TRAFFIC_USERS = 64
RECORDS_PER_USER = 60  # more than a page of 50, for the list and the sync
WARM_UP_S = 3
LOOKAHEAD_S = 120  # MILKFLOW_SCHEDULER_LOOKAHEAD_S's default: reminders are staged this far ahead
BURST_MAX_S = 300  # the burst window ends here even if reminders are still missing
# As bench/burst.py runs the schedulers, so that lateness compares with its figures.
SCHEDULER = {"MILKFLOW_SCHEDULER_BATCH": "1000"}
COMMON = {"MILKFLOW_PUSH_ALLOW_INSECURE": "true", "MILKFLOW_JWT_SECRET": "bench-secret-" + "x" * 32}
ROUTES = {"/v1/sync": "GET /v1/sync?limit=50", "/v1/pump-sessions": "GET /v1/pump-sessions?limit=50",
          "/v1/pump-sessions/{id}": "PUT /v1/pump-sessions/{id}"}
HISTOGRAM = re.compile(r"^milkflow_http_request_duration_seconds_(bucket|count)\{(.*)\} (\S+)$")


def session_body():
    """The PUT's body, as bench/run.py sends it."""
    start_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    end_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2400))
    return {"started_at": start_at, "ended_at": end_at, "volume_left_ml": 60, "volume_right_ml": 45,
            "pump_type": "electric", "mode": "double", "massage_before": True}


def start_api(db_url, embedded_scheduler):
    port = mf.free_port()
    env = {"MILKFLOW_LISTEN": f"127.0.0.1:{port}", "MILKFLOW_DATABASE_URL": db_url, **COMMON, **SCHEDULER}
    api = mf.Proc("milkflow-api", env, args=() if embedded_scheduler else ("--no-scheduler",))
    api.base = f"http://127.0.0.1:{port}"
    mf.wait_ready(api.base + "/readyz", api.p)
    return api


def traffic_users(base, body):
    """Signs up the traffic's users and gives each RECORDS_PER_USER pump sessions; their sessions (tokens)."""
    def one(_):
        session = mf.sign_up(base, f"peak-{uuid.uuid4().hex[:10]}@example.org")
        for _ in range(RECORDS_PER_USER):
            status, saved, _ = mf.http("PUT", f"{base}/v1/pump-sessions/{uuid.uuid4()}", body, session["access_token"])
            if status != 201:
                raise SystemExit(f"PUT answered {status}: {saved}")
        return session
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(TRAFFIC_USERS)))


def refreshed(base, sessions):
    """New tokens for every session (access tokens last 15 minutes; seeding and staging take minutes)."""
    def one(session):
        status, body, _ = mf.http("POST", base + "/v1/auth/refresh", {"refresh_token": session["refresh_token"]})
        if status != 200:
            raise SystemExit(f"refresh answered {status}: {body}")
        return body
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, sessions))


def histograms(bases):
    """The API processes' request-duration histograms, summed: {route: {le or "count": requests}}."""
    sums = {}
    for base in bases:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            text = r.read().decode()
        for line in text.splitlines():
            m = HISTOGRAM.match(line)
            if not m:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            key = labels.get("le") if m.group(1) == "bucket" else "count"
            route = sums.setdefault(labels.get("route"), {})
            route[key] = route.get(key, 0) + float(m.group(3))
    return sums


def route_figures(before, after, seconds):
    """Per request type, from the histograms' difference: requests/s, the bucket bound its p99 falls under (ms;
    None: above the last bound) and the share over 50 ms."""
    out = {}
    for route, name in ROUTES.items():
        a, b = after.get(route, {}), before.get(route, {})
        d = {k: a[k] - b.get(k, 0) for k in a}
        count = d.get("count", 0)
        if not count:
            continue
        bounds = sorted((float(k), v) for k, v in d.items() if k not in ("count", "+Inf"))
        p99 = next((le * 1000 for le, v in bounds if v >= 0.99 * count), None)
        out[name] = {"rps": count / seconds, "p99_under_ms": p99, "over_50ms": 1 - d.get("0.05", 0) / count}
    return out


def parse_wrk(out, err):
    m = re.search(r"PEAK_SUMMARY (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not m:
        raise SystemExit("wrk gave no figures:\n" + out[-2000:] + err[-2000:])
    requests, duration_us, connect, read, write, status, timeout = map(int, m.groups())
    grid = [int(v) for _, v in re.findall(r"PEAK_Q (\d+) (\d+)", out)]  # us at p90.00, p90.01, ..., p99.99
    return {"requests": requests, "seconds": duration_us / 1e6, "grid": grid,
            "errors": {"non-2xx": status, "timeout": timeout, "socket": connect + read + write}}


def merged_p99_ms(runs):
    """The p99 over every run's requests. Each run's grid point at p stands for its requests between p and p + 0.01
    (a ten-thousandth of them): exact to that step while each run has at least a tenth of all requests; else the
    worst run's p99."""
    total = sum(r["requests"] for r in runs)
    if not total:
        return float("nan")
    if any(r["requests"] * 10 < total for r in runs):
        return max(r["grid"][900] for r in runs) / 1000
    mass = 0
    for value, weight in sorted(((v, r["requests"]) for r in runs for v in r["grid"]), reverse=True):
        mass += weight
        if mass >= total * 100:
            return value / 1000
    return float("nan")


RATE = None  # --rate: requests a second over all connections; None: as fast as answers come


def traffic(bases, tokens, body, seconds, until=None, watch=None):
    """wrk on every API process at once, the connections split between them, for `seconds`; with `until`, from
    then on until `until()` is true (at most BURST_MAX_S). `watch()` is called every second meanwhile."""
    before = histograms(bases)
    env = {**os.environ, "BENCH_TOKENS": ",".join(tokens), "BENCH_BODY": json.dumps(body)}
    if RATE:
        env["BENCH_DELAY_MS"] = str(CONNECTIONS * 1000 / RATE)
    threads = max(1, 2 // len(bases))
    duration = BURST_MAX_S if until else seconds
    runs = [subprocess.Popen(["wrk", f"-t{threads}", f"-c{CONNECTIONS // len(bases)}", f"-d{duration}s",
                              "--timeout", "10s", "-s", LUA, base], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env) for base in bases]
    start = time.time()
    try:
        while until:
            elapsed = time.time() - start
            if elapsed >= duration or (elapsed >= seconds and until()):
                for run in runs:
                    if run.poll() is None:
                        run.send_signal(signal.SIGINT)  # wrk stops and reports
                break
            if watch:
                watch()
            time.sleep(1)
        outs = [parse_wrk(*run.communicate(timeout=duration + 120)) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    window = time.time() - start
    errors = {k: sum(o["errors"][k] for o in outs) for k in outs[0]["errors"]}
    return {"rps": sum(o["requests"] / o["seconds"] for o in outs if o["seconds"]), "p99": merged_p99_ms(outs),
            "p99_each": [o["grid"][900] / 1000 for o in outs], "requests": sum(o["requests"] for o in outs),
            "errors": errors, "seconds": window, "started": start,
            "routes": route_figures(before, histograms(bases), window)}


def wait_staged(query, expected, due):
    """Waits until every delivery is staged or the due instant is 3 s away; whether they all were."""
    while time.time() < due - 3:
        if query("select count(*) from deliveries where status = 'staged'") >= expected:
            return True
        time.sleep(1)
    return False


def peak(label, db_url, query, apis_n, schedulers_n, users, routines, seconds, keys, analyze=None):
    sink = mf.Sink()
    procs = []  # (name, Proc): every process measured
    try:
        for n in range(apis_n):
            procs.append((f"api {n + 1}" if apis_n > 1 else "api", start_api(db_url, schedulers_n == 0)))
        for n in range(schedulers_n):
            procs.append((f"scheduler {n + 1}", mf.scheduler(db_url, SCHEDULER)))
        bases = [p.base for name, p in procs if name.startswith("api")]
        body = session_body()
        sessions = traffic_users(bases[0], body)
        traffic(bases, [s["access_token"] for s in sessions], body, WARM_UP_S)
        mf.log(f"{label}: {TRAFFIC_USERS} traffic users with {RECORDS_PER_USER} pump sessions each; warmed up")

        # The due instant at least LOOKAHEAD_S + 15 s after seeding ends, so that staging starts after it, while
        # seeding keeps to its estimate: about 1,000-2,000 routines a second on PostgreSQL, 25,000 on SQLite.
        lead = LOOKAHEAD_S + 15 + users * routines // (1000 if db_url.startswith("postgres") else 4000)
        info = mf.seed(db_url, sink, keys, users, routines, lead_s=lead)
        expected, due_ms = info["occurrences"], info["due_at_ms"]
        due = due_ms / 1000
        mf.log(f"{label}: seeded {info['users']} users, {info['routines']} routines in {info['seeded_in_s']:.1f} s; "
               f"{expected} occurrences due at {info['due_at']}, in {due - time.time():.0f} s")
        if due - time.time() < LOOKAHEAD_S:
            mf.log(f"{label}: WARNING seeding ended within the look-ahead: staging began during it")
        all_staged = wait_staged(query, expected, due)
        staged_s = time.time() - (due - LOOKAHEAD_S)
        mf.log(f"{label}: staged {'all' if all_staged else 'NOT all'} {expected} deliveries "
               f"{staged_s:.0f} s into the look-ahead window")
        sessions = refreshed(bases[0], sessions)
        tokens = [s["access_token"] for s in sessions]
        if analyze:
            analyze()  # statistics, as autovacuum gives a database in use (bench/run.py, gather_statistics)

        idle, idle_after = None, False
        if due - 1 - time.time() >= seconds + 3:
            idle = traffic(bases, tokens, body, seconds)
            mf.log(f"{label}: idle: {idle['rps']:.0f} requests/s, p99 {idle['p99']:.1f} ms")
        else:
            mf.log(f"{label}: no time for the idle window before the due instant; it is measured after the burst")
        time.sleep(max(0.0, due - 1 - time.time()))

        rss_during = {name: 0.0 for name, _ in procs}

        def watch():
            for name, p in procs:
                rss_during[name] = max(rss_during[name], mf.rss_mib(p.pid))

        burst = traffic(bases, tokens, body, seconds, until=lambda: sink.count(201) >= expected, watch=watch)
        burst_end_ms = (burst["started"] + burst["seconds"]) * 1000
        mf.log(f"{label}: burst: {burst['rps']:.0f} requests/s, p99 {burst['p99']:.1f} ms "
               f"over {burst['seconds']:.0f} s")
        got = sink.wait_count(expected, timeout=BURST_MAX_S, status=201, every=1.0)
        time.sleep(2)
        rss_after = {name: mf.rss_mib(p.pid) for name, p in procs}
        if idle is None:
            idle_after = True
            idle = traffic(bases, tokens, body, seconds)
        dead = [name for name, p in procs if p.p.poll() is not None]
        if dead:
            mf.log(f"{label}: WARNING exited during the run: {', '.join(dead)}")

        accepted = [a["at_ms"] for a in got if a["status"] == 201]
        late = [at - due_ms for at in accepted]
        per_second = {}
        for ms in late:
            per_second[ms // 1000] = per_second.get(ms // 1000, 0) + 1
        mf.log(f"{label}: deliveries per second after the due instant: "
               + " ".join(str(per_second.get(k, 0)) for k in range(0, max(per_second, default=0) + 1)))
        return {"label": label, "idle": idle, "idle_after": idle_after, "burst": burst, "expected": expected,
                "delivered": len(accepted), "in_window": sum(1 for at in accepted if at <= burst_end_ms),
                "other": len(got) - len(accepted), "late_p99_s": mf.percentile(late, 99) / 1000,
                "rss_during": rss_during, "rss_after": rss_after, "dead": dead}
    finally:
        for _, p in reversed(procs):
            p.cleanup()
        sink.stop()


def sqlite_query(path):
    def query(sql):
        con = sqlite3.connect(path, timeout=30)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()
    return query


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--routines", type=int, default=10)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--seconds", type=int, default=10, help="the idle window, and the burst window's least")
    ap.add_argument("--small", action="store_true", help="1,000 users x 5 routines")
    ap.add_argument("--rate", type=int, help="requests a second over all connections (default: as fast as answered)")
    a = ap.parse_args()
    global RATE
    RATE = a.rate
    if a.small:
        a.users, a.routines = 1000, 5
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    keys = mf.device_keys()
    results = []
    if a.only != "postgres":
        d = tempfile.mkdtemp(prefix="mf-peak-")
        try:
            path = os.path.join(d, "peak.db")
            results.append(peak("SQLite, 1 API with its scheduler", f"sqlite://{path}?mode=rwc", sqlite_query(path),
                                1, 0, a.users, a.routines, a.seconds, keys))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    if a.only != "sqlite":
        if not mf.pg_available():
            raise SystemExit("PostgreSQL is not reachable at " + mf.PG)
        db = mf.PgDatabase()
        try:
            results.append(peak("PostgreSQL, 2 APIs + 2 schedulers", db.url, lambda sql: int(db.query(sql)), 2, 2,
                                a.users, a.routines, a.seconds, keys, analyze=lambda: db.query("ANALYZE")))
        finally:
            db.close()

    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    print(f"\n# Morning peak, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu})\n")
    pace = f"keeping {RATE} requests/s" if RATE else "as fast as answered"
    print(f"{a.users} users x {a.routines} routines due in one minute, one Web Push device each; traffic: wrk, "
          f"{CONNECTIONS} connections {pace}, {TRAFFIC_USERS} users, sync / page of 50 / PUT in turn; idle window "
          f"{a.seconds} s, burst window from 1 s before the due instant until every reminder arrived "
          f"(at least {a.seconds} s). Goal: p99 during the burst <= {GOAL_MS} ms. RSS during the burst: the highest "
          f"of 1-s samples; after: 2 s after the last reminder arrived.\n")
    print("| set-up | requests/s idle | p99 ms idle | requests/s during burst | p99 ms during burst "
          "| p99 ratio (burst/idle) | goal met (p99 during <= 50 ms) | reminders delivered/expected "
          "| burst p99 lateness s | RSS MiB during burst | RSS MiB after burst | errors idle/burst |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | ---: |")
    for r in results:
        idle, burst = r["idle"], r["burst"]
        errors = [sum(w["errors"].values()) for w in (idle, burst)]
        print(f"| {r['label']} | {idle['rps']:.0f}{' (after)' if r['idle_after'] else ''} | {idle['p99']:.1f} "
              f"| {burst['rps']:.0f} | {burst['p99']:.1f} | {burst['p99'] / idle['p99']:.2f} "
              f"| {'yes' if burst['p99'] <= GOAL_MS else 'no'} | {r['delivered']}/{r['expected']} "
              f"| {r['late_p99_s']:.1f} | {', '.join(f'{k} {v:.0f}' for k, v in r['rss_during'].items())} "
              f"| {', '.join(f'{k} {v:.0f}' for k, v in r['rss_after'].items())} | {errors[0]}/{errors[1]} |")
    print("\nPer window:\n")
    for r in results:
        for name, w in (("idle", r["idle"]), ("burst", r["burst"])):
            each = ", ".join(f"{p:.1f}" for p in w["p99_each"])
            extra = (f"; {r['in_window']} of the reminders arrived inside it, {r['other']} arrivals not accepted"
                     if name == "burst" else "")
            print(f"- {r['label']}, {name}: {w['requests']} requests in {w['seconds']:.1f} s; p99 per wrk process "
                  f"{each} ms; errors: {', '.join(f'{k} {v}' for k, v in w['errors'].items())}{extra}")
    print("\nPer request type, by the API's own clock (from a request read to its answer handed to the socket; "
          "its histogram's bucket bounds):\n")
    print("| set-up | request | requests/s idle | p99 idle under ms | over 50 ms idle | requests/s during burst "
          "| p99 during under ms | over 50 ms during |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        for name in ROUTES.values():
            i, b = r["idle"]["routes"].get(name), r["burst"]["routes"].get(name)
            cells = []
            for f in (i, b):
                if f is None:
                    cells += ["", "", ""]
                else:
                    bound = f"{f['p99_under_ms']:g}" if f["p99_under_ms"] is not None else "> 1000"
                    cells += [f"{f['rps']:.0f}", bound, f"{f['over_50ms']:.2%}"]
            print(f"| {r['label']} | {name} | " + " | ".join(cells) + " |")
    if any(r["delivered"] != r["expected"] or r["dead"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
