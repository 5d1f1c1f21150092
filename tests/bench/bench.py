#!/usr/bin/python3
"""fac-worker vs python-rq benchmark: throughput, latency and memory.

One run starts ONE private redis-server (free port, temp dir) and measures, in order:

  fac-worker
    1. idle pool (queue empty): idle memory of the supervisor and each worker,
       then latency: M `echo` jobs one at a time, each with its own reply_to,
       timed from just before LPUSH to the BLPOP return, each followed by the same
       two round trips without a worker (the client floor); then the same jobs and
       floor from the C client tests/bench/latency_probe.c (build/tests/bench/
       fac-latency-probe, hiredis), whose own cost is far below redis-py's;
    2. a fresh pool started on N pre-filled `noop` envelopes: throughput
       (first job's started_at -> all N results stored), busy memory sampled
       during the run (max);
    3. with --scaling, step 2 again with 1, 2 and 4 workers;
    4. with --mcp (or --mcp-only), step 2 with N `mcp` jobs instead of `noop`:
       each a JSON-RPC tools/call over HTTP to fac_fast.py, a local stand-in
       for FAC's MCP endpoint, through the worker's libcurl multi driver;
    5. with --audit mariadb (rows into a private mariadbd the bench starts),
       step 2 again with the audit off, for jobs/s with the audit on vs off.
       Every throughput run also records CPU per job: the workers' and the supervisor's
       utime+stime (/proc/PID/stat) and redis-server's (INFO cpu).
  --matrix (on its own): step 2 for workers 1/2/4 x concurrency 1/16/128 with 100 B noop
       jobs, and for 100 B / 10 KB / 1 MB echo jobs on 2 workers x 16.
  --sql (on its own, like --promotion): `sql` tool jobs on a private mariadbd, single-row
       reads by primary key one at a time (p50/p99), then jobs/s of the same reads.
  python-rq, once with the default forking `Worker` and once with `SimpleWorker`
    1. idle non-burst workers: idle memory, then latency (enqueue -> status
       `finished`, polled every 0.2 ms);
    2. pre-filled queue + `rq worker --burst` processes: throughput and busy
       memory (for `Worker` also the short-lived work horses).

Then prints a side-by-side table and writes JSON, Markdown and (with gnuplot) PNGs.
Every process the bench starts is tracked by PID (and its start time, so a reused
PID is never signalled) and stopped at the end, also on error, Ctrl-C or SIGTERM;
the temp dir is removed.  See tests/bench/README.md.
"""

import argparse
import atexit
import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep tests/bench free of __pycache__

import msgpack  # noqa: E402  (Debian python3-msgpack)
import redis  # noqa: E402  (Debian python3-redis)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
QUEUE = "default"
PREFIX = "fac"
HOST_ID = "bench"
FAC_READY = "%s:{%s}:ready" % (PREFIX, QUEUE)
FAC_DEAD = "%s:{%s}:dead" % (PREFIX, QUEUE)
FAC_WORKERS = "%s:workers" % PREFIX
MCP_SITE = "bench.local"  # the --mcp pool's one site: fac_fast.py
MCP_TOOL = "fac_echo"
MiB = 1024.0 * 1024.0
BENCH_DB = "bench_site"  # with --audit mariadb, MCP_SITE's database
AUDIT_TABLE = "tabAssistant Audit Log"
SQL_FIXTURES = os.path.join(REPO, "tests", "fixtures")


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    """Raised from the SIGTERM/SIGHUP handler so that `finally` blocks run."""


# --------------------------------------------------------------------------
# process bookkeeping


def proc_starttime(pid):
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()
    # rest[0] is field 3 (state); starttime is field 22
    if len(rest) < 20 or rest[0] == b"Z":
        return None
    return int(rest[19])


def proc_children(pid):
    """Children of every thread of PID (/proc/PID/task/TID/children)."""
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return sorted(set(kids))


def proc_cpu_seconds(pid, children=False):
    """utime + stime of PID from /proc/PID/stat (fields 14, 15), plus cutime + cstime (16, 17: its
    waited-for children, e.g. rq's work horses) with children=True."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12]) + (int(rest[13]) + int(rest[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_per_job(n, worker_s, redis0, redis1, supervisor_s=None):
    """CPU per job in microseconds: the workers', the supervisor's and redis-server's (INFO cpu deltas)."""
    out = {"worker_us": worker_s / n * 1e6, "worker_s": worker_s,
           "redis_us": (redis1["all"] - redis0["all"]) / n * 1e6,
           "redis_main_thread_us": (redis1["main_thread"] - redis0["main_thread"]) / n * 1e6}
    if supervisor_s is not None:
        out["supervisor_us"] = supervisor_s / n * 1e6
    return out


def _set_pdeathsig():
    # Child dies with the bench even if the bench is SIGKILLed.
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Tracker:
    """Every process the bench started (Popen) or saw as a descendant of one."""

    def __init__(self):
        self.procs = []  # [(name, Popen, starttime)]
        self.seen = {}  # pid -> (name, starttime) of descendants (workers, horses)
        self.lock = threading.Lock()

    def spawn(self, name, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, preexec_fn=_set_pdeathsig, start_new_session=True, **kw)
        with self.lock:
            self.procs.append((name, p, proc_starttime(p.pid)))
        return p

    def note(self, pid, name):
        st = proc_starttime(pid)
        if st is None:
            return
        with self.lock:
            if pid not in self.seen:
                self.seen[pid] = (name, st)

    def _same(self, pid, st):
        return st is not None and proc_starttime(pid) == st

    def descendants_of(self, pid, depth=3):
        out = []
        todo = [pid]
        for _ in range(depth):
            nxt = []
            for q in todo:
                for c in proc_children(q):
                    out.append(c)
                    nxt.append(c)
            todo = nxt
        return out

    def stop(self, p, sig=signal.SIGTERM, timeout=10.0):
        """Signal one started process (and what it left behind) and reap it.

        sig=None: the caller already signalled it; only wait (then SIGKILL)."""
        if p.poll() is None:
            for c in self.descendants_of(p.pid):
                self.note(c, "child")
            if sig is not None:
                try:
                    os.kill(p.pid, sig)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log("pid %d did not exit within %.0fs: SIGKILL" % (p.pid, timeout))
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        self.reap_seen()
        return p.returncode

    def reap_seen(self, grace=3.0):
        """Kill recorded descendants that outlived their parent (same start time only)."""
        with self.lock:
            items = list(self.seen.items())
        live = [(pid, st) for pid, (_, st) in items if self._same(pid, st)]
        if not live:
            return
        deadline = time.time() + grace
        while live and time.time() < deadline:  # give PDEATHSIG / shutdown a moment
            time.sleep(0.05)
            live = [(pid, st) for pid, st in live if self._same(pid, st)]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid, st in live:
                if self._same(pid, st):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            t = time.time() + 3
            while time.time() < t and any(self._same(pid, st) for pid, st in live):
                time.sleep(0.05)
            live = [(pid, st) for pid, st in live if self._same(pid, st)]
            if not live:
                break

    def cleanup(self):
        # Stop in reverse start order, so redis-server (started first) goes last.
        for name, p, st in reversed(self.procs):
            if p.poll() is None and self._same(p.pid, st):
                self.stop(p, signal.SIGTERM, timeout=8.0)
            elif p.poll() is None:
                p.poll()
        self.reap_seen()


# --------------------------------------------------------------------------
# memory


def read_mem(pid):
    """{'rss','rss_anon','pss','private'} in bytes, or None if the process is gone."""
    m = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    m["rss"] = int(line.split()[1]) * 1024
                elif line.startswith("RssAnon:"):
                    m["rss_anon"] = int(line.split()[1]) * 1024
        priv = 0
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    m["pss"] = int(line.split()[1]) * 1024
                elif line.startswith("Private_Clean:") or line.startswith("Private_Dirty:"):
                    priv += int(line.split()[1]) * 1024
                    if line.startswith("Private_Dirty:"):
                        # its own memory proper; Private_Clean is file pages (library
                        # code) that only this process has touched so far
                        m["private_dirty"] = int(line.split()[1]) * 1024
        m["private"] = priv
    except (OSError, ValueError, IndexError):
        return None
    if "pss" not in m or "rss" not in m:
        return None
    return m


def mem_summary(samples):
    """samples: list of mem dicts of one role -> max of each field, plus count."""
    out = {"n": len(samples)}
    for k in ("rss", "rss_anon", "pss", "private", "private_dirty"):
        vals = [s[k] for s in samples if k in s]
        out[k] = max(vals) if vals else None
    return out


class MemSampler(threading.Thread):
    """Samples the memory of the pids returned by roles_fn() every interval; keeps the max."""

    def __init__(self, roles_fn, interval, tracker):
        super().__init__(daemon=True)
        self.roles_fn = roles_fn  # -> {role: [pid, ...]}
        self.interval = interval
        self.tracker = tracker
        self.stop_ev = threading.Event()
        self.max = {}  # role -> {field: max}
        self.sum_max = {}  # role -> max over samples of the sum over pids (pss)
        self.pids = {}  # role -> set of pids seen
        self.samples = 0

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.sample()
            except Exception as e:  # never let the sampler kill the run
                log("memory sampler: %r" % (e,))
            self.stop_ev.wait(self.interval)

    def sample(self):
        roles = self.roles_fn()
        self.samples += 1
        for role, pids in roles.items():
            tot = 0
            for pid in pids:
                self.tracker.note(pid, role)
                m = read_mem(pid)
                if m is None:
                    continue
                self.pids.setdefault(role, set()).add(pid)
                cur = self.max.setdefault(role, {})
                for k, v in m.items():
                    if cur.get(k) is None or v > cur[k]:
                        cur[k] = v
                tot += m["pss"]
            if tot > self.sum_max.get(role, 0):
                self.sum_max[role] = tot

    def finish(self):
        self.stop_ev.set()
        self.join(5)
        try:
            self.sample()
        except Exception:
            pass
        out = {}
        for role, cur in self.max.items():
            d = dict(cur)
            d["pids_seen"] = len(self.pids.get(role, ()))
            d["pss_sum_max"] = self.sum_max.get(role)
            out[role] = d
        out["samples"] = self.samples
        return out


# --------------------------------------------------------------------------
# helpers


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(math.ceil(p / 100.0 * len(sorted_vals))) - 1))
    return sorted_vals[k]


def lat_stats(ns_list):
    ms = sorted(x / 1e6 for x in ns_list)
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "min_ms": ms[0],
        "p50_ms": pct(ms, 50),
        "p90_ms": pct(ms, 90),
        "p99_ms": pct(ms, 99),
        "max_ms": ms[-1],
        "mean_ms": sum(ms) / len(ms),
    }


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8000))
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no %s)" % path


def b2s(x):
    return x.decode() if isinstance(x, bytes) else x


# --------------------------------------------------------------------------
# the bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.tracker = Tracker()
        self.tmp = tempfile.mkdtemp(prefix="fac-bench-")
        self.redis_proc = None
        self.port = None
        self.r = None
        self.results = {}
        self._cleaned = False
        self.mariadb = None  # (proc, port, socket) with --audit mariadb

    # ---- lifecycle

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                old[s] = signal.signal(s, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
        try:
            self.tracker.cleanup()
        finally:
            if self.args.keep_tmp:
                log("temp dir kept: %s" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
            for s, h in old.items():
                try:
                    signal.signal(s, h)
                except (ValueError, OSError):
                    pass

    def start_redis(self):
        exe = self.args.redis_server
        if not os.path.exists(exe):
            raise BenchError("redis-server not found at %s" % exe)
        for attempt in range(5):
            self.port = free_port()
            logf = os.path.join(self.tmp, "redis.log")
            cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.tmp,
                   "--save", "", "--appendonly", "no", "--daemonize", "no",
                   "--logfile", logf, "--unixsocket", "", "--maxmemory", "0"]
            self.redis_proc = self.tracker.spawn("redis-server", cmd, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL, cwd=self.tmp)
            r = redis.Redis(host="127.0.0.1", port=self.port)
            deadline = time.time() + 10
            while time.time() < deadline:
                if self.redis_proc.poll() is not None:
                    break
                try:
                    r.ping()
                    self.r = r
                    info = r.info("server")
                    log("redis-server %s pid %d on 127.0.0.1:%d (dir %s)"
                        % (info.get("redis_version"), self.redis_proc.pid, self.port, self.tmp))
                    return
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
            self.tracker.stop(self.redis_proc)
            log("redis-server failed to start on port %d (attempt %d):\n%s"
                % (self.port, attempt + 1, tail(logf, 10)))
        raise BenchError("could not start redis-server")

    @property
    def redis_url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def flush(self):
        self.r.flushdb()

    def redis_cpu(self):
        """INFO cpu: seconds of CPU redis-server used, all threads and main thread."""
        info = self.r.info("cpu")
        return {"all": info["used_cpu_sys"] + info["used_cpu_user"],
                "main_thread": info["used_cpu_sys_main_thread"] + info["used_cpu_user_main_thread"]}

    # ---- fac-scheduler promotion (--promotion)

    def sched_start(self):
        cfg = {"redis": self.redis_url, "prefix": PREFIX, "queues": [QUEUE], "host_id": HOST_ID,
               "log_level": self.args.log_level}
        path = os.path.join(self.tmp, "sched.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        exe = os.path.join(self.args.build_dir, "fac-scheduler")
        cmd = [exe, "-c", path, "--log-file", os.path.join(self.tmp, "sched.log")]
        p = self.tracker.spawn("fac-scheduler", cmd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.time() + 10
        while not self.r.get(PREFIX + ":scheduler:leader"):
            if time.time() > deadline or p.poll() is not None:
                raise BenchError("fac-scheduler did not take the lease:\n%s"
                                 % tail(os.path.join(self.tmp, "sched.log")))
            time.sleep(0.005)
        return p

    def promotion(self, n, lag_jobs):
        """N delayed jobs, all due, promoted by a freshly started scheduler (rate, and
        the slowest PING meanwhile); then lag_jobs jobs due 50 ms after they are added,
        one at a time: how late each reaches the ready list."""
        delayed = "%s:{%s}:delayed" % (PREFIX, QUEUE)
        self.flush()
        due = int(time.time() * 1000) - 60000
        pipe = self.r.pipeline(transaction=False)
        for i in range(n):
            env = {"v": 1, "id": "p%d" % i, "tool": "noop", "enqueued_at": due}
            pipe.zadd(delayed, {msgpack.packb(env): due + i // 1000})
            if i % 10000 == 9999:
                pipe.execute()
        pipe.execute()
        log("%d due jobs in %s; starting fac-scheduler" % (n, delayed))
        pings, done = [], threading.Event()
        pinger = redis.Redis(host="127.0.0.1", port=self.port)

        def ping():
            while not done.is_set():
                t0 = time.perf_counter()
                pinger.ping()
                pings.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.0005)

        th = threading.Thread(target=ping, daemon=True)
        th.start()
        t_spawn = time.perf_counter()
        sched = self.sched_start()
        t_first = t_last = None
        deadline = time.time() + 120
        while True:
            got = self.r.llen(FAC_READY)
            now = time.perf_counter()
            if got and t_first is None:
                t_first = now
            if got >= n:
                t_last = now
                break
            if time.time() > deadline:
                raise BenchError("only %d of %d jobs promoted after 120 s" % (got, n))
            time.sleep(0.0005)
        done.set()
        th.join(5)
        span = max(t_last - t_first, 1e-6)
        out = {"jobs": n, "seconds_first_to_last": span, "promotions_per_s": n / span,
               "seconds_from_spawn": t_last - t_spawn, "max_ping_ms": max(pings) if pings else None}
        log("promoted %d jobs in %.3f s (%.0f/s); slowest PING meanwhile %.2f ms"
            % (n, span, n / span, out["max_ping_ms"] or 0))
        self.flush()
        lags = []
        for i in range(lag_jobs):
            d = int(time.time() * 1000) + 50
            env = {"v": 1, "id": "lag%d" % i, "tool": "noop"}
            self.r.zadd(delayed, {msgpack.packb(env): d})
            self.r.publish(PREFIX + ":scheduler:wake", str(d))
            if not self.r.blpop(FAC_READY, 5):
                raise BenchError("a delayed job was not promoted within 5 s")
            lags.append(time.time() * 1000 - d)
        lags.sort()
        out.update({"lag_jobs": lag_jobs, "lag_p50_ms": pct(lags, 50), "lag_p99_ms": pct(lags, 99),
                    "lag_max_ms": lags[-1]})
        log("promotion lag over %d jobs: p50 %.2f ms, p99 %.2f ms, max %.2f ms"
            % (lag_jobs, out["lag_p50_ms"], out["lag_p99_ms"], out["lag_max_ms"]))
        self.tracker.stop(sched)
        return out

    # ---- mariadb-server (--audit mariadb)

    def mysql(self, sql, db=None):
        sock = self.mariadb[2]
        cmd = ["/usr/bin/mariadb", "--no-defaults", "-S", sock, "-u", "root", "-N", "-B"] + ([db] if db else [])
        p = subprocess.run(cmd, input=sql.encode(), capture_output=True, timeout=120)
        if p.returncode != 0:
            raise BenchError("mariadb: %s" % p.stderr.decode("utf-8", "replace"))
        return p.stdout.decode("utf-8", "replace")

    def start_mariadb(self):
        """A private mariadbd (data dir in the temp dir, free port) with one site database
        holding the audit table as Frappe creates it (tests/fixtures)."""
        d = os.path.join(self.tmp, "mariadb")
        sock = os.path.join(d, "mariadb.sock")
        subprocess.run(["/usr/bin/mariadb-install-db", "--no-defaults", "--datadir=%s" % os.path.join(d, "data"),
                        "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120)
        port = free_port()
        cmd = ["/usr/sbin/mariadbd", "--no-defaults", "--datadir=%s" % os.path.join(d, "data"),
               "--socket=%s" % sock, "--port=%d" % port, "--bind-address=127.0.0.1", "--user=root",
               "--log-error=%s" % os.path.join(d, "mariadbd.err"), "--skip-name-resolve",
               "--innodb-buffer-pool-size=256M"]
        proc = self.tracker.spawn("mariadbd", cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
        self.mariadb = (proc, port, sock)
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None or time.time() > deadline:
                raise BenchError("mariadbd did not start:\n%s" % tail(os.path.join(d, "mariadbd.err"), 20))
            try:
                self.mysql("SELECT 1")
                break
            except BenchError:
                time.sleep(0.05)
        self.mysql("CREATE DATABASE `%s`; CREATE USER '%s'@'%%' IDENTIFIED BY 'bench-pw'; "
                   "GRANT ALL ON `%s`.* TO '%s'@'%%';" % (BENCH_DB, BENCH_DB, BENCH_DB, BENCH_DB))
        with open(os.path.join(SQL_FIXTURES, "frappe_audit_schema.sql")) as f:
            self.mysql(f.read(), db=BENCH_DB)
        version = self.mysql("SELECT VERSION()").strip()
        log("mariadbd %s pid %d on 127.0.0.1:%d" % (version, proc.pid, port))
        return version

    def audit_row_count(self):
        return int(self.mysql("SELECT COUNT(*) FROM `%s`" % AUDIT_TABLE, db=BENCH_DB).strip())

    def audit_truncate(self):
        self.mysql("TRUNCATE TABLE `%s`" % AUDIT_TABLE, db=BENCH_DB)

    # ---- fac-worker

    def fac_bin(self):
        return os.path.join(self.args.build_dir, "fac-worker")

    def fac_config(self, tag, workers, mcp_url=None, audit=None, extra=None, concurrency=None):
        a = self.args
        audit = audit or a.audit
        cfg = {
            "redis": self.redis_url,
            "prefix": PREFIX,
            "queues": [QUEUE],
            "host_id": HOST_ID,
            "workers": workers,
            "concurrency": concurrency or a.concurrency,
            "max_jobs": 0,  # no recycling in the middle of a run
            "log_file": os.path.join(self.tmp, "fac-%s.log" % tag),
            "log_level": a.log_level,
        }
        if mcp_url:
            cfg["sites"] = {MCP_SITE: {"url": mcp_url, "api_key": "bench", "api_secret": "bench"}}
            cfg["tools"] = {"noop": {}, "echo": {}, MCP_TOOL: {"kind": "mcp", "name": "echo_args"}}
        if audit == "jsonl":
            cfg["audit"] = {"to": "jsonl", "path": os.path.join(self.tmp, "fac-audit-%s.jsonl" % tag)}
        elif audit == "mariadb":
            cfg["audit"] = {"to": "mariadb", "path": os.path.join(self.tmp, "fac-audit-%s.jsonl" % tag),
                            "spool": os.path.join(self.tmp, "spool-%s" % tag)}
            cfg.setdefault("sites", {}).setdefault(MCP_SITE, {})["db"] = {
                "host": "127.0.0.1", "port": self.mariadb[1], "name": BENCH_DB, "password": "bench-pw"}
        else:
            cfg["audit"] = {"to": "none"}
        cfg.update(extra or {})
        path = os.path.join(self.tmp, "fac-%s.json" % tag)
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        os.chmod(path, 0o640)  # fac-worker refuses a world-readable file holding a password
        return path, cfg

    def fac_check_config(self, path):
        p = subprocess.run([self.fac_bin(), "--check-config", "-c", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        if p.returncode != 0:
            raise BenchError("fac-worker --check-config -c %s exited %d:\n%s\nconfig:\n%s"
                             % (path, p.returncode, p.stdout.decode("utf-8", "replace"),
                                open(path).read()))

    def fac_start(self, tag, workers, mcp_url=None, audit=None, extra=None, concurrency=None):
        path, cfg = self.fac_config(tag, workers, mcp_url, audit, extra, concurrency)
        self.fac_check_config(path)
        out = open(os.path.join(self.tmp, "fac-%s.out" % tag), "wb")
        cmd = [self.fac_bin(), "-c", path, "-w", str(workers)]
        t0 = time.time()
        p = self.tracker.spawn("fac-worker", cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp)
        out.close()
        p.fac_cfg = cfg
        p.fac_tag = tag
        return p, t0

    def fac_logs(self, p):
        tag = p.fac_tag
        return ("--- %s (last lines)\n%s\n--- stdout/stderr\n%s"
                % (p.fac_cfg["log_file"], tail(p.fac_cfg["log_file"]),
                   tail(os.path.join(self.tmp, "fac-%s.out" % tag))))

    def fac_alive(self, p, what):
        if p.poll() is not None:
            raise BenchError("fac-worker supervisor exited with %s during %s\n%s"
                             % (p.returncode, what, self.fac_logs(p)))

    def fac_worker_pids(self, sup):
        pids = proc_children(sup.pid)
        for pid in pids:
            self.tracker.note(pid, "fac-worker child")
        return pids

    def fac_wait_ready(self, sup, workers, timeout=30.0):
        """Wait until the supervisor has `workers` children and each registered in P:workers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.fac_alive(sup, "start-up")
            kids = self.fac_worker_pids(sup)
            ids = {b2s(x) for x in self.r.zrange(FAC_WORKERS, 0, -1)}
            want = {"%s:%d" % (HOST_ID, pid) for pid in kids}
            if len(kids) >= workers and want <= ids:
                return kids
            time.sleep(0.02)
        raise BenchError("fac-worker pool not ready after %.0fs: children %s, %s = %s\n%s"
                         % (timeout, proc_children(sup.pid), FAC_WORKERS,
                            self.r.zrange(FAC_WORKERS, 0, -1), self.fac_logs(sup)))

    def fac_stop(self, sup):
        self.fac_worker_pids(sup)
        rc = self.tracker.stop(sup, signal.SIGTERM, timeout=30.0)
        if rc != 0:
            log("warning: fac-worker supervisor exited %s after SIGTERM (docs: 0)" % rc)
        return rc

    def fac_inflight_keys(self, sup):
        ids = {b2s(x) for x in self.r.zrange(FAC_WORKERS, 0, -1)}
        ids |= {"%s:%d" % (HOST_ID, pid) for pid in proc_children(sup.pid)}
        return ["%s:{%s}:inflight:%s" % (PREFIX, QUEUE, wid) for wid in sorted(ids)]

    def fac_roles(self, sup):
        def roles():
            return {"supervisor": [sup.pid], "worker": proc_children(sup.pid)}
        return roles

    def fac_idle_and_latency(self):
        a = self.args
        self.flush()
        log("fac-worker: starting idle pool (%d workers, concurrency %d, audit %s)"
            % (a.workers, a.concurrency, a.audit))
        sup, _ = self.fac_start("latency", a.workers)
        res = {}
        try:
            kids = self.fac_wait_ready(sup, a.workers)
            time.sleep(a.settle)
            self.fac_alive(sup, "idle")
            kids = self.fac_worker_pids(sup)
            res["idle_memory"] = {
                "supervisor": read_mem(sup.pid),
                "workers": [dict(read_mem(pid) or {}, pid=pid) for pid in kids],
            }
            res["idle_memory"]["worker_max"] = mem_summary([m for m in res["idle_memory"]["workers"] if "pss" in m])
            log("fac-worker: latency, %d echo jobs one at a time" % a.latency_jobs)
            res["latency"], res["latency_raw_ns"], res["latency_floor"] = self.fac_latency(sup, a.latency_jobs,
                                                                                           a.warmup)
            log("fac-worker: latency p50 %.3f ms p99 %.3f ms" % (res["latency"]["p50_ms"], res["latency"]["p99_ms"]))
            log("client floor (LPUSH + BLPOP, no worker): p50 %.3f ms p99 %.3f ms"
                % (res["latency_floor"]["p50_ms"], res["latency_floor"]["p99_ms"]))
            log("fac-worker: latency from the C client (fac-latency-probe), %d echo jobs" % a.latency_jobs)
            res["latency_c"], res["latency_c_floor"] = self.fac_latency_c(sup, a.latency_jobs, a.warmup)
            log("fac-worker: latency (C client) p50 %.3f ms p99 %.3f ms; its floor p50 %.3f ms p99 %.3f ms"
                % (res["latency_c"]["p50_ms"], res["latency_c"]["p99_ms"],
                   res["latency_c_floor"]["p50_ms"], res["latency_c_floor"]["p99_ms"]))
            if a.sporadic_jobs > 0:
                log("fac-worker: sporadic latency (C client), %d echo jobs, each after %d ms idle"
                    % (a.sporadic_jobs, a.sporadic_gap_ms))
                res["latency_sporadic"], res["latency_sporadic_floor"] = self.fac_latency_c(
                    sup, a.sporadic_jobs, 3, gap_ms=a.sporadic_gap_ms)
                log("fac-worker: sporadic latency p50 %.3f ms p99 %.3f ms; its floor (after as long idle) "
                    "p50 %.3f ms p99 %.3f ms"
                    % (res["latency_sporadic"]["p50_ms"], res["latency_sporadic"]["p99_ms"],
                       res["latency_sporadic_floor"]["p50_ms"], res["latency_sporadic_floor"]["p99_ms"]))
        finally:
            res["stop_rc"] = self.fac_stop(sup)
        return res

    def fac_latency_c(self, sup, m, warmup, gap_ms=0):
        """The same jobs and floor as fac_latency, from tests/bench/latency_probe.c (hiredis, blocking):
        (stats, stats of its client floor), without a Python client's own cost. With gap_ms, each job
        and each floor comes after that long idle (sporadic tool calls)."""
        probe = os.path.join(self.args.build_dir, "tests", "bench", "fac-latency-probe")
        if not os.access(probe, os.X_OK):
            raise BenchError("%s is missing: build the tree (cmake --build %s)" % (probe, self.args.build_dir))
        argv = [probe, "127.0.0.1", str(self.port), FAC_READY, str(m), str(warmup), str(self.args.job_timeout)]
        if gap_ms:
            argv.append(str(gap_ms))
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60 + m * (self.args.job_timeout + 2 * gap_ms / 1000.0))
        if p.returncode != 0:
            self.fac_alive(sup, "latency (C client)")
            raise BenchError("fac-latency-probe exited %d: %s\n%s" % (p.returncode, p.stderr.decode("utf-8", "replace"),
                                                                    self.fac_logs(sup)))
        pairs = [tuple(int(x) for x in line.split()) for line in p.stdout.decode().splitlines()]
        if len(pairs) != m:
            raise BenchError("fac-latency-probe printed %d samples, expected %d" % (len(pairs), m))
        return lat_stats([a for a, _ in pairs]), lat_stats([b for _, b in pairs])

    def fac_latency(self, sup, m, warmup):
        """M echo jobs one at a time: (stats, raw ns, stats of the client floor). After each job the
        same two round trips go out without a worker, on the same connection with the same envelope:
        LPUSH onto a list nobody reads, BLPOP of that list (the element is already there)."""
        r = redis.Redis(host="127.0.0.1", port=self.port)  # own connection
        r.ping()
        lat = []
        floor = []
        bad = []
        for i in range(-warmup, m):
            jid = "lat-%d" % i
            reply = "bench:reply:%s" % jid
            env = msgpack.packb({"v": 1, "id": jid, "tool": "echo", "args": {"i": i},
                                 "enqueued_at": int(time.time() * 1000), "reply_to": reply})
            t0 = time.perf_counter_ns()
            r.lpush(FAC_READY, env)
            got = r.blpop(reply, timeout=self.args.job_timeout)
            t1 = time.perf_counter_ns()
            if got is None:
                self.fac_alive(sup, "latency")
                raise BenchError("fac-worker latency: no reply for %s within %ss (ready=%d)\n%s"
                                 % (jid, self.args.job_timeout, self.r.llen(FAC_READY), self.fac_logs(sup)))
            rec = msgpack.unpackb(got[1], raw=False)
            if rec.get("status") != "Success" or rec.get("result") != {"i": i}:
                bad.append(rec)
            t2 = time.perf_counter_ns()
            r.lpush("bench:floor", env)
            back = r.blpop("bench:floor", timeout=self.args.job_timeout)
            t3 = time.perf_counter_ns()
            if back is None or back[1] != env:
                raise BenchError("client floor: BLPOP returned %r" % (back,))
            if i >= 0:
                lat.append(t1 - t0)
                floor.append(t3 - t2)
        if bad:
            raise BenchError("fac-worker latency: %d bad replies, first: %r" % (len(bad), bad[0]))
        log("client floor (LPUSH + BLPOP, no worker): p50 %.3f ms p99 %.3f ms"
            % (pct(sorted(floor), 50) / 1e6, pct(sorted(floor), 99) / 1e6))
        return lat_stats(lat), lat, lat_stats(floor)

    def fac_prefill(self, n, tag, tool="noop", args=None):
        now = int(time.time() * 1000)
        pipe = self.r.pipeline(transaction=False)
        batch = []
        t0 = time.time()
        extra = {"site": MCP_SITE, "args": {"doctype": "ToDo", "limit": 20}} if tool == MCP_TOOL else {}
        if self.mariadb:
            extra["site"] = MCP_SITE  # the audit rows go to its database
        if args is not None:
            extra["args"] = args
        per_push = max(1, min(1000, (1 << 20) // (len(msgpack.packb(args)) if args else 1)))  # <= ~1 MB per LPUSH
        for i in range(n):
            env = dict({"v": 1, "id": "%s-%d" % (tag, i), "tool": tool, "enqueued_at": now}, **extra)
            batch.append(msgpack.packb(env))
            if len(batch) == per_push:
                pipe.lpush(FAC_READY, *batch)
                batch = []
                if len(pipe) >= 10:
                    pipe.execute()
        if batch:
            pipe.lpush(FAC_READY, *batch)
        pipe.execute()
        got = self.r.llen(FAC_READY)
        if got != n:
            raise BenchError("prefill: %s has %d elements, expected %d" % (FAC_READY, got, n))
        return time.time() - t0

    def fac_result_keys(self, n, tag):
        return ["%s:result:%s-%d" % (PREFIX, tag, i) for i in range(n)]

    def fac_count_results(self, keys):
        pipe = self.r.pipeline(transaction=False)
        total = 0
        for i in range(0, len(keys), 1000):
            pipe.exists(*keys[i:i + 1000])
            if len(pipe) >= 20:
                total += sum(pipe.execute())
        total += sum(pipe.execute())
        return total

    def fac_throughput(self, workers, n, tag, tool="noop", mcp_url=None, audit=None, concurrency=None, args=None):
        """N pre-filled `tool` jobs (with `args`, if given) on a fresh pool: jobs/s, busy memory, and CPU
        per job of the workers, the supervisor and Redis. `echo` results are checked against `args`."""
        a = self.args
        audit = audit or a.audit
        concurrency = concurrency or a.concurrency
        self.flush()
        if audit == "mariadb":
            self.audit_truncate()
        log("fac-worker: pre-filling %d %s envelopes into %s" % (n, tool, FAC_READY))
        prefill_s = self.fac_prefill(n, tag, tool, args)
        keys = self.fac_result_keys(n, tag)
        log("fac-worker: pre-fill took %.2fs; starting pool with %d workers x concurrency %d"
            % (prefill_s, workers, concurrency))
        redis_cpu0 = self.redis_cpu()
        sup, t_pool = self.fac_start(tag, workers, mcp_url, audit, concurrency=concurrency)
        sampler = MemSampler(self.fac_roles(sup), a.sample_ms / 1000.0, self.tracker)
        sampler.start()
        res = {"jobs": n, "workers": workers, "concurrency": concurrency, "prefill_s": prefill_s, "audit": audit}
        try:
            timeout = max(120.0, n / 200.0)
            deadline = time.time() + timeout
            next_report = time.time() + 5
            t_done = None  # every result record stored
            t_acked = None  # ... and every job acknowledged (in-flight lists empty, audit durable)
            while True:
                time.sleep(0.005)
                now = time.time()
                if now > deadline:
                    raise BenchError("fac-worker throughput: not done after %.0fs (ready=%d, dead=%d)\n%s"
                                     % (timeout, self.r.llen(FAC_READY), self.r.llen(FAC_DEAD), self.fac_logs(sup)))
                self.fac_alive(sup, "throughput run")
                if now > next_report:
                    next_report = now + 5
                    log("  ... ready %d" % self.r.llen(FAC_READY))
                if self.r.llen(FAC_READY) != 0:
                    continue
                # `ready` is empty: every job not in an in-flight list has been acknowledged, and a
                # job is acknowledged only after its result is stored.  So all N results exist as
                # soon as the jobs still in flight have theirs.
                pipe = self.r.pipeline(transaction=False)
                for k in self.fac_inflight_keys(sup):
                    pipe.lrange(k, 0, -1)
                held = [e for lst in pipe.execute() for e in lst]
                if t_done is None:
                    rkeys = []
                    for e in held:
                        try:
                            rkeys.append("%s:result:%s" % (PREFIX, msgpack.unpackb(e, raw=False)["id"]))
                        except Exception:
                            pass
                    if not rkeys or self.r.exists(*rkeys) == len(rkeys):
                        t_done = time.time()
                if held:
                    continue
                t_acked = time.time()
                # CPU: the pool's processes were started for this run, so their whole CPU time counts
                # (start-up included); Redis' from just before the pool started.
                cpu_pids = self.fac_worker_pids(sup)
                worker_cpu = sum(proc_cpu_seconds(pid) for pid in cpu_pids)
                sup_cpu = proc_cpu_seconds(sup.pid)
                redis_cpu1 = self.redis_cpu()
                # Verify: every result record is there.
                have = self.fac_count_results(keys)
                dead = self.r.llen(FAC_DEAD)
                if have == n:
                    break
                if have + dead >= n:
                    raise BenchError("fac-worker throughput: %d results, %d dead-lettered; first dead: %r"
                                     % (have, dead, msgpack.unpackb(self.r.lindex(FAC_DEAD, -1), raw=False)))
                t_done = t_acked = None  # not all there (a retry?): keep polling
            busy = sampler.finish()
            sampler = None
            seen = busy.get("worker", {}).get("pids_seen")
            if seen != len(cpu_pids) or len(cpu_pids) != workers:
                raise BenchError("fac-worker throughput: %d worker pids at the end, %s seen during the run, %d "
                                 "configured: a worker was replaced, its CPU time is lost" % (len(cpu_pids), seen, workers))
            res["cpu"] = cpu_per_job(n, worker_cpu, redis_cpu0, redis_cpu1, supervisor_s=sup_cpu)
            size = len(msgpack.packb(args)) if args else 0
            recs = self.fac_fetch_results(keys, chunk=max(1, min(1000, (4 << 20) // max(1, size))))
            if tool == "echo":
                wrong = sum(1 for x in recs if x is not None and x.get("result") != args)
                if wrong:
                    raise BenchError("fac-worker throughput: %d echo results differ from their args" % wrong)
            res.update(self.fac_result_stats(recs, n, t_pool, t_done))
            del recs
            res["acked_at"] = t_acked
            res["acked_s"] = t_acked - res["first_started_at"]
            res["acked_jobs_per_s"] = n / max(1e-9, res["acked_s"])
            res["busy_memory"] = busy
            res["after_memory"] = {"supervisor": read_mem(sup.pid),
                                   "workers": [dict(read_mem(p) or {}, pid=p) for p in proc_children(sup.pid)]}
            if audit == "jsonl":
                res["audit_rows"] = self.count_lines(sup.fac_cfg["audit"]["path"])
            elif audit == "mariadb":
                # Every job is acknowledged, so every row is committed or spooled; with the
                # server up all the time nothing may be left in the spool.
                res["audit_rows"] = self.audit_row_count()
                spool = sup.fac_cfg["audit"]["spool"]
                res["spooled_files"] = len(os.listdir(spool)) if os.path.isdir(spool) else 0
                if res["audit_rows"] != n or res["spooled_files"]:
                    raise BenchError("audit: %d rows in MariaDB for %d jobs, %d spool files"
                                     % (res["audit_rows"], n, res["spooled_files"]))
                res["audit_rows_per_s"] = n / max(1e-9, res["acked_s"])
        finally:
            if sampler is not None:
                sampler.finish()
            res["stop_rc"] = self.fac_stop(sup)
        log("fac-worker: %d workers, audit %s: %.0f jobs/s (span %.0f, from pool start %.0f, until all acked %.0f "
            "jobs/s)" % (workers, audit, res["jobs_per_s"], res["span_jobs_per_s"], res["pool_start_jobs_per_s"],
                         res["acked_jobs_per_s"]))
        return res

    def start_fac_standin(self):
        port_file = os.path.join(self.tmp, "fac_fast.port")
        p = self.tracker.spawn("fac_fast.py", ["/usr/bin/python3", os.path.join(HERE, "fac_fast.py"), port_file],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if p.poll() is not None or time.time() > deadline:
                raise BenchError("fac_fast.py did not start (exit %s)" % p.poll())
            time.sleep(0.02)
        with open(port_file) as f:
            return p, "http://127.0.0.1:%s" % f.read().strip()

    def fac_mcp(self, workers, n):
        """Throughput of mcp jobs against fac_fast.py; also how busy the stand-in was."""
        standin, url = self.start_fac_standin()
        try:
            cpu0 = proc_cpu_seconds(standin.pid)
            res = self.fac_throughput(workers, n, "mcp", MCP_TOOL, url)
            res["standin_cpu_s"] = proc_cpu_seconds(standin.pid) - cpu0
            import urllib.request
            with urllib.request.urlopen(url + "/_stats", timeout=10) as resp:
                res["standin"] = json.loads(resp.read())
        finally:
            self.tracker.stop(standin)
        log("fac-worker mcp: %.0f jobs/s over %d HTTP connections; the stand-in used %.1f CPU s in a %.1f s run"
            % (res["jobs_per_s"], res["standin"]["connections"], res["standin_cpu_s"], res["elapsed_s"]))
        return res

    @staticmethod
    def count_lines(path):
        try:
            with open(path, "rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return None

    def fac_fetch_results(self, keys, chunk=1000):
        recs = []
        pipe = self.r.pipeline(transaction=False)
        for i in range(0, len(keys), chunk):
            pipe.mget(keys[i:i + chunk])
            if len(pipe) >= 10:
                for vals in pipe.execute():
                    recs.extend(msgpack.unpackb(v, raw=False) if v is not None else None for v in vals)
        for vals in pipe.execute():
            recs.extend(msgpack.unpackb(v, raw=False) if v is not None else None for v in vals)
        return recs

    @staticmethod
    def fac_result_stats(recs, n, t_pool, t_done):
        missing = sum(1 for x in recs if x is None)
        recs = [x for x in recs if x is not None]
        statuses = {}
        for x in recs:
            statuses[x.get("status")] = statuses.get(x.get("status"), 0) + 1
        if missing or statuses.get("Success", 0) != n:
            raise BenchError("fac-worker throughput: %d missing results, statuses %r" % (missing, statuses))
        st = min(x["started_at"] for x in recs) / 1000.0
        en = max(x["ended_at"] for x in recs) / 1000.0
        per_worker = {}
        for x in recs:
            per_worker[x.get("worker")] = per_worker.get(x.get("worker"), 0) + 1
        durs = sorted(float(x.get("duration_ms", 0.0)) for x in recs)
        return {
            "statuses": statuses,
            "first_started_at": st,
            "last_ended_at": en,
            "done_detected_at": t_done,
            "pool_started_at": t_pool,
            "elapsed_s": t_done - st,
            "jobs_per_s": n / max(1e-9, t_done - st),
            "span_s": en - st,
            "span_jobs_per_s": n / max(1e-3, en - st),
            "pool_start_s": t_done - t_pool,
            "pool_start_jobs_per_s": n / max(1e-9, t_done - t_pool),
            "first_job_after_pool_start_s": st - t_pool,
            "jobs_per_worker": per_worker,
            "duration_ms_p50": pct(durs, 50),
            "duration_ms_p99": pct(durs, 99),
        }

    # ---- python-rq

    def rq_cmd(self):
        if os.path.exists("/usr/bin/rq"):
            return ["/usr/bin/rq"]
        return ["/usr/bin/python3", "-m", "rq.cli"]

    def rq_env(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = HERE
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONHOME", None)
        return env

    def rq_start_workers(self, count, klass, burst, tag):
        procs = []
        for i in range(count):
            cmd = self.rq_cmd() + ["worker", "--url", self.redis_url, "--worker-class", klass,
                                   "--name", "bench-%s-%d" % (tag, i)]
            if burst:
                cmd.append("--burst")
            if self.args.rq_quiet:
                cmd.append("--quiet")
            cmd.append(QUEUE)
            out = open(os.path.join(self.tmp, "rq-%s-%d.log" % (tag, i)), "wb")
            p = self.tracker.spawn("rq worker", cmd, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=self.tmp, env=self.rq_env())
            out.close()
            p.rq_log = out.name
            procs.append(p)
        return procs

    def rq_logs(self, procs):
        return "\n".join("--- %s\n%s" % (p.rq_log, tail(p.rq_log, 15)) for p in procs)

    def rq_wait_ready(self, procs, timeout=30.0):
        from rq import Worker
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p in procs:
                if p.poll() is not None:
                    raise BenchError("rq worker exited %s during start-up\n%s" % (p.returncode, self.rq_logs(procs)))
            ws = Worker.all(connection=self.r)
            if len(ws) >= len(procs) and all(w.get_state() == "idle" for w in ws):
                return
            time.sleep(0.02)
        raise BenchError("rq workers not ready after %.0fs\n%s" % (timeout, self.rq_logs(procs)))

    def rq_stop(self, procs):
        for p in procs:
            for c in proc_children(p.pid):
                self.tracker.note(c, "rq horse")
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in procs:
            self.tracker.stop(p, None, timeout=15.0)  # one SIGTERM = rq's warm shutdown

    def rq_roles(self, procs):
        def roles():
            ws = [p.pid for p in procs if p.poll() is None]
            horses = []
            for pid in ws:
                horses.extend(proc_children(pid))
            return {"worker": ws, "horse": horses}
        return roles

    def rq_run(self, label, klass, n_jobs, lat_jobs):
        from rq import Queue
        import rq_tasks
        a = self.args
        res = {"worker_class": klass}
        # -- idle memory + latency, non-burst workers
        self.flush()
        log("rq %s: starting %d idle workers" % (label, a.workers))
        procs = self.rq_start_workers(a.workers, klass, False, label + "-idle")
        try:
            self.rq_wait_ready(procs)
            time.sleep(a.settle)
            ws = []
            horses = []
            for p in procs:
                ws.append(dict(read_mem(p.pid) or {}, pid=p.pid))
                horses.extend(proc_children(p.pid))
            res["idle_memory"] = {"workers": ws, "worker_max": mem_summary([w for w in ws if "pss" in w]),
                                  "idle_children": horses}
            log("rq %s: latency, %d echo jobs one at a time" % (label, lat_jobs))
            q = Queue(QUEUE, connection=redis.Redis(host="127.0.0.1", port=self.port))
            lat = []
            for i in range(-a.warmup, lat_jobs):
                t0 = time.perf_counter_ns()
                job = q.enqueue(rq_tasks.echo, i)
                deadline = time.time() + a.job_timeout
                while True:
                    st = job.get_status(refresh=True)
                    if st == "finished":
                        break
                    if st in ("failed", "stopped", "canceled") or time.time() > deadline:
                        raise BenchError("rq %s latency: job %s status %s\n%s" % (label, job.id, st, self.rq_logs(procs)))
                    time.sleep(0.0002)
                t1 = time.perf_counter_ns()
                if i >= 0:
                    lat.append(t1 - t0)
                if i == -a.warmup and job.return_value() != i:
                    raise BenchError("rq %s: echo returned %r" % (label, job.return_value()))
            res["latency"] = lat_stats(lat)
            res["latency_raw_ns"] = lat
            log("rq %s: latency p50 %.3f ms p99 %.3f ms" % (label, res["latency"]["p50_ms"], res["latency"]["p99_ms"]))
        finally:
            self.rq_stop(procs)
        # -- throughput, burst workers on a pre-filled queue
        self.flush()
        log("rq %s: enqueueing %d noop jobs (enqueue_many, batches of 1000)" % (label, n_jobs))
        q = Queue(QUEUE, connection=self.r)
        ids = []
        t0 = time.time()
        for s in range(0, n_jobs, 1000):
            datas = [Queue.prepare_data(rq_tasks.noop) for _ in range(min(1000, n_jobs - s))]
            if hasattr(q, "enqueue_many"):
                with self.r.pipeline() as pipe:
                    jobs = q.enqueue_many(datas, pipeline=pipe)
                    pipe.execute()
            else:  # older rq
                jobs = [q.enqueue(rq_tasks.noop) for _ in datas]
            ids.extend(j.id for j in jobs)
        prefill_s = time.time() - t0
        if q.count != n_jobs:
            raise BenchError("rq %s: queue holds %d jobs, expected %d" % (label, q.count, n_jobs))
        log("rq %s: enqueue took %.2fs; starting %d burst workers" % (label, prefill_s, a.workers))
        fin_key = "rq:finished:%s" % QUEUE
        fail_key = "rq:failed:%s" % QUEUE
        redis_cpu0 = self.redis_cpu()
        t_pool = time.time()
        procs = self.rq_start_workers(a.workers, klass, True, label + "-burst")
        worker_cpu = {}  # pid -> last CPU seconds read (a burst worker exits, and is reaped, when done)
        sampler = MemSampler(self.rq_roles(procs), a.sample_ms / 1000.0, self.tracker)
        sampler.start()
        try:
            timeout = max(120.0, n_jobs * 0.1)
            deadline = time.time() + timeout
            next_report = time.time() + 5
            while True:
                time.sleep(0.005)
                for p in procs:
                    try:
                        worker_cpu[p.pid] = proc_cpu_seconds(p.pid, children=True)
                    except (OSError, IndexError, ValueError):
                        pass
                pipe = self.r.pipeline(transaction=False)
                pipe.zcard(fin_key)
                pipe.zcard(fail_key)
                fin, failed = pipe.execute()
                now = time.time()
                if fin + failed >= n_jobs:
                    t_done = now
                    redis_cpu1 = self.redis_cpu()
                    break
                if now > deadline:
                    raise BenchError("rq %s throughput: %d/%d finished after %.0fs\n%s"
                                     % (label, fin, n_jobs, timeout, self.rq_logs(procs)))
                if all(p.poll() is not None for p in procs):
                    time.sleep(0.2)
                    if self.r.zcard(fin_key) + self.r.zcard(fail_key) >= n_jobs:
                        continue
                    raise BenchError("rq %s throughput: all burst workers exited with %d/%d finished\n%s"
                                     % (label, fin, n_jobs, self.rq_logs(procs)))
                if now > next_report:
                    next_report = now + 5
                    log("  ... finished %d/%d" % (fin, n_jobs))
            busy = sampler.finish()
            sampler = None
            if failed:
                raise BenchError("rq %s throughput: %d jobs failed" % (label, failed))
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    log("rq %s: burst worker %d still running 30s after the queue drained" % (label, p.pid))
            tp = self.rq_job_stats(ids, t_pool, t_done)
            tp.update({"jobs": n_jobs, "workers": a.workers, "prefill_s": prefill_s, "busy_memory": busy,
                       "cpu": cpu_per_job(n_jobs, sum(worker_cpu.values()), redis_cpu0, redis_cpu1)})
            res["throughput"] = tp
        finally:
            if sampler is not None:
                sampler.finish()
            self.rq_stop(procs)
        log("rq %s: %.0f jobs/s (span %.0f jobs/s, from worker start %.0f jobs/s)"
            % (label, tp["jobs_per_s"], tp["span_jobs_per_s"], tp["pool_start_jobs_per_s"]))
        return res

    def rq_job_stats(self, ids, t_pool, t_done):
        fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
        utc = datetime.timezone.utc

        def ts(v):
            return datetime.datetime.strptime(b2s(v), fmt).replace(tzinfo=utc).timestamp()

        starts, ends = [], []
        statuses = {}
        pipe = self.r.pipeline(transaction=False)
        for s in range(0, len(ids), 1000):
            for jid in ids[s:s + 1000]:
                pipe.hmget("rq:job:%s" % jid, "started_at", "ended_at", "status")
            for st, en, status in pipe.execute():
                status = b2s(status)
                statuses[status] = statuses.get(status, 0) + 1
                if st:
                    starts.append(ts(st))
                if en:
                    ends.append(ts(en))
        n = len(ids)
        if statuses.get("finished", 0) != n or len(starts) != n:
            raise BenchError("rq: job statuses %r (%d started_at)" % (statuses, len(starts)))
        st, en = min(starts), max(ends)
        return {
            "statuses": statuses,
            "first_started_at": st,
            "last_ended_at": en,
            "done_detected_at": t_done,
            "pool_started_at": t_pool,
            "elapsed_s": t_done - st,
            "jobs_per_s": n / max(1e-9, t_done - st),
            "span_s": en - st,
            "span_jobs_per_s": n / max(1e-3, en - st),
            "pool_start_s": t_done - t_pool,
            "pool_start_jobs_per_s": n / max(1e-9, t_done - t_pool),
            "first_job_after_pool_start_s": st - t_pool,
        }


# --------------------------------------------------------------------------
# report


def machine_info(r):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis_version": r.info("server").get("redis_version") if r is not None else None,
    }
    try:
        import rq
        info["rq_version"] = rq.__version__
    except Exception:
        pass
    info["redis_py_version"] = redis.__version__
    info["loadavg_at_start"] = loadavg()
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_kb"] = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return info


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def binary_info(path):
    try:
        st = os.stat(path)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out = {"path": path, "size": st.st_size,
               "mtime": datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).isoformat(),
               "sha256": h.hexdigest()}
    except OSError:
        return {"path": path, "missing": True}
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
        out["git_head"] = rev or None
    except Exception:
        pass
    return out


COLS = [("fac", "fac-worker"), ("rq_worker", "rq Worker"), ("rq_simple", "rq SimpleWorker")]


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def table_rows(results):
    """[(label, {col: value}, fmt, better)]"""
    def mb(v):
        return None if v is None else v / MiB

    rows = []
    def vals(fn):
        return {c: fn(results.get(c) or {}) for c, _ in COLS}

    rows.append(("throughput (jobs/s)", vals(lambda d: _get(d, "throughput", "jobs_per_s")), "%.0f"))
    if _get(results, "fac", "mcp"):
        rows.append(("mcp throughput (jobs/s)", vals(lambda d: _get(d, "mcp", "jobs_per_s")), "%.0f"))
    rows.append(("latency p50 (ms)", vals(lambda d: _get(d, "latency", "p50_ms")), "%.3f"))
    rows.append(("latency p99 (ms)", vals(lambda d: _get(d, "latency", "p99_ms")), "%.3f"))
    for p in ("p50", "p99"):
        rows.append(("client floor %s (ms): LPUSH + BLPOP, no worker" % p,
                     vals(lambda d: _get(d, "latency_floor", p + "_ms")), "%.3f"))
    for p in ("p50", "p99"):
        rows.append(("latency minus client floor, %s (ms)" % p,
                     vals(lambda d: _get(d, "latency", p + "_ms") - _get(d, "latency_floor", p + "_ms")
                          if _get(d, "latency_floor") else None), "%.3f"))
    for p in ("p50", "p99"):
        rows.append(("latency %s, C client (ms)" % p, vals(lambda d: _get(d, "latency_c", p + "_ms")), "%.3f"))
    for p in ("p50", "p99"):
        rows.append(("C client floor %s (ms): LPUSH + BLPOP, no worker" % p,
                     vals(lambda d: _get(d, "latency_c_floor", p + "_ms")), "%.3f"))
    for p in ("p50", "p99"):
        rows.append(("sporadic latency %s, C client (ms): each job after an idle gap" % p,
                     vals(lambda d: _get(d, "latency_sporadic", p + "_ms")), "%.3f"))
        rows.append(("C client floor %s after the same idle gap (ms)" % p,
                     vals(lambda d: _get(d, "latency_sporadic_floor", p + "_ms")), "%.3f"))
    rows.append(("worker CPU per job (us)", vals(lambda d: _get(d, "throughput", "cpu", "worker_us")), "%.1f"))
    rows.append(("supervisor CPU per job (us)", vals(lambda d: _get(d, "throughput", "cpu", "supervisor_us")), "%.2f"))
    rows.append(("Redis CPU per job (us)", vals(lambda d: _get(d, "throughput", "cpu", "redis_us")), "%.1f"))
    rows.append(("Redis main-thread CPU per job (us)",
                 vals(lambda d: _get(d, "throughput", "cpu", "redis_main_thread_us")), "%.1f"))
    rows.append(("idle worker RSS (MiB)", vals(lambda d: mb(_get(d, "idle_memory", "worker_max", "rss"))), "%.2f"))
    rows.append(("idle worker PSS (MiB)", vals(lambda d: mb(_get(d, "idle_memory", "worker_max", "pss"))), "%.2f"))
    rows.append(("idle worker private (MiB)", vals(lambda d: mb(_get(d, "idle_memory", "worker_max", "private"))), "%.2f"))
    rows.append(("busy worker PSS (MiB)", vals(lambda d: mb(_get(d, "throughput", "busy_memory", "worker", "pss"))), "%.2f"))
    rows.append(("supervisor private (MiB)", vals(lambda d: mb(_get(d, "idle_memory", "supervisor", "private"))), "%.2f"))
    rows.append(("supervisor private dirty (MiB)", vals(lambda d: mb(_get(d, "idle_memory", "supervisor", "private_dirty"))), "%.2f"))
    rows.append(("idle worker private dirty (MiB)", vals(lambda d: mb(_get(d, "idle_memory", "worker_max", "private_dirty"))), "%.2f"))
    # extra detail
    rows.append(("latency p90 (ms)", vals(lambda d: _get(d, "latency", "p90_ms")), "%.3f"))
    rows.append(("latency max (ms)", vals(lambda d: _get(d, "latency", "max_ms")), "%.3f"))
    rows.append(("throughput, span (jobs/s)", vals(lambda d: _get(d, "throughput", "span_jobs_per_s")), "%.0f"))
    rows.append(("throughput, from start (jobs/s)", vals(lambda d: _get(d, "throughput", "pool_start_jobs_per_s")), "%.0f"))
    rows.append(("throughput, until acked (jobs/s)", vals(lambda d: _get(d, "throughput", "acked_jobs_per_s")), "%.0f"))
    rows.append(("jobs in throughput run", vals(lambda d: _get(d, "throughput", "jobs")), "%d"))
    rows.append(("busy worker private (MiB)", vals(lambda d: mb(_get(d, "throughput", "busy_memory", "worker", "private"))), "%.2f"))
    rows.append(("busy work-horse PSS (MiB)", vals(lambda d: mb(_get(d, "throughput", "busy_memory", "horse", "pss"))), "%.2f"))
    rows.append(("busy supervisor private (MiB)", vals(lambda d: mb(_get(d, "throughput", "busy_memory", "supervisor", "private"))), "%.2f"))
    return rows


def fmt_cell(fmt, v):
    if v is None:
        return "n/a"
    return fmt % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.2fx" % (a / b)


def render_table(results, markdown=False):
    head = ["", "fac-worker", "rq Worker", "rq SimpleWorker", "fac/rq Worker", "fac/rq Simple"]
    body = []
    for label, v, fmt in table_rows(results):
        if all(x is None for x in v.values()):
            continue  # not measured in this run (e.g. --mcp-only)
        norat = label.startswith(("jobs in", "mcp", "client floor", "latency minus", "C client"))
        norat = norat or ", C client" in label  # a count, or fac-only
        body.append([label, fmt_cell(fmt, v["fac"]), fmt_cell(fmt, v["rq_worker"]), fmt_cell(fmt, v["rq_simple"]),
                     "" if norat else ratio(v["fac"], v["rq_worker"]),
                     "" if norat else ratio(v["fac"], v["rq_simple"])])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    w = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    sep = "+" + "+".join("-" * (x + 2) for x in w) + "+"
    out = [sep, "| " + " | ".join(head[i].ljust(w[i]) if i == 0 else head[i].rjust(w[i]) for i in range(len(head))) + " |", sep]
    for row in body:
        out.append("| " + " | ".join(row[i].ljust(w[i]) if i == 0 else row[i].rjust(w[i]) for i in range(len(row))) + " |")
    out.append(sep)
    return "\n".join(out)


def render_scaling(results, markdown=False):
    sc = results.get("fac", {}).get("scaling")
    if not sc:
        return ""
    lines = []
    if markdown:
        lines.append("| fac-worker workers | jobs/s | span jobs/s | busy worker PSS (MiB) |")
        lines.append("|---:|---:|---:|---:|")
    else:
        lines.append("fac-worker scaling (concurrency %s):" % results["config"]["concurrency"])
    for row in sc:
        pss = _get(row, "busy_memory", "worker", "pss")
        cells = (row["workers"], "%.0f" % row["jobs_per_s"], "%.0f" % row["span_jobs_per_s"],
                 "%.2f" % (pss / MiB) if pss else "n/a")
        if markdown:
            lines.append("| %s | %s | %s | %s |" % cells)
        else:
            lines.append("  %2s workers: %8s jobs/s  (span %s jobs/s, busy worker PSS %s MiB)" % cells)
    return "\n".join(lines)


def render_audit(results, markdown=False):
    """jobs/s with the MariaDB audit on vs off, and the rows/s it sustained."""
    fac = results.get("fac") or {}
    on, off = fac.get("throughput"), fac.get("throughput_audit_off")
    if not on or on.get("audit") != "mariadb":
        return ""
    rows = [("audit rows/s into MariaDB (N rows committed / first start -> all acked)",
             "%.0f" % on["audit_rows_per_s"]),
            ("jobs/s, audit mariadb (all results stored)", "%.0f" % on["jobs_per_s"]),
            ("jobs/s, audit mariadb (until all acked = rows committed)", "%.0f" % on["acked_jobs_per_s"])]
    if off:
        rows += [("jobs/s, audit off (all results stored)", "%.0f" % off["jobs_per_s"]),
                 ("jobs/s, audit off (until all acked)", "%.0f" % off["acked_jobs_per_s"]),
                 ("audit mariadb / off (until all acked)",
                  "%.2fx" % (on["acked_jobs_per_s"] / max(1e-9, off["acked_jobs_per_s"])))]
    rows.append(("audit rows in MariaDB / jobs", "%d / %d" % (on["audit_rows"], on["jobs"])))
    if markdown:
        return "\n".join(["| MariaDB audit (%s) | |" % results["machine"].get("mariadb_version", "?"),
                          "|---|---:|"] + ["| %s | %s |" % r for r in rows])
    w = max(len(r[0]) for r in rows)
    return "\n".join(["MariaDB audit:"] + ["  %-*s  %s" % (w, k, v) for k, v in rows])


def write_markdown(path, results):
    m = results["machine"]
    c = results["config"]
    title = "fac-worker: mcp jobs" if c.get("mcp_only") else "fac-worker vs python-rq"
    lines = [
        "# %s benchmark" % title,
        "",
        "- date: %s" % results["date"],
        "- command: `%s`" % results["command"],
        "- machine: %d CPUs (nproc), %s, kernel %s, redis-server %s, rq %s, Python %s"
        % (m["nproc"], m["cpu_model"], m["kernel"], m["redis_version"], m.get("rq_version", "?"), m["python"]),
        "- load average (1/5/15 min) at start: %s, at end: %s" % (m.get("loadavg_at_start"), m.get("loadavg_at_end")),
        ("- fac-worker: skipped" if c["skip_fac"] else
         "- fac-worker: `%s` (sha256 %s…), %d workers × concurrency %d, audit `%s`, log level `%s`"
         % (results["fac_binary"].get("path"), (results["fac_binary"].get("sha256") or "?")[:12], c["workers"],
            c["concurrency"], c["audit"], c["log_level"])),
    ]
    if not c.get("mcp_only"):
        lines.append("- jobs: fac-worker throughput %s noop, latency %s echo; rq Worker %s / SimpleWorker %s noop, "
                     "latency %s echo" % (c["jobs"], c["latency_jobs"], c["rq_worker_jobs"], c["rq_simple_jobs"],
                                          c["rq_latency_jobs"]))
    if c.get("mcp"):
        mcp = _get(results, "fac", "mcp") or {}
        pss = _get(mcp, "busy_memory", "worker", "pss")
        lines.append("- mcp: %s `tools/call` jobs against tests/bench/fac_fast.py (a canned FAC reply over "
                     "HTTP/1.1 keep-alive), %s connections; the stand-in used %.1f CPU s of the %.1f s run; "
                     "job duration p50 / p99 %.2f / %.2f ms; busy worker PSS %.2f MiB"
                     % (c["mcp_jobs"], _get(mcp, "standin", "connections"), mcp.get("standin_cpu_s") or 0,
                        mcp.get("elapsed_s") or 0, mcp.get("duration_ms_p50") or 0,
                        mcp.get("duration_ms_p99") or 0, (pss or 0) / MiB))
    lines += [
        "",
        render_table(results, markdown=True),
        "",
    ]
    sc = render_scaling(results, markdown=True)
    if sc:
        lines += [sc, ""]
    au = render_audit(results, markdown=True)
    if au:
        lines += [au, ""]
    if results.get("errors"):
        lines += ["Errors:", ""] + ["- %s" % e.splitlines()[0] for e in results["errors"]] + [""]
    lines += ["Memory rows are per process (max over the workers), MiB = 2^20 bytes. See tests/bench/README.md.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def gnuplot_exe():
    return shutil.which("gnuplot") or (os.path.exists("/usr/bin/gnuplot") and "/usr/bin/gnuplot") or None


def run_gnuplot(exe, script, tmp):
    sp = os.path.join(tmp, "plot.gp")
    for term in ("pngcairo size 900,560 font 'sans,10'", "png size 900,560"):
        with open(sp, "w") as f:
            f.write("set terminal %s noenhanced\n%s" % (term, script))
        p = subprocess.run([exe, sp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if p.returncode == 0:
            return True
        err = p.stdout.decode("utf-8", "replace")
    log("gnuplot failed: %s" % err.strip()[-500:])
    return False


def plot_latency(exe, results, out_png, tmp):
    series = []
    for key, title in COLS:
        raw = (results.get(key) or {}).get("latency_raw_ns")
        if not raw:
            continue
        ms = sorted(x / 1e6 for x in raw)
        dp = os.path.join(tmp, "lat-%s.dat" % key)
        with open(dp, "w") as f:
            for i, v in enumerate(ms):
                f.write("%.6f %.6f\n" % (v, (i + 1) / float(len(ms))))
        series.append("'%s' using 1:2 with steps lw 2 title '%s (p50 %.3f ms, p99 %.3f ms)'"
                      % (dp, title, pct(ms, 50), pct(ms, 99)))
    if not series:
        return False
    script = ("set output '%s'\nset title 'Job latency, one job at a time (enqueue -> result), CDF'\n"
              "set logscale x\nset xlabel 'latency (ms, log scale)'\nset ylabel 'fraction of jobs'\n"
              "set yrange [0:1]\nset grid\nset key bottom right\nplot %s\n" % (out_png, ", \\\n  ".join(series)))
    return run_gnuplot(exe, script, tmp)


def plot_scaling(exe, results, out_png, tmp):
    sc = results.get("fac", {}).get("scaling")
    if not sc:
        return False
    dp = os.path.join(tmp, "scaling.dat")
    with open(dp, "w") as f:
        for row in sc:
            f.write("%d %.3f %.3f\n" % (row["workers"], row["jobs_per_s"], row["span_jobs_per_s"]))
    script = ("set output '%s'\nset title 'fac-worker throughput vs workers (%s noop jobs, concurrency %s, %d CPUs)'\n"
              "set xlabel 'workers'\nset ylabel 'jobs/s'\nset xtics (1,2,4)\nset xrange [0.5:4.5]\nset yrange [0:*]\n"
              "set grid\nset key bottom right\n"
              "plot '%s' using 1:2 with linespoints lw 2 pt 7 title 'first start -> all results stored', "
              "'%s' using 1:3 with linespoints lw 1 pt 6 title 'span min(started_at)..max(ended_at)'\n"
              % (out_png, results["config"]["jobs"], results["config"]["concurrency"], results["machine"]["nproc"], dp, dp))
    return run_gnuplot(exe, script, tmp)


# --------------------------------------------------------------------------
# main


def parse_args(argv):
    ap = argparse.ArgumentParser(description="fac-worker vs python-rq benchmark (see tests/bench/README.md)")
    ap.add_argument("--jobs", type=int, help="fac-worker throughput jobs (default 100000; --quick 10000)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes, fac-worker and rq (default 2)")
    ap.add_argument("--concurrency", type=int, default=16, help="fac-worker jobs per worker (default 16)")
    ap.add_argument("--latency-jobs", type=int, help="fac-worker latency jobs (default 2000; --quick 300)")
    ap.add_argument("--rq-jobs", type=int, help="rq throughput jobs for both worker classes "
                    "(default 5000 for Worker, 20000 for SimpleWorker; --quick 1000/3000)")
    ap.add_argument("--rq-worker-jobs", type=int, help="rq Worker throughput jobs (overrides --rq-jobs)")
    ap.add_argument("--rq-simple-jobs", type=int, help="rq SimpleWorker throughput jobs (overrides --rq-jobs)")
    ap.add_argument("--rq-latency-jobs", type=int, default=300, help="rq latency jobs per worker class (default 300)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed latency jobs before the timed ones (default 10)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10000 jobs, 300 latency jobs, rq 1000/3000")
    ap.add_argument("--skip-rq", action="store_true", help="only fac-worker")
    ap.add_argument("--skip-fac", action="store_true", help="only python-rq")
    ap.add_argument("--scaling", action="store_true", help="also fac-worker throughput with 1, 2 and 4 workers")
    ap.add_argument("--mcp", action="store_true", help="also fac-worker throughput of mcp jobs against fac_fast.py")
    ap.add_argument("--mcp-only", action="store_true", help="only the mcp throughput (implies --mcp --skip-rq)")
    ap.add_argument("--mcp-jobs", type=int, help="mcp throughput jobs (default 20000; --quick 5000)")
    ap.add_argument("--audit", choices=("jsonl", "mariadb", "none"), default="jsonl",
                    help="fac-worker audit sink (default jsonl, as in production)")
    ap.add_argument("--log-level", default="info", help="fac-worker log level (default info)")
    ap.add_argument("--sporadic-jobs", type=int, default=None,
                    help="fac-worker latency jobs from the C client that each meet a pool idle for "
                         "--sporadic-gap-ms (default 200; --quick 50; 0: skip)")
    ap.add_argument("--sporadic-gap-ms", type=int, default=70,
                    help="idle time before each sporadic job and before its floor (default 70)")
    ap.add_argument("--rq-quiet", action="store_true", help="run rq workers with --quiet (default: rq's INFO logging)")
    ap.add_argument("--sample-ms", type=float, default=50.0, help="busy-memory sampling period (default 50 ms)")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds to wait before reading idle memory (default 0.5)")
    ap.add_argument("--job-timeout", type=float, default=10.0, help="max seconds for one latency job (default 10)")
    ap.add_argument("--build-dir", default=os.environ.get("FAC_BUILD_DIR") or os.path.join(REPO, "build"),
                    help="directory holding fac-worker (default $FAC_BUILD_DIR or <repo>/build)")
    ap.add_argument("--redis-server", default="/usr/bin/redis-server")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--json-out", help="JSON results (default <results-dir>/latest.json)")
    ap.add_argument("--md-out", help="Markdown table (default <results-dir>/latest.md)")
    ap.add_argument("--raw", action="store_true", help="keep raw latency samples in the JSON")
    ap.add_argument("--keep-tmp", action="store_true", help="do not delete the temp dir (logs, configs, audit)")
    ap.add_argument("--matrix", action="store_true",
                    help="only fac-worker throughput for workers 1/2/4 x concurrency 1/16/128 (100 B noop jobs) and "
                    "payloads 100 B/10 KB/1 MB (echo, 2 workers x 16): results/matrix.md, matrix.png")
    ap.add_argument("--matrix-jobs", type=int, default=50000,
                    help="--matrix jobs per cell with a 100 B payload (default 50000)")
    ap.add_argument("--matrix-10k-jobs", type=int, default=10000,
                    help="--matrix jobs in the 10 KB payload cell (default 10000)")
    ap.add_argument("--matrix-1m-jobs", type=int, default=500,
                    help="--matrix jobs in the 1 MB payload cell (default 500)")
    ap.add_argument("--sql", action="store_true",
                    help="only the sql tool benchmark (private mariadbd): results/sql.md")
    ap.add_argument("--pools", action="store_true",
                    help="only the many-hosts rows: noop throughput with 1, 2 and 3 pools (distinct host_id) "
                    "of --workers each on one Redis: results/pools.md")
    ap.add_argument("--pools-jobs", type=int, help="--pools jobs per row (default 100000; --quick 20000)")
    ap.add_argument("--promotion", action="store_true",
                    help="only fac-scheduler: promotion rate of due delayed jobs and promotion lag")
    ap.add_argument("--promotion-jobs", type=int, default=100000,
                    help="due delayed jobs for --promotion (default 100000)")
    ap.add_argument("--lag-jobs", type=int, default=200,
                    help="jobs timed one at a time for the --promotion lag (default 200)")
    a = ap.parse_args(argv)
    q = a.quick
    a.jobs = a.jobs if a.jobs is not None else (10000 if q else 100000)
    a.latency_jobs = a.latency_jobs if a.latency_jobs is not None else (300 if q else 2000)
    a.sporadic_jobs = a.sporadic_jobs if a.sporadic_jobs is not None else (50 if q else 200)
    a.rq_worker_jobs = a.rq_worker_jobs or a.rq_jobs or (1000 if q else 5000)
    a.rq_simple_jobs = a.rq_simple_jobs or a.rq_jobs or (3000 if q else 20000)
    a.mcp_jobs = a.mcp_jobs if a.mcp_jobs is not None else (5000 if q else 20000)
    a.pools_jobs = a.pools_jobs if a.pools_jobs is not None else (20000 if q else 100000)
    if a.mcp_only:
        a.mcp = a.skip_rq = True
    a.json_out = a.json_out or os.path.join(a.results_dir, "latest.json")
    a.md_out = a.md_out or os.path.join(a.results_dir, "latest.md")
    for name in ("jobs", "workers", "concurrency", "latency_jobs", "rq_worker_jobs", "rq_simple_jobs", "rq_latency_jobs",
                 "mcp_jobs", "matrix_jobs", "matrix_10k_jobs", "matrix_1m_jobs", "pools_jobs"):
        if getattr(a, name) < 1:
            ap.error("--%s must be >= 1" % name.replace("_", "-"))
    if a.mcp_only and a.skip_fac:
        ap.error("--mcp-only measures fac-worker: drop --skip-fac")
    if a.skip_fac and a.skip_rq:
        ap.error("--skip-fac and --skip-rq leave nothing to measure")
    return a


def main_promotion(a, argv):
    """--promotion: the scheduler's benchmark row, on its own private redis-server."""
    if not os.access(os.path.join(a.build_dir, "fac-scheduler"), os.X_OK):
        sys.stderr.write("bench: fac-scheduler not found in %s\n" % a.build_dir)
        return 2
    bench = Bench(a)
    atexit.register(bench.cleanup)
    try:
        bench.start_redis()
        machine = machine_info(bench.r)
        res = bench.promotion(a.promotion_jobs, a.lag_jobs)
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    finally:
        bench.cleanup()
    cmd = " ".join(shlex.quote(x) for x in [sys.argv[0]] + list(argv))
    lines = ["# fac-scheduler promotion benchmark", "",
             "- command: `%s`" % cmd,
             "- machine: %d CPUs (nproc), %s, redis-server %s" % (machine["nproc"], machine["cpu_model"],
                                                                  machine["redis_version"]),
             "", "| measure | value |", "|---|---:|",
             "| due delayed jobs promoted | %d |" % res["jobs"],
             "| promotions per second (first to last) | %.0f |" % res["promotions_per_s"],
             "| time from scheduler start to all promoted (s) | %.3f |" % res["seconds_from_spawn"],
             "| slowest PING during the promotion (ms) | %.2f |" % res["max_ping_ms"],
             "| promotion lag p50 / p99 / max (ms), %d jobs due 50 ms after enqueue | %.2f / %.2f / %.2f |"
             % (res["lag_jobs"], res["lag_p50_ms"], res["lag_p99_ms"], res["lag_max_ms"]), ""]
    print("\n".join(lines))
    path = os.path.join(a.results_dir, "promotion.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("results: %s" % path)
    return 0


def pad_args(size):
    """Job args {"pad": "xx..."} whose msgpack encoding is exactly `size` bytes."""
    k = size
    while len(msgpack.packb({"pad": "x" * k})) > size:
        k -= 1
    args = {"pad": "x" * k}
    if len(msgpack.packb(args)) != size:
        raise ValueError("no pad of exactly %d bytes" % size)
    return args


def main_matrix(a, argv):
    """--matrix: fac-worker throughput over workers x concurrency, then over payload sizes."""
    if not os.access(os.path.join(a.build_dir, "fac-worker"), os.X_OK):
        sys.stderr.write("bench: fac-worker not found in %s\n" % a.build_dir)
        return 2
    small = 100
    cells = [(w, c, "noop", small, a.matrix_jobs) for w in (1, 2, 4) for c in (1, 16, 128)]
    cells += [(2, 16, "echo", size, n) for size, n in ((small, a.matrix_jobs), (10 * 1024, a.matrix_10k_jobs),
                                                        (1024 * 1024, a.matrix_1m_jobs))]
    bench = Bench(a)
    atexit.register(bench.cleanup)
    rows = []
    try:
        bench.start_redis()
        machine = machine_info(bench.r)
        for w, c, tool, size, n in cells:
            res = bench.fac_throughput(w, n, "m%s%dx%d-%d" % (tool, w, c, size), tool, concurrency=c,
                                       args=pad_args(size))
            rows.append((w, c, tool, size, n, res))
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    finally:
        bench.cleanup()
    machine["loadavg_at_end"] = loadavg()
    cmd = " ".join(shlex.quote(x) for x in [sys.argv[0]] + list(argv))

    def payload(size):
        return "%d B" % size if size < 1024 else ("%d KB" % (size // 1024) if size < 1 << 20 else "1 MB")

    lines = ["# fac-worker throughput matrix", "",
             "- date: %s" % datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "- command: `%s`" % cmd,
             "- machine: %d CPUs (nproc), %s, redis-server %s (shared by the bench, Redis and the workers)"
             % (machine["nproc"], machine["cpu_model"], machine["redis_version"]),
             "- load average (1/5/15 min) at start: %s, at end: %s" % (machine["loadavg_at_start"],
                                                                      machine["loadavg_at_end"]),
             "- audit `%s`; payload = the msgpack size of the job's args `{\"pad\": \"x...\"}`; `echo` returns them, "
             "so the result record carries the payload back; MB/s = jobs/s x payload (10^6 bytes)" % a.audit,
             "- CPU per job: workers' and supervisor's utime+stime (/proc/PID/stat, whole life of the pool "
             "started for the cell) and redis-server's `INFO cpu` (sys+user) from pool start to all acked, / jobs",
             "", "| workers | concurrency | tool | payload | jobs | jobs/s | MB/s | worker CPU/job (µs) "
             "| Redis CPU/job (µs) | busy worker PSS (MiB) |", "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for w, c, tool, size, n, res in rows:
        pss = _get(res, "busy_memory", "worker", "pss")
        lines.append("| %d | %d | %s | %s | %d | %.0f | %.1f | %.1f | %.1f | %s |"
                     % (w, c, tool, payload(size), n, res["jobs_per_s"], res["jobs_per_s"] * size / 1e6,
                        res["cpu"]["worker_us"], res["cpu"]["redis_us"], "%.2f" % (pss / MiB) if pss else "n/a"))
    lines.append("")
    print("\n".join(lines))
    os.makedirs(a.results_dir, exist_ok=True)
    path = os.path.join(a.results_dir, "matrix.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("results: %s" % path)
    exe = gnuplot_exe()
    if exe is None:
        print("gnuplot not found: plot skipped (apt-get install gnuplot-nox)")
        return 0
    tmp = tempfile.mkdtemp(prefix="fac-bench-plot-")
    try:
        series = []
        for w in (1, 2, 4):
            dp = os.path.join(tmp, "w%d.dat" % w)
            with open(dp, "w") as f:
                for rw, c, tool, size, n, res in rows:
                    if rw == w and tool == "noop":
                        f.write("%d %.3f\n" % (c, res["jobs_per_s"]))
            series.append("'%s' using 1:2 with linespoints lw 2 pt 7 title '%d worker%s'"
                          % (dp, w, "" if w == 1 else "s"))
        png = os.path.join(a.results_dir, "matrix.png")
        script = ("set output '%s'\nset title 'fac-worker throughput, %d-byte noop jobs (%d CPUs)'\n"
                  "set logscale x 2\nset xtics (1,16,128)\nset xrange [0.8:160]\nset yrange [0:*]\n"
                  "set xlabel 'concurrency (jobs per worker)'\nset ylabel 'jobs/s'\nset grid\n"
                  "set key top left\nplot %s\n" % (png, small, machine["nproc"], ", \\\n  ".join(series)))
        if run_gnuplot(exe, script, tmp):
            print("plot: %s" % png)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def pools_wait_state(bench, sups, hosts, state):
    """Wait until each pool has --workers children registered under its host_id, all in `state`."""
    deadline = time.time() + 30
    while time.time() < deadline:
        for sup in sups:
            bench.fac_alive(sup, "start-up")
        want = {"%s:%d" % (h, pid) for sup, h in zip(sups, hosts) for pid in bench.fac_worker_pids(sup)}
        states = {w: b2s(bench.r.hget("%s:worker:%s" % (PREFIX, w), "state") or b"") for w in want}
        if len(want) == len(sups) * bench.args.workers and all(v == state for v in states.values()):
            return
        time.sleep(0.02)
    raise BenchError("pools: workers not all %s after 30s: %r\n%s" % (state, states, bench.fac_logs(sups[0])))


def pools_throughput(bench, npools, n, tag):
    """N noop jobs served by `npools` pools of --workers each on one Redis, each pool with its own
    host_id as if on its own host (docs/scale-out.md "Many hosts"). The pools start, go quiet
    (TSTP), the jobs are pre-filled, and all resume at once (TSTP again): jobs/s over the span
    first job started -> last job ended, from the result records, and each host's share."""
    a = bench.args
    bench.flush()
    hosts = ["bench-host%d" % (i + 1) for i in range(npools)]
    sups = []
    try:
        for i, h in enumerate(hosts):
            # each with its /metrics on, as deployed: its cluster view reads the registry every 2 s
            extra = {"host_id": h, "metrics": "127.0.0.1:%d" % free_port()}
            sups.append(bench.fac_start("%s-p%d" % (tag, i), a.workers, extra=extra)[0])
        pools_wait_state(bench, sups, hosts, "idle")
        for sup in sups:
            os.kill(sup.pid, signal.SIGTSTP)
        pools_wait_state(bench, sups, hosts, "quiet")
        prefill_s = bench.fac_prefill(n, tag)
        log("pools: %d noop jobs pre-filled in %.2fs; resuming %d pool%s of %d workers x concurrency %d"
            % (n, prefill_s, npools, "" if npools == 1 else "s", a.workers, a.concurrency))
        redis_cpu0 = bench.redis_cpu()
        t_pool = time.time()
        for sup in sups:
            os.kill(sup.pid, signal.SIGTSTP)
        keys = bench.fac_result_keys(n, tag)
        deadline = time.time() + max(120.0, n / 200.0)
        while True:
            for sup in sups:
                bench.fac_alive(sup, "pools run")
            if time.time() > deadline:
                raise BenchError("pools: not done in time (ready=%d)\n%s"
                                 % (bench.r.llen(FAC_READY), bench.fac_logs(sups[0])))
            if bench.r.llen(FAC_READY) == 0 and bench.fac_count_results(keys) == n:
                break
            time.sleep(0.05)
        t_done = time.time()
        redis_cpu1 = bench.redis_cpu()
        recs = bench.fac_fetch_results(keys)
        res = bench.fac_result_stats(recs, n, t_pool, t_done)
        per_host = {}
        for x in recs:
            h = x["worker"].rsplit(":", 1)[0]
            per_host[h] = per_host.get(h, 0) + 1
        res.update({"jobs": n, "pools": npools, "workers_per_pool": a.workers, "concurrency": a.concurrency,
                    "jobs_per_host": per_host,
                    "redis_cpu_us_per_job": (redis_cpu1["all"] - redis_cpu0["all"]) * 1e6 / n})
    finally:
        for sup in sups:
            bench.fac_stop(sup)
    log("pools: %d pools: %.0f jobs/s over the span, per host %s"
        % (npools, res["span_jobs_per_s"], res["jobs_per_host"]))
    return res


def main_pools(a, argv):
    """--pools: noop throughput with 1, 2 and 3 pools (distinct host_ids) on one Redis: results/pools.md."""
    if not os.access(os.path.join(a.build_dir, "fac-worker"), os.X_OK):
        sys.stderr.write("bench: fac-worker not found in %s\n" % a.build_dir)
        return 2
    bench = Bench(a)
    atexit.register(bench.cleanup)
    rows = []
    try:
        bench.start_redis()
        machine = machine_info(bench.r)
        for npools in (1, 2, 3):
            rows.append(pools_throughput(bench, npools, a.pools_jobs, "pools%d" % npools))
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    finally:
        bench.cleanup()
    machine["loadavg_at_end"] = loadavg()
    cmd = " ".join(shlex.quote(x) for x in [sys.argv[0]] + list(argv))
    lines = ["# fac-worker: many pools (hosts) on one Redis", "",
             "- date: %s" % datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "- command: `%s`" % cmd,
             "- machine: %d CPUs (nproc), %s, redis-server %s; every pool, Redis and the bench share them, so "
             "this shows the protocol does not slow down as hosts are added, not what more machines add"
             % (machine["nproc"], machine["cpu_model"], machine["redis_version"]),
             "- load average (1/5/15 min) at start: %s, at end: %s" % (machine["loadavg_at_start"],
                                                                      machine["loadavg_at_end"]),
             "- each pool: %d workers x concurrency %d, its own `host_id`, audit `%s`; the pools start, go quiet "
             "(TSTP), %d `noop` jobs are pre-filled, all resume at once; jobs/s = jobs / (last ended - first "
             "started), from the result records"
             % (a.workers, a.concurrency, a.audit, a.pools_jobs)]
    if a.quick:
        lines.append("- **smoke run** (`--quick`): few jobs per row, numbers only show the mode works; "
                     "rerun without `--quick` on an idle machine for figures")
    lines += ["", "| pools (hosts) | workers in all | jobs | jobs/s | Redis CPU/job (µs) | jobs per host |",
              "|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append("| %d | %d | %d | %.0f | %.1f | %s |"
                     % (r["pools"], r["pools"] * r["workers_per_pool"], r["jobs"],
                        r["span_jobs_per_s"], r["redis_cpu_us_per_job"],
                        ", ".join("%s %d" % kv for kv in sorted(r["jobs_per_host"].items()))))
    lines.append("")
    print("\n".join(lines))
    os.makedirs(a.results_dir, exist_ok=True)
    path = os.path.join(a.results_dir, "pools.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("results: %s" % path)
    return 0


SQL_TOOL = "todo_by_name"
SQL_ROWS = 10000


def sql_reads(bench, sup, n, warmup, one_at_a_time):
    """n sql jobs reading one tabToDo row each: latencies (one at a time, enqueue -> reply)
    or the seconds from the first LPUSH to the n-th reply (all enqueued at once)."""
    r = redis.Redis(host="127.0.0.1", port=bench.port)
    reply = "bench:sql-reply"
    r.delete(reply)
    lat, bad = [], []
    t_start = time.perf_counter_ns()
    pipe = r.pipeline(transaction=False)
    for i in range(-warmup, n):
        name = "TD-%05d" % (i % SQL_ROWS)
        env = msgpack.packb({"v": 1, "id": "sql-%d-%d" % (one_at_a_time, i), "tool": SQL_TOOL,
                             "site": MCP_SITE, "args": {"name": name}, "reply_to": reply})
        if not one_at_a_time:
            pipe.lpush(FAC_READY, env)
            continue
        t0 = time.perf_counter_ns()
        r.lpush(FAC_READY, env)
        got = r.blpop(reply, timeout=bench.args.job_timeout)
        if got is None:
            bench.fac_alive(sup, "sql latency")
            raise BenchError("sql: no reply for %s\n%s" % (name, bench.fac_logs(sup)))
        rec = msgpack.unpackb(got[1], raw=False)
        if rec.get("status") != "Success" or rec["result"]["rows"][0]["name"] != name:
            bad.append(rec)
        if i >= 0:
            lat.append(time.perf_counter_ns() - t0)
    if not one_at_a_time:
        t_start = time.perf_counter_ns()
        pipe.execute()
        for _ in range(n + warmup):
            got = r.blpop(reply, timeout=bench.args.job_timeout)
            if got is None:
                raise BenchError("sql: replies stopped\n%s" % bench.fac_logs(sup))
            rec = msgpack.unpackb(got[1], raw=False)
            if rec.get("status") != "Success":
                bad.append(rec)
    if bad:
        raise BenchError("sql: %d bad replies, first: %r" % (len(bad), bad[0]))
    return lat if one_at_a_time else (time.perf_counter_ns() - t_start) / 1e9


def main_sql(a, argv):
    """--sql: single-row reads through `sql` tools on a private mariadbd (tests/fixtures)."""
    bench = Bench(a)
    atexit.register(bench.cleanup)
    n = a.jobs or 20000
    try:
        bench.start_redis()
        machine = machine_info(bench.r)
        version = bench.start_mariadb()
        with open(os.path.join(SQL_FIXTURES, "frappe_core_schema.sql")) as f:
            bench.mysql(f.read(), db=BENCH_DB)
        bench.mysql("INSERT INTO `tabToDo` (name, status, allocated_to, description) SELECT "
                    "CONCAT('TD-', LPAD(seq, 5, '0')), 'Open', 'jane@example.com', 'row' "
                    "FROM seq_0_to_%d;" % (SQL_ROWS - 1), db=BENCH_DB)
        db = {"host": "127.0.0.1", "port": bench.mariadb[1], "name": BENCH_DB, "password": "bench-pw"}
        query = ("SELECT name, status, allocated_to, description, modified FROM `tabToDo` "
                 "WHERE name = %(name)s")
        extra = {"sites": {MCP_SITE: {"db": db}},
                 "tools": {SQL_TOOL: {"kind": "sql", "query": query, "timeout": 5}}}
        sup, _ = bench.fac_start("sql", a.workers, audit="none", extra=extra)
        bench.fac_wait_ready(sup, a.workers)
        lat = lat_stats(sql_reads(bench, sup, a.latency_jobs, a.warmup, True))
        log("sql: single-row reads one at a time: p50 %.3f ms p99 %.3f ms" % (lat["p50_ms"], lat["p99_ms"]))
        secs = sql_reads(bench, sup, n, 0, False)
        log("sql: %d reads, %d workers: %.0f jobs/s" % (n, a.workers, n / secs))
        bench.fac_stop(sup)
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    finally:
        bench.cleanup()
    cmd = " ".join(shlex.quote(x) for x in [sys.argv[0]] + list(argv))
    lines = ["# sql tools: single-row reads", "",
             "- command: `%s`" % cmd,
             "- machine: %d CPUs (nproc), %s, redis-server %s, MariaDB %s"
             % (machine["nproc"], machine["cpu_model"], machine["redis_version"], version),
             "- tool: ``%s`` on a %d-row `tabToDo` (tests/fixtures/frappe_core_schema.sql), audit off"
             % (query, SQL_ROWS),
             "", "| measure | value |", "|---|---:|",
             "| single-row read, one job at a time, enqueue -> reply: p50 / p99 (ms), %d jobs | %.3f / %.3f |"
             % (lat["n"], lat["p50_ms"], lat["p99_ms"]),
             "| single-row reads, %d jobs enqueued at once, %d workers x concurrency %d: jobs/s | %.0f |"
             % (n, a.workers, a.concurrency, n / secs), ""]
    print("\n".join(lines))
    path = os.path.join(a.results_dir, "sql.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("results: %s" % path)
    return 0


def main(argv):
    a = parse_args(argv)
    if a.promotion:
        return main_promotion(a, argv)
    if a.sql:
        return main_sql(a, argv)
    if a.matrix:
        return main_matrix(a, argv)
    if a.pools:
        return main_pools(a, argv)
    if not a.skip_fac:
        fb = os.path.join(a.build_dir, "fac-worker")
        if not os.access(fb, os.X_OK):
            sys.stderr.write("bench: %s not found or not executable (set FAC_BUILD_DIR or --build-dir, or --skip-fac)\n" % fb)
            return 2
    if not a.skip_rq:
        sys.path.insert(0, HERE)
        try:
            import rq  # noqa: F401
            import rq_tasks  # noqa: F401
        except ImportError as e:
            sys.stderr.write("bench: python-rq not importable (%s); apt-get install python3-rq, or --skip-rq\n" % e)
            return 2

    bench = Bench(a)
    atexit.register(bench.cleanup)

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(x) for x in [sys.argv[0]] + list(argv)),
        "cwd": os.getcwd(),
        "config": {k: getattr(a, k) for k in ("jobs", "workers", "concurrency", "latency_jobs", "rq_worker_jobs",
                                              "rq_simple_jobs", "rq_latency_jobs", "warmup", "audit", "log_level",
                                              "rq_quiet", "sporadic_jobs", "sporadic_gap_ms", "sample_ms", "quick", "skip_rq", "skip_fac", "scaling",
                                              "mcp", "mcp_only", "mcp_jobs")},
        "fac_binary": binary_info(os.path.join(a.build_dir, "fac-worker")) if not a.skip_fac else {"skipped": True},
        "errors": [],
    }
    rc = 0
    try:
        bench.start_redis()
        results["machine"] = machine_info(bench.r)
        if a.audit == "mariadb" and not a.skip_fac:
            results["machine"]["mariadb_version"] = bench.start_mariadb()
        results["redis_port"] = bench.port

        def attempt(name, fn):
            try:
                return fn()
            except BenchError as e:
                log("FAILED %s: %s" % (name, e))
                results["errors"].append("%s: %s" % (name, e))
                return None

        if not a.skip_fac:
            fac = {}
            idle = None if a.mcp_only else attempt("fac-worker idle/latency", bench.fac_idle_and_latency)
            if idle:
                fac.update(idle)
            tp = None if a.mcp_only else attempt("fac-worker throughput",
                                                 lambda: bench.fac_throughput(a.workers, a.jobs, "tp"))
            if tp:
                fac["throughput"] = tp
            if tp and a.audit == "mariadb":
                off = attempt("fac-worker throughput, audit off",
                              lambda: bench.fac_throughput(a.workers, a.jobs, "tpoff", audit="none"))
                if off:
                    fac["throughput_audit_off"] = off
            if a.mcp:
                mcp = attempt("fac-worker mcp", lambda: bench.fac_mcp(a.workers, a.mcp_jobs))
                if mcp:
                    fac["mcp"] = mcp
            if a.scaling:
                fac["scaling"] = []
                for w in (1, 2, 4):
                    row = attempt("fac-worker scaling %d" % w, lambda: bench.fac_throughput(w, a.jobs, "sc%d" % w))
                    if row:
                        fac["scaling"].append(row)
            results["fac"] = fac
        if not a.skip_rq:
            res = attempt("rq Worker", lambda: bench.rq_run("Worker", "rq.Worker", a.rq_worker_jobs, a.rq_latency_jobs))
            if res:
                results["rq_worker"] = res
            res = attempt("rq SimpleWorker", lambda: bench.rq_run("SimpleWorker", "rq.SimpleWorker",
                                                                   a.rq_simple_jobs, a.rq_latency_jobs))
            if res:
                results["rq_simple"] = res
        if results["errors"]:
            rc = 1
    except (KeyboardInterrupt, Interrupted) as e:
        log("interrupted (%s): cleaning up" % (e.args[0] if e.args else "SIGINT"))
        bench.cleanup()
        return 130
    except BenchError as e:
        log("FAILED: %s" % e)
        bench.cleanup()
        return 1
    finally:
        bench.cleanup()

    # ---- report
    results["machine"]["loadavg_at_end"] = loadavg()
    os.makedirs(os.path.dirname(os.path.abspath(a.json_out)) or ".", exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.md_out)) or ".", exist_ok=True)
    print()
    print("fac-worker vs python-rq  (%s; %d CPUs, %s, kernel %s, redis %s)"
          % (results["date"], results["machine"]["nproc"], results["machine"]["cpu_model"],
             results["machine"]["kernel"], results["machine"]["redis_version"]))
    print("fac-worker: %d workers x concurrency %d, audit %s; rq: %d workers; memory = per process, max over workers"
          % (a.workers, a.concurrency, a.audit, a.workers))
    print(render_table(results))
    sc = render_scaling(results)
    if sc:
        print(sc)
    au = render_audit(results)
    if au:
        print(au)
    if results["errors"]:
        print("ERRORS:")
        for e in results["errors"]:
            print("  - " + e.splitlines()[0])

    plot_tmp = tempfile.mkdtemp(prefix="fac-bench-plot-")
    try:
        exe = gnuplot_exe()
        plots = {}
        pdir = os.path.dirname(os.path.abspath(a.md_out))
        if exe is None:
            print("gnuplot not found: plots skipped (apt-get install gnuplot-nox)")
        else:
            lp = os.path.join(pdir, "latency.png")
            if plot_latency(exe, results, lp, plot_tmp):
                plots["latency"] = lp
            if a.scaling:
                tp = os.path.join(pdir, "throughput.png")
                if plot_scaling(exe, results, tp, plot_tmp):
                    plots["throughput"] = tp
            for k, v in plots.items():
                print("plot: %s" % v)
        results["plots"] = plots
    finally:
        shutil.rmtree(plot_tmp, ignore_errors=True)

    if not a.raw:
        for key, _ in COLS:
            if isinstance(results.get(key), dict):
                results[key].pop("latency_raw_ns", None)
    with open(a.json_out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    write_markdown(a.md_out, results)
    print("results: %s, %s" % (a.json_out, a.md_out))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
