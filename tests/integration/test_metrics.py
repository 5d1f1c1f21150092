"""The supervisor's Prometheus endpoint (docs/operations.md "Metrics") and the
Grafana dashboard built on it (deploy/grafana/fac-worker.json)."""

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import (builtin_tools, enqueue, free_port, job, wait_result,
                      wait_until)

TOOLS = builtin_tools("echo", "fail", "noop")
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "fac-worker.json"

# One sample line of the text format: name, optional {labels}, value.
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:%s(?:,%s)*)?\})? '
                    r'(-?[0-9.e+-]+|\+Inf|NaN)$' % (LABEL, LABEL))


def start(fac, **overrides):
    addr = "127.0.0.1:%d" % free_port()
    cfg = fac.config(tools=TOOLS, metrics=addr, **overrides)
    fac.start(config=cfg)
    return "http://%s" % addr


def scrape(url, path="/metrics"):
    with urllib.request.urlopen(url + path, timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def parse(text):
    """{(name, frozenset(labels)): value}; asserts the grammar of every line."""
    samples, typed = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            typed[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    for (name, _) in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, "%s has no TYPE line" % name
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def check_histograms(samples):
    """Buckets cumulative, ending with +Inf; _count equals the +Inf bucket."""
    series = {}
    for (name, labels), v in samples.items():
        if name.endswith("_bucket"):
            d = dict(labels)
            le = d.pop("le")
            series.setdefault((name, frozenset(d.items())), []).append(
                (float("inf") if le == "+Inf" else float(le), v))
    assert series, "no histogram in the page"
    for (name, rest), buckets in series.items():
        buckets.sort()
        assert buckets[-1][0] == float("inf"), name
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), (name, rest, counts)
        count = samples[(name[:-len("_bucket")] + "_count", rest)]
        assert count == counts[-1], (name, rest)


def run(fac, tool, n, args=None):
    ids = [enqueue(fac.r, job(tool, args or {})) for _ in range(n)]
    for jid in ids:
        wait_result(fac.r, jid)


def test_the_page_is_valid_prometheus_text_with_jobs_by_tool_and_status(fac):
    url = start(fac)
    run(fac, "echo", 3)
    run(fac, "fail", 2, {"message": "no"})
    s = parse(scrape(url))
    check_histograms(s)
    assert value(s, "fac_jobs_total", tool="echo", status="Success") == 3
    assert value(s, "fac_jobs_total", tool="fail", status="Error") == 2
    assert value(s, "fac_job_duration_seconds_count", tool="echo") == 3
    assert value(s, "fac_workers") == 1
    rss = [v for (n, _), v in s.items() if n == "fac_worker_rss_bytes"]
    assert len(rss) == 1 and rss[0] > 1 << 20
    assert value(s, "fac_audit_spool_bytes") == 0


def test_only_metrics_is_served(fac):
    url = start(fac)
    try:
        scrape(url, "/")
        raise AssertionError("/ answered")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_queue_depth_and_the_oldest_jobs_age(fac):
    url = start(fac)
    fac.pools[0].signal(signal.SIGTSTP)  # quiet: jobs stay queued
    wait_until(lambda: all(h.get("state") == "quiet"
                           for h in fac.pools[0].registry().values()), 5, what="quiet")
    for _ in range(3):
        enqueue(fac.r, job("noop", enqueued_at=job("noop")["enqueued_at"] - 7000))

    def seen():
        s = parse(scrape(url))
        return s if value(s, "fac_queue_depth", queue="default") == 3 else None
    s = wait_until(seen, 5, interval=0.2, what="depth 3 on /metrics")
    assert 7 <= value(s, "fac_queue_oldest_job_age_seconds", queue="default") < 30


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_restarts_are_counted_by_reason_and_counters_survive_them(fac):
    url = start(fac, max_jobs=2)
    run(fac, "echo", 6)

    def recycled():
        s = parse(scrape(url))
        return s if value(s, "fac_worker_restarts_total", reason="max_jobs") >= 1 else None
    s = wait_until(recycled, 10, interval=0.2, what="a max_jobs recycle")
    assert value(s, "fac_jobs_total", tool="echo", status="Success") == 6
    pool = fac.pools[0]

    def the_one_serving_worker():
        # Recycling workers drain and exit on their own: kill only when the pool is down
        # to one live child that is also the one registered as serving.
        kids = [k for k in pool.child_pids() if not _zombie(k)]
        live = {h["_pid"] for h in pool.live_workers().values()}
        return kids[0] if len(kids) == 1 and live == set(kids) else None
    def settled_worker():
        # The registry shows a draining worker as serving until its next heartbeat:
        # take the one that is still the one a second later (it has no job to do).
        pid = the_one_serving_worker()
        if pid is None:
            return None
        time.sleep(1.0)
        return pid if the_one_serving_worker() == pid else None
    pid = wait_until(settled_worker, 20, interval=0.1, what="one settled serving worker")
    os.kill(pid, signal.SIGKILL)
    s = wait_until(lambda: (lambda s: s if value(
        s, "fac_worker_restarts_total", reason="crashed") == 1 else None)(parse(scrape(url))),
        10, interval=0.2, what="a crashed restart")
    assert value(s, "fac_jobs_total", tool="echo", status="Success") == 6


def test_the_dashboard_queries_only_metrics_the_endpoint_serves(fac):
    dash = json.loads(DASHBOARD.read_text())
    url = start(fac)
    run(fac, "echo", 1)
    # the cluster view is read every 2 s: wait for a read that found the worker
    page = wait_until(lambda: (lambda p: p if "fac_cluster_workers{" in p else None)(scrape(url)),
                      5, interval=0.2, what="the cluster view on /metrics")
    served = {name for (name, _) in parse(page)}
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 6
    for expr in exprs:
        names = re.findall(r"\bfac_[a-z_]+\b", expr)
        assert names, "query names no fac_ metric: %s" % expr
        for n in names:
            assert n in served, "%s (in %r) is not served" % (n, expr)


def test_the_cluster_view_counts_every_hosts_workers_from_the_registry(fac):
    """Two pools with their own host_id on one Redis: either pool's page shows both
    hosts' workers and their jobs (fac_cluster_*, docs/operations.md "Metrics")."""
    url = start(fac, host_id="host-a", workers=2)
    fac.start(config=fac.config(name="b.json", tools=TOOLS, host_id="host-b", workers=1,
                                audit={"to": "jsonl", "path": str(fac.tmp / "b.jsonl")},
                                log_file=str(fac.tmp / "b.log")))
    run(fac, "noop", 200)
    run(fac, "fail", 3, {"message": "no"})

    def both_counted():
        s = parse(scrape(url))
        done = [value(s, "fac_cluster_jobs_done", host=h) or 0 for h in ("host-a", "host-b")]
        return s if sum(done) == 203 else None
    s = wait_until(both_counted, 10, interval=0.3, what="203 jobs on the cluster view")
    assert value(s, "fac_cluster_workers", host="host-a") == 2
    assert value(s, "fac_cluster_workers", host="host-b") == 1
    assert value(s, "fac_cluster_registered_workers") == 3
    assert sum(value(s, "fac_cluster_jobs_failed", host=h) for h in ("host-a", "host-b")) == 3
    for h in ("host-a", "host-b"):
        assert value(s, "fac_cluster_silent_workers", host=h) == 0
        assert 0 <= value(s, "fac_cluster_heartbeat_age_seconds", host=h) < 5

    # jobs/s comes from two heartbeats of one worker: keep jobs flowing until it shows
    def rate_seen():
        run(fac, "noop", 50)
        s = parse(scrape(url))
        rate = sum(value(s, "fac_cluster_jobs_per_second", host=h) or 0
                   for h in ("host-a", "host-b"))
        return rate if rate > 0 else None
    wait_until(rate_seen, 20, interval=0.5, what="a jobs/s above 0 on the cluster view")


def test_the_supervisor_serves_metrics_without_a_thread(fac):
    """metrics_http.h: /metrics runs on the supervisor's loop, so the supervisor has one
    thread whenever it forks a worker (a fork while another thread holds an allocator
    lock hung a worker's audit thread under ASan)."""
    url = start(fac, max_jobs=2)
    run(fac, "echo", 6)  # recycles: forks while /metrics is scraped below
    for _ in range(20):
        assert "fac_jobs_total" in scrape(url)
    pool = fac.pools[0]
    assert os.listdir("/proc/%d/task" % pool.pid) == [str(pool.pid)]
    assert value(parse(scrape(url)), "fac_jobs_total", tool="echo", status="Success") == 6
