"""Redis Sentinel (docs/sentinel.md): the pool finds the master through the
sentinels, follows a failover by itself, and loses no more than the docs say.

Real processes only: a primary and a replica redis-server on loopback, three
sentinels (quorum 2), a fac-worker pool with its scheduler child, and the
Python client enqueuing through the sentinels while a failover is forced.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis as redislib
from redis.sentinel import Sentinel

from conftest import (CTL_BIN, PREFIX, REDIS_SERVER, WORKER_BIN, Pool,
                      _kill_pid, ctl, free_port, make_config, unpack,
                      wait_until)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
import fac_client  # noqa: E402

MASTER = "facmaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000
FOLLOW_S = 1.5  # fac_client's master check (1 s) plus an enqueue in flight


def _spawn(args, logdir):
    return subprocess.Popen(args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=open(Path(logdir) / "stderr", "ab"),
                            start_new_session=True)


def _ping(port, timeout=5.0):
    c = redislib.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    wait_until(lambda: _safe(c.ping), timeout, interval=0.02,
               what="a server on port %d" % port)
    return c


def _safe(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except redislib.exceptions.RedisError:
        return None


class Topology:
    """A primary, a replica and three sentinels, each its own process and dir;
    stopped by pid."""

    def __init__(self, tmp, replicas=1, sentinel_ports=(None, None, None),
                 sentinel_password=None):
        self.tmp = Path(tmp)
        self.procs = {}  # name -> Popen
        self.ports = {}
        self.nreplicas = replicas
        self.sentinel_ports = list(sentinel_ports)
        self.sentinel_password = sentinel_password

    def _server(self, name, *extra):
        d = self.tmp / name
        d.mkdir(parents=True, exist_ok=True)
        port = free_port()
        args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(d),
                "--logfile", str(d / "redis.log"), "--daemonize", "no"] + list(extra)
        self.procs[name] = _spawn(args, d)
        self.ports[name] = port
        return _ping(port)

    def _sentinel(self, name, master_port, port):
        d = self.tmp / name
        d.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        conf = d / "sentinel.conf"
        quorum = min(2, len(self.sentinel_ports))
        auth = ["requirepass %s" % self.sentinel_password,
                "sentinel sentinel-pass %s" % self.sentinel_password] \
            if self.sentinel_password else []
        conf.write_text("\n".join(auth + [
            "port %d" % port, "bind 127.0.0.1", "dir %s" % d,
            "logfile %s" % (d / "sentinel.log"),
            "sentinel monitor %s 127.0.0.1 %d %d" % (MASTER, master_port, quorum),
            "sentinel down-after-milliseconds %s %d" % (MASTER, DOWN_AFTER_MS),
            "sentinel failover-timeout %s %d" % (MASTER, FAILOVER_TIMEOUT_MS),
            "sentinel parallel-syncs %s 1" % MASTER, ""]))
        self.procs[name] = _spawn([REDIS_SERVER, str(conf), "--sentinel"], d)
        self.ports[name] = port
        c = redislib.Redis(host="127.0.0.1", port=port, socket_timeout=1,
                           password=self.sentinel_password)
        wait_until(lambda: _safe(c.ping), 5, interval=0.02, what="sentinel %s" % name)
        return c

    def start(self):
        self.primary = self._server("primary")
        p = self.ports["primary"]
        if self.nreplicas:
            self.replica = self._server("replica", "--replicaof", "127.0.0.1", str(p))
            wait_until(lambda: self.replica.info("replication").get(
                "master_link_status") == "up", 10, what="the replica in sync")
        self.sentinel_clients = [self._sentinel("sentinel%d" % i, p, port)
                                 for i, port in enumerate(self.sentinel_ports)]
        n = len(self.sentinel_ports)
        # Ready for a failover: every sentinel knows the replica and the others.
        def known():
            for s in self.sentinel_clients:
                reps = _safe(s.execute_command, "SENTINEL", "REPLICAS", MASTER) or []
                sens = _safe(s.execute_command, "SENTINEL", "SENTINELS", MASTER) or []
                if len(reps) < self.nreplicas or len(sens) < n - 1:
                    return False
            return True
        wait_until(known, 30, interval=0.1, what="sentinels that know each other")
        return self

    @property
    def sentinels(self):
        return ["127.0.0.1:%d" % self.ports["sentinel%d" % i]
                for i in range(len(self.sentinel_ports))]

    def master_addr(self):
        """The master as the first answering sentinel names it."""
        for s in self.sentinel_clients:
            a = _safe(s.execute_command, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
            if a:
                return (a[0].decode(), int(a[1]))
        return None

    def port_name(self, port):
        return next(n for n, p in self.ports.items() if p == port)

    def client_of(self, port):
        return redislib.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def kill(self, name):
        _kill_pid(self.procs[name])

    def stop(self):
        for proc in self.procs.values():
            _kill_pid(proc)


@pytest.fixture
def topo(tmp_path):
    t = Topology(tmp_path / "redis")
    try:
        yield t.start()
    finally:
        t.stop()


@pytest.fixture
def pools():
    started = []
    yield started
    for p in started:
        p.stop(timeout=10)


def sentinel_config(tmp_path, topo, **overrides):
    # The URL's host:port is not used with sentinels: port 9 (discard) proves it.
    base = dict(redis="redis://127.0.0.1:9/0", redis_sentinels=topo.sentinels,
                redis_master=MASTER, workers=2, concurrency=4, scheduler=True,
                queues=["default"], heartbeat_timeout=5, dead_after=5)
    base.update(overrides)
    return make_config(tmp_path, **base)


def start_pool(pools, config, tmp_path, topo):
    pool = Pool(config, None, tmp_path)
    pools.append(pool)
    pool.start()
    host, port = topo.master_addr()
    pool.r = topo.client_of(port)
    pool.wait_workers(2, timeout=20)
    return pool


def fac_client_for(topo, **kw):
    return fac_client.Client(url="redis://127.0.0.1:9/0", sentinels=topo.sentinels,
                             master=MASTER, queues=("default",), **kw)


class Stream:
    """Enqueues a sleep job every `every` s from a thread through the Python
    client (via the sentinels), noting which enqueues were acknowledged and
    when; an enqueue that raised is not acknowledged."""

    def __init__(self, client, every=0.005, queue="default"):
        self.client = client
        self.every = every
        self.queue = queue
        self.acked = []      # (job id, monotonic time of the ack)
        self.not_replicated = set()  # acked by the master, WAIT saw too few replicas
        self.failed = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                jid = self.client.enqueue("sleep", {"ms": 20}, queue=self.queue)
                self.acked.append((jid, time.monotonic()))
            except fac_client.FacNotReplicated as e:
                self.acked.append((e.job_id, time.monotonic()))
                self.not_replicated.add(e.job_id)
            except (redislib.exceptions.RedisError, OSError):
                self.failed += 1
                time.sleep(0.02)
            time.sleep(self.every)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(30)


def results_on(r, ids):
    out = {}
    ids = list(ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        vals = r.mget(["%s:result:%s" % (PREFIX, j) for j in chunk])
        for j, v in zip(chunk, vals):
            if v is not None:
                out[j] = unpack(v)
    return out


def wait_switched(topo, old_port, timeout=30):
    """Until the sentinels name a new master that says it is one (+switch-master)."""
    def done():
        a = topo.master_addr()
        if not a or a[1] == old_port:
            return None
        role = _safe(topo.client_of(a[1]).execute_command, "ROLE")
        return a if role and role[0] == b"master" else None
    return wait_until(done, timeout, interval=0.02, what="the sentinels to switch the master")


def wait_demoted(topo, old_port, timeout=30):
    """Until the old master, if alive, says it is a replica (Sentinel reconfigures
    it some seconds after the switch)."""
    def done():
        old = topo.procs[topo.port_name(old_port)]
        if old.poll() is None:
            orole = _safe(topo.client_of(old_port).execute_command, "ROLE")
            if not orole or orole[0] == b"master":
                return None
        return True
    return wait_until(done, timeout, interval=0.05, what="the old master to be demoted")


def largest_gap(recs, after_ms):
    """The longest pause (s) between consecutive job completions after after_ms."""
    ends = sorted(r["ended_at"] for r in recs if r.get("ended_at", 0) >= after_ms)
    return max((b - a for a, b in zip(ends, ends[1:])), default=0) / 1000.0


def run_failover(topo, pools, tmp_path, how, wait=None):
    cfg = sentinel_config(tmp_path, topo,
                          **({"redis_wait": wait} if wait else {}))
    pool = start_pool(pools, cfg, tmp_path, topo)
    client_kw = {}
    if wait:
        client_kw = {"wait_replicas": wait["replicas"], "wait_timeout_ms": wait["timeout_ms"]}
    stream = Stream(fac_client_for(topo, **client_kw)).start()
    time.sleep(2.0)
    old_host, old_port = topo.master_addr()
    t_fail = time.monotonic()
    wall_fail = int(time.time() * 1000)
    if how == "failover":
        topo.sentinel_clients[0].execute_command("SENTINEL", "FAILOVER", MASTER)
    else:
        topo.kill(topo.port_name(old_port))
    new_host, new_port = wait_switched(topo, old_port)
    t_switch = time.monotonic()
    wait_demoted(topo, old_port)
    t_done = time.monotonic()
    time.sleep(2.0)  # the stream goes on against the new master
    stream.stop()
    new = topo.client_of(new_port)
    acked = dict(stream.acked)
    # fac_client asks the sentinels at most once a second (FOLLOW_S): from then on
    # every acknowledged enqueue went to the new master.
    follow = t_switch + FOLLOW_S
    after = [j for j, t in stream.acked if t > follow]
    assert after, "no enqueue was acknowledged after the failover"

    # Every job acknowledged by the new master finishes there.
    def all_after():
        got = results_on(new, after)
        return got if len(got) == len(after) else None
    wait_until(all_after, 30, interval=0.2,
               what="the results of the %d jobs enqueued after the failover" % len(after))

    # The rest: wait for what will still finish, then count what is lost.
    def settled():
        return new.llen("%s:{default}:ready" % PREFIX) == 0 and not any(
            new.llen(k) for k in new.keys("%s:{default}:inflight:*" % PREFIX))
    wait_until(settled, 30, interval=0.2, what="the queue drained on the new master")
    got = results_on(new, acked)
    lost = [j for j in acked if j not in got]
    gap = largest_gap(got.values(), wall_fail - 1000)
    window = [j for j, t in stream.acked if t_fail - 0.5 <= t <= follow]
    print("\n%s%s: %d jobs acknowledged, %d enqueues refused; sentinels switched after "
          "%.2f s, old master demoted after %.2f s; largest gap between finished jobs "
          "%.2f s; lost %d of the %d acknowledged between the failover and the client "
          "following it; %d acknowledged without WAIT confirmation"
          % (how, " with WAIT" if wait else "", len(acked), stream.failed,
             t_switch - t_fail, t_done - t_fail, gap, len(lost), len(window),
             len(stream.not_replicated)))
    # What docs/sentinel.md says a failover can lose: only enqueues the old
    # master acknowledged around the switch, never one WAIT confirmed.
    assert set(lost) <= set(window), "a job acknowledged outside the switch was lost"
    if wait:
        confirmed_lost = [j for j in lost if j not in stream.not_replicated]
        assert confirmed_lost == [], "lost jobs that WAIT confirmed: %s" % confirmed_lost
    assert gap < 8.0, "the pool stalled %.1f s" % gap
    log = pool.log_text()
    assert "Redis master \"%s\" is 127.0.0.1:%d" % (MASTER, new_port) in log, log[-3000:]
    assert "exit code 3" not in log and "not starting more workers" not in log
    assert "failures in a row" not in log, "the failover tripped the crash backoff"
    assert pool.running()
    pool.r = new
    pool.wait_workers(2, timeout=10)
    return pool


def test_pool_follows_a_forced_failover(topo, pools, tmp_path):
    run_failover(topo, pools, tmp_path, "failover")


def test_pool_follows_a_killed_primary(topo, pools, tmp_path):
    run_failover(topo, pools, tmp_path, "kill")


def test_wait_confirmed_enqueues_survive_a_failover(topo, pools, tmp_path):
    run_failover(topo, pools, tmp_path, "failover",
                 wait={"replicas": 1, "timeout_ms": 200})


# ---- configuration and boot ----------------------------------------------

def check_config(tmp_path, **keys):
    path = make_config(tmp_path, name="check.json", **keys)
    return subprocess.run([WORKER_BIN, "-c", str(path), "--check-config"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("keys, needles", [
    ({"redis_sentinels": ["127.0.0.1:26379"]}, ["redis_master", "sentinel monitor"]),
    ({"redis_master": "mymaster"}, ["redis_master is set but redis_sentinels is not"]),
    ({"redis_sentinels": ["127.0.0.1:26379", "sentinel-b"], "redis_master": "m"},
     ["redis_sentinels item 1", "\"sentinel-b\"", "host:port"]),
    ({"redis_sentinels": ["127.0.0.1:0"], "redis_master": "m"},
     ["redis_sentinels item 0", "host:port"]),
    ({"redis_sentinels": [], "redis_master": "m"}, ["redis_sentinels", "non-empty"]),
    ({"redis_sentinels": "127.0.0.1:26379", "redis_master": "m"},
     ["redis_sentinels", "array of strings"]),
    ({"redis_sentinels": ["127.0.0.1:26379"], "redis_master": "m",
      "redis": "unix:///run/redis.sock"}, ["redis:", "redis://"]),
    ({"redis_sentinel_password_file": "/nonexistent"}, ["redis_sentinel_password_file",
                                                        "redis_sentinels"]),
    ({"redis_wait": {"replicas": 17}}, ["redis_wait.replicas"]),
    ({"redis_wait": {"replicas": 1, "timeout_ms": 0}}, ["redis_wait.timeout_ms"]),
    ({"redis_wait": {"replica": 1}}, ["redis_wait.replica"]),
])
def test_config_refuses_bad_sentinel_settings(tmp_path, keys, needles):
    res = check_config(tmp_path, **keys)
    assert res.returncode == 3, res
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


def test_config_accepts_sentinel_settings(tmp_path):
    res = check_config(tmp_path, redis="redis://:pw@ignored:1/3",
                       redis_sentinels=["127.0.0.1:26379", "[::1]:26380", "s3.example:26381"],
                       redis_master="mymaster", redis_wait={"replicas": 1, "timeout_ms": 50})
    assert res.returncode == 0, res.stderr


def test_unreachable_sentinels_keep_the_pool_retrying_until_they_come(tmp_path, pools):
    ports = [free_port() for _ in range(3)]
    cfg = make_config(tmp_path, redis="redis://127.0.0.1:9/0",
                      redis_sentinels=["127.0.0.1:%d" % p for p in ports],
                      redis_master=MASTER, workers=1)
    pool = Pool(cfg, None, tmp_path)
    pools.append(pool)
    pool.start()
    wait_until(lambda: "asking again" in pool.log_text(), 15,
               what="the worker saying it waits for the sentinels")
    log = pool.log_text()
    assert "no sentinel named a reachable Redis master \"%s\"" % MASTER in log, log
    for p in ports:
        assert "127.0.0.1:%d: Connection refused" % p in log, log
    assert "check that the sentinels run and monitor it" in log
    time.sleep(1.0)
    assert pool.running(), pool.log_tail()
    assert "exit code 3" not in pool.log_text()
    # The sentinels (and Redis) come: the pool finds the master by itself.
    topo = Topology(tmp_path / "redis", replicas=0, sentinel_ports=ports)
    try:
        topo.start()
        pool.r = topo.primary
        pool.wait_workers(1, timeout=30)
        assert "not starting more workers" not in pool.log_text()
    finally:
        pool.stop(timeout=10)
        topo.stop()


def test_wrong_sentinel_password_is_a_boot_error(tmp_path, pools):
    topo = Topology(tmp_path / "redis", replicas=0, sentinel_ports=[None],
                    sentinel_password="s3ntinel")
    try:
        topo.start()
        cfg = make_config(tmp_path, redis="redis://127.0.0.1:9/0",
                          redis_sentinels=topo.sentinels, redis_master=MASTER, workers=1)
        pool = Pool(cfg, None, tmp_path)
        pools.append(pool)
        pool.start()
        assert pool.wait_exit(20) == 3
        log = pool.log_text()
        assert "redis_sentinel_password_file" in log, log
        assert "s3ntinel" not in log
        # With the password in a file the same pool comes up.
        secret = tmp_path / "sentinel.pw"
        secret.write_text("s3ntinel\n")
        secret.chmod(0o600)
        cfg = make_config(tmp_path, name="ok.json", redis="redis://127.0.0.1:9/0",
                          redis_sentinels=topo.sentinels, redis_master=MASTER, workers=1,
                          redis_sentinel_password_file=str(secret))
        pool = Pool(cfg, None, tmp_path)
        pools.append(pool)
        pool.start()
        pool.r = topo.primary
        pool.wait_workers(1, timeout=20)
        assert "s3ntinel" not in pool.log_text()
    finally:
        topo.stop()


# ---- WAIT on enqueue -------------------------------------------------------

def test_enqueue_with_wait_reports_a_job_no_replica_confirmed(tmp_path, redis):
    """A lone master: the job is enqueued, but WAIT cannot confirm it."""
    cfg = make_config(tmp_path, redis=redis.url, redis_wait={"replicas": 1, "timeout_ms": 50})
    res = ctl(cfg, "enqueue", "noop", "{}")
    assert res.returncode == 7, res
    jid = res.stdout.strip()
    assert jid and "0 of 1 replicas confirmed it within 50 ms" in res.stderr, res
    assert any(unpack(e)["id"] == jid
               for e in redis.client.lrange("%s:{default}:ready" % PREFIX, 0, -1))
    c = fac_client.Client(url=redis.url, queues=("default",), wait_replicas=1,
                          wait_timeout_ms=50)
    with pytest.raises(fac_client.FacNotReplicated) as e:
        c.enqueue("noop")
    assert e.value.replicas == 0 and e.value.wanted == 1
    assert any(unpack(x)["id"] == e.value.job_id
               for x in redis.client.lrange("%s:{default}:ready" % PREFIX, 0, -1))


def test_ctl_enqueues_through_the_sentinels_with_wait(tmp_path, monkeypatch):
    topo = Topology(tmp_path / "redis", replicas=1, sentinel_ports=[None])
    try:
        topo.start()
        cfg = make_config(tmp_path, redis="redis://127.0.0.1:9/0", redis_sentinels=topo.sentinels,
                          redis_master=MASTER, redis_wait={"replicas": 1, "timeout_ms": 1000})
        res = ctl(cfg, "enqueue", "noop", "{}")
        assert res.returncode == 0, res
        jid = res.stdout.strip()
        ready = "%s:{default}:ready" % PREFIX
        # WAIT confirmed it: the replica has it already.
        assert any(unpack(e)["id"] == jid for e in topo.replica.lrange(ready, 0, -1))
        c = fac_client_for(topo, wait_replicas=1, wait_timeout_ms=1000)
        jid2 = c.enqueue("noop")
        assert any(unpack(e)["id"] == jid2 for e in topo.replica.lrange(ready, 0, -1))
        # The module functions outside Frappe: the sentinels from the environment.
        monkeypatch.setenv("FAC_REDIS_URL", "redis://127.0.0.1:9/0")
        monkeypatch.setenv("FAC_REDIS_SENTINELS", ",".join(topo.sentinels))
        monkeypatch.setenv("FAC_REDIS_MASTER", MASTER)
        jid3 = fac_client.enqueue("noop")
        assert any(unpack(e)["id"] == jid3 for e in topo.primary.lrange(ready, 0, -1))
    finally:
        topo.stop()
