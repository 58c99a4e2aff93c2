#!/usr/bin/env python3
"""milkflow's benchmarks, in one run on this machine: start-up time and idle memory of milkflow-api, and the
API under load (authenticated PUT of a pump session, GET of a page of 50: sent again from the page cache, and
as a diagnostic read afresh each time) on SQLite and PostgreSQL, each as a figure and as a ratio to a bare
actix-web handler measured in the same run (for the PUT and the list, measured again just before and just after
each); beside them the limits of what lies under the API: its data layer
alone (`milkflow-bench store`) and what PostgreSQL alone does (pgbench). Load comes from wrk in its own process
(`apt-get install wrk`).

    python3 bench/run.py            # full: 10 s per load scenario
    python3 bench/run.py --quick    # 3 s per scenario
    MILKFLOW_BIN_DIR=target/release python3 bench/run.py    # binaries already built: no cargo build

Prints a Markdown table; bench/RESULTS.md keeps the figures of a run with the machine and the date.
"""
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfbench import BIN, ROOT, PgDatabase, Proc, free_port, http, rss_mib, sign_up, wait_ready  # noqa: E402
QUICK = "--quick" in sys.argv
SECONDS = 3 if QUICK else 10
WARM_UP_SECONDS = 1 if QUICK else 3
# The baseline measured again just before and just after each goal's scenario: this machine's speed was seen to
# change by a third within three minutes (bench/RESULTS.md, 2026-12-01), more than the goals' margins.
BESIDE_SECONDS = 1 if QUICK else 3


def to_ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, script=None, env=None, seconds=SECONDS):
    cmd = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": int(non2xx.group(1)) if non2xx else 0}


class Baseline:
    """The bare actix-web handler returning a fixed JSON body (the framework's ceiling), kept running through the
    run (idle between its measurements) so that it can be measured again beside each goal's scenario."""

    def __init__(self):
        self.port = free_port()
        self.proc = Proc("bench-baseline", {"BASELINE_LISTEN": f"127.0.0.1:{self.port}", "BASELINE_WORKERS": "2"})
        wait_ready(f"http://127.0.0.1:{self.port}/", self.proc.p)
        self.seen = []

    def measure(self, seconds=SECONDS):
        result = wrk(f"http://127.0.0.1:{self.port}/", seconds=seconds)
        self.seen.append(result["rps"])
        return result

    def beside(self, run):
        """`run()`'s figures, with the baseline measured just before and just after it (its mean, `beside`)."""
        before = self.measure(BESIDE_SECONDS)["rps"]
        result = run()
        after = self.measure(BESIDE_SECONDS)["rps"]
        result["beside"] = (before + after) / 2
        return result

    def cleanup(self):
        self.proc.cleanup()


def api_scenarios(label, db_url, baseline):
    port = free_port()
    api = Proc("milkflow-api", {"MILKFLOW_LISTEN": f"127.0.0.1:{port}", "MILKFLOW_DATABASE_URL": db_url})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", api.p)
        tokens = []
        for _ in range(64):
            session = sign_up(base, f"bench-{uuid.uuid4().hex[:8]}@example.org")
            tokens.append(session["access_token"])
        token = tokens[0]
        start_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        end_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2400))
        body = {"started_at": start_at, "ended_at": end_at, "volume_left_ml": 60, "volume_right_ml": 45,
                "pump_type": "electric", "mode": "double", "massage_before": True}
        for _ in range(60):
            status, saved, _ = http("PUT", f"{base}/v1/pump-sessions/{uuid.uuid4()}", body, token)
            if status != 201:
                raise SystemExit(f"PUT answered {status}: {saved}")
        script_dir = os.path.dirname(os.path.abspath(__file__))
        put_lua = os.path.join(script_dir, "put.lua")
        # A warm-up of the same PUT, then statistics, as a database in use has them (see `gather_statistics`):
        # without them each PUT's lookup of the owner's routines on PostgreSQL kept a plan made while the records were
        # 60, a scan of all of them once they were 90,000 (4-18 ms a batch, seen with log_min_duration_statement).
        wrk(base, put_lua, {"BENCH_TOKENS": token, "BENCH_BODY": json.dumps(body)}, seconds=WARM_UP_SECONDS)
        gather_statistics(db_url)
        put = baseline.beside(lambda: with_own_tail(
            base, "/v1/pump-sessions/{id}",
            lambda: wrk(base, put_lua, {"BENCH_TOKENS": token, "BENCH_BODY": json.dumps(body)})))
        gather_statistics(db_url)
        lst = baseline.beside(lambda: with_own_tail(
            base, "/v1/pump-sessions", lambda: wrk_get(base + "/v1/pump-sessions?limit=50", token)))
        # Diagnostics, not goals: the same PUT spread over 64 users (one user's writes queue on its change
        # sequence), and a request whose only database work is one read of the account row.
        put_many = wrk(base, put_lua, {"BENCH_TOKENS": ",".join(tokens), "BENCH_BODY": json.dumps(body)})
        gather_statistics(db_url)
        me = wrk_get(base + "/v1/me", token)
        uncached = list_without_page_cache(db_url, api.dir, token)
        return {f"PUT /v1/pump-sessions/{{id}} ({label})": put, f"GET /v1/pump-sessions?limit=50 ({label})": lst,
                f"  diagnostic: GET ?limit=50, every page read from the database ({label})": uncached,
                f"  diagnostic: the PUT over 64 users ({label})": put_many,
                f"  diagnostic: GET /v1/me, one read of the account ({label})": me}
    finally:
        api.cleanup()


def with_own_tail(base, route, run):
    """`run()`'s wrk figures, with the share of its requests that the API itself answered in over 10 ms: from
    its request histogram (`/metrics`), which starts once a request has been read and ends when its answer is
    handed to the socket. Beside wrk's p99 it tells the API's own tail from the time a request or its answer
    waits for a core, on two cores shared with wrk."""
    before = answered(base, route)
    result = run()
    after = answered(base, route)
    count = after[0] - before[0]
    result["own_over_10ms"] = (after[1] - before[1]) / count if count else None
    return result


def answered(base, route):
    """(requests the API has answered on `route`, of them in over 10 ms), by its own histogram."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    within, count = 0.0, 0.0
    for line in text.splitlines():
        if f'route="{route}"' not in line:
            continue
        if line.startswith("milkflow_http_request_duration_seconds_bucket") and 'le="0.01"' in line:
            within = float(line.split()[-1])
        elif line.startswith("milkflow_http_request_duration_seconds_count"):
            count = float(line.split()[-1])
    return count, count - within


def gather_statistics(db_url):
    """On PostgreSQL, `ANALYZE` after PUTs have written tens of thousands of one user's records in seconds.

    A database that lives has statistics: autovacuum analyses a table within a minute of such writes, and its
    analysis makes every cached plan of that table be made again. The benchmark writes and reads the records
    seconds after creating the table, before autovacuum's first visit. Without statistics the planner took the
    30,000 records for 2 and read the page of 50 by sorting all of them (80-150 ms a query, seen with
    auto_explain), and each PUT looked up the owner's routines with a plan made when the table was nearly empty: a row
    measured the missing statistics, not the API."""
    if db_url.startswith("postgres"):
        subprocess.run(["psql", db_url, "-qc", "ANALYZE"], check=True, capture_output=True)


def list_without_page_cache(db_url, cwd, token):
    """The page of 50 from a second API process on the same database with `MILKFLOW_PAGE_CACHE_MIB=0`: each
    request reads and writes its page again, as the first request after any write of the user's does."""
    port = free_port()
    api = Proc("milkflow-api", {"MILKFLOW_LISTEN": f"127.0.0.1:{port}", "MILKFLOW_DATABASE_URL": db_url,
                                "MILKFLOW_PAGE_CACHE_MIB": "0"}, cwd=cwd)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", api.p)
        return wrk_get(f"http://127.0.0.1:{port}/v1/pump-sessions?limit=50", token)
    finally:
        api.stop()  # its directory is the first process's, removed with it


def data_layer_limits(label, db_url):
    """The data layer alone: the API's own record services (`records::put`, `records::list`) called at wrk's
    concurrency by `milkflow-bench store`, without HTTP, token check or JSON rendering."""
    rows = {}
    for scenario, name in (("put", "PUT"), ("list", "GET ?limit=50")):
        out = subprocess.run([os.path.join(BIN, "milkflow-bench"), "store", "--database-url", db_url,
                              "--scenario", scenario, "--seconds", str(SECONDS)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"milkflow-bench store {scenario} failed: {out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows[f"  limit: {name}, the data layer alone ({label})"] = {
            "rps": r["rps"], "p50": r["p50_ms"], "p99": r["p99_ms"], "errors": 0}
    return rows


def postgresql_limits(db):
    """What PostgreSQL alone does at wrk's concurrency on this machine (pgbench, prepared statements): a bare
    `SELECT 1` (its round trip, the ceiling of any request that asks it anything), and the smallest write every
    PUT makes (BEGIN, the UPDATE of the user's change number, COMMIT), for one user and spread over 64. One user's
    writes queue on its row lock and each commit waits for the WAL flush, so that row bounds the single-user PUT
    whatever the API does."""
    if shutil.which("pgbench") is None:
        print("pgbench not found: PostgreSQL's own limits are skipped", file=sys.stderr)
        return {}
    user_id = db.query("SELECT id FROM users ORDER BY created_at LIMIT 1")
    bump = "UPDATE users SET change_seq = change_seq + 1 WHERE id = {} RETURNING change_seq"
    scripts = {
        "SELECT 1": "SELECT 1;\n",
        "the change number, one user": f"BEGIN;\n{bump.format(':uid')};\nCOMMIT;\n",
        "the change number over 64 users": "\\set n random(0, 63)\nBEGIN;\n"
        + bump.format("(SELECT id FROM users ORDER BY created_at OFFSET :n LIMIT 1)") + ";\nCOMMIT;\n",
    }
    rows = {}
    for name, sql in scripts.items():
        script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        script.write(sql)
        script.close()
        try:
            out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c64", "-j2", f"-T{SECONDS}", "-f", script.name,
                                  "-D", f"uid={user_id}", db.url], capture_output=True, text=True)
        finally:
            os.unlink(script.name)
        tps = re.search(r"tps = ([\d.]+)", out.stdout)
        if out.returncode != 0 or not tps:
            raise SystemExit(f"pgbench ({name}) failed: {out.stderr[-2000:]}")
        latency = float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1))
        rows[f"  limit: PostgreSQL alone, {name} (pgbench)"] = {
            "rps": float(tps.group(1)), "p50": None, "p99": None, "errors": 0, "mean": latency}
    return rows


def wrk_get(url, token):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    script.close()
    try:
        return wrk(url, script.name)
    finally:
        os.unlink(script.name)


def startup(runs=5):
    times, rss = [], []
    for _ in range(runs):
        port = free_port()
        t0 = time.perf_counter()
        api = Proc("milkflow-api", {"MILKFLOW_LISTEN": f"127.0.0.1:{port}"})
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", api.p)
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(1.5)
            rss.append(rss_mib(api.pid))
        finally:
            api.cleanup()
    return statistics.median(times), statistics.median(rss)


def main():
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    if not os.environ.get("MILKFLOW_BIN_DIR"):
        subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT, check=True)
    ready_ms, idle_rss = startup()
    bare = Baseline()
    try:
        baseline = bare.measure()
        results = {"bare actix-web, fixed JSON (baseline)": baseline}
        results.update(api_scenarios("SQLite", "sqlite://bench.db?mode=rwc", bare))
        with tempfile.TemporaryDirectory(prefix="mf-store-") as store_dir:
            results.update(data_layer_limits("SQLite", f"sqlite://{store_dir}/store.db?mode=rwc"))
        try:
            db = PgDatabase()
        except (subprocess.CalledProcessError, FileNotFoundError):
            print("PostgreSQL unreachable: its scenarios are skipped", file=sys.stderr)
        else:
            try:
                results.update(api_scenarios("PostgreSQL", db.url, bare))
                results.update(data_layer_limits("PostgreSQL", db.url))
                results.update(postgresql_limits(db))
            finally:
                db.close()
    finally:
        bare.cleanup()
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"# milkflow benchmarks, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), wrk -t2 -c64 -d{SECONDS}s\n")
    print(f"Start-up (exec to /readyz 200, empty SQLite file, median of 5): {ready_ms:.0f} ms; idle RSS {idle_rss:.1f} MiB\n")
    print(f"The baseline made {min(bare.seen):.0f}-{max(bare.seen):.0f} requests/s over the run. A goal's row is")
    print("divided by the baseline measured just before and just after it (its mean, the column 'baseline beside it');")
    print("every other row by the first baseline.\n")
    print("| scenario | requests/s | p50 ms | p99 ms | over 10 ms by the API's own clock | non-2xx | baseline beside it "
          "| ratio to baseline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        # pgbench gives a mean latency, not percentiles.
        p50 = f"{r['p50']:.2f}" if r["p50"] is not None else f"(mean {r['mean']:.2f})"
        p99 = f"{r['p99']:.2f}" if r["p99"] is not None else ""
        own = f"{r['own_over_10ms']:.2%}" if r.get("own_over_10ms") is not None else ""
        beside = f"{r['beside']:.0f}" if r.get("beside") else ""
        ratio = r["rps"] / (r.get("beside") or baseline["rps"])
        print(f"| {name} | {r['rps']:.0f} | {p50} | {p99} | {own} | {r['errors']} | {beside} | {ratio:.1%} |")
    print("\nThe API as a share of its data layer alone (the same services, at the same concurrency, without HTTP;")
    print("the list without its page cache):\n")
    print("| scenario | API requests/s | data layer alone | API's share |")
    print("| --- | ---: | ---: | ---: |")
    for label in ("SQLite", "PostgreSQL"):
        for name, api_row in (("PUT", f"PUT /v1/pump-sessions/{{id}} ({label})"),
                              ("GET ?limit=50",
                               f"  diagnostic: GET ?limit=50, every page read from the database ({label})")):
            limit = results.get(f"  limit: {name}, the data layer alone ({label})")
            if limit and api_row in results:
                api = results[api_row]["rps"]
                print(f"| {name} ({label}) | {api:.0f} | {limit['rps']:.0f} | {api / limit['rps']:.1%} |")


if __name__ == "__main__":
    main()
