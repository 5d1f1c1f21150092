"""Many hosts on one Redis (docs/scale-out.md "Many hosts"): three pools with
their own host_id serve the same queue; fac-ctl stats and any pool's /metrics
show every host; one host is SIGKILLed whole mid-stream and the scheduler,
running with another pool, rescues its in-flight jobs after dead_after.

Each pool runs in a network namespace of its own when the test can make one
(root and iproute2: `ip netns add` and a veth pair to a Redis that listens on
the host side), else on distinct loopback addresses; the test prints which.
FAC_MULTIHOST_MODE=loopback asks for the fallback.
Two hosts' clocks are set off by CLOCK_SKEW_S (an LD_PRELOAD shim over
clock_gettime): one behind, so a heartbeat judged by another host's clock
would look dead while it is alive; one ahead, so it would still look alive
long after it died. Heartbeats are on Redis's clock (lib/srvclock.h), so
neither happens."""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import (WORKER_BIN, Pool, builtin_tools, ctl, enqueue_many,
                      free_port, inflight_lists, job,
                      make_config, wait_all_results, wait_until)

TOOLS = builtin_tools("noop", sleep={"timeout": 60})
HOSTS = ("mh-a", "mh-b", "mh-c")  # mh-a runs the scheduler; mh-c is killed
WORKERS, CONCURRENCY = 2, 4
DEAD_AFTER = 3
CLOCK_SKEW_S = {"mh-b": -90, "mh-c": +90}

SKEW_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    static long skew = -1;
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    if (skew == -1) {
        const char *s = getenv("FAC_TEST_CLOCK_SKEW_S");
        skew = s ? atol(s) : 0;
    }
    int rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += skew;
    return rc;
}
"""


# --------------------------------------------------------------------------
# where each "host" runs: a network namespace, or a loopback address
# --------------------------------------------------------------------------

def _ip(*args):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                          timeout=10)


class Net:
    """Per host: the address its pool's /metrics listens on and the address
    it reaches Redis at; netns mode also the namespace's name. undo() removes
    every namespace and link made, whatever happened."""

    def __init__(self):
        self.mode = None
        self.why_not_netns = None
        self.hosts = {}  # host -> {"ns", "metrics_ip", "redis_ip"}
        self._links, self._spaces = [], []

    def make(self, n):
        if os.environ.get("FAC_MULTIHOST_MODE") == "loopback":
            self.why_not_netns = "FAC_MULTIHOST_MODE=loopback"
        elif os.geteuid() != 0 or not shutil.which("ip"):
            self.why_not_netns = "needs root and iproute2"
        else:
            try:
                self._make_netns(n)
                self.mode = "netns"
                return self
            except RuntimeError as e:
                self.why_not_netns = str(e)
                self.undo()
        self.mode = "loopback"
        for i, h in enumerate(HOSTS[:n]):
            self.hosts[h] = {"ns": None, "metrics_ip": "127.0.0.%d" % (i + 1),
                             "redis_ip": "127.0.0.1"}
        return self

    def _run(self, *args):
        r = _ip(*args)
        if r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))

    def _make_netns(self, n):
        tag = "%d" % (os.getpid() % 100000)
        net = "10.%d.%d" % (200 + os.getpid() % 50, (os.getpid() // 50) % 250)
        for i, h in enumerate(HOSTS[:n]):
            ns, outside, inside = "fac-mh%s-%d" % (tag, i), "fmo%s%d" % (tag, i), "fmi%s%d" % (tag, i)
            host_ip, ns_ip = "%s.%d" % (net, 4 * i + 1), "%s.%d" % (net, 4 * i + 2)
            self._run("netns", "add", ns)
            self._spaces.append(ns)
            self._run("link", "add", outside, "type", "veth", "peer", "name", inside)
            self._links.append(outside)  # deleting one end deletes the pair
            self._run("link", "set", inside, "netns", ns)
            self._run("addr", "add", host_ip + "/30", "dev", outside)
            self._run("link", "set", outside, "up")
            self._run("-n", ns, "addr", "add", ns_ip + "/30", "dev", inside)
            self._run("-n", ns, "link", "set", inside, "up")
            self._run("-n", ns, "link", "set", "lo", "up")
            self.hosts[h] = {"ns": ns, "metrics_ip": ns_ip, "redis_ip": host_ip}

    def undo(self):
        for link in self._links:
            _ip("link", "del", link)
        for ns in self._spaces:
            _ip("netns", "del", ns)
        self._links, self._spaces = [], []


@pytest.fixture
def net():
    n = Net()
    try:
        yield n
    finally:
        n.undo()


class HostPool(Pool):
    """A pool that runs as another host: in its namespace, its clock skewed."""

    def __init__(self, config_path, redis_srv, workdir, ns, env):
        super().__init__(config_path, redis_srv, workdir)
        self.ns, self.env = ns, env

    def start(self):
        self._stderr = open(self.stderr_path, "ab")
        argv = [WORKER_BIN, "-c", str(self.config_path)]
        if self.ns:
            argv = ["ip", "netns", "exec", self.ns] + argv  # execs: the pid is fac-worker's
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=self.env)
        self.pgid = self.proc.pid
        return self


def _skew_shim(tmp_path):
    src, lib = tmp_path / "skew.c", tmp_path / "libskew.so"
    src.write_text(SKEW_SHIM)
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed to build the clock-skew shim (the project builds with one)"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(src), "-ldl"],
                   check=True, timeout=60)
    return lib


def _scrape(addr):
    with urllib.request.urlopen("http://%s/metrics" % addr, timeout=5) as resp:
        return resp.read().decode()


def _cluster_workers(page):
    """{host: value} of fac_cluster_workers."""
    out = {}
    for line in page.splitlines():
        if line.startswith("fac_cluster_workers{host=\""):
            host = line.split('"')[1]
            out[host] = float(line.rsplit(" ", 1)[1])
    return out


def _host_of(worker_id):
    return worker_id.rsplit(":", 1)[0]


def test_three_hosts_share_the_queues_and_a_killed_hosts_jobs_are_rescued(
        fac, redis, net, tmp_path, capsys):
    def say(line):
        with capsys.disabled():  # shown by ctest even when the test passes
            print("\n" + line, flush=True)
    net.make(len(HOSTS))
    say("test_multihost: mode=%s%s" % (net.mode, "" if net.mode == "netns" else
                                       " (no network namespaces: %s)" % net.why_not_netns))
    if net.mode == "netns":
        ips = " ".join(["127.0.0.1"] + [h["redis_ip"] for h in net.hosts.values()])
        redis.client.config_set("bind", ips)
        # no password in these tests: let the namespaces in (they reach only this host)
        redis.client.config_set("protected-mode", "no")
    shim = _skew_shim(tmp_path)

    pools, metrics_at, configs = {}, {}, {}
    for h in HOSTS:
        where = net.hosts[h]
        metrics_at[h] = "%s:%d" % (where["metrics_ip"], free_port())
        configs[h] = make_config(
            tmp_path, name="%s.json" % h, redis="redis://%s:%d/0" % (where["redis_ip"], redis.port),
            host_id=h, workers=WORKERS, concurrency=CONCURRENCY, tools=TOOLS,
            dead_after=DEAD_AFTER, scheduler=(h == "mh-a"), metrics=metrics_at[h],
            audit={"to": "jsonl", "path": str(tmp_path / ("%s.audit.jsonl" % h)),
                   "flush_ms": 10},
            log_file=str(tmp_path / ("%s.log" % h)))
        env = dict(os.environ)
        if h in CLOCK_SKEW_S:
            env["LD_PRELOAD"] = str(shim)
            env["FAC_TEST_CLOCK_SKEW_S"] = str(CLOCK_SKEW_S[h])
            # a sanitizer build (-DFAC_SANITIZE=ON) would refuse a library loaded before it
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                         "verify_asan_link_order=0"]))
        pool = HostPool(configs[h], redis, tmp_path, where["ns"], env)
        fac.pools.append(pool)  # stopped (by pid) and its log reported by the fixture
        pools[h] = pool.start()
    for p in pools.values():
        p.wait_workers(WORKERS, timeout=20)

    # 1. the jobs spread over every host; no live host is taken for dead
    first = [job("sleep", {"ms": 100}) for _ in range(600)]
    enqueue_many(fac.r, first)
    recs = wait_all_results(fac.r, [j["id"] for j in first], timeout=120)
    per_host = {h: 0 for h in HOSTS}
    for rec in recs.values():
        assert rec["status"] == "Success", rec
        per_host[_host_of(rec["worker"])] += 1
    say("test_multihost: jobs per host %s" % per_host)
    assert all(per_host[h] > 0 for h in HOSTS), per_host
    assert all(rec["attempt"] == 0 for rec in recs.values()), "a live host's jobs were rescued"
    assert "has been silent" not in pools["mh-a"].log_text(), (
        "the scheduler took a live host (clock %+d s) for dead" % CLOCK_SKEW_S["mh-b"])

    # 2. fac-ctl stats lists every host, with its totals
    res = ctl(configs["mh-a"], "stats", "--json")
    assert res.returncode == 0, res.stderr
    hosts = {e["host"]: e for e in json.loads(res.stdout)["hosts"]}
    assert set(hosts) == set(HOSTS), hosts
    for h in HOSTS:
        assert hosts[h]["workers"] == WORKERS and hosts[h]["live"] == WORKERS, hosts[h]
        assert 0 <= hosts[h]["heartbeat_age_ms"] < 5000, hosts[h]  # whatever its clock says
    text = ctl(configs["mh-a"], "stats").stdout
    for h in HOSTS:
        assert any(line.split()[:3] == [h, str(WORKERS), str(WORKERS)]
                   for line in text.splitlines()), (h, text)

    # 3. one pool's /metrics shows every host's workers
    page = wait_until(lambda: (lambda p: p if set(_cluster_workers(p)) == set(HOSTS) else None)(
        _scrape(metrics_at["mh-a"])), 10, interval=0.3, what="every host on mh-a's /metrics")
    assert _cluster_workers(page) == {h: WORKERS for h in HOSTS}, _cluster_workers(page)

    # 4. mh-c dies whole (supervisor and every worker) while it holds jobs
    second = [job("sleep", {"ms": 500}) for _ in range(200)]
    enqueue_many(fac.r, second)
    victim = pools["mh-c"]
    victim_wids = set(victim.live_workers())

    def victim_holds():
        # keys are "fac:{default}:inflight:<host_id>:<pid>"
        return sum(len(v) for k, v in inflight_lists(fac.r).items()
                   if k.split(":inflight:", 1)[1].startswith("mh-c:"))
    wait_until(lambda: victim_holds() >= CONCURRENCY, 20, interval=0.02, what="mh-c holding jobs")
    doomed = [victim.pid] + sorted(victim.worker_pids())
    for pid in doomed:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim.kill()  # and anything else left in its process group
    held_at_kill = victim_holds()

    # the scheduler (with mh-a) rescues them once dead_after has passed on Redis's
    # clock; judged by mh-c's own clock (90 s ahead) it would wait 90 s longer
    def victim_gone():
        return not any(m.decode().startswith("mh-c:")
                       for m in fac.r.zrange("fac:workers", 0, -1))
    wait_until(victim_gone, DEAD_AFTER + 40, interval=0.05,
               what="the scheduler rescuing mh-c's jobs")
    rescued_after = time.monotonic() - killed_at
    assert rescued_after >= DEAD_AFTER - 1.5, (
        "rescued %.1f s after the kill, before dead_after (%d s)" % (rescued_after, DEAD_AFTER))

    # 5. nothing is lost: every job has its final result
    ids = [j["id"] for j in first + second]
    recs = wait_all_results(fac.r, ids, timeout=120)
    assert len(recs) == len(ids)
    assert all(r["status"] == "Success" for r in recs.values())
    rescued = [r for r in recs.values() if r["attempt"] > 0]
    assert rescued, "mh-c held jobs when it died, and none was run again"
    bound = WORKERS * CONCURRENCY
    assert len(rescued) <= bound, (len(rescued), bound)
    assert all(_host_of(r["worker"]) != "mh-c" for r in rescued)

    rescue_log = [line for line in pools["mh-a"].log_text().splitlines()
                  if "has been silent" in line]
    assert all(any(w in line for line in rescue_log) for w in victim_wids), (
        victim_wids, rescue_log)
    say("test_multihost: killed mh-c (pids %s) holding %d jobs; the scheduler rescued them "
        "%.1f s later (dead_after %d s); run again: %d (bound: workers x concurrency = %d); "
        "all %d jobs have their result" % (doomed, held_at_kill, rescued_after, DEAD_AFTER,
                                           len(rescued), bound, len(ids)))
