#!/usr/bin/env python3
"""Drill: four milkflow-scheduler processes on one PostgreSQL database deliver a burst. One is SIGKILLed while
the burst is being staged ahead of its due time, one mid-burst. Every occurrence must reach every device (0
lost, counted at a sink that decrypts each payload), and nothing may be sent before its due instant.

A reminder whose push request had reached the sink when its sender died, but whose outcome was not yet written,
is sent again once its lease ends: no protocol can tell the survivors whether that request arrived. So the drill
demands 0 duplicates outside that window: any repeated (occurrence, device) must be one the killed process held
leased and unrecorded at its death, and it reports how many there were.

    python3 bench/drills/kill_scheduler.py            # 10,000 users x 10 routines
    python3 bench/drills/kill_scheduler.py --small    # 400 users x 5 routines (CI)
"""
import argparse, collections, os, signal, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mfbench as mf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args()
    users, routines, batch = (400, 5, "50") if a.small else (10_000, 10, "1000")
    if not mf.pg_available():
        raise SystemExit("PostgreSQL is not reachable at " + mf.PG)
    keys = mf.device_keys()
    sink = mf.Sink("--ua-private-key", keys["private_key"], "--auth", keys["auth"], workers=2)
    db = mf.PgDatabase()
    schedulers = []
    try:
        info = mf.seed(db.url, sink, keys, users, routines, lead_s=10 + users * routines // 4000)
        expected = info["occurrences"]
        mf.log(f"seeded {info['users']} users and {expected} occurrences due at {info['due_at']}")
        # A short lease, so the dead process's deliveries are taken again soon; a send must end inside it.
        settings = {"MILKFLOW_SCHEDULER_LEASE_S": "10", "MILKFLOW_PUSH_TIMEOUT_S": "5",
                    "MILKFLOW_SCHEDULER_BATCH": batch}
        schedulers = [mf.scheduler(db.url, settings, log_level="info") for _ in range(4)]
        # Staging: the occurrences are due within the look-ahead window, so their deliveries are made now.
        while int(db.query("select count(*) from deliveries where status = 'staged'")) < expected * 0.2:
            if time.time() > info["due_at_ms"] / 1000:
                raise SystemExit("FAILED: nothing was staged before the due instant")
            time.sleep(0.01)
        stager = schedulers.pop()
        stager.kill(signal.SIGKILL)
        staged = int(db.query("select count(*) from deliveries where status = 'staged'"))
        mf.log(f"SIGKILLed scheduler {stager.pid} while staging: {staged} of {expected} deliveries staged")
        time.sleep(max(0, info["due_at_ms"] / 1000 - time.time()))
        while sink.count(201) < expected * 0.3:
            time.sleep(0.02)
        victim = schedulers[0]
        victim.kill(signal.SIGKILL)
        killed_at = time.time()
        at_kill = sink.count(201)
        # What the dead process held: leased to it and not yet recorded (sent, in flight or not yet begun).
        held = db.query(
            "select o.id || ' ' || regexp_replace(d.target, '^.*/', '') from deliveries x "
            "join occurrences o on o.id = x.occurrence_id join devices d on d.id = x.device_id "
            f"where x.leased_by like '{victim.pid}-%' and x.status in ('pending', 'retrying', 'staged')")
        held = set(held.splitlines())
        mf.log(f"SIGKILLed scheduler {victim.pid} after {at_kill} of {expected} deliveries; it held {len(held)} "
               "leased, unrecorded deliveries")
        if at_kill >= expected:
            raise SystemExit("FAILED: the burst ended before the kill; the drill proves nothing")
        # Repeats count too, so the raw count can reach `expected` while a pair is still on its way (taken again
        # after a lease): wait for every distinct pair, then a lease's length for anything sent twice.
        deadline = time.time() + 300
        sink.wait_count(expected, timeout=300, status=201)
        while len(accepted_pairs(sink.arrivals())) < expected and time.time() < deadline:
            time.sleep(2)
        mf.log(f"every distinct pair had arrived {time.time() - killed_at:.1f} s after the kill")
        time.sleep(11)
        arrivals = sink.arrivals()
        pairs = accepted_pairs(arrivals)
        want = set(db.query(
            "select o.id || ' ' || regexp_replace(d.target, '^.*/', '') from occurrences o "
            f"join devices d on d.user_id = o.user_id where o.due_at = '{info['due_at']}' and o.kind = 'routine'"
        ).splitlines())
        lost = want - set(pairs)
        unexpected = set(pairs) - want
        duplicated = {p for p, n in pairs.items() if n > 1}
        outside = duplicated - held
        refused = [a for a in arrivals if a["status"] != 201]
        early = [a for a in arrivals if a["at_ms"] < info["due_at_ms"]]
        if early:
            mf.log(f"{len(early)} pushes arrived before the due instant")
        mf.log(f"expected {len(want)}, received {sum(pairs.values())} accepted pushes, {len(pairs)} distinct; "
               f"lost {len(lost)}, duplicated {len(duplicated)} (all within the killed process's unrecorded "
               f"leases: {not outside}), unexpected {len(unexpected)}, refused {len(refused)}")
        ok = len(want) == expected and not lost and not unexpected and not outside and not refused and not early
        if not ok:
            for p in list(lost)[:5] + list(outside)[:5]:
                mf.log("  e.g.", p)
            raise SystemExit("kill drill: FAILED")
        mf.log("kill drill: passed")
    finally:
        for s in schedulers:
            s.stop()
            if "panicked" in s.log_text():
                mf.log(s.log_text()[-3000:])
        sink.stop()
        db.close()


def accepted_pairs(arrivals):
    """How many times each (occurrence, device) pair was accepted."""
    return collections.Counter(f"{a['occurrence']} {a['device']}" for a in arrivals if a["status"] == 201)


if __name__ == "__main__":
    main()
