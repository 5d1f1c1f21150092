"""Queue sharding (docs/sharding.md): `redis_shards` puts queues on other Redis
servers. Every worker serves every queue on every server; everything of one job
(ready and in-flight lists, delayed zset, dead list, result record, reply_to) lives
on its queue's server; the registry, heartbeats and the scheduler's lease stay on
the main ("home") server. Each test runs two real redis-servers."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import (WORKER_BIN, RedisServer, audit_rows, builtin_tools, ctl, dead_key,
                      delayed_key, first_json_object, free_port, inflight_lists, job,
                      pack, ready_key, result_key, unpack, wait_until)

TOOLS = builtin_tools("echo", "noop", sleep={"timeout": 60})
FAST = {"base": 0.05, "max": 0.2, "jitter": 0}
QUEUES = ["short", "default", "long"]


@pytest.fixture
def shard(redis_factory):
    """A second redis-server: the queues short and long live there."""
    return redis_factory()


def _config(fac, shard, **kw):
    kw.setdefault("queues", QUEUES)
    kw.setdefault("redis_shards", {"short": shard.url,
                                   "long": {"redis": shard.url}})
    kw.setdefault("tools", TOOLS)
    kw.setdefault("workers", 1)
    return fac.config(**kw)


def _push(r, env, queue):
    r.lpush(ready_key(queue), pack(env))
    return env["id"]


def _result(r, job_id):
    data = r.get(result_key(job_id))
    return None if data is None else unpack(data)


def _wait_result(r, job_id, timeout=15):
    return wait_until(lambda: _result(r, job_id), timeout,
                      what="the result of %s" % job_id)


def _check_config(path):
    return subprocess.run([WORKER_BIN, "--check-config", "-c", str(path)],
                          capture_output=True, text=True, timeout=30)


# ---- config ----

def test_a_shard_for_a_queue_that_is_not_served_is_refused_by_name(fac, shard):
    cfg = _config(fac, shard, redis_shards={"reports": shard.url})
    res = _check_config(cfg)
    assert res.returncode == 3, res
    assert "redis_shards.reports" in res.stderr, res.stderr
    assert "add it to \"queues\"" in res.stderr, res.stderr


def test_a_shard_without_a_url_is_refused_with_the_forms_it_takes(fac, shard):
    cfg = _config(fac, shard, redis_shards={"long": {"redis_password_file": "/x"}})
    res = _check_config(cfg)
    assert res.returncode == 3, res
    assert "redis_shards.long" in res.stderr and "needs \"redis\"" in res.stderr, res.stderr


# ---- jobs on both servers ----

def test_jobs_flow_on_both_servers_and_each_result_is_on_its_queues_server(fac, shard, tmp_path):
    cfg = _config(fac, shard, concurrency=8)
    fac.start(config=cfg)
    home, other = fac.r, shard.client
    ids = {}
    for q in QUEUES:
        r = other if q in ("short", "long") else home
        ids[q] = [_push(r, job("echo", {"q": q, "n": i}), q) for i in range(60)]
    for q, qids in ids.items():
        on, off = (other, home) if q in ("short", "long") else (home, other)
        for jid in qids:
            rec = _wait_result(on, jid)
            assert rec["status"] == "Success" and rec["result"]["q"] == q, rec
            assert not off.exists(result_key(jid)), "result of %s on the wrong server" % jid
    every = [jid for qids in ids.values() for jid in qids]
    rows = wait_until(lambda: (lambda rs: rs if len(rs) >= len(every) else None)(
        audit_rows(tmp_path / "audit.jsonl")), 10, what="an audit row per job")
    assert sorted(r["job_id"] for r in rows) == sorted(every)
    # the registry and heartbeats are on home only
    assert home.zcard("fac:workers") == 1 and other.zcard("fac:workers") == 0
    # An ack (LREM) follows its audit row's fsync: the row may be read a moment before.
    for q in QUEUES:
        r = other if q in ("short", "long") else home
        wait_until(lambda: r.llen(ready_key(q)) == 0 and not inflight_lists(r, q), 5,
                   what="queue %s drained and acknowledged on its server" % q)


def test_reply_to_goes_to_the_server_of_the_jobs_queue(fac, shard):
    fac.start(config=_config(fac, shard))
    env = job("echo", {"x": 1}, reply_to="fac:reply:r1")
    _push(shard.client, env, "long")
    got = shard.client.blpop(["fac:reply:r1"], timeout=10)
    assert got is not None, "no reply on the shard"
    assert unpack(got[1])["status"] == "Success"
    assert not fac.r.exists("fac:reply:r1")


def test_priority_is_strict_within_a_server_and_servers_go_by_their_top_queue(
        fac, shard, tmp_path):
    """short and long on the shard, default on home: with one slot the shard
    (which holds the top queue, short) is drained first, short before long;
    then home's default (docs/sharding.md "Priority")."""
    cfg = _config(fac, shard, concurrency=1)
    order = []
    for q in ("long", "default", "short"):  # pushed lowest priority first
        r = shard.client if q != "default" else fac.r
        for i in range(3):
            # a few ms each, so that started_at (ms) orders them
            order.append((q, _push(r, job("sleep", {"ms": 3}), q)))
    fac.start(config=cfg)
    recs = {}
    for q, jid in order:
        r = shard.client if q != "default" else fac.r
        recs[jid] = (q, _wait_result(r, jid))
    ran = [q for q, rec in sorted(recs.values(), key=lambda v: v[1]["started_at"])]
    assert ran == ["short"] * 3 + ["long"] * 3 + ["default"] * 3, ran


# ---- crashes, delays, dead letters ----

def test_a_sigkilled_workers_jobs_come_back_on_their_own_server(fac, shard):
    cfg = _config(fac, shard, concurrency=4)
    pool = fac.start(config=cfg)
    a = _push(shard.client, job("sleep", {"ms": 1500}), "long")
    b = _push(fac.r, job("sleep", {"ms": 1500}), "default")
    wait_until(lambda: inflight_lists(shard.client, "long") and inflight_lists(fac.r, "default"),
               10, what="both jobs in flight")
    (wpid,) = pool.worker_pids()
    os.kill(wpid, signal.SIGKILL)
    ra, rb = _wait_result(shard.client, a, 20), _wait_result(fac.r, b, 20)
    assert ra["status"] == rb["status"] == "Success"
    assert ra["attempt"] == 1 and rb["attempt"] == 1, (ra, rb)
    assert not fac.r.exists(result_key(a)) and not shard.client.exists(result_key(b))
    wait_until(lambda: not inflight_lists(shard.client, "long"), 10,
               what="the ack of the rescued job on the shard")


def test_a_delayed_job_waits_on_its_shard_and_is_promoted_there(fac, shard):
    cfg = _config(fac, shard)
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    res = ctl(cfg, "enqueue", "echo", '{"d": 1}', "--queue", "long", "--in", "1s")
    assert res.returncode == 0, res.stderr
    jid = res.stdout.strip()
    assert shard.client.zcard(delayed_key("long")) == 1
    assert fac.r.zcard(delayed_key("long")) == 0
    rec = _wait_result(shard.client, jid, 10)
    assert rec["status"] == "Success"
    assert rec["ended_at"] >= rec["started_at"]


def test_dead_jobs_land_on_their_shard_and_fac_ctl_retries_them_there(fac, shard, tmp_path):
    cfg = _config(fac, shard, retry_backoff=FAST,
                  tools=builtin_tools("echo", sleep={"timeout": 0.05, "max_attempts": 2}))
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    jid = _push(shard.client, job("sleep", {"ms": 2000}), "long")
    wait_until(lambda: shard.client.llen(dead_key("long")) == 1, 15, what="a dead entry")
    assert fac.r.llen(dead_key("long")) == 0
    res = ctl(cfg, "dead", "list", "--json")
    assert res.returncode == 0, res.stderr
    assert [e["id"] for e in json.loads(res.stdout)] == [jid]
    res = ctl(cfg, "dead", "retry", jid)
    assert res.returncode == 0 and "retried %s on queue long" % jid in res.stdout, res
    # it runs again on the shard (attempts 2 and 3) and goes dead there again
    wait_until(lambda: {r["attempt"] for r in audit_rows(tmp_path / "audit.jsonl")
                        if r["job_id"] == jid} >= {0, 1, 2, 3}, 20,
               what="the retried attempts in the audit")
    wait_until(lambda: shard.client.llen(dead_key("long")) == 1, 15, what="dead again")


# ---- fac-ctl and the Python client ----

def test_fac_ctl_stats_shows_the_queues_of_every_server(fac, shard):
    cfg = _config(fac, shard)
    for i in range(3):
        _push(shard.client, job("echo"), "short")
    for i in range(5):
        _push(fac.r, job("echo"), "default")
    for i in range(7):
        _push(shard.client, job("echo"), "long")
    res = ctl(cfg, "stats", "--json")
    assert res.returncode == 0, res.stderr
    ready = {q["name"]: q["ready"] for q in first_json_object(res.stdout)["queues"]}
    assert ready == {"short": 3, "default": 5, "long": 7}


def test_metrics_show_the_depth_of_every_queue_on_its_own_server(fac, shard):
    addr = "127.0.0.1:%d" % free_port()
    pool = fac.start(config=_config(fac, shard, metrics=addr))
    pool.signal(signal.SIGTSTP)  # quiet: the jobs stay queued
    wait_until(lambda: all(h.get("state") == "quiet" for h in pool.registry().values()),
               5, what="quiet")
    for n, (queue, r) in zip((3, 5, 7), (("short", shard.client), ("default", fac.r),
                                          ("long", shard.client))):
        for _ in range(n):
            _push(r, job("echo"), queue)

    def depths():
        with urllib.request.urlopen("http://%s/metrics" % addr, timeout=5) as resp:
            text = resp.read().decode()
        got = dict(re.findall(r'^fac_queue_depth\{queue="(\w+)"\} (\d+)$', text, re.M))
        return got if got == {"short": "3", "default": "5", "long": "7"} else None
    wait_until(depths, 10, interval=0.2, what="every queue's depth on /metrics")


def test_fac_ctl_enqueue_wait_status_and_cancel_route_by_queue(fac, shard):
    cfg = _config(fac, shard)
    fac.start(config=cfg)
    res = ctl(cfg, "enqueue", "echo", '{"a": 1}', "--queue", "short", "--wait",
              "--id", "w1")
    assert res.returncode == 0, res.stderr
    assert first_json_object(res.stdout)["status"] == "Success"
    assert shard.client.exists(result_key("w1")) and not fac.r.exists(result_key("w1"))
    res = ctl(cfg, "status", "w1")
    assert res.returncode == 0 and res.stdout.startswith("finished"), res
    # a running job on the shard, canceled through home's channel
    jid = _push(shard.client, job("sleep", {"ms": 20000}, id="c1"), "long")
    wait_until(lambda: inflight_lists(shard.client, "long"), 10, what="c1 running")
    res = ctl(cfg, "cancel", jid)
    assert res.returncode == 0, res.stderr
    rec = _wait_result(shard.client, jid, 10)
    assert rec["status"] == "Canceled", rec


def test_the_python_client_reads_the_shard_map_from_the_config(fac, shard):
    cfg = _config(fac, shard)
    fac.start(config=cfg)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
    try:
        import fac_client
    finally:
        sys.path.pop(0)
    c = fac_client.Client.from_config(str(cfg))
    assert c.call("echo", {"v": 7}, queue="long") == {"v": 7}
    jid = c.enqueue("echo", {"v": 8}, queue="default")
    assert wait_until(lambda: c.result(jid), 10)["result"] == {"v": 8}
    assert fac.r.exists(result_key(jid))
    jid = c.enqueue("echo", {"v": 9}, queue="short")
    assert wait_until(lambda: c.result(jid), 10)["status"] == "Success"
    assert shard.client.exists(result_key(jid)) and not fac.r.exists(result_key(jid))
    assert c.status(jid)["state"] == "finished"
    with pytest.raises(ValueError, match="not in queues"):
        fac_client.Client(url=fac.redis.url, queues=["default"], shards={"long": shard.url})


# ---- a shard going away ----

def test_a_lost_shard_pauses_only_its_queues_and_comes_back_with_what_it_held(fac, tmp_path):
    """The shard's Redis stops while a job of it runs: the worker logs the loss
    and stays up, home's queues are served on, it reconnects with a growing
    delay, and once the shard is back the job it held there runs again
    (attempt + 1) and the shard's queues are served again."""
    shard = RedisServer(tmp_path / "shard", appendonly=True).start()
    try:
        cfg = _config(fac, shard, concurrency=4)
        pool = fac.start(config=cfg)
        (wpid,) = pool.worker_pids()
        held = _push(shard.client, job("sleep", {"ms": 3000}), "long")
        wait_until(lambda: inflight_lists(shard.client, "long"), 10, what="the shard job running")
        shard.stop(graceful=True)  # its AOF keeps the in-flight list
        wait_until(lambda: "lost the queue shard at 127.0.0.1:%d/0 (queues short,long)"
                   % shard.port in pool.log_text(), 10, what="the loss in the log")
        home_ids = [_push(fac.r, job("echo", {"n": i}), "default") for i in range(20)]
        for jid in home_ids:
            assert _wait_result(fac.r, jid, 10)["status"] == "Success"
        time.sleep(1.5)  # a few reconnect attempts
        assert pool.worker_pids() == {wpid}, "the worker exited over a lost shard"
        delays = [int(d) for d in re.findall(r"reconnecting in (\d+) ms", pool.log_text())]
        assert len(delays) >= 3 and delays == sorted(delays) and delays[-1] > delays[0], delays
        shard.start()  # same port, same AOF
        rec = _wait_result(shard.client, held, 20)
        assert rec["status"] == "Success" and rec["attempt"] == 1, rec
        assert "queue shard at 127.0.0.1:%d/0 (queues short,long) is back" % shard.port \
            in pool.log_text()
        after = _push(shard.client, job("echo", {"after": 1}), "short")
        assert _wait_result(shard.client, after, 10)["status"] == "Success"
        assert pool.worker_pids() == {wpid}
        wait_until(lambda: not inflight_lists(shard.client, "long"), 10, what="the ack")
    finally:
        shard.stop()


def test_a_pool_started_while_a_shard_is_away_serves_the_rest_and_picks_it_up_later(
        fac, tmp_path):
    shard = RedisServer(tmp_path / "late")
    shard.port = free_port()  # nothing listens there yet
    try:
        cfg = _config(fac, shard)
        pool = fac.start(config=cfg)
        fac.scheduler(config=cfg)
        jid = _push(fac.r, job("echo", {"home": 1}), "default")
        assert _wait_result(fac.r, jid, 10)["status"] == "Success"
        res = ctl(cfg, "enqueue", "echo", "{}", "--queue", "default", "--in", "1s")
        assert res.returncode == 0, res.stderr
        assert _wait_result(fac.r, res.stdout.strip(), 10)["status"] == "Success", \
            "the scheduler stopped promoting home's jobs over a shard that is away"
        assert "is unreachable" in pool.log_text()
        res = ctl(cfg, "stats")
        assert res.returncode == 4 and "127.0.0.1:%d" % shard.port in res.stderr, res
        shard.start()
        later = _push(shard.client, job("echo", {"shard": 1}), "long")
        assert _wait_result(shard.client, later, 15)["status"] == "Success"
        res = ctl(cfg, "enqueue", "echo", "{}", "--queue", "short", "--in", "1s")
        assert res.returncode == 0, res.stderr
        assert _wait_result(shard.client, res.stdout.strip(), 15)["status"] == "Success"
    finally:
        shard.stop()


def test_no_job_is_lost_when_a_shard_stops_mid_stream(fac, tmp_path):
    shard = RedisServer(tmp_path / "stream", appendonly=True).start()
    try:
        cfg = _config(fac, shard, concurrency=16)
        pool = fac.start(config=cfg)
        (wpid,) = pool.worker_pids()
        ids = [job("sleep", {"ms": 2})["id"] for _ in range(3000)]
        p = shard.client.pipeline(transaction=False)
        for jid in ids:
            p.lpush(ready_key("long"), pack(job("sleep", {"ms": 2}, id=jid)))
        p.execute()
        wait_until(lambda: sum(1 for k in shard.client.scan_iter("fac:result:*")) >= 300, 30,
                   what="some of the jobs done")
        shard.stop(graceful=True)
        home = [_push(fac.r, job("echo"), "default") for _ in range(10)]
        for jid in home:
            _wait_result(fac.r, jid, 10)
        shard.start()
        r = shard.client
        wait_until(lambda: all(r.exists(result_key(j)) for j in ids[-50:]), 60,
                   what="the last jobs done")
        missing = [j for j in ids if not r.exists(result_key(j))]
        assert not missing, "%d jobs without a result, e.g. %s" % (len(missing), missing[:3])
        wait_until(lambda: not inflight_lists(r, "long") and r.llen(ready_key("long")) == 0, 15,
                   what="nothing left in flight or queued")
        assert pool.worker_pids() == {wpid}
    finally:
        shard.stop()
