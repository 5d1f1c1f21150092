"""fac-scheduler: promotion of delayed jobs and leader election
(docs/scheduler.md "Promotion", "Leader election"; DESIGN §7), and the
supervisor running it as a child (scheduler: true)."""

import os
import signal
import threading
import time

from conftest import (children_of, ctl, delayed_key, job, leader_key, now_ms,
                      pack, ready_key, schedule, unpack, wait_result,
                      wait_until)

LAG_LIMIT_MS = 50  # "at most a few ms late"; generous for a loaded 2-core box


def test_a_delayed_job_runs_when_due_not_before(fac):
    fac.start(workers=1)
    fac.scheduler()
    due = now_ms() + 600
    jid = schedule(fac.r, job("echo", {"x": 1}), due)
    rec = wait_result(fac.r, jid, timeout=5)
    assert rec["status"] == "Success"
    lag = rec["started_at"] - due
    assert 0 <= lag < LAG_LIMIT_MS, "started %d ms after its due time" % lag


def test_enqueue_in_schedules_and_status_says_scheduled(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    res = ctl(cfg, "enqueue", "echo", "{}", "--id", "later-1", "--in", "30s")
    assert res.returncode == 0, res.stderr
    assert fac.r.zcard(delayed_key()) == 1
    st = ctl(cfg, "status", "later-1")
    assert st.stdout.split()[0] == "scheduled", st.stdout
    assert 28000 < int(st.stdout.split('"due_in_ms":')[1].rstrip("}\n")) <= 30000


def test_enqueue_at_runs_at_that_time_and_wait_returns_the_result(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    at = time.time() + 0.8
    t0 = time.monotonic()
    res = ctl(cfg, "enqueue", "echo", '{"a": 2}', "--at", "%.3f" % at,
              "--wait", "--wait-timeout", "5")
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 >= 0.7


def test_due_jobs_are_promoted_in_due_order(fac):
    envs = [job("noop", id="due-%d" % i) for i in range(5)]
    base = now_ms() - 10_000
    for i in (3, 0, 4, 1, 2):  # added out of order
        fac.r.zadd(delayed_key(), {pack(envs[i]): base + i})
    fac.scheduler()
    wait_until(lambda: fac.r.llen(ready_key()) == 5, 5, what="5 promoted jobs")
    # workers take from the right: the right end must be the earliest due
    served = [unpack(x)["id"] for x in reversed(fac.r.lrange(ready_key(), 0, -1))]
    assert served == ["due-%d" % i for i in range(5)]
    assert fac.r.zcard(delayed_key()) == 0


def test_an_earlier_job_wakes_a_sleeping_scheduler(fac):
    fac.scheduler()
    schedule(fac.r, job("noop", id="far"), now_ms() + 60_000)
    time.sleep(0.3)  # the scheduler now sleeps until "far" (or its 1 s cap)
    due = now_ms() + 150
    schedule(fac.r, job("noop", id="near"), due)
    wait_until(lambda: fac.r.llen(ready_key()) == 1, 3, interval=0.001,
               what="the near job promoted")
    late = now_ms() - due
    assert late < LAG_LIMIT_MS, "promoted %d ms late" % late
    assert fac.r.zcard(delayed_key()) == 1


def test_many_due_jobs_are_promoted_in_batches_without_blocking_redis(fac):
    n = 50_000
    r = fac.r
    pipe = r.pipeline(transaction=False)
    due = now_ms() - 1000
    for i in range(n):
        pipe.zadd(delayed_key(), {pack(job("noop", id="b%d" % i)): due + i % 97})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    stalls = []
    done = threading.Event()

    def ping():
        while not done.is_set():
            t0 = time.perf_counter()
            r.ping()
            stalls.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.001)

    t = threading.Thread(target=ping, daemon=True)
    t.start()
    t0 = time.monotonic()
    fac.scheduler(wait_leader=False)
    wait_until(lambda: r.llen(ready_key()) == n, 20, interval=0.005,
               what="%d promoted jobs" % n)
    took = time.monotonic() - t0
    done.set()
    t.join(5)
    print("%d jobs promoted in %.2f s; slowest PING meanwhile %.1f ms"
          % (n, took, max(stalls)))
    assert r.zcard(delayed_key()) == 0
    assert max(stalls) < 100, "Redis was blocked for %.1f ms" % max(stalls)


def test_only_one_of_two_schedulers_is_active(fac):
    a = fac.scheduler()
    b = fac.scheduler(wait_leader=False)
    time.sleep(1.5)
    leaders = [s for s in (a, b) if s.is_leader(fac.r)]
    assert len(leaders) == 1
    assert "is now the active scheduler" in a.log_text()
    assert "is now the active scheduler" not in b.log_text()


def test_the_standby_takes_over_within_seconds_of_a_sigkill(fac):
    a = fac.scheduler()
    b = fac.scheduler(wait_leader=False)
    time.sleep(0.5)
    active, standby = (a, b) if a.is_leader(fac.r) else (b, a)
    active.kill(signal.SIGKILL)
    t0 = time.monotonic()
    wait_until(lambda: standby.is_leader(fac.r), 6, interval=0.05,
               what="the standby holding the lease")
    took = time.monotonic() - t0
    print("took over after %.2f s" % took)
    assert took < 4.5
    schedule(fac.r, job("noop", id="after-takeover"), now_ms() + 100)
    wait_until(lambda: fac.r.llen(ready_key()) == 1, 3,
               what="a job promoted by the new leader")


def test_a_stopped_scheduler_hands_over_at_once(fac):
    a = fac.scheduler()
    b = fac.scheduler(wait_leader=False)
    time.sleep(0.5)
    active, standby = (a, b) if a.is_leader(fac.r) else (b, a)
    assert active.stop() == 0
    wait_until(lambda: standby.is_leader(fac.r), 1.5, interval=0.02,
               what="the standby holding the lease after a clean stop")


def _scheduler_child(pool):
    for pid in pool.child_pids():
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            continue
        if exe.endswith("/fac-scheduler"):
            return pid
    return None


def test_the_supervisor_runs_restarts_and_stops_the_scheduler(fac):
    pool = fac.start(workers=1, scheduler=True)
    child = wait_until(lambda: _scheduler_child(pool), 5,
                       what="a fac-scheduler child")
    wait_until(lambda: fac.r.get(leader_key()), 5, what="the child leading")
    jid = schedule(fac.r, job("echo", {"k": 1}), now_ms() + 200)
    assert wait_result(fac.r, jid, timeout=5)["status"] == "Success"
    os.kill(child, signal.SIGKILL)
    again = wait_until(lambda: (_scheduler_child(pool) or 0) not in (0, child)
                       and _scheduler_child(pool), 8,
                       what="the scheduler restarted")
    assert again != child
    # the killed child's lease runs out, then the new one leads
    wait_until(lambda: fac.r.get(leader_key()) == b"itest:%d" % again, 6,
               what="the restarted scheduler leading")
    pool.signal(signal.SIGTERM)
    assert pool.wait_exit(10) == 0
    assert not children_of(pool.pid)
    wait_until(lambda: not os.path.exists("/proc/%d" % again)
               or open("/proc/%d/stat" % again).read().split()[2] == "Z", 5,
               what="the scheduler child gone")
    assert fac.r.get(leader_key()) is None, "the lease was not released"
