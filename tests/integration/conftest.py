"""Shared fixtures and helpers for the fac-worker integration tests.

Every test gets its own redis-server on a free port, its own temporary
directory and its own fac-worker supervisor (in its own process group), so
test files can run in parallel.  Processes are only ever ended by the pid /
process group id this file created.

The contract these tests check: docs/protocol.md, docs/configuration.md,
docs/operations.md (and DESIGN.md §1, §2, §5).
"""

import json
import os
import re
import signal as _signal_mod
import socket
import subprocess
import time
import uuid
from pathlib import Path

import msgpack
import pytest
import redis as redislib

BUILD_DIR = os.environ.get("FAC_BUILD_DIR", "/work/main/build")
WORKER_BIN = os.path.join(BUILD_DIR, "fac-worker")
CTL_BIN = os.path.join(BUILD_DIR, "fac-ctl")
SCHED_BIN = os.path.join(BUILD_DIR, "fac-scheduler")
REDIS_SERVER = os.environ.get("FAC_REDIS_SERVER", "/usr/bin/redis-server")

PREFIX = "fac"
HOST_ID = "itest"
# Registry states that mean "this worker is on its way out".
STOPPING_STATES = {"stopping", "stopped", "exiting", "dead"}


# --------------------------------------------------------------------------
# small generic helpers
# --------------------------------------------------------------------------

def now_ms():
    return int(time.time() * 1000)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.01, what=None):
    """Call pred() until it returns something truthy; return that value.
    Raise AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                "timed out after %.1fs waiting for %s" % (timeout, what or pred))
        time.sleep(interval)


def proc_stat(pid):
    """(state, ppid) of a process from /proc, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children_of(ppid):
    """Live (non-zombie) direct children of ppid, by scanning /proc."""
    kids = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[1] == ppid and st[0] not in ("Z", "X"):
            kids.add(int(name))
    return kids


def unpack(data):
    """Unpack a msgpack record as the C side writes it: str stays str, bin
    stays bytes; a non-UTF-8 str does not raise (surrogateescape) so that a
    test can report it as a type mismatch instead of crashing."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False,
                           unicode_errors="surrogateescape")


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


# --------------------------------------------------------------------------
# keys (docs/protocol.md "Keys")
# --------------------------------------------------------------------------

def ready_key(queue="default", prefix=PREFIX):
    return "%s:{%s}:ready" % (prefix, queue)


def dead_key(queue="default", prefix=PREFIX):
    return "%s:{%s}:dead" % (prefix, queue)


def delayed_key(queue="default", prefix=PREFIX):
    return "%s:{%s}:delayed" % (prefix, queue)


def inflight_key(worker_id, queue="default", prefix=PREFIX):
    return "%s:{%s}:inflight:%s" % (prefix, queue, worker_id)


def result_key(job_id, prefix=PREFIX):
    return "%s:result:%s" % (prefix, job_id)


def leader_key(prefix=PREFIX):
    return "%s:scheduler:leader" % prefix


def schedule(r, env, due_ms, queue="default"):
    """Add a job to the delayed zset as a producer does (docs/protocol.md
    "Enqueue script"): ZADD, then wake the scheduler."""
    r.zadd(delayed_key(queue), {pack(env): due_ms})
    r.publish("%s:scheduler:wake" % PREFIX, str(due_ms))
    return env["id"]


def audit_rows(path):
    """The rows of a JSON-lines audit file (a list of dicts)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# --------------------------------------------------------------------------
# envelopes and results
# --------------------------------------------------------------------------

def job(tool, args=None, **kw):
    """A job envelope (docs/protocol.md "Job envelope") as a dict."""
    jid = kw.pop("id", None)
    if jid is None:
        jid = "itest-" + uuid.uuid4().hex
    env = {"v": 1, "id": jid,
           "tool": tool, "args": {} if args is None else args,
           "enqueued_at": now_ms()}
    env.update(kw)
    return env


def enqueue(r, env, queue="default", at_front=False):
    """LPUSH (or RPUSH for at_front) one envelope; env may be a dict or raw
    bytes.  Returns the job id for dicts, None for raw bytes."""
    data = env if isinstance(env, (bytes, bytearray)) else pack(env)
    if at_front:
        r.rpush(ready_key(queue), data)
    else:
        r.lpush(ready_key(queue), data)
    return env.get("id") if isinstance(env, dict) else None


def enqueue_many(r, envs, queue="default"):
    pipe = r.pipeline(transaction=False)
    for env in envs:
        pipe.lpush(ready_key(queue), pack(env))
    pipe.execute()
    return [e["id"] for e in envs]


def get_result(r, job_id):
    data = r.get(result_key(job_id))
    return None if data is None else unpack(data)


def wait_result(r, job_id, timeout=10.0, interval=0.002):
    """Poll P:result:<id> until it exists; return the unpacked record."""
    deadline = time.monotonic() + timeout
    while True:
        data = r.get(result_key(job_id))
        if data is not None:
            return unpack(data)
        if time.monotonic() >= deadline:
            raise AssertionError("no result record for job %s after %.1fs"
                                 % (job_id, timeout))
        time.sleep(interval)


def fetch_results(r, ids, chunk=1000):
    """{id: record} for those ids that have a result record now."""
    found = {}
    ids = list(ids)
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        for jid, data in zip(part, r.mget([result_key(j) for j in part])):
            if data is not None:
                found[jid] = unpack(data)
    return found


def wait_all_results(r, ids, timeout=30.0, interval=0.05):
    """Wait until every id has a result record; return {id: record}.
    On timeout, fail with how many (and which) are missing."""
    ids = list(ids)
    results = {}
    missing = list(ids)
    deadline = time.monotonic() + timeout
    while True:
        results.update(fetch_results(r, missing))
        missing = [j for j in missing if j not in results]
        if not missing:
            return results
        if time.monotonic() >= deadline:
            raise AssertionError(
                "%d of %d jobs have no result record after %.1fs (e.g. %s)"
                % (len(missing), len(ids), timeout, missing[:5]))
        time.sleep(interval)


def inflight_lists(r, queue="default"):
    """{key: [raw elements]} for every in-flight list of `queue`."""
    out = {}
    for key in r.scan_iter(match="%s:{%s}:inflight:*" % (PREFIX, queue),
                           count=1000):
        out[key.decode()] = r.lrange(key, 0, -1)
    return out


def inflight_count(r, queue="default"):
    return sum(len(v) for v in inflight_lists(r, queue).values())


def _element_id(raw):
    try:
        env = unpack(raw)
    except Exception:
        return None
    return env.get("id") if isinstance(env, dict) else None


def find_inflight(r, job_id, queue="default"):
    """Name of the in-flight list holding job_id, or None."""
    for key, elems in inflight_lists(r, queue).items():
        for raw in elems:
            if _element_id(raw) == job_id:
                return key
    return None


def wait_inflight(r, job_id, queue="default", timeout=5.0):
    return wait_until(lambda: find_inflight(r, job_id, queue), timeout,
                      what="job %s in an in-flight list" % job_id)


def ready_elements(r, queue="default"):
    return r.lrange(ready_key(queue), 0, -1)


def dead_entries(r, queue="default"):
    return [unpack(x) for x in r.lrange(dead_key(queue), 0, -1)]


def worker_id_pid(worker_id):
    return int(worker_id.rsplit(":", 1)[1])


def audit_rows(path):
    """The rows of a JSON-lines audit file (configuration.md `audit`)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------

def make_config(tmp_path, name="fac.json", **overrides):
    """Write a JSON config (docs/configuration.md) into tmp_path and return
    its path.  `redis` (the config key) should be given by the caller; any
    top-level key may be overridden; an override of None removes the key."""
    tmp_path = Path(tmp_path)
    cfg = {
        "redis": "redis://127.0.0.1:6379/0",
        "prefix": PREFIX,
        "queues": ["default"],
        "host_id": HOST_ID,
        "workers": 1,
        "concurrency": 4,
        "heartbeat_timeout": 2,
        "kill_grace": 0.5,
        "shutdown_timeout": 5,
        "audit": {"to": "jsonl", "path": str(tmp_path / "audit.jsonl"),
                  "flush_ms": 10},
        "log_file": str(tmp_path / "fac.log"),
        "log_level": "info",
        # Off unless a test asks: the default address is one port for every pool.
        "metrics": False,
    }
    for key, value in overrides.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path = tmp_path / name
    write_json_atomic(path, cfg)
    return path


def write_json_atomic(path, obj):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    tmp.chmod(0o640)  # fac-worker refuses a world-readable config that holds secrets
    os.replace(tmp, path)


def builtin_tools(*names, **with_limits):
    """A `tools` object with the given builtins; with_limits maps a tool name
    to extra keys, e.g. builtin_tools("echo", sleep={"timeout": 1})."""
    tools = {}
    for n in names:
        tools[n] = {"kind": "builtin"}
    for n, extra in with_limits.items():
        tools[n] = dict({"kind": "builtin"}, **extra)
    return tools


# --------------------------------------------------------------------------
# redis-server
# --------------------------------------------------------------------------

class RedisServer:
    """A private redis-server; .port, .url, .client (bytes, not decoded)."""

    def __init__(self, workdir, password=None, unixsocket=False,
                 appendonly=False):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = password
        # appendonly: an AOF fsync'd every second (a graceful stop flushes it),
        # and start() after stop() comes back on the same port and AOF.
        self.appendonly = appendonly
        self.socket = str(self.dir / "redis.sock") if unixsocket else None
        self.proc = None
        self.port = None
        self.client = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self):
        last_err = None
        for _ in range(5):
            port = self.port or free_port()
            args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--dir", str(self.dir),
                    "--appendonly", "yes" if self.appendonly else "no",
                    "--appendfsync", "everysec",
                    "--logfile", str(self.dir / "redis.log"),
                    "--daemonize", "no"]
            if self.password:
                args += ["--requirepass", self.password]
            if self.socket:
                args += ["--unixsocket", self.socket, "--unixsocketperm", "700"]
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            client = redislib.Redis(host="127.0.0.1", port=port,
                                    password=self.password,
                                    socket_timeout=30,
                                    decode_responses=False)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if client.ping():
                        self.proc, self.port, self.client = proc, port, client
                        return self
                except redislib.exceptions.RedisError as e:
                    last_err = e
                time.sleep(0.02)
            # port race or slow start: end it (by pid) and try another port
            _kill_pid(proc)
        raise RuntimeError("could not start redis-server: %s" % last_err)

    def stop(self, graceful=False):
        """SIGKILL by pid, or with graceful a SIGTERM (Redis flushes its AOF
        and exits) and a wait."""
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
        if self.proc is not None and graceful and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            _kill_pid(self.proc)


def _kill_pid(proc):
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def redis_factory(tmp_path):
    """Start extra redis-servers: redis_factory(password=None,
    unixsocket=False)."""
    servers = []

    def start(password=None, unixsocket=False):
        srv = RedisServer(tmp_path / ("redis%d" % len(servers)), password,
                          unixsocket)
        servers.append(srv)
        return srv.start()

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def redis(redis_factory):
    """A private redis-server with a bytes client: redis.client, .port, .url."""
    return redis_factory()


# --------------------------------------------------------------------------
# the worker pool
# --------------------------------------------------------------------------

class _Child:
    """A program started as our child in its own session, so that its process
    group is ours to end."""

    proc = None

    def _spawn(self, argv, out):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Pool(_Child):
    """A fac-worker supervisor started as our child in its own session."""

    _count = 0

    def __init__(self, config_path, redis_srv, workdir, extra_args=()):
        Pool._count += 1
        self.config_path = Path(config_path)
        self.redis = redis_srv
        self.r = redis_srv.client if redis_srv is not None else None
        cfg = json.loads(self.config_path.read_text())
        self.config = cfg
        self.log_path = Path(cfg["log_file"]) if cfg.get("log_file") else None
        self.stderr_path = Path(workdir) / ("fac-worker-%d.stderr"
                                            % Pool._count)
        self.extra_args = list(extra_args)
        self.proc = None
        self.pgid = None
        self.seen_logs = []  # rotated-away log files, for diagnostics

    # -- process control -------------------------------------------------
    def start(self):
        assert os.access(WORKER_BIN, os.X_OK), (
            "fac-worker binary not found at %s (set FAC_BUILD_DIR)"
            % WORKER_BIN)
        self._stderr = open(self.stderr_path, "ab")
        self._spawn([WORKER_BIN, "-c", str(self.config_path)] + self.extra_args,
                    self._stderr)
        self.pgid = self.proc.pid  # session leader: pgid == pid
        return self

    def signal(self, sig):
        assert self.running(), "supervisor is not running (rc=%s)" % (
            self.proc.returncode if self.proc else None)
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        """Wait for the supervisor to exit; return its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("fac-worker (pid %d) still running after %.1fs"
                                 % (self.proc.pid, timeout))

    def kill(self):
        """SIGKILL the whole process group we created."""
        if self.pgid is None:
            return
        try:
            os.killpg(self.pgid, _signal_mod.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, sig=None, timeout=None):
        """Graceful stop (TERM), then SIGKILL of our process group.
        Returns the supervisor's exit code."""
        if self.proc is None:
            return None
        if sig is None:
            sig = _signal_mod.SIGTERM
        if timeout is None:
            timeout = (float(self.config.get("shutdown_timeout", 25))
                       + float(self.config.get("kill_grace", 5)) + 5)
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        rc = self.proc.poll()
        self.kill()  # leftovers of the group, if any
        f = getattr(self, "_stderr", None)
        if f is not None:
            f.close()
        return rc

    # -- processes and registry ------------------------------------------
    def child_pids(self):
        """Live direct children of the supervisor (from /proc)."""
        if not self.running():
            return set()
        return children_of(self.proc.pid)

    def registry(self):
        """{worker-id: {field: value}} from P:workers + P:worker:<id>."""
        out = {}
        for member in self.r.zrange("%s:workers" % PREFIX, 0, -1):
            wid = member.decode()
            h = self.r.hgetall("%s:worker:%s" % (PREFIX, wid))
            out[wid] = {k.decode(): v.decode(errors="replace")
                        for k, v in h.items()}
        return out

    def live_workers(self):
        """Registry entries whose process is a live child of this supervisor
        and whose state is not stopping: {worker-id: hash (+ '_pid')}."""
        kids = self.child_pids()
        live = {}
        for wid, h in self.registry().items():
            if not h:
                continue  # hash expired: stale entry
            try:
                pid = int(h.get("pid") or worker_id_pid(wid))
            except ValueError:
                continue
            if pid in kids and h.get("state", "") not in STOPPING_STATES:
                h = dict(h)
                h["_pid"] = pid
                live[wid] = h
        return live

    def worker_pids(self):
        return {h["_pid"] for h in self.live_workers().values()}

    def wait_workers(self, n, timeout=10.0, exact=True):
        """Wait until n workers are live (exactly n unless exact=False);
        return {worker-id: hash}."""
        def ok():
            assert self.running(), (
                "fac-worker exited with %s while waiting for workers; log:\n%s"
                % (self.proc.returncode, self.log_tail()))
            live = self.live_workers()
            good = len(live) == n if exact else len(live) >= n
            return live if good else None
        return wait_until(ok, timeout, interval=0.02,
                          what="%d live workers" % n)

    # -- logs ---------------------------------------------------------------
    def log_text(self):
        parts = []
        for p in list(self.seen_logs) + [self.log_path, self.stderr_path]:
            if p is not None and Path(p).exists():
                parts.append(Path(p).read_text(errors="replace"))
        return "\n".join(parts)

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])


class Scheduler(_Child):
    """A fac-scheduler started as our child in its own session."""

    _count = 0

    def __init__(self, config_path, workdir):
        Scheduler._count += 1
        self.config_path = Path(config_path)
        self.log_path = Path(workdir) / ("fac-scheduler-%d.log"
                                         % Scheduler._count)

    def start(self):
        assert os.access(SCHED_BIN, os.X_OK), (
            "fac-scheduler binary not found at %s (set FAC_BUILD_DIR)"
            % SCHED_BIN)
        self._out = open(self.log_path, "ab")
        self._spawn([SCHED_BIN, "-c", str(self.config_path), "--log-file",
                     str(self.log_path)], self._out)
        return self

    def kill(self, sig=_signal_mod.SIGKILL):
        if self.running():
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc is None:
            return None
        rc = self.kill(_signal_mod.SIGTERM)
        if rc is None:
            rc = self.kill()
        self._out.close()
        return rc

    def log_text(self):
        return (self.log_path.read_text(errors="replace")
                if self.log_path.exists() else "")

    def is_leader(self, r):
        owner = r.get(leader_key())
        return owner is not None and owner.decode().endswith(
            ":%d" % self.proc.pid)


class Fac:
    """Per-test factory for configs and pools, bound to one redis-server."""

    def __init__(self, redis_srv, tmp_path):
        self.redis = redis_srv
        self.r = redis_srv.client
        self.tmp = Path(tmp_path)
        self.pools = []
        self.schedulers = []

    def scheduler(self, config=None, wait_leader=True, **overrides):
        """Start a fac-scheduler (writing a config from overrides unless
        `config` is given); with wait_leader, wait until some scheduler
        holds the lease."""
        if config is None:
            config = self.config(name="sched-%d.json" % len(self.schedulers),
                                 **overrides)
        sch = Scheduler(config, self.tmp)
        self.schedulers.append(sch)
        sch.start()
        if wait_leader:
            wait_until(lambda: self.r.get(leader_key()), 5,
                       what="a scheduler holding the lease")
        return sch

    def config(self, name="fac.json", **overrides):
        overrides.setdefault("redis", self.redis.url)
        return make_config(self.tmp, name=name, **overrides)

    def start(self, config=None, wait=True, extra_args=(), **overrides):
        """Start a pool (writing a config from overrides unless `config` is
        given) and, with wait, wait until its workers are up."""
        if config is None:
            config = self.config(**overrides)
        pool = Pool(config, self.redis, self.tmp, extra_args)
        self.pools.append(pool)
        pool.start()
        if wait:
            pool.wait_workers(int(pool.config.get("workers", 2)), timeout=15)
        return pool

    def cleanup(self):
        for pool in self.pools:
            pool.stop(timeout=10)
        for sch in self.schedulers:
            sch.stop()


@pytest.fixture
def fac(redis, tmp_path):
    f = Fac(redis, tmp_path)
    yield f
    f.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of every pool's log to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    f = item.funcargs.get("fac") if hasattr(item, "funcargs") else None
    if f is None:
        return
    for i, pool in enumerate(f.pools):
        try:
            rep.sections.append(("fac-worker log (pool %d)" % i,
                                 pool.log_tail(80)))
        except Exception as e:  # diagnostics must never hide the failure
            rep.sections.append(("fac-worker log (pool %d)" % i, repr(e)))
    for i, sch in enumerate(f.schedulers):
        rep.sections.append(("fac-scheduler log (%d)" % i,
                             "\n".join(sch.log_text().splitlines()[-40:])))


# --------------------------------------------------------------------------
# fac-ctl
# --------------------------------------------------------------------------

def ctl(config_path, *args, timeout=30):
    """Run fac-ctl -c CONFIG ARGS...; returns CompletedProcess (text)."""
    assert os.access(CTL_BIN, os.X_OK), (
        "fac-ctl binary not found at %s (set FAC_BUILD_DIR)" % CTL_BIN)
    return subprocess.run([CTL_BIN, "-c", str(config_path)] + list(args),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def first_json_object(text):
    """Parse the first JSON object printed in text."""
    start = text.find("{")
    assert start >= 0, "no JSON object in output: %r" % text
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return obj


WRK_PID_RE = re.compile(r"\bwrk\[(\d+)\]")


# --------------------------------------------------------------------------
# a Frappe site with FAC, stood in for by fac_standin.py (mcp and http tools)
# --------------------------------------------------------------------------

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fac_standin.py")
SITE = "site1.local"


class FacStandin:
    """fac_standin.py in its own session on a free port: .url, .stats()."""

    def __init__(self, workdir):
        self.port_file = Path(workdir) / "standin.port"
        self.proc = None
        self.url = None

    def start(self):
        self.proc = subprocess.Popen(["/usr/bin/python3", STANDIN, str(self.port_file)],
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        port = wait_until(lambda: self.port_file.exists() and self.port_file.read_text(),
                          10, what="fac_standin.py listening")
        self.url = "http://127.0.0.1:%s" % port
        return self

    def _call(self, method, path):
        import urllib.request
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self):
        return self._call("GET", "/_stats")

    def reset(self):
        self._call("POST", "/_reset")

    def stop(self):
        if self.proc is not None:
            _kill_pid(self.proc)


@pytest.fixture
def fac_site(tmp_path):
    srv = FacStandin(tmp_path).start()
    yield srv
    srv.stop()


def site_config(url, key="k-admin", secret="s-admin", name=SITE):
    """A `sites` object for one site (configuration.md `sites`)."""
    return {name: {"url": url, "api_key": key, "api_secret": secret}}


# --------------------------------------------------------------------------
# mariadb-server (the audit trail's database, DESIGN §6)
# --------------------------------------------------------------------------

MARIADBD = os.environ.get("FAC_MARIADBD", "/usr/sbin/mariadbd")
MARIADB_INSTALL_DB = os.environ.get("FAC_MARIADB_INSTALL_DB",
                                    "/usr/bin/mariadb-install-db")
MARIADB_CLIENT = os.environ.get("FAC_MARIADB_CLIENT", "/usr/bin/mariadb")
SQL_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUDIT_TABLE = "tabAssistant Audit Log"


class MariaDB:
    """A private mariadbd on a free TCP port and its own unix socket, with its
    data directory in workdir.  stop() is a real shutdown (SIGTERM, wait) and
    start() brings it back on the same data directory and port.  sql() runs
    statements as root over the socket with the mariadb client.  extra_args
    are more mariadbd options (TLS files, replication settings)."""

    def __init__(self, workdir, extra_args=()):
        self.dir = Path(workdir)
        self.extra_args = list(extra_args)
        self.datadir = self.dir / "data"
        self.socket = str(self.dir / "mariadb.sock")
        self.port = None
        self.proc = None
        self._log = None

    def install(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([MARIADB_INSTALL_DB, "--no-defaults",
                        "--datadir=%s" % self.datadir, "--user=root",
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, timeout=120)
        return self

    def start(self, timeout=30):
        if self.port is None:
            self.port = free_port()
        self._log = open(self.dir / "mariadbd.out", "ab")
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", "--datadir=%s" % self.datadir,
             "--socket=%s" % self.socket, "--port=%d" % self.port,
             "--bind-address=127.0.0.1", "--user=root",
             "--pid-file=%s" % (self.dir / "mariadbd.pid"),
             "--log-error=%s" % (self.dir / "mariadbd.err"),
             "--skip-name-resolve", "--innodb-buffer-pool-size=64M",
             "--max-connections=500"] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            start_new_session=True)
        wait_until(lambda: self._ready(), timeout, interval=0.05,
                   what="mariadbd on port %d" % self.port)
        return self

    def _ready(self):
        assert self.proc.poll() is None, (
            "mariadbd exited with %s: %s" % (self.proc.returncode,
                                             self.error_log_tail()))
        r = subprocess.run([MARIADB_CLIENT, "--no-defaults", "-S", self.socket,
                            "-u", "root", "-e", "SELECT 1"],
                           capture_output=True, timeout=10)
        return r.returncode == 0

    def error_log_tail(self, lines=20):
        p = self.dir / "mariadbd.err"
        return "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) \
            if p.exists() else ""

    def stop(self, timeout=60):
        """A real shutdown: SIGTERM to our mariadbd, then wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def sql(self, statements, db=None, check=True):
        """Run statements as root; return the rows as lists of str (NULL as
        None)."""
        args = [MARIADB_CLIENT, "--no-defaults", "-S", self.socket, "-u",
                "root", "-N", "-B", "--raw"]
        if db:
            args.append(db)
        r = subprocess.run(args, input=statements.encode(),
                           capture_output=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("mariadb: %s" % r.stderr.decode(errors="replace"))
        out = r.stdout.decode("utf-8", errors="replace")
        return [[None if v == "NULL" else v for v in line.split("\t")]
                for line in out.splitlines()]

    def create_site_db(self, name, password, llm_columns=False):
        """A site database as Frappe creates it: database and user both named
        `name`, the audit tables from tests/fixtures."""
        self.sql("CREATE DATABASE `%s`;\n"
                 "CREATE USER '%s'@'%%' IDENTIFIED BY '%s';\n"
                 "GRANT ALL ON `%s`.* TO '%s'@'%%';\n"
                 % (name, name, password, name, name))
        self.sql((SQL_FIXTURES / "frappe_audit_schema.sql").read_text(), db=name)
        if llm_columns:
            self.sql((SQL_FIXTURES / "frappe_audit_llm_columns.sql").read_text(),
                     db=name)
        return name

    def audit_rows(self, db, columns="*", where=""):
        """Rows of the audit table as dicts (column name -> str or None)."""
        names = [r[0] for r in self.sql("SHOW COLUMNS FROM `%s`" % AUDIT_TABLE,
                                        db=db)] if columns == "*" else \
            [c.strip() for c in columns.split(",")]
        cols = ",".join("`%s`" % c for c in names)
        rows = self.sql("SELECT %s FROM `%s` %s" % (cols, AUDIT_TABLE, where),
                        db=db)
        return [dict(zip(names, r)) for r in rows]

    def count(self, db):
        return int(self.sql("SELECT COUNT(*) FROM `%s`" % AUDIT_TABLE, db=db)[0][0])


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    """One private mariadb-server per test module (installing a data
    directory takes a few seconds); killed by pid at teardown."""
    srv = MariaDB(tmp_path_factory.mktemp("mariadb"))
    try:
        srv.install().start()
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait(10)


def audit_row_name(job_id, attempt, started_at_ms):
    """The row name fac-worker gives a job attempt (docs/audit.md "Names")."""
    import hashlib
    day = time.strftime("%Y-%m-%d", time.gmtime(started_at_ms // 1000))
    digest = hashlib.sha256(("%s#%d" % (job_id, attempt)).encode()).hexdigest()
    return "ASST-AUDIT-%s-%s" % (day, digest[:20])


def site_db_config(srv, db, password, **extra):
    """A `sites.<site>.db` object for a site database on srv (TCP)."""
    cfg = {"host": "127.0.0.1", "port": srv.port, "name": db,
           "password": password}
    cfg.update(extra)
    return cfg
