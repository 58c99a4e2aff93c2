#!/usr/bin/env python3
"""Scale of storage: a PostgreSQL database with N routines (each with its planned occurrence, due half a day
away), one milkflow-scheduler on it. Reports the scheduler's resident memory after it has ticked for a while,
at each size, and the plans of the tick's two claim queries (written as tick.rs builds them).

    python3 bench/storage.py                        # 10,000 then 1,000,000 routines
    python3 bench/storage.py --sizes 10000 100000
"""
import argparse, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfbench as mf

CLAIM_OCCURRENCES = ("SELECT * FROM occurrences WHERE state = 'planned' AND due_at <= now() "
                     "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED")
CLAIM_DELIVERIES = ("SELECT * FROM deliveries WHERE status IN ('pending', 'retrying') AND next_attempt_at <= now() "
                    "AND (lease_until IS NULL OR lease_until < now()) ORDER BY next_attempt_at LIMIT 500 "
                    "FOR UPDATE SKIP LOCKED")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--settle-s", type=int, default=20)
    a = ap.parse_args()
    keys = mf.device_keys()
    sink = mf.Sink()
    db = mf.PgDatabase()
    rows = []
    try:
        seeded = 0
        for size in sorted(a.sizes):
            users = (size - seeded) // 10
            if users > 0:
                info = mf.seed(db.url, sink, keys, users, 10, far=True)
                seeded += info["routines"]
                mf.log(f"{seeded} routines stored ({info['seeded_in_s']:.0f} s to add {info['routines']})")
            s = mf.scheduler(db.url)
            try:
                time.sleep(a.settle_s)
                rss = mf.rss_mib(s.pid)
            finally:
                s.stop()
            plans = {name: db.query("EXPLAIN " + sql) for name, sql in
                     [("occurrences", CLAIM_OCCURRENCES), ("deliveries", CLAIM_DELIVERIES)]}
            rows.append((seeded, rss, plans))
        # A deliveries table in service holds mostly history: one delivered row per stored occurrence, and a
        # few waiting for a retry later. Its claim must still read only the waiting ones.
        db.query("INSERT INTO deliveries (id, occurrence_id, device_id, user_id, provider, status, attempts, "
                 "next_attempt_at, due_at, expires_at, sent_at, last_status, created_at, updated_at) "
                 "SELECT gen_random_uuid(), o.id, d.id, o.user_id, 'web', "
                 "CASE WHEN random() < 0.001 THEN 'retrying' ELSE 'delivered' END, 1, "
                 "o.due_at, o.due_at, o.due_at + interval '1 hour', now(), 201, now(), now() "
                 "FROM occurrences o JOIN devices d ON d.user_id = o.user_id")
        db.query("ANALYZE deliveries")
        history = db.query("SELECT count(*) FROM deliveries")
        plans["deliveries, with history"] = db.query("EXPLAIN " + CLAIM_DELIVERIES)
        mf.log(f"{history} deliveries stored (about 0.1% waiting)")
    finally:
        sink.stop()
        db.close()
    print("\n| routines stored | scheduler RSS MiB after ticking |\n| ---: | ---: |")
    for n, rss, _ in rows:
        print(f"| {n} | {rss:.1f} |")
    n, _, plans = rows[-1]
    for name, plan in plans.items():
        print(f"\nClaim of {name} with {n} routines stored:\n\n```\n{plan}\n```")


if __name__ == "__main__":
    main()
