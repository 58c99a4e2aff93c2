#!/usr/bin/env python3
"""Drill: PostgreSQL stops (immediate shutdown, like a crash) and restarts while milkflow-api is under load.
- during the outage every answer is a 503 problem+json, within a few seconds (no hang, no 500);
- afterwards the same API process answers 2xx again (no restart);
- every pump session acknowledged with a 2xx, before or after the outage, is there afterwards.

The drill runs its own throwaway PostgreSQL cluster (initdb as the postgres user, on a free port), so stopping it
disturbs nothing else on the machine.

    python3 bench/drills/pg_outage.py [--small]
"""
import argparse, glob, os, shutil, subprocess, sys, tempfile, threading, time, uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mfbench as mf

BODY = {"started_at": "2026-01-01T07:00:00Z", "ended_at": "2026-01-01T07:20:00Z", "volume_left_ml": 60,
        "volume_right_ml": 45, "pump_type": "electric", "mode": "double"}
CLIENT_TIMEOUT_S = 15
SLOWEST_OUTAGE_ANSWER_S = 8


class Cluster:
    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = bins[-1]
        self.dir = tempfile.mkdtemp(prefix="mf-pg-drill-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = mf.free_port()
        self.as_postgres(["initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"])
        self.start()
        subprocess.run(["psql", self.url("postgres"), "-qc", "create database drill"], check=True, capture_output=True)

    def as_postgres(self, cmd):
        full = [os.path.join(self.bin, cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:
            full = ["runuser", "-u", "postgres", "--", *full]
        out = subprocess.run(full, capture_output=True, text=True, cwd=self.dir)
        if out.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed: {out.stderr[-1000:]}")

    def url(self, db="drill"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        self.as_postgres(["pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                          f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"])

    def stop(self, mode="immediate"):
        self.as_postgres(["pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"])

    def close(self):
        try:
            self.stop("fast")
        except SystemExit:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Load:
    """Threads that PUT new pump sessions and GET the list, recording every answer."""

    def __init__(self, base, token, threads):
        self.base, self.token, self.answers, self.acked = base, token, [], []
        self.lock, self.running = threading.Lock(), True
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        n = 0
        while self.running:
            n += 1
            rid = str(uuid.uuid4())
            if n % 3:
                method, url, body = "PUT", f"{self.base}/v1/pump-sessions/{rid}", BODY
            else:
                method, url, body = "GET", f"{self.base}/v1/pump-sessions?limit=50", None
            t0 = time.time()
            try:
                status, parsed, headers = mf.http(method, url, body, self.token, timeout=CLIENT_TIMEOUT_S)
            except OSError as e:  # a hang or a dropped connection
                status, parsed, headers = 0, None, {"error": str(e)}
            t1 = time.time()
            with self.lock:
                self.answers.append((t0, t1, method, status, headers.get("content-type", ""), parsed))
                if method == "PUT" and status in (200, 201):
                    self.acked.append(rid)

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(CLIENT_TIMEOUT_S + 5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args()
    # The outage outlasts the API's 3 s wait for a connection, so some requests must be answered 503.
    threads, before_s, outage_s = (4, 2, 8) if a.small else (16, 5, 15)
    cluster = Cluster()
    api = None
    try:
        port = mf.free_port()
        api = mf.Proc("milkflow-api", {"MILKFLOW_DATABASE_URL": cluster.url(), "MILKFLOW_LISTEN": f"127.0.0.1:{port}",
                                        "MILKFLOW_JWT_SECRET": "drill-secret-" + "x" * 32}, log_level="warn")
        base = f"http://127.0.0.1:{port}"
        mf.wait_ready(base + "/readyz", api.p)
        session = mf.sign_up(base, "drill@example.org")
        load = Load(base, session["access_token"], threads)
        time.sleep(before_s)
        cluster.stop("immediate")
        down_at = time.time()
        mf.log(f"PostgreSQL stopped (immediate) after {len(load.acked)} acknowledged writes")
        time.sleep(outage_s)
        restart_at = time.time()
        cluster.start()
        up_at = time.time()
        mf.log("PostgreSQL started again")
        recovered_at = None
        deadline = up_at + 60
        while time.time() < deadline and recovered_at is None:
            with load.lock:
                recovered_at = next((t1 for t0, t1, m, s, *_ in load.answers if t0 > up_at and s in (200, 201)), None)
            time.sleep(0.1)
        time.sleep(2)
        load.stop()
        answers = load.answers
        problems = []
        # Requests begun while the database was down: a 503 problem+json, or a 2xx if they outlasted the outage.
        during = [x for x in answers if down_at <= x[0] < restart_at]
        for t0, t1, method, status, ctype, parsed in during:
            unavailable = status == 503 and "application/problem+json" in ctype and (parsed or {}).get("status") == 503
            if not (unavailable or (status in (200, 201) and t1 > restart_at)):
                problems.append(f"during the outage {method} answered {status} {ctype} {parsed}")
        refused = sum(1 for x in during if x[3] == 503)
        if refused == 0:
            problems.append("no request was answered 503 during the outage")
        slowest = max((t1 - t0 for t0, t1, *_ in during), default=0)
        if slowest > SLOWEST_OUTAGE_ANSWER_S:
            problems.append(f"an answer during the outage took {slowest:.1f} s")
        server_errors = [x for x in answers if x[3] == 500 or x[3] == 0]
        for x in server_errors[:5]:
            problems.append(f"{x[2]} answered {x[3]} {x[5] or x[4]}")
        if recovered_at is None:
            problems.append("no 2xx within 60 s of the restart")
        # Everything acknowledged is there.
        token = session["access_token"]
        missing = [rid for rid in load.acked if mf.http("GET", f"{base}/v1/pump-sessions/{rid}", token=token)[0] != 200]
        if missing:
            problems.append(f"{len(missing)} of {len(load.acked)} acknowledged writes are missing, e.g. {missing[:3]}")
        mf.log(f"{len(answers)} requests: {len(during)} begun during the outage, {refused} answered 503 problem+json "
               f"and the rest 2xx once it was back; slowest {slowest:.2f} s; "
               f"{len(server_errors)} 500s or hangs; 2xx again {((recovered_at or up_at) - up_at):.2f} s after the "
               f"restart; {len(load.acked)} acknowledged writes, {len(missing)} missing")
        if problems or os.environ.get("DRILL_TIMELINE"):
            for t0, t1, method, status, ctype, parsed in answers:
                if t1 > down_at - 1 and t0 < up_at + 1:
                    mf.log(f"  {t0 - down_at:7.2f} {t1 - down_at:7.2f} {method} {status}")
            for p in problems[:20]:
                mf.log("  " + p)
            raise SystemExit("PostgreSQL outage drill: FAILED")
        mf.log("PostgreSQL outage drill: passed")
    finally:
        if api:
            api.stop()
            if "panicked" in api.log_text():
                mf.log(api.log_text()[-3000:])
        cluster.close()


if __name__ == "__main__":
    main()
