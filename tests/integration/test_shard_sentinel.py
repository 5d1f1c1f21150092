"""A queue shard behind Redis Sentinel (docs/sentinel.md "Shards", docs/sharding.md):
a pool with `default` on a plain home server and `long` on a Sentinel-managed shard
(primary + replica + three sentinels) follows a failover of the shard's master while
`default` goes on, and loses no more than docs/sentinel.md says.

Real processes only, reusing test_sentinel's Topology (each server and sentinel its
own process, stopped by pid).
"""

import json
import time

import pytest

from conftest import PREFIX, Pool, ctl, make_config, unpack, wait_until
from test_sentinel import (MASTER, FOLLOW_S, Stream, Topology, check_config, fac_client,
                           largest_gap, results_on, wait_demoted, wait_switched)

WAIT = {"replicas": 1, "timeout_ms": 200}


@pytest.fixture
def servers(tmp_path):
    """home: a plain primary with a replica (no sentinels, so WAIT can confirm);
    shard: primary + replica + three sentinels monitoring MASTER."""
    home = Topology(tmp_path / "home", replicas=1, sentinel_ports=())
    shard = Topology(tmp_path / "shard")
    try:
        home.start()
        shard.start()
        yield home, shard
    finally:
        shard.stop()
        home.stop()


def shard_config(tmp_path, home, shard, **overrides):
    base = dict(redis="redis://127.0.0.1:%d/0" % home.ports["primary"],
                queues=["default", "long"], workers=2, concurrency=4, scheduler=True,
                heartbeat_timeout=5, dead_after=5, redis_wait=WAIT,
                # The URL's host:port is not used with sentinels: port 9 (discard).
                redis_shards={"long": {"redis": "redis://127.0.0.1:9/0",
                                       "redis_sentinels": shard.sentinels,
                                       "redis_master": MASTER}})
    base.update(overrides)
    return make_config(tmp_path, **base)


def drained(r, queue):
    return r.llen("%s:{%s}:ready" % (PREFIX, queue)) == 0 and not any(
        r.llen(k) for k in r.keys("%s:{%s}:inflight:*" % (PREFIX, queue)))


def test_shard_failover_with_default_going_on(servers, tmp_path):
    home, shard = servers
    cfg = shard_config(tmp_path, home, shard)
    old_host, old_port = shard.master_addr()
    old = shard.client_of(old_port)

    # fac-ctl routes `long` through the shard's sentinels and WAITs there.
    res = ctl(cfg, "enqueue", "--queue", "long", "noop", "{}")
    assert res.returncode == 0, res
    jid = res.stdout.strip()
    assert any(unpack(e)["id"] == jid
               for e in shard.replica.lrange("%s:{long}:ready" % PREFIX, 0, -1)), \
        "fac-ctl's WAIT did not cover the shard's push"

    pool = Pool(cfg, None, tmp_path)
    pool.r = home.primary
    try:
        pool.start()
        pool.wait_workers(2, timeout=20)
        worker_pids = pool.worker_pids()
        client = fac_client.Client.from_config(str(cfg))
        assert client.conn("long") is not client.r
        streams = {q: Stream(client, every=0.01, queue=q).start() for q in ("default", "long")}
        time.sleep(2.0)
        # The workers WAIT on the shard too: its WAITs so far outnumber the client's
        # (one per `long` enqueue, counted after the INFO, plus fac-ctl's and one in
        # flight).
        waits = old.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)
        worker_waits = waits - (len(streams["long"].acked) + streams["long"].failed + 2)
        t_fail = time.monotonic()
        wall_fail = int(time.time() * 1000)
        shard.sentinel_clients[0].execute_command("SENTINEL", "FAILOVER", MASTER)
        new_host, new_port = wait_switched(shard, old_port)
        t_switch = time.monotonic()
        wait_demoted(shard, old_port)
        t_done = time.monotonic()
        time.sleep(2.0)  # both streams go on, `long` against the new master
        for s in streams.values():
            s.stop()
        new = shard.client_of(new_port)
        homer = home.primary

        wait_until(lambda: drained(homer, "default") and drained(new, "long"), 30,
                   interval=0.2, what="both queues drained")
        # `long` jobs enqueued after the client followed the switch all finish there.
        follow = t_switch + FOLLOW_S
        long_acked = dict(streams["long"].acked)
        after = [j for j, t in streams["long"].acked if t > follow]
        assert after, "no `long` enqueue was acknowledged after the failover"
        wait_until(lambda: len(results_on(new, after)) == len(after), 30, interval=0.2,
                   what="the results of the %d `long` jobs enqueued after the failover"
                   % len(after))
        got_long = results_on(new, long_acked)
        lost = [j for j in long_acked if j not in got_long]
        window = [j for j, t in streams["long"].acked if t_fail - 0.5 <= t <= follow]
        confirmed_lost = [j for j in lost if j not in streams["long"].not_replicated]

        # `default` (home) never stopped and lost nothing.
        default_acked = dict(streams["default"].acked)
        got_default = results_on(homer, default_acked)
        default_lost = [j for j in default_acked if j not in got_default]
        gap_default = largest_gap(got_default.values(), wall_fail - 1000)
        gap_long = largest_gap(got_long.values(), wall_fail - 1000)
        print("\nworkers' WAITs on the shard before the failover: about %d" % worker_waits)
        print("shard failover with WAIT: sentinels switched after %.2f s, old master "
              "demoted after %.2f s; `default`: %d jobs, largest gap %.2f s, lost %d; "
              "`long`: %d jobs, %d enqueues refused, largest gap %.2f s, lost %d of the "
              "%d acknowledged around the switch, %d without WAIT confirmation"
              % (t_switch - t_fail, t_done - t_fail, len(default_acked), gap_default,
                 len(default_lost), len(long_acked), streams["long"].failed, gap_long,
                 len(lost), len(window), len(streams["long"].not_replicated)))
        assert worker_waits >= 5, "the workers sent no WAIT to the shard"
        assert default_lost == [], "lost `default` jobs: %s" % default_lost[:5]
        assert streams["default"].failed == 0
        assert gap_default < 2.0, "`default` stalled %.2f s" % gap_default
        assert gap_long < 8.0, "`long` stalled %.2f s" % gap_long
        assert set(lost) <= set(window), "a `long` job acknowledged outside the switch was lost"
        assert confirmed_lost == [], "lost `long` jobs that WAIT confirmed: %s" % confirmed_lost

        log = pool.log_text()
        # The workers dropped and reconnected the shard, they did not exit.
        assert "during a failover: the sentinels made 127.0.0.1:%d the master" % new_port \
            in log, log[-4000:]
        assert "(queues long) is back" in log, log[-4000:]
        assert "Redis master \"%s\" is 127.0.0.1:%d" % (MASTER, new_port) in log
        assert "exiting so the supervisor restarts" not in log, log[-4000:]
        assert pool.worker_pids() == worker_pids
        assert old.execute_command("ROLE")[0] == b"slave"
        # redis_wait on every server: the workers WAITed on the shard's new master.
        waits = new.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)
        assert waits > 0, "no WAIT reached the shard's new master"
    finally:
        pool.stop(timeout=15)


# ---- configuration --------------------------------------------------------

def _shard(**keys):
    base = {"redis": "redis://127.0.0.1:9/0"}
    base.update(keys)
    return {"redis_shards": {"long": base}, "queues": ["default", "long"]}


@pytest.mark.parametrize("keys, needles", [
    (_shard(redis_sentinels=["127.0.0.1:26379"]),
     ["redis_shards.long.redis_sentinels is set, so redis_shards.long.redis_master",
      "sentinel monitor"]),
    (_shard(redis_master="m"),
     ["redis_shards.long.redis_master is set but redis_shards.long.redis_sentinels is not"]),
    (_shard(redis_sentinels=["127.0.0.1:26379", "sentinel-b"], redis_master="m"),
     ["redis_shards.long.redis_sentinels item 1", "\"sentinel-b\"", "host:port"]),
    (_shard(redis_sentinels=[], redis_master="m"), ["redis_shards.long.redis_sentinels"]),
    (_shard(redis_sentinels=["127.0.0.1:26379"], redis_master="m",
            redis="unix:///run/redis.sock"),
     ["redis_shards.long.redis: with redis_shards.long.redis_sentinels", "redis://"]),
    (_shard(redis_sentinel_password_file="/nonexistent"),
     ["redis_shards.long.redis_sentinel_password_file is set but", "redis_sentinels"]),
    (_shard(redis_sentinels=["127.0.0.1:26379"], redis_master="m", redis_master_name="x"),
     ["redis_master_name"]),
])
def test_config_refuses_bad_shard_sentinel_settings(tmp_path, keys, needles):
    res = check_config(tmp_path, **keys)
    assert res.returncode == 3, res
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


def test_config_shard_sentinel_password_file(tmp_path):
    pw = tmp_path / "sentinel.pw"
    pw.write_text("s3ntinel\n")
    pw.chmod(0o644)
    keys = _shard(redis_sentinels=["127.0.0.1:26379"], redis_master="m",
                  redis_sentinel_password_file=str(pw))
    res = check_config(tmp_path, **keys)
    assert res.returncode == 3, res
    assert "sentinel.pw: this redis_shards sentinel password file can be read by every user" \
        in res.stderr, res.stderr
    assert "s3ntinel" not in res.stderr
    pw.chmod(0o600)
    res = check_config(tmp_path, **keys)
    assert res.returncode == 0, res.stderr
    # The Python client refuses the same mistakes, naming the shard.
    with pytest.raises(ValueError, match="shards.long.redis_master"):
        fac_client.Client(url="redis://127.0.0.1:9/0", queues=("default", "long"),
                          shards={"long": {"redis": "redis://127.0.0.1:9/0",
                                           "redis_sentinels": ["127.0.0.1:26379"]}})
    with pytest.raises(ValueError, match="redis_sentinels is not"):
        fac_client.Client(url="redis://127.0.0.1:9/0", queues=("default", "long"),
                          shards={"long": {"redis": "redis://127.0.0.1:9/0",
                                           "redis_master": "m"}})
    # from_config reads a shard's sentinel keys (and password file).
    cfg = make_config(tmp_path, name="client.json", redis="redis://127.0.0.1:9/0", **keys)
    c = fac_client.Client.from_config(str(cfg))
    pool = c.conn("long").connection_pool
    assert pool.service_name == "m"
    assert json.loads(cfg.read_text())["redis_shards"]["long"]["redis_master"] == "m"


def test_wrong_shard_sentinel_password_is_a_boot_error(tmp_path, redis):
    """The shard's sentinels have requirepass: without the password the pool stops
    (exit 3) naming the shard's key; with it in the shard's file the pool serves."""
    topo = Topology(tmp_path / "shard", replicas=0, sentinel_ports=[None],
                    sentinel_password="s3ntinel")
    pool = None
    try:
        topo.start()
        shard = {"redis": "redis://127.0.0.1:9/0", "redis_sentinels": topo.sentinels,
                 "redis_master": MASTER}
        cfg = make_config(tmp_path, redis=redis.url, queues=["default", "long"], workers=1,
                          redis_shards={"long": shard})
        pool = Pool(cfg, redis, tmp_path)
        pool.start()
        assert pool.wait_exit(20) == 3
        log = pool.log_text()
        assert "NOAUTH" in log and "redis_shards.long.redis_sentinel_password_file" in log, \
            log[-3000:]
        assert "s3ntinel" not in log
        pool.stop(timeout=10)
        secret = tmp_path / "sentinel.pw"
        secret.write_text("s3ntinel\n")
        secret.chmod(0o600)
        cfg = make_config(tmp_path, name="ok.json", redis=redis.url,
                          queues=["default", "long"], workers=1,
                          redis_shards={"long": dict(shard, redis_sentinel_password_file=str(
                              secret))})
        pool = Pool(cfg, redis, tmp_path)
        pool.start()
        pool.wait_workers(1, timeout=20)
        res = ctl(cfg, "enqueue", "--queue", "long", "echo", '{"x": 1}')
        assert res.returncode == 0, res
        jid = res.stdout.strip()
        wait_until(lambda: topo.primary.get("%s:result:%s" % (PREFIX, jid)), 10,
                   what="the shard's job done on its master")
        assert "s3ntinel" not in pool.log_text()
    finally:
        if pool is not None:
            pool.stop(timeout=10)
        topo.stop()
