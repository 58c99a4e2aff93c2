#!/usr/bin/env python3
"""Two builds of milkflow-api under the same load, alternating in one run (A B B A ...), so that drift of the
machine's speed falls on both: an authenticated PUT of a new pump session and a page of 50 (sent again from the
page cache while nothing changes), on SQLite and PostgreSQL. Prints each build's mean requests/s and p99 and
the new build's ratio to the old. A third row reads the page afresh every time (a second process of the build on
the same database, its page cache off). Load comes from wrk (`apt-get install wrk`).

    python3 bench/compare.py OLD_BIN_DIR NEW_BIN_DIR [--rounds 2] [--seconds 5] [--only sqlite|postgres]

Each directory holds a release `milkflow-api`, for example one built from an older commit in a worktree:
`git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release --bin milkflow-api)`.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfbench import PgDatabase, free_port, http, pg_available, wait_ready  # noqa: E402
from run import wrk, wrk_get  # noqa: E402

PASSWORD = "gentle-circles-42"
SCENARIOS = {"put": "PUT /v1/pump-sessions/{id}", "list": "GET /v1/pump-sessions?limit=50",
             "fresh": "the same page, read afresh each time"}


def signed_in(base):
    """Registers and signs in (a build may answer registration with 201 and tokens or with 202); a token."""
    email = f"compare-{uuid.uuid4().hex[:8]}@example.org"
    status, body, _ = http("POST", base + "/v1/auth/register", {"email": email, "password": PASSWORD})
    if status not in (201, 202):
        raise SystemExit(f"registration answered {status}: {body}")
    status, session, _ = http("POST", base + "/v1/auth/login", {"email": email, "password": PASSWORD})
    if status != 200:
        raise SystemExit(f"login answered {status}: {session}")
    return session["access_token"]


def started(bin_dir, db_url, work, extra=None):
    """A milkflow-api process of `bin_dir` on `db_url`, ready; (process, base URL, its log file)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILKFLOW_")}
    env.update({"MILKFLOW_LISTEN": f"127.0.0.1:{port}", "MILKFLOW_DATABASE_URL": db_url, "RUST_LOG": "warn",
                "MILKFLOW_AUTH_RATE_LIMIT_PER_MINUTE": "0", "MILKFLOW_WORKERS": "2", **(extra or {})})
    log = open(os.path.join(work, f"api-{port}.log"), "wb")
    proc = subprocess.Popen([os.path.join(bin_dir, "milkflow-api")], cwd=work, env=env, stdout=log, stderr=log,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/readyz", proc)
    except BaseException:
        stopped(proc, log)
        raise
    return proc, base, log


def stopped(proc, log):
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def one_run(bin_dir, db_url, seconds):
    """The PUT and the list against one fresh API process of `bin_dir`; then the list read afresh each time, from
    a second process of the same build on the same database with its page cache off."""
    work = tempfile.mkdtemp(prefix="mf-compare-")
    try:
        proc, base, log = started(bin_dir, db_url, work)
        try:
            token = signed_in(base)
            body = {"started_at": "2026-11-30T07:00:00Z", "ended_at": "2026-11-30T07:20:00Z", "volume_left_ml": 60,
                    "volume_right_ml": 45, "pump_type": "electric", "mode": "double", "massage_before": True}
            for _ in range(60):
                status, saved, _ = http("PUT", f"{base}/v1/pump-sessions/{uuid.uuid4()}", body, token)
                if status != 201:
                    raise SystemExit(f"PUT answered {status}: {saved}")
            put_lua = os.path.join(os.path.dirname(os.path.abspath(__file__)), "put.lua")
            put_env = {"BENCH_TOKENS": token, "BENCH_BODY": json.dumps(body)}
            wrk(base, put_lua, put_env, seconds=2)  # warm-up
            put = wrk(base, put_lua, put_env, seconds=seconds)
            listed = wrk_get(base + "/v1/pump-sessions?limit=50", token)
        finally:
            stopped(proc, log)
        if db_url.startswith("postgres"):
            subprocess.run(["psql", db_url, "-qc", "ANALYZE"], check=True, capture_output=True)
        proc, base, log = started(bin_dir, db_url, work, {"MILKFLOW_PAGE_CACHE_MIB": "0"})
        try:
            fresh = wrk_get(base + "/v1/pump-sessions?limit=50", token)
        finally:
            stopped(proc, log)
        return {"put": put, "list": listed, "fresh": fresh}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    a = ap.parse_args()
    builds = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
    databases = [d for d in ["sqlite", "postgres"] if a.only in (None, d)]
    if "postgres" in databases and not pg_available():
        print("PostgreSQL does not answer: SQLite only", file=sys.stderr)
        databases.remove("postgres")
    results = {(b, d, s): [] for b in builds for d in databases for s in SCENARIOS}
    for r in range(a.rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        for build in order:
            for db in databases:
                pg = PgDatabase() if db == "postgres" else None
                sqlite_dir = tempfile.mkdtemp(prefix="mf-compare-db-") if db == "sqlite" else None
                url = pg.url if pg else f"sqlite://{sqlite_dir}/milkflow.db?mode=rwc"
                try:
                    run = one_run(builds[build], url, a.seconds)
                finally:
                    if pg:
                        pg.close()
                    if sqlite_dir:
                        shutil.rmtree(sqlite_dir, ignore_errors=True)
                for scenario, figures in run.items():
                    results[(build, db, scenario)].append(figures)
                print(f"round {r + 1} {build:3} {db:8} PUT {run['put']['rps']:8.0f}/s  "
                      f"list {run['list']['rps']:8.0f}/s  afresh {run['fresh']['rps']:8.0f}/s", file=sys.stderr, flush=True)
    print("| scenario | old req/s | new req/s | new/old | old p99 ms | new p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for db in databases:
        for scenario, name in SCENARIOS.items():
            old = results[("old", db, scenario)]
            new = results[("new", db, scenario)]
            old_rps, new_rps = statistics.mean(f["rps"] for f in old), statistics.mean(f["rps"] for f in new)
            old_p99, new_p99 = statistics.mean(f["p99"] for f in old), statistics.mean(f["p99"] for f in new)
            print(f"| {name} ({db}) | {old_rps:.0f} | {new_rps:.0f} | {new_rps / old_rps:.1%} | {old_p99:.2f} | "
                  f"{new_p99:.2f} |")
    print(f"\n{a.rounds} rounds, {a.seconds} s each, wrk -t2 -c64; builds alternated (old new, new old, ...).")


if __name__ == "__main__":
    main()
