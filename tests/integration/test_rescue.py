"""Rescue of a vanished host's jobs (docs/scheduler.md "Rescue"): the
in-flight jobs of workers whose heartbeat, and whose supervisor's, is older
than dead_after go back to their queue with attempt + 1; a job that has
killed its worker too often goes dead (a poison pill) instead of killing the
pool forever."""

import time

from conftest import (builtin_tools, dead_entries, enqueue_many,
                      fetch_results, inflight_count, inflight_key, job,
                      now_ms, pack, ready_key, unpack, wait_all_results,
                      wait_result, wait_until)

TOOLS = builtin_tools("echo", "noop", sleep={"timeout": 60})


def _plant(r, wid, jobs, beat_ms, sup=None, queue="default"):
    """A worker of another host, as it was left when that host vanished."""
    r.zadd("fac:workers", {wid: beat_ms})
    fields = {"pid": wid.rsplit(":", 1)[1], "host": wid.split(":")[0],
              "queues": queue, "state": "busy"}
    if sup:
        fields["sup"] = sup
    r.hset("fac:worker:%s" % wid, mapping=fields)
    r.lpush(inflight_key(wid, queue), *[pack(j) for j in jobs])


def test_a_silent_hosts_jobs_run_again_with_the_next_attempt(fac):
    cfg = fac.config(workers=1, tools=TOOLS, dead_after=1)
    a, b = job("echo", {"n": 1}), job("echo", {"n": 2})
    _plant(fac.r, "gone:4242", [a, b], now_ms() - 5000, sup="gone:1")
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    for env in (a, b):
        rec = wait_result(fac.r, env["id"], timeout=5)
        assert rec["status"] == "Success" and rec["attempt"] == 1, rec
    assert fac.r.zscore("fac:workers", "gone:4242") is None
    assert not fac.r.exists("fac:worker:gone:4242")


def test_a_worker_whose_supervisor_lives_is_left_to_it(fac):
    cfg = fac.config(workers=1, tools=TOOLS, dead_after=1)
    env = job("echo")
    _plant(fac.r, "busy:77", [env], now_ms() - 5000, sup="busy:1")
    fac.r.zadd("fac:supervisors", {"busy:1": now_ms()})
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # that supervisor keeps heartbeating
        fac.r.zadd("fac:supervisors", {"busy:1": now_ms()})
        time.sleep(0.2)
    assert fac.r.llen(inflight_key("busy:77")) == 1, "a live host's job was taken"
    # its supervisor falls silent too: now the job is rescued
    assert wait_result(fac.r, env["id"], timeout=5)["attempt"] == 1


def test_a_whole_pool_sigkilled_mid_stream_finishes_on_a_second_pool(fac):
    first = fac.config(name="a.json", host_id="host-a", workers=2,
                       concurrency=8, tools=TOOLS)
    pool_a = fac.start(config=first)
    envs = [job("sleep", {"ms": 50}) for _ in range(600)]
    ids = enqueue_many(fac.r, envs)
    wait_until(lambda: len(fetch_results(fac.r, ids)) >= 100, 20,
               what="100 jobs done on the first pool")
    pool_a.kill()  # supervisor and workers, mid-stream
    held = inflight_count(fac.r)
    assert held > 0, "nothing was in flight when the pool died"
    second = fac.config(name="b.json", host_id="host-b", workers=2,
                        concurrency=8, tools=TOOLS, scheduler=True,
                        dead_after=1)
    fac.start(config=second)
    res = wait_all_results(fac.r, ids, timeout=40, interval=0.1)
    again = [x for x in res.values() if x["attempt"] == 1]
    # a held job that had finished (result stored, audit not yet durable) is
    # only acknowledged; the others run again with attempt 1
    print("%d jobs in flight at the kill; %d ran again" % (held, len(again)))
    assert all(x["status"] == "Success" for x in res.values())
    assert 0 < len(again) <= held
    assert dead_entries(fac.r) == []
    wait_until(lambda: inflight_count(fac.r) == 0
               and fac.r.llen(ready_key()) == 0, 5, what="everything acked")


def test_a_rescued_job_at_its_death_limit_goes_dead_with_its_history(fac):
    cfg = fac.config(workers=1, tools=TOOLS, dead_after=1)
    env = job("echo", attempt=2, errors=[
        {"attempt": 0, "type": "WorkerLost", "message": "x", "at": 1},
        {"attempt": 1, "type": "WorkerLost", "message": "y", "at": 2}])
    _plant(fac.r, "gone:99", [env], now_ms() - 5000)
    fac.scheduler(config=cfg)
    wait_until(lambda: dead_entries(fac.r), 5, what="the poison job dead")
    (entry,) = dead_entries(fac.r)
    assert entry["id"] == env["id"] and entry["error"]["type"] == "WorkerLost"
    assert [e["attempt"] for e in entry["errors"]] == [0, 1, 2]
    assert "gone:99" in entry["errors"][2]["message"]
    assert unpack(fac.r.get("fac:result:%s" % env["id"]))["status"] == "Error"


def test_a_job_that_kills_its_worker_every_time_goes_dead_and_the_pool_lives(fac):
    tools = builtin_tools("echo", hang={"timeout": 60})
    pool = fac.start(workers=1, heartbeat_timeout=0.5, kill_grace=0.2,
                     test_tools=True, tools=tools, scheduler=True)
    poison = job("hang", max_attempts=4)
    enqueue_many(fac.r, [poison])
    wait_until(lambda: dead_entries(fac.r), 20, interval=0.1,
               what="the poison job dead")
    (entry,) = dead_entries(fac.r)
    assert entry["error"]["type"] == "WorkerLost"
    assert [e["attempt"] for e in entry["errors"]] == [0, 1, 2, 3]
    pool.wait_workers(1, timeout=10)
    rec = wait_result(fac.r, enqueue_many(fac.r, [job("echo")])[0], timeout=10)
    assert rec["status"] == "Success"


def test_a_zombie_worker_of_an_earlier_supervisor_is_rescued_at_start(fac):
    """A worker SIGKILLed with its supervisor stays a zombie until init reaps
    it; a supervisor started in that moment must still rescue its jobs at
    start, not leave them to the scheduler's dead_after (docs/chaos.md)."""
    import subprocess
    zombie = subprocess.Popen(["/bin/sleep", "60"])
    zombie.kill()
    wait_until(lambda: open("/proc/%d/stat" % zombie.pid).read()
               .rsplit(")", 1)[1].split()[0] == "Z", 5, what="a zombie")
    try:
        env = job("echo")
        wid = "itest:%d" % zombie.pid
        _plant(fac.r, wid, [env], now_ms())
        fac.start(workers=1, tools=TOOLS)
        assert wait_result(fac.r, env["id"], timeout=5)["attempt"] == 1
    finally:
        zombie.wait()
