#!/usr/bin/python3
"""Chaos suite (docs/chaos.md): many echo jobs through a 2-worker pool with the
audit in MariaDB while workers are SIGKILLed, the supervisor is SIGKILLed and
restarted, Redis is restarted and MariaDB is stopped; then it counts what
docs/protocol.md "Delivery guarantee" and docs/audit.md "Why no row is lost or
doubled" promise: no job lost, re-runs bounded, one audit row per attempt
that ran, never two.

It starts its own redis-server, mariadbd and pools with the helpers of
tests/integration/conftest.py and ends them by pid / process group, also on
error or Ctrl-C.  Exit code 0 only when no job is lost and the audit has no
doubled and no missing row.  The short form runs in CI
(tests/integration/test_chaos.py); the long form by hand:

    tests/chaos/chaos.py                    # 200,000 jobs, 15 s MariaDB outage
    tests/chaos/chaos.py --jobs 20000 --db-outage 5 --kills 6 --rate 1000
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from conftest import (AUDIT_TABLE, MariaDB, Pool, RedisServer,  # noqa: E402
                      builtin_tools, children_of, dead_key, delayed_key,
                      fetch_results, inflight_count, inflight_lists, job,
                      make_config, pack, pid_alive, ready_key, site_db_config,
                      unpack,
                      wait_until)

SITE = "site1.local"
DB = "chaos"
# Log lines that show a worker giving up on an outage and coming back
# (docs/audit.md "the spool", worker.c, supervisor.c).
RESUME_PATTERNS = [
    ("redis-lost", re.compile(r"lost Redis at|cannot connect to Redis")),
    ("backoff", re.compile(r"worker failures in a row: next start in")),
    ("worker-ready", re.compile(r"worker \S+ ready:")),
    ("db-spool", re.compile(r"MariaDB .* (failed|is unreachable) .*spool")),
    ("db-replay", re.compile(r"MariaDB .* is reachable: replaying")),
    ("db-direct", re.compile(r"spool replayed into MariaDB .* writing directly")),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=200_000)
    p.add_argument("--rate", type=int, default=4000,
                   help="jobs enqueued per second (the chaos lands while they flow)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--kills", type=int, default=8,
                   help="worker SIGKILLs, one every 200-500 ms (see docs/chaos.md "
                        "on the supervisor's crash backoff)")
    p.add_argument("--db-outage", type=float, default=15.0,
                   help="seconds MariaDB stays stopped")
    p.add_argument("--drain-timeout", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--workdir", default=None,
                   help="keep everything here (default: a temporary directory, "
                        "removed on success)")
    return p.parse_args(argv)


class Chaos:
    """The servers, the pool(s) and what happened to them."""

    def __init__(self, args, workdir):
        self.args = args
        self.tmp = Path(workdir)
        self.rng = random.Random(args.seed)
        self.stop_ev = threading.Event()
        self.gate = threading.Lock()  # held by the producer per chunk, and
        # by the Redis restart, so that no LPUSH straddles the restart
        self.redis = self.db = None
        self.pools = []
        self.ids = []
        self.worker_kills = 0
        self.killed_with_supervisor = 0
        self.inflight_at_redis_restart = None
        self.errors = []

    # -- setup -------------------------------------------------------------
    def setup(self):
        self.redis = RedisServer(self.tmp / "redis", appendonly=True).start()
        self.db = MariaDB(self.tmp / "mariadb").install().start()
        self.db.create_site_db(DB, DB + "-pw")
        self.config = make_config(
            self.tmp, redis=self.redis.url, workers=self.args.workers,
            concurrency=self.args.concurrency, scheduler=True,
            tools=builtin_tools("echo"),
            audit={"to": "mariadb", "path": str(self.tmp / "audit.jsonl"),
                   "spool": str(self.tmp / "spool"), "flush_ms": 10},
            sites={SITE: {"db": site_db_config(self.db, DB, DB + "-pw")}})
        self.start_pool()

    def start_pool(self):
        pool = Pool(self.config, self.redis, self.tmp)
        self.pools.append(pool)
        pool.start()
        wait_until(lambda: len(self.worker_pids()) == self.args.workers, 30,
                   interval=0.05, what="%d workers" % self.args.workers)
        return pool

    def worker_pids(self):
        """The current supervisor's worker children (not its fac-scheduler)."""
        pool = self.pools[-1]
        if not pool.running():
            return []
        pids = []
        for pid in children_of(pool.pid):
            try:
                comm = Path("/proc/%d/comm" % pid).read_text().strip()
            except OSError:
                continue
            if "sched" not in comm:
                pids.append(pid)
        return sorted(pids)

    def note(self, what):
        print("  %7.2fs  %s" % (time.monotonic() - self.t0, what), flush=True)

    def cleanup(self):
        self.stop_ev.set()
        for pool in self.pools:
            pool.stop(timeout=10)
        if self.redis:
            self.redis.stop()
        if self.db:
            self.db.stop()

    # -- the producer ------------------------------------------------------
    def produce(self):
        """Enqueue --jobs echo jobs at --rate per second, in chunks of 500."""
        chunk, rate = 500, self.args.rate
        for start in range(0, self.args.jobs, chunk):
            if self.stop_ev.is_set():
                return
            t = time.monotonic()
            envs = [job("echo", {"i": i}, id="chaos-%08d" % i, site=SITE)
                    for i in range(start, min(start + chunk, self.args.jobs))]
            with self.gate:
                pipe = self.redis.client.pipeline(transaction=True)
                for env in envs:
                    pipe.lpush(ready_key(), pack(env))
                pipe.execute()
            self.ids.extend(e["id"] for e in envs)
            time.sleep(max(0.0, len(envs) / rate - (time.monotonic() - t)))
        self.note("all %d jobs enqueued" % self.args.jobs)

    # -- the chaos ---------------------------------------------------------
    def kill_worker(self):
        pids = self.worker_pids()
        if not pids:
            return False  # both in their restart backoff: try again later
        pid = self.rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.worker_kills += 1
        self.note("SIGKILL worker %d (kill %d)" % (pid, self.worker_kills))
        return True

    def kill_supervisor(self):
        """SIGKILL the supervisor once a worker is up (they die with it,
        PDEATHSIG) and start a new one on the same config: it rescues them."""
        wait_until(self.worker_pids, 60, interval=0.05, what="a live worker")
        old, pids = self.pools[-1], self.worker_pids()
        os.kill(old.pid, signal.SIGKILL)
        old.proc.wait(10)
        self.killed_with_supervisor = len(pids)
        self.note("SIGKILL supervisor %d (workers %s)" % (old.pid, pids))
        # Dead is enough: a zombie not yet reaped by init is rescued too
        # (docs/chaos.md "Findings").
        wait_until(lambda: not any(pid_alive(p) for p in pids), 10,
                   what="the old workers to die with their supervisor")
        self.start_pool()
        self.note("new supervisor %d, workers %s" % (self.pools[-1].pid,
                                                     self.worker_pids()))

    def restart_redis(self):
        """Graceful restart (SIGTERM: Redis writes its AOF out, exits) on the
        same port and dir, at a moment when workers hold jobs (up to 5 s of
        looking) and no LPUSH of the producer is on the wire."""
        deadline = time.monotonic() + 5
        while True:
            with self.gate:
                n = inflight_count(self.redis.client)
                if n or time.monotonic() > deadline:
                    self.inflight_at_redis_restart = n
                    t = time.monotonic()
                    self.redis.stop(graceful=True)
                    self.redis.start()
                    break
            time.sleep(0.001)
        self.note("Redis restarted (SIGTERM, same port and AOF) in %.2f s; "
                  "%d jobs were in flight" % (time.monotonic() - t, n))

    def db_outage(self, at):
        if self.stop_ev.wait(at):
            return
        self.db.stop()
        self.note("MariaDB stopped (SIGTERM, waited) for %g s" % self.args.db_outage)
        if not self.stop_ev.wait(self.args.db_outage):
            self.db.start()
            self.note("MariaDB started again on the same datadir")

    def chaos(self):
        """Worker kills every 200-500 ms, then, at random moments, the
        supervisor kill and the Redis restart; MariaDB's outage runs in its own
        thread so that the others land during it or around it."""
        window = self.args.jobs / self.args.rate
        db_at = self.rng.uniform(0.2, 0.35) * window
        threading.Thread(target=self.db_outage, args=(db_at,), daemon=True).start()
        pause = lambda lo, hi: self.stop_ev.wait(self.rng.uniform(lo, hi))  # noqa: E731
        while self.worker_kills < self.args.kills and not pause(0.2, 0.5):
            self.kill_worker()
        if pause(0.05 * window, 0.15 * window):
            return
        self.kill_supervisor()
        if pause(0.05 * window, 0.15 * window):
            return
        self.restart_redis()

    def guarded(self, fn):
        def run():
            try:
                fn()
            except Exception as e:  # reported in the summary, fails the run
                self.errors.append("%s: %r" % (fn.__name__, e))
                self.note("ERROR in %s: %r" % (fn.__name__, e))
        return threading.Thread(target=run, daemon=True)

    # -- waiting and counting ------------------------------------------------
    def pending_ids(self):
        """Ids still in a ready, in-flight, delayed or dead list."""
        r = self.redis.client
        raws = list(r.lrange(ready_key(), 0, -1)) + list(r.lrange(dead_key(), 0, -1))
        raws += list(r.zrange(delayed_key(), 0, -1))
        for elems in inflight_lists(r).values():
            raws += elems
        ids = set()
        for raw in raws:
            env = unpack(raw)
            if isinstance(env, dict):
                ids.add(env.get("id"))
        return ids

    def drain(self):
        """Wait (bounded) until every job has a result record or is dead."""
        r, deadline = self.redis.client, time.monotonic() + self.args.drain_timeout
        self.results, missing = {}, list(self.ids)
        while missing and time.monotonic() < deadline:
            try:
                self.results.update(fetch_results(r, missing))
                dead = {unpack(x).get("id") for x in r.lrange(dead_key(), 0, -1)}
            except Exception:  # Redis still coming back
                dead = set()
            missing = [j for j in missing if j not in self.results and j not in dead]
            time.sleep(0.5)
        self.note("drained: %d jobs without a result record" % len(missing))

    def audit_names(self):
        return {row[0] for row in self.db.sql(
            "SELECT name FROM `%s`" % AUDIT_TABLE, db=DB)}

    def expected_final_names(self):
        return {row_name(j, rec["attempt"], rec["started_at"]): j
                for j, rec in self.results.items()}

    def wait_audit(self, timeout=120):
        """Wait (bounded) until the final attempt of every job has its row:
        spooled rows are replayed up to a few seconds after MariaDB is back."""
        want = set(self.expected_final_names())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want <= self.audit_names():
            time.sleep(1)

    def count(self):
        """Every number of the summary, as a dict."""
        res = self.results
        pending, dead = self.pending_ids(), set(self.dead_ids())
        lost = [j for j in self.ids if j not in res and j not in pending]
        reran = [j for j, rec in res.items() if rec.get("attempt", 0) > 0]
        total, distinct = (int(x) for x in self.db.sql(
            "SELECT COUNT(*), COUNT(DISTINCT name) FROM `%s`" % AUDIT_TABLE, db=DB)[0])
        names = self.audit_names()
        final = self.expected_final_names()
        days = {n[len("ASST-AUDIT-"):len("ASST-AUDIT-") + 10] for n in names}
        attempt_of = {}
        for j, rec in res.items():
            for a in range(rec["attempt"] + 1):
                for day in days:
                    attempt_of[name_on(day, j, a)] = j
        per_job = {}
        for n in names:
            if n in attempt_of:
                per_job[attempt_of[n]] = per_job.get(attempt_of[n], 0) + 1
        deaths = self.log_count(r"worker pid=\d+ killed by signal") + \
            self.killed_with_supervisor
        return {
            "jobs enqueued": len(self.ids),
            "result records present": len(res),
            "jobs still queued/in flight/delayed": len(pending - dead),
            "jobs dead": len(dead),
            "jobs lost (must be 0)": len(lost),
            "jobs run more than once (final attempt > 0)": len(reran),
            "bound: worker deaths x concurrency": deaths * self.args.concurrency,
            "worker deaths (seen by a supervisor + with it)": deaths,
            "worker SIGKILLs by the chaos": self.worker_kills,
            "jobs in flight at the Redis restart": self.inflight_at_redis_restart,
            "audit rows": total,
            "audit rows, distinct names": distinct,
            "doubled rows (must be 0)": total - distinct,
            "jobs without a row for their final attempt (must be 0)":
                len(set(final) - names),
            "rows of an attempt that never ran (must be 0)": len(names - set(attempt_of)),
            "jobs with rows for more than one attempt": sum(1 for c in per_job.values() if c > 1),
            "max rows of one job (<= its attempts)": max(per_job.values(), default=0),
            "_lost_sample": lost[:5],
        }

    def dead_ids(self):
        return [unpack(x).get("id") for x in self.redis.client.lrange(dead_key(), 0, -1)]

    def log_text(self):
        p = self.pools[0].log_path
        return p.read_text(errors="replace") if p and p.exists() else ""

    def log_count(self, pattern):
        return len(re.findall(pattern, self.log_text()))

    def resume_lines(self):
        """{kind: [matching pool log lines]} for RESUME_PATTERNS."""
        out = {kind: [] for kind, _ in RESUME_PATTERNS}
        for line in self.log_text().splitlines():
            for kind, rx in RESUME_PATTERNS:
                if rx.search(line):
                    out[kind].append(line)
        return out


def name_on(day, job_id, attempt):
    """docs/audit.md "Names" for an attempt started on `day` (YYYY-MM-DD)."""
    digest = hashlib.sha256(("%s#%d" % (job_id, attempt)).encode()).hexdigest()
    return "ASST-AUDIT-%s-%s" % (day, digest[:20])


def row_name(job_id, attempt, started_at_ms):
    return name_on(time.strftime("%Y-%m-%d", time.gmtime(started_at_ms // 1000)),
                   job_id, attempt)


def resumed(lines):
    """Did the workers come back after both outages, by the log?"""
    return {"after the Redis restart": bool(lines["redis-lost"]) and
            bool(lines["worker-ready"]),
            "after the MariaDB outage": bool(lines["db-spool"]) and
            bool(lines["db-direct"])}


def print_summary(counts, lines, res, errors):
    print("\n%-58s %s" % ("chaos summary", "value"))
    print("-" * 70)
    for key, value in counts.items():
        if not key.startswith("_"):
            print("%-58s %s" % (key, value))
    for key, ok in res.items():
        print("%-58s %s" % ("workers resumed " + key, "yes" if ok else "NO"))
    print("\nresume log lines (first 3 of each):")
    for kind, found in lines.items():
        print("  %s: %d line(s)" % (kind, len(found)))
        for line in found[:3]:
            print("    " + line[:220])
    if counts["_lost_sample"]:
        print("lost, e.g.: %s" % counts["_lost_sample"])
    for e in errors:
        print("ERROR: " + e)


def verdict(counts, res, errors):
    """True when the run kept every promise the exit code stands for."""
    return (counts["jobs lost (must be 0)"] == 0
            and counts["doubled rows (must be 0)"] == 0
            and counts["jobs without a row for their final attempt (must be 0)"] == 0
            and counts["rows of an attempt that never ran (must be 0)"] == 0
            and all(res.values()) and not errors)


def run(args):
    """The whole run; returns (ok, counts, resume)."""
    workdir = args.workdir or tempfile.mkdtemp(prefix="fac-chaos-")
    c = Chaos(args, workdir)
    ok = False
    try:
        c.setup()
        c.t0 = time.monotonic()
        print("chaos in %s: %d jobs at %d/s, %d workers x %d" % (
            workdir, args.jobs, args.rate, args.workers, args.concurrency), flush=True)
        threads = [c.guarded(c.produce), c.guarded(c.chaos)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        c.drain()
        c.wait_audit()
        counts = c.count()
        try:  # the last "writing directly again" may trail the rows a little
            wait_until(lambda: all(resumed(c.resume_lines()).values()), 10, 0.2)
        except AssertionError:
            pass  # reported as NO below
        lines = c.resume_lines()
        res = resumed(lines)
        counts["wall time, s"] = round(time.monotonic() - c.t0, 1)
        print_summary(counts, lines, res, c.errors)
        ok = verdict(counts, res, c.errors)
        return ok, counts, res
    finally:
        c.cleanup()
        if ok and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not ok:
            print("kept for a look: %s" % workdir)


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    ok, _, _ = run(args)
    print("\nRESULT: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
