"""No job lost when workers are SIGKILLed mid-stream (DESIGN §8, docs/protocol.md
"Delivery guarantee", docs/operations.md: a reaped worker's in-flight jobs go
back to the front of their queue with attempt + 1)."""

import os
import random
import signal
import threading
import time
from collections import Counter

from conftest import (dead_entries, fetch_results, inflight_count, job, pack,
                      ready_key, wait_all_results)

TOTAL = 20_000
KILLS = 5


def test_no_job_lost_when_workers_are_sigkilled_mid_stream(fac):
    pool = fac.start(workers=2, concurrency=16)
    r = fac.r
    envs = [job("echo", {"i": i}) for i in range(TOTAL)]
    ids = [e["id"] for e in envs]
    payloads = [pack(e) for e in envs]

    produced = threading.Event()

    def produce():
        # ~10,000 jobs/s for 2 s, so the kills land while jobs flow
        pipe = r.pipeline(transaction=False)
        for start in range(0, TOTAL, 500):
            t0 = time.monotonic()
            for data in payloads[start:start + 500]:
                pipe.lpush(ready_key(), data)
            pipe.execute()
            time.sleep(max(0.0, 0.05 - (time.monotonic() - t0)))
        produced.set()

    kills = []

    def kill_workers():
        rng = random.Random(1234)
        time.sleep(0.3)
        while len(kills) < KILLS:
            pids = sorted(pool.worker_pids())
            if not pids:  # both restarting: try again shortly
                time.sleep(0.02)
                continue
            pid = rng.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            done = len(fetch_results(r, ids[::50]))
            kills.append((round(time.monotonic() - t_start, 2), pid,
                          done * 50))
            time.sleep(0.3)

    t_start = time.monotonic()
    threads = [threading.Thread(target=produce, daemon=True),
               threading.Thread(target=kill_workers, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert produced.is_set(), "producer did not finish"
    assert len(kills) == KILLS, "only %d kills happened" % len(kills)
    print("kills (s since start, pid, ~results done):", kills)

    res = wait_all_results(r, ids, timeout=60, interval=0.25)
    elapsed = time.monotonic() - t_start
    statuses = Counter(x["status"] for x in res.values())
    attempts = Counter(x.get("attempt", 0) for x in res.values())
    rerun = sum(n for a, n in attempts.items() if a > 0)
    print("%d jobs in %.1fs; statuses %s; ran more than once: %d (attempts %s)"
          % (len(res), elapsed, dict(statuses), rerun, dict(attempts)))

    assert len(res) == TOTAL
    # only a job hit by 3 of the 5 kills may go dead (WorkerLost)
    not_ok = {j: x for j, x in res.items() if x["status"] != "Success"}
    for x in not_ok.values():
        assert x.get("error", {}).get("type") == "WorkerLost", x
    assert len(not_ok) == len(dead_entries(r))
    wait = time.monotonic() + 5
    while inflight_count(r) and time.monotonic() < wait:
        time.sleep(0.05)
    assert inflight_count(r) == 0
    assert r.llen(ready_key()) == 0
    assert pool.running()
    pool.wait_workers(2, timeout=10)
