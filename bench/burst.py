#!/usr/bin/env python3
"""Scheduler burst: USERS users with one Web Push device each and ROUTINES routines each, all due in the same
minute, delivered by milkflow-scheduler processes to the sink on 127.0.0.1, which accepts and counts. Reports
deliveries/s, p50/p99 lateness (arrival at the sink minus the due instant) and the ratio to the wire limit:
reqwest alone POSTing the same encrypted payloads to the same sink, measured in the same run; and the ratio to
the encryption limit: the same RFC 8291 encryption alone on every core, which the wire limit leaves out.

    python3 bench/burst.py                      # 10,000 users x 10 routines: PostgreSQL (2 schedulers), SQLite (1)
    python3 bench/burst.py --users 1000 --routines 5 --only sqlite
"""
import argparse, os, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfbench as mf


def burst(label, url, processes, users, routines, keys, settings):
    sink = mf.Sink()
    schedulers = []
    try:
        # Seeding near-due routines runs at about 1,300-2,000 a second on PostgreSQL here, 25,000 on SQLite; the
        # due instant must come after it, or lateness and the rate would include the seeding.
        lead = 15 + users * routines // (1000 if url.startswith("postgres") else 4000)
        info = mf.seed(url, sink, keys, users, routines, lead_s=lead)
        expected = info["occurrences"]
        mf.log(f"{label}: seeded {info['users']} users, {info['routines']} routines in {info['seeded_in_s']:.1f} s; "
               f"{expected} occurrences due at {info['due_at']}")
        schedulers = [mf.scheduler(url, settings) for _ in range(processes)]
        wait = info["due_at_ms"] / 1000 - time.time()
        if wait < 0:
            mf.log(f"{label}: WARNING seeding ended {-wait:.1f} s after the due instant; lateness includes that")
        time.sleep(max(0, wait))
        got = sink.wait_count(expected, timeout=600, status=201, every=1.0)
        rss = [mf.rss_mib(s.pid) for s in schedulers]
        accepted = [a["at_ms"] for a in got if a["status"] == 201]
        due = info["due_at_ms"]
        late = [at - due for at in accepted]
        span = (max(accepted) - due) / 1000 if accepted else float("nan")
        result = {
            "label": label, "processes": processes, "expected": expected, "delivered": len(accepted),
            "other": len(got) - len(accepted), "seconds": span, "rate": len(accepted) / span if span else 0,
            "p50_s": mf.percentile(late, 50) / 1000, "p99_s": mf.percentile(late, 99) / 1000,
            "rss_mib": rss,
        }
        per_second = {}
        for at in accepted:
            per_second[(at - due) // 1000] = per_second.get((at - due) // 1000, 0) + 1
        mf.log(f"{label}: deliveries per second after the due instant: "
               + " ".join(str(per_second.get(k, 0)) for k in range(0, max(per_second, default=0) + 1)))
        for s in schedulers:
            s.stop()
        schedulers = []
        sink.reset()
        wire = mf.subprocess.run(
            [os.path.join(mf.BIN, "milkflow-bench"), "wire", "--endpoint", sink.endpoint, "--requests", str(expected),
             "--p256dh", keys["p256dh"], "--auth", keys["auth"]], capture_output=True, text=True, check=True)
        result["wire"] = mf.json.loads(wire.stdout)["rps"]
        encrypt = mf.subprocess.run(
            [os.path.join(mf.BIN, "milkflow-bench"), "encrypt", "--requests", str(expected),
             "--p256dh", keys["p256dh"], "--auth", keys["auth"]], capture_output=True, text=True, check=True)
        result["encrypt"] = mf.json.loads(encrypt.stdout)["rps"]
        return result
    finally:
        for s in schedulers:
            s.stop()
        sink.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--routines", type=int, default=10)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--pg-processes", type=int, default=2)
    a = ap.parse_args()
    keys = mf.device_keys()
    settings = {"MILKFLOW_SCHEDULER_BATCH": "1000"}
    results = []
    if a.only != "sqlite":
        if not mf.pg_available():
            raise SystemExit("PostgreSQL is not reachable at " + mf.PG)
        db = mf.PgDatabase()
        try:
            results.append(burst(f"PostgreSQL, {a.pg_processes} schedulers", db.url, a.pg_processes, a.users,
                                 a.routines, keys, settings))
        finally:
            db.close()
    if a.only != "postgres":
        d = tempfile.mkdtemp(prefix="mf-burst-")
        results.append(burst("SQLite, 1 scheduler", f"sqlite://{d}/burst.db?mode=rwc", 1, a.users, a.routines,
                             keys, settings))
    print(f"\n{a.users} users x {a.routines} routines, one Web Push device each, due in one minute\n")
    print("| database | delivered | deliveries/s | p50 lateness s | p99 lateness s | wire limit/s | ratio "
          "| encryption limit/s | ratio | scheduler RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['label']} | {r['delivered']}/{r['expected']} | {r['rate']:.0f} | {r['p50_s']:.1f} | "
              f"{r['p99_s']:.1f} | {r['wire']:.0f} | {r['rate'] / r['wire']:.1%} | {r['encrypt']:.0f} | "
              f"{r['rate'] / r['encrypt']:.1%} | {', '.join(f'{x:.0f}' for x in r['rss_mib'])} |")
    if any(r["delivered"] != r["expected"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
