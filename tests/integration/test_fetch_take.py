"""The idle worker's parked command (worker/fetch.c "take"): while it has a free
slot, a worker parks `BLMOVE ready inflight RIGHT RIGHT 0` per queue, which moves a
pushed job into its in-flight list and runs it without the fetch script; without a
free slot it parks a peek (`BLMOVE Q Q`); a burst behind a taken job is fetched in
batches; a quiet worker, or a fetch that needs the slots the takes hold, ends the
takes with CLIENT UNBLOCK; an oversized envelope a take brought goes to the dead list
inside Redis. Observed with MONITOR and CLIENT LIST on the test's own redis-server."""

import os
import signal
import threading
import time

import msgpack
import pytest
import redis as redis_py

from conftest import (builtin_tools, dead_key, enqueue, inflight_count, job,
                      ready_key, result_key, wait_result, wait_until)

TOOLS = builtin_tools("echo", "noop", sleep={"timeout": 60})


class Monitor:
    """Every command the server runs, in order, read by a thread of its own."""

    def __init__(self, port, password=None):
        self.commands = []
        self._conn = redis_py.Redis(port=port, password=password)
        self._mon = self._conn.monitor()
        self._mon.__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        try:
            for c in self._mon.listen():
                self.commands.append(c["command"])
        except Exception:  # the connection is closed by stop()
            pass

    def stop(self):
        # The reader thread may be inside the same connection's read: closing it from
        # here races with that read's own clean-up in redis-py, harmlessly.
        try:
            self._mon.__exit__(None, None, None)
        except (AttributeError, OSError, redis_py.ConnectionError):
            pass
        self._conn.close()
        self._thread.join(2)

    def seen(self, pred):
        return [c for c in list(self.commands) if pred(c)]


@pytest.fixture
def mon(fac):
    """MONITOR on the test's redis-server, from before the pool starts."""
    m = Monitor(fac.redis.port)
    yield m
    m.stop()


def _words(c):
    return c.split()


def _is_take(c, queue=None):
    w = _words(c)
    ok = (len(w) == 6 and w[0].upper() == "BLMOVE" and w[1] != w[2]
          and w[3:5] == ["RIGHT", "RIGHT"] and ":inflight:" in w[2])
    return ok and (queue is None or w[1] == ready_key(queue))


def _is_peek(c, queue=None):
    w = _words(c)
    ok = len(w) == 6 and w[0].upper() == "BLMOVE" and w[1] == w[2]
    return ok and (queue is None or w[1] == ready_key(queue))


def _is_fetch(c):
    return c.upper().startswith(("EVALSHA", "EVAL "))


def _blocked_conns(fac, queue="default"):
    """The worker's connections for `queue` that are blocked in a command."""
    return [c for c in fac.r.client_list()
            if c.get("name", "").startswith("fac-%s-" % queue) and "b" in c["flags"]]


def _parked(fac, mon, pred, timeout=5.0):
    wait_until(lambda: mon.seen(pred), timeout, what="the worker's parked BLMOVE")
    time.sleep(0.2)  # its first jobs' audit flushed and acknowledged


def test_an_idle_worker_takes_a_pushed_job_without_the_fetch_script(fac, mon):
    fac.start(workers=1, tools=TOOLS)
    _parked(fac, mon, _is_take)
    assert mon.seen(_is_peek) == [], "an idle worker with free slots peeked"
    jid = enqueue(fac.r, job("echo", {"x": 1}))
    rec = wait_result(fac.r, jid, timeout=5)
    assert rec["status"] == "Success" and rec["result"] == {"x": 1}
    wait_until(lambda: inflight_count(fac.r) == 0, 5, what="the ack")
    wait_until(lambda: mon.seen(lambda c: c.upper().startswith("LREM")), 5,
               what="the LREM in MONITOR")
    cmds = list(mon.commands)
    pushed = next(i for i, c in enumerate(cmds)
                  if c.upper().startswith("LPUSH") and ready_key() in c)
    stored = next(i for i, c in enumerate(cmds) if c.startswith("SET " + result_key(jid)))
    between = [c for c in cmds[pushed:stored] if _is_fetch(c)]
    assert between == [], "the job went through the fetch script: %r" % between
    take = [c for c in cmds[:pushed] if _is_take(c)]
    assert take and _words(take[-1])[1] == ready_key(), take
    # The queue was empty behind the job: the next take is parked, no fetch ran.
    wait_until(lambda: len(mon.seen(_is_take)) >= 2, 5, what="the next take")
    assert [c for c in list(mon.commands)[stored:] if _is_fetch(c)] == []


def test_each_queue_gets_a_take_and_a_job_on_the_second_is_taken(fac, mon):
    fac.start(workers=1, queues=["short", "default"], concurrency=4, tools=TOOLS)
    _parked(fac, mon, lambda c: _is_take(c, "default"))
    assert mon.seen(lambda c: _is_take(c, "short"))
    jid = enqueue(fac.r, job("echo", {"x": 2}), queue="default")
    assert wait_result(fac.r, jid, timeout=5)["status"] == "Success"
    assert wait_result(fac.r, enqueue(fac.r, job("echo", {"x": 3}), queue="short"),
                       timeout=5)["status"] == "Success"
    assert mon.seen(_is_peek) == []


def test_with_one_slot_a_peek_wakes_the_take_holding_it_and_the_job_runs(fac, mon):
    """Concurrency 1, two queues: the first queue's take holds the only slot, the
    second queue parks a peek. A job on the second queue must not wait for the first:
    the worker unblocks its take and fetches."""
    fac.start(workers=1, queues=["short", "default"], concurrency=1, tools=TOOLS)
    _parked(fac, mon, lambda c: _is_peek(c, "default"))
    assert mon.seen(lambda c: _is_take(c, "short"))
    for i in range(3):
        jid = enqueue(fac.r, job("echo", {"i": i}), queue="default")
        rec = wait_result(fac.r, jid, timeout=5)
        assert rec["status"] == "Success" and rec["result"] == {"i": i}
    jid = enqueue(fac.r, job("echo", {"short": 1}), queue="short")
    assert wait_result(fac.r, jid, timeout=5)["result"] == {"short": 1}
    wait_until(lambda: inflight_count(fac.r, "short") + inflight_count(fac.r) == 0, 5,
               what="every job acknowledged")


def test_a_worker_with_every_slot_busy_takes_nothing_until_one_is_free(fac, mon):
    fac.start(workers=1, concurrency=1, tools=TOOLS)
    _parked(fac, mon, _is_take)
    slow = enqueue(fac.r, job("sleep", {"ms": 1000}))
    wait_until(lambda: inflight_count(fac.r) == 1, 5, what="the sleep job taken")
    takes = len(mon.seen(_is_take))
    queued = enqueue(fac.r, job("echo", {"q": 1}))
    time.sleep(0.3)
    assert fac.r.llen(ready_key()) == 1 and inflight_count(fac.r) == 1, "a full worker took a job"
    assert len(mon.seen(_is_take)) == takes and not _blocked_conns(fac)
    assert wait_result(fac.r, slow, timeout=10)["status"] == "Success"
    assert wait_result(fac.r, queued, timeout=5)["result"] == {"q": 1}


def test_a_burst_behind_a_taken_job_is_fetched_in_batches(fac, mon):
    fac.start(workers=1, concurrency=16, tools=TOOLS)
    _parked(fac, mon, _is_take)
    before = len(mon.seen(_is_take))
    n = 400
    envs = [job("noop") for _ in range(n)]
    fac.r.lpush(ready_key(), *[msgpack.packb(e) for e in envs])
    for e in envs:
        wait_result(fac.r, e["id"], timeout=20)
    wait_until(lambda: inflight_count(fac.r) == 0, 10, what="every job acknowledged")
    takes = len(mon.seen(_is_take)) - before
    fetches = len(mon.seen(_is_fetch))
    # One job per take would be 400 takes; batches of up to 16 need at least 25 fetches.
    assert takes <= 5, "%d takes for a burst of %d jobs" % (takes, n)
    assert fetches >= n // 16, fetches


def test_a_quiet_worker_ends_its_take_and_takes_nothing(fac, mon):
    pool = fac.start(workers=1, tools=TOOLS)
    _parked(fac, mon, _is_take)
    assert _blocked_conns(fac)
    pool.signal(signal.SIGTSTP)
    # CLIENT UNBLOCK is an admin command: MONITOR does not show it, CLIENT LIST does.
    wait_until(lambda: not _blocked_conns(fac), 5, what="the take to be unblocked")
    jid = enqueue(fac.r, job("echo", {"x": 3}))
    time.sleep(0.5)
    assert fac.r.llen(ready_key()) == 1 and inflight_count(fac.r) == 0, "a quiet worker took a job"
    pool.signal(signal.SIGTSTP)
    assert wait_result(fac.r, jid, timeout=5)["status"] == "Success"


def _dead_entries(r):
    return [msgpack.unpackb(e, raw=False) for e in r.lrange(dead_key(), 0, -1)]


def test_an_oversized_job_a_take_brought_is_buried_inside_redis(fac, mon):
    """The take hands the worker the envelope; over max_payload, the worker moves it
    from its in-flight list's tail to the dead list with a script (the bytes are not
    sent back), and the entry is the fetch script's, byte for byte in its fields."""
    pool = fac.start(workers=1, max_payload="1KB", tools=TOOLS)
    pids = pool.worker_pids()
    _parked(fac, mon, _is_take)
    big = job("echo", {"blob": "x" * 4096})
    data = msgpack.packb(big)
    enqueue(fac.r, data)
    wait_until(lambda: fac.r.llen(dead_key()) == 1, 5, what="the dead entry")
    (entry,) = _dead_entries(fac.r)
    assert entry["error"]["type"] == "PayloadTooLarge" and entry["job"] == data, entry
    assert str(len(data)) in entry["reason"] and "max_payload" in entry["reason"]
    assert entry["worker"] in pool.live_workers()
    assert inflight_count(fac.r) == 0
    assert fac.r.get(result_key(big["id"])) is None
    burials = mon.seen(lambda c: c.startswith("EVAL ") and "RPOP" in c)
    assert len(burials) == 1, burials
    # The same envelope through the fetch script (the worker quiet while it is
    # pushed) gives an entry with the same fields.
    pool.signal(signal.SIGTSTP)
    wait_until(lambda: not _blocked_conns(fac), 5, what="the take to be unblocked")
    enqueue(fac.r, data)
    pool.signal(signal.SIGTSTP)
    wait_until(lambda: fac.r.llen(dead_key()) == 2, 5, what="the second dead entry")
    fetched, taken = _dead_entries(fac.r)
    assert set(fetched) == set(taken)
    for k in ("v", "queue", "reason", "error", "worker", "job"):
        assert fetched[k] == taken[k], k
    ok = enqueue(fac.r, job("echo", {"after": 1}))
    assert wait_result(fac.r, ok, timeout=5)["result"] == {"after": 1}
    assert pool.worker_pids() == pids
    wait_until(lambda: inflight_count(fac.r) == 0, 5, what="no job left in flight")


def test_a_job_taken_by_a_worker_that_is_killed_goes_back_to_its_queue(fac, mon):
    """The take is as reliable as the fetch: the job is in the in-flight list from the
    moment it is taken, and a SIGKILLed worker's list is requeued by the supervisor."""
    pool = fac.start(workers=1, concurrency=2, tools=TOOLS)
    _parked(fac, mon, _is_take)
    jid = enqueue(fac.r, job("sleep", {"ms": 30000}))
    wait_until(lambda: inflight_count(fac.r) == 1, 5, what="the job taken into flight")
    (pid,) = pool.worker_pids()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pool.worker_pids() and pool.worker_pids() != [pid], 15,
               what="a new worker")
    # Requeued with attempt + 1 and taken again by the new worker.
    wait_until(lambda: inflight_count(fac.r) == 1, 10, what="the job in flight again")
    (raw,) = [e for lst in (fac.r.lrange(k, 0, -1) for k in fac.r.keys("fac:{default}:inflight:*"))
              for e in lst]
    env = msgpack.unpackb(raw, raw=False)
    assert env["id"] == jid and env.get("attempt", 0) == 1, env


def _acl_server(redis_factory, user, *rules):
    """A redis-server of its own (admin password admin-pw) with an ACL user whose
    password is pool-pw, and MONITOR on it as the admin."""
    secured = redis_factory(password="admin-pw")
    secured.client.execute_command("ACL", "SETUSER", user, "on", ">pool-pw", *rules)
    return secured, Monitor(secured.port, password="admin-pw")


def _acl_pool(fac, secured, user, **cfg):
    """A pool serving short and default as that user."""
    return fac.start(config=fac.config(queues=["short", "default"], tools=TOOLS,
                                       redis="redis://%s:pool-pw@127.0.0.1:%d/0"
                                       % (user, secured.port), **cfg), wait=False)


def test_without_client_unblock_in_its_acl_an_idle_worker_peeks(fac, redis_factory):
    """Frappe's RQ users are `+@all -@admin`, which refuses CLIENT UNBLOCK (@admin):
    a take could then never be ended, so the worker parks peeks instead, says so once,
    naming the ACL fix, and serves every queue, also one whose take it could not end."""
    secured, mon = _acl_server(redis_factory, "facpool", "~*", "&*", "+@all", "-@admin")
    try:
        pool = _acl_pool(fac, secured, "facpool", workers=1, concurrency=1)
        r = secured.client
        for q in ("default", "short", "default"):
            jid = enqueue(r, job("echo", {"q": q}), queue=q)
            assert wait_result(r, jid, timeout=10)["result"] == {"q": q}
        wait_until(lambda: mon.seen(_is_peek), 5, what="a parked peek")
        assert mon.seen(_is_take) == [], "a take without CLIENT UNBLOCK"
        log = pool.log_text()
        assert log.count("refuses CLIENT UNBLOCK") == 1, log
        assert "ACL SETUSER <user> +client|unblock" in log
        assert "pool-pw" not in log
    finally:
        mon.stop()


def test_the_acl_the_docs_recommend_serves_jobs_with_takes(fac, redis_factory):
    """docs/operations.md "Redis ACL": a user of its own for the pool, limited to its
    keys and channels, without @admin but with CLIENT UNBLOCK (and ROLE)."""
    secured, mon = _acl_server(redis_factory, "fac-worker", "~fac:*", "&fac:*", "+@all",
                               "-@admin", "+client|unblock", "+role")
    try:
        pool = _acl_pool(fac, secured, "fac-worker", workers=2, concurrency=4)
        r = secured.client
        wait_until(lambda: mon.seen(_is_take), 10, what="a parked take")
        ids = [enqueue(r, job("echo", {"i": i}), queue=("short", "default")[i % 2])
               for i in range(20)]
        for i, jid in enumerate(ids):
            assert wait_result(r, jid, timeout=10)["result"] == {"i": i}
        pool.signal(signal.SIGTSTP)  # quiet: the takes are unblocked
        wait_until(lambda: not [c for c in r.client_list() if "b" in c["flags"]
                                and c.get("name", "").startswith("fac-")],
                   5, what="the takes to be unblocked")
        log = pool.log_text()
        assert "NOPERM" not in log and "refuses" not in log, log
    finally:
        mon.stop()
