#!/usr/bin/env python3
"""Scheduler burst: USERS users with one Web Push device each and ROUTINES routines each, all due at the same
second, planned more than two minutes ahead, so that the schedulers (already running) stage them inside their
look-ahead window. Delivered by milkflow-scheduler processes to the sink on 127.0.0.1, which accepts and counts.
Reports deliveries/s, p50/p99 lateness (arrival at the sink minus the due instant), the ratio to the wire limit
(reqwest alone POSTing the same encrypted payloads to the same sink, measured in the same run) and to the
encryption limit (the same RFC 8291 encryption alone on every core), the schedulers' RSS during and after the
burst, and the database's growth per 100,000 staged deliveries.

With --steady: 2,000 reminders a minute spread evenly over each minute for 10 minutes; lateness per reminder.

    python3 bench/burst.py                      # 10,000 users x 10 routines: PostgreSQL (2 schedulers), SQLite (1)
    python3 bench/burst.py --users 1000 --routines 5 --only sqlite
    python3 bench/burst.py --steady
"""
import argparse, os, sqlite3, sys, tempfile, threading, time, uuid
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfbench as mf

# The schedulers stage what is due within MILKFLOW_SCHEDULER_LOOKAHEAD_S (120 s): the due instant comes at least
# this long after seeding ends.
PLANNED_AHEAD_S = 125


class Db:
    """The database of one run: its size, how much is staged, and when each occurrence is due."""

    def __init__(self, url, path=None, pg=None):
        self.url, self.path, self.pg = url, path, pg

    def scalar(self, sql):
        if self.pg:
            return int(self.pg.query(sql) or 0)
        with sqlite3.connect(self.path) as c:
            return int(c.execute(sql).fetchone()[0] or 0)

    def size(self):
        """The database's size in bytes (SQLite: its pages, wherever they are yet, file or write-ahead log)."""
        if self.pg:
            return self.scalar("select pg_database_size(current_database())")
        return self.scalar("select page_count * page_size from pragma_page_count(), pragma_page_size()")

    def sent_once(self):
        """Deliveries recorded as delivered after exactly one attempt."""
        return self.scalar("select count(*) from deliveries where status = 'delivered' and attempts = 1")

    def staged(self):
        return self.scalar("select count(*) from deliveries where status = 'staged'")

    def due_at_ms(self):
        """Each occurrence's due instant (ms), by id."""
        if self.pg:
            rows = self.pg.query("select id || ' ' || (extract(epoch from due_at) * 1000)::bigint from occurrences")
            return {line.split()[0]: int(line.split()[1]) for line in rows.splitlines()}
        with sqlite3.connect(self.path) as c:
            rows = c.execute("select id, due_at from occurrences").fetchall()
        parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
        return {str(uuid.UUID(bytes=i)) if isinstance(i, bytes) else i: int(parse(d).timestamp() * 1000)
                for i, d in rows}


def run(label, db, processes, users, routines, keys, settings, steady=False, planned_ahead=PLANNED_AHEAD_S):
    # The steady load's sink decrypts each payload to tell which occurrence (and due instant) it carries; the
    # burst's does not, so that the wire limit stays the sink's own.
    sink = mf.Sink("--ua-private-key", keys["private_key"], "--auth", keys["auth"]) if steady else mf.Sink()
    schedulers = []
    try:
        # Seeding runs at about 1,300-2,000 routines a second on PostgreSQL here, 25,000 on SQLite.
        seeding = users * routines // (1000 if db.pg else 4000)
        lead = (0 if steady else planned_ahead) + 15 + seeding
        info = mf.seed(db.url, sink, keys, users, routines, lead_s=lead, spread_s=600 if steady else 0)
        expected = users * routines if steady else info["occurrences"]
        size_before = db.size()
        schedulers = [mf.scheduler(db.url, settings) for _ in range(processes)]
        ahead = info["due_at_ms"] / 1000 - time.time()
        mf.log(f"{label}: seeded {info['users']} users, {info['routines']} routines in {info['seeded_in_s']:.1f} s; "
               f"{expected} occurrences due {'over 10 minutes from' if steady else 'at'} {info['due_at']}, "
               f"{ahead:.0f} s ahead")
        if not steady and ahead < 120:
            mf.log(f"{label}: WARNING planned only {ahead:.0f} s ahead, under the two minutes the goal asks")
        staged, size_staged = 0, size_before
        if not steady:
            while time.time() < info["due_at_ms"] / 1000 - 1:
                staged = db.staged()
                if staged >= expected:
                    break
                time.sleep(0.5)
            size_staged = db.size()
            mf.log(f"{label}: {staged} deliveries staged, {info['due_at_ms'] / 1000 - time.time():.1f} s before due")
        rss_during = []
        sampler = threading.Timer(max(0.0, info["due_at_ms"] / 1000 + 1 - time.time()),
                                  lambda: rss_during.extend(mf.rss_mib(s.pid) for s in schedulers))
        sampler.start()
        time.sleep(max(0, info["due_at_ms"] / 1000 - time.time()))
        got = sink.wait_count(expected, timeout=1200 if steady else 600, status=201, every=1.0)
        sampler.join()
        time.sleep(2)
        rss_after = [mf.rss_mib(s.pid) for s in schedulers]
        accepted = [a for a in got if a["status"] == 201]
        if steady:
            due = db.due_at_ms()
            late = [a["at_ms"] - due[a["occurrence"]] for a in accepted]
        else:
            late = [a["at_ms"] - info["due_at_ms"] for a in accepted]
        # Exactly once: as many accepted as due, and each delivery recorded delivered after a single attempt.
        once = db.sent_once()
        span = max(late) / 1000 if late else float("nan")
        result = {
            "label": label, "processes": processes, "expected": expected, "delivered": len(accepted),
            "repeated": len(accepted) - once, "early": sum(1 for x in late if x < 0),
            "seconds": span, "rate": len(accepted) / span if span else 0,
            "p50_s": mf.percentile(late, 50) / 1000, "p99_s": mf.percentile(late, 99) / 1000,
            "rss_during": rss_during, "rss_after": rss_after,
            "mib_per_100k_staged": (size_staged - size_before) / 2**20 * 100_000 / staged if staged else float("nan"),
        }
        if not steady:
            per_second = {}
            for x in late:
                per_second[x // 1000] = per_second.get(x // 1000, 0) + 1
            mf.log(f"{label}: deliveries per second after the due instant: "
                   + " ".join(str(per_second.get(k, 0)) for k in range(0, max(per_second, default=0) + 1)))
        for s in schedulers:
            s.stop()
        schedulers = []
        if not steady:
            sink.reset()
            result["wire"] = limit("wire", ["--endpoint", sink.endpoint], expected, keys)
            result["encrypt"] = limit("encrypt", [], expected, keys)
        return result
    finally:
        for s in schedulers:
            s.stop()
        sink.stop()


def limit(tool, args, requests, keys):
    out = mf.subprocess.run([os.path.join(mf.BIN, "milkflow-bench"), tool, *args, "--requests", str(requests),
                             "--p256dh", keys["p256dh"], "--auth", keys["auth"]],
                            capture_output=True, text=True, check=True)
    return mf.json.loads(out.stdout)["rps"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--routines", type=int, default=10)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--pg-processes", type=int, default=2)
    ap.add_argument("--steady", action="store_true", help="2,000 a minute over 10 minutes instead of one burst")
    ap.add_argument("--ahead", type=int, default=PLANNED_AHEAD_S, help="seconds planned ahead (trials only)")
    a = ap.parse_args()
    if a.steady:
        a.users, a.routines = 2000, 10
    keys = mf.device_keys()
    settings = {"MILKFLOW_SCHEDULER_BATCH": "1000"}
    results = []
    if a.only != "sqlite":
        if not mf.pg_available():
            raise SystemExit("PostgreSQL is not reachable at " + mf.PG)
        pg = mf.PgDatabase()
        try:
            results.append(run(f"PostgreSQL, {a.pg_processes} schedulers", Db(pg.url, pg=pg), a.pg_processes,
                               a.users, a.routines, keys, settings, a.steady, a.ahead))
        finally:
            pg.close()
    if a.only != "postgres":
        d = tempfile.mkdtemp(prefix="mf-burst-")
        path = f"{d}/burst.db"
        results.append(run("SQLite, 1 scheduler", Db(f"sqlite://{path}?mode=rwc", path=path), 1, a.users,
                           a.routines, keys, settings, a.steady, a.ahead))
    rss = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
    if a.steady:
        print(f"\n{a.users * a.routines} reminders spread over 10 minutes, one Web Push device each\n")
        print("| database | delivered | repeated | early | p50 lateness s | p99 lateness s | RSS MiB during, after |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in results:
            print(f"| {r['label']} | {r['delivered']}/{r['expected']} | {r['repeated']} | {r['early']} | "
                  f"{r['p50_s']:.2f} | {r['p99_s']:.2f} | {rss(r['rss_during'])}; {rss(r['rss_after'])} |")
    else:
        print(f"\n{a.users} users x {a.routines} routines, one Web Push device each, due at one second, staged ahead\n")
        print("| database | delivered | repeated | early | deliveries/s | p50 lateness s | p99 lateness s "
              "| wire limit/s | ratio | encryption limit/s | ratio | RSS MiB during; after | MiB per 100k staged |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        for r in results:
            print(f"| {r['label']} | {r['delivered']}/{r['expected']} | {r['repeated']} | {r['early']} | "
                  f"{r['rate']:.0f} | {r['p50_s']:.2f} | {r['p99_s']:.2f} | {r['wire']:.0f} | "
                  f"{r['rate'] / r['wire']:.1%} | {r['encrypt']:.0f} | {r['rate'] / r['encrypt']:.1%} | "
                  f"{rss(r['rss_during'])}; {rss(r['rss_after'])} | {r['mib_per_100k_staged']:.1f} |")
    if any(r["delivered"] != r["expected"] or r["repeated"] or r["early"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
