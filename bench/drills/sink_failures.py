#!/usr/bin/env python3
"""Drill: the push service fails. The sink answers 500 for its first 2 s, then 429 with `Retry-After: 15` for
6 s, and 410 for every fifth device, always. Checked from what reached the sink (which decrypts each payload):
- each reminder to a live device was tried 500, then (unless the scheduler already held the service's queue
  back) 429, then delivered once, in that order;
- the retry after a 500 waited at least the first backoff (5 s less its 25% jitter);
- the retry after a 429 waited at least the 15 s of Retry-After, and after the first 429 the service got
  nothing more (but sends already in flight) until its Retry-After had passed: a 429 holds back its queue;
- a device answered 410 gets nothing after that answer, and it is gone from the database;
- nothing else was lost or sent twice.

    python3 bench/drills/sink_failures.py [--small] [--postgres]
"""
import argparse, collections, os, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mfbench as mf

RETRY_AFTER_S = 15
FIRST_BACKOFF_MIN_S = 5 * 0.75


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of an SQLite file")
    a = ap.parse_args()
    users, routines = (20, 2) if a.small else (1000, 5)
    keys = mf.device_keys()
    sink = mf.Sink("--ua-private-key", keys["private_key"], "--auth", keys["auth"], "--fail-500-ms", "2000",
                   "--then-429-ms", "6000", "--retry-after-s", str(RETRY_AFTER_S), workers=2)
    pg = mf.PgDatabase() if a.postgres else None
    d = tempfile.mkdtemp(prefix="mf-drill-")
    url = pg.url if pg else f"sqlite://{d}/drill.db?mode=rwc"
    scheduler = None
    try:
        info = mf.seed(url, sink, keys, users, routines, gone_every=5, lead_s=5)
        gone_devices = (users + 4) // 5
        live = (users - gone_devices) * routines
        mf.log(f"seeded {users} users ({gone_devices} with a gone device), {info['occurrences']} occurrences due at "
               f"{info['due_at']}")
        scheduler = mf.scheduler(url, {"MILKFLOW_SCHEDULER_BATCH": "1000"}, log_level="info")
        time.sleep(max(0, info["due_at_ms"] / 1000 - time.time()))
        sink.wait_count(live, timeout=120, status=201)
        time.sleep(3)  # anything late or repeated would arrive by now
        arrivals = sorted(sink.arrivals(), key=lambda x: x["at_ms"])
        problems = []
        tries = collections.defaultdict(list)
        for x in arrivals:
            tries[(x["occurrence"], x["device"])].append(x)
        delivered = 0
        for (occ, device), seen in tries.items():
            statuses = [x["status"] for x in seen]
            if device.startswith("gone-"):
                continue
            if statuses not in ([500, 429, 201], [500, 201]):
                problems.append(f"{occ} to {device}: answered {statuses}, expected [500, 429, 201] or [500, 201]")
                continue
            delivered += 1
            gap_500 = (seen[1]["at_ms"] - seen[0]["at_ms"]) / 1000
            if gap_500 < FIRST_BACKOFF_MIN_S:
                problems.append(f"{occ} to {device}: retried {gap_500:.2f} s after a 500")
            gap_429 = (seen[-1]["at_ms"] - seen[1]["at_ms"]) / 1000
            if len(seen) == 3 and gap_429 < RETRY_AFTER_S:
                problems.append(f"{occ} to {device}: retried {gap_429:.2f} s after a 429 with Retry-After {RETRY_AFTER_S}")
        first_429 = min((x["at_ms"] for x in arrivals if x["status"] == 429), default=None)
        if first_429 is None:
            problems.append("no request was answered 429")
        else:
            # Sends in flight when the 429 came may still land within the first second.
            held = [x for x in arrivals if first_429 + 1000 < x["at_ms"] < first_429 + (RETRY_AFTER_S - 0.5) * 1000]
            if held:
                problems.append(f"{len(held)} requests reached the service inside the Retry-After of its first 429")
        gaps_500 = [(s[1]["at_ms"] - s[0]["at_ms"]) / 1000 for k, s in tries.items() if len(s) >= 2]
        gaps_429 = [(s[2]["at_ms"] - s[1]["at_ms"]) / 1000 for k, s in tries.items() if len(s) == 3]
        # A gone device: nothing after the first 410 was answered (sends already in flight then may still land).
        by_device = collections.defaultdict(list)
        for x in arrivals:
            if x["device"].startswith("gone-"):
                by_device[x["device"]].append(x)
        for device, seen in by_device.items():
            first_410 = min(x["at_ms"] for x in seen if x["status"] == 410)
            late = [x for x in seen if x["at_ms"] > first_410 + 1000]
            if late:
                problems.append(f"{device}: {len(late)} requests after its 410")
        if len(by_device) != gone_devices:
            problems.append(f"{len(by_device)} gone devices were tried, expected {gone_devices}")
        if delivered != live:
            problems.append(f"{delivered} reminders delivered to live devices, expected {live}")
        held_back = sum(1 for s in tries.values() if [x["status"] for x in s] == [500, 201])
        mf.log(f"{len(arrivals)} requests; {delivered}/{live} reminders delivered after a 500 ({held_back} held back by "
               f"the service's pause rather than answered 429); retry after a 500 "
               f"waited {min(gaps_500, default=0):.1f}-{max(gaps_500, default=0):.1f} s, after a 429 "
               f"{min(gaps_429, default=0):.1f}-{max(gaps_429, default=0):.1f} s; {len(by_device)} gone devices "
               f"received {sum(len(v) for v in by_device.values())} requests, all answered 410")
        if pg:
            remaining = int(pg.query("select count(*) from devices where target like '%/gone-%'"))
        else:
            import sqlite3
            with sqlite3.connect(f"{d}/drill.db") as c:
                remaining = c.execute("select count(*) from devices where target like '%/gone-%'").fetchone()[0]
        if remaining:
            problems.append(f"{remaining} gone devices are still stored")
        if problems:
            for p in problems[:20]:
                mf.log("  " + p)
            raise SystemExit("sink failure drill: FAILED")
        mf.log("sink failure drill: passed")
    finally:
        if scheduler:
            scheduler.stop()
        sink.stop()
        if pg:
            pg.close()


if __name__ == "__main__":
    main()
