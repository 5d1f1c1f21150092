"""The client: builds protocol v1 envelopes (docs/protocol.md), pushes them with the
project's enqueue script, waits for result records, and finds or cancels a job the way
fac-ctl status and fac-ctl cancel do (same keys, same search order, same states)."""

import datetime
import json
import os
import time
from pathlib import Path

import msgpack
import redis as redis_lib

PROTOCOL_VERSION = 1
JOB_ID_MAX = 128
UNIQUE_TTL_S = 86400  # FAC_UNIQUE_TTL_S: a unique key outlives no job by more
CANCEL_TTL_MS = 86400 * 1000  # FAC_CANCEL_TTL_MS: how long a cancel waits for its job
DEFAULT_QUEUES = ("short", "default", "long")
# lib/scripts.c script_enqueue, byte for byte (tests/integration/test_python_client.py
# checks that Redis knows this text's SHA1 once fac-ctl has run its own copy).
ENQUEUE_LUA = (Path(__file__).with_name("enqueue.lua")).read_text()


class FacError(Exception):
    """The job ended without Success: .status, .type and .message from its record."""

    def __init__(self, record):
        self.record = record
        self.status = record.get("status")
        err = record.get("error") or {}
        self.type = err.get("type")
        self.message = err.get("message", "")
        super().__init__("job %s: %s (%s): %s" % (record.get("id"), self.status, self.type,
                                                  self.message))


class FacTimeout(Exception):
    """No result arrived in time; the job may still be queued or running."""


class FacNotReplicated(Exception):
    """The master took the job but WAIT saw fewer replicas than asked within its
    timeout: a failover now could lose it (docs/sentinel.md). .job_id, .replicas."""

    def __init__(self, job_id, replicas, wanted):
        self.job_id, self.replicas, self.wanted = job_id, replicas, wanted
        super().__init__("job %s: enqueued, but only %d of %d replicas confirmed it"
                         % (job_id, replicas, wanted))


def frappe_module():
    """The frappe module when running inside a Frappe site (request or job), else None."""
    try:
        import frappe  # noqa: PLC0415 (present only inside a bench)
    except ImportError:
        return None
    return frappe if getattr(getattr(frappe, "local", None), "site", None) else None


def _now_ms():
    return int(time.time() * 1000)


def _unpack(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _delay_ms(delay):
    if isinstance(delay, datetime.timedelta):
        return int(delay.total_seconds() * 1000)
    if delay < 0:
        raise ValueError("delay must not be negative, got %r" % (delay,))
    return int(delay * 1000)


def _sentinel_master(url, sentinels, master, sentinel_password, socket_timeout, password=None):
    """A redis.Redis on the master the sentinels name; it asks them again after a
    failover (redis-py's SentinelConnectionPool). The URL gives user, password and db
    only, as the pool's `redis` key does with `redis_sentinels`; password (a
    redis_password_file's) overrides the URL's."""
    from redis.sentinel import Sentinel  # noqa: PLC0415
    if not master:
        raise ValueError("sentinels need master= (the pool's redis_master)")
    addrs = []
    for s in sentinels:
        host, _, port = str(s).rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("sentinel %r is not \"host:port\"" % (s,))
        addrs.append((host.strip("[]"), int(port)))
    kw = redis_lib.connection.parse_url(url) if url else {}
    conn_kw = {k: kw[k] for k in ("username", "password", "db") if kw.get(k) is not None}
    if password is not None:
        conn_kw["password"] = password
    skw = {"password": sentinel_password} if sentinel_password else {}
    sentinel = Sentinel(addrs, socket_timeout=socket_timeout, sentinel_kwargs=skw)
    return sentinel.master_for(master, socket_timeout=socket_timeout, **conn_kw)


def _read_password(path):
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\r\n")


def _connect(url, password_file=None):
    kw = {"password": _read_password(password_file)} if password_file else {}
    return redis_lib.Redis.from_url(url, **kw)


class Client:
    """redis: a redis.Redis; url: a Redis URL; neither: Frappe's queue Redis inside
    Frappe, else redis://127.0.0.1:11000/0 (a bench's redis_queue). prefix and queues
    must match the pool's config (`prefix`, `queues`, `result_ttl`, `reply_ttl`).
    sentinels ("host:port" list) and master: find the master through Redis Sentinel
    (the pool's redis_sentinels and redis_master); url then gives user, password, db.
    wait_replicas (and wait_timeout_ms): each enqueue WAITs for that many replicas and
    raises FacNotReplicated (the job is enqueued) when fewer confirm in time; the WAIT
    goes to the queue's own server (the main one or its shard).

    shards: the pool's `redis_shards` (docs/sharding.md): queue name -> a Redis URL, an
    object {"redis": URL, "redis_password_file": PATH} (with Sentinel also
    "redis_sentinels", "redis_master", "redis_sentinel_password_file", as in the pool's
    config: docs/sentinel.md "Shards"), or a redis.Redis. Each job goes
    to its queue's server, and its result and reply are read there; queues not named
    live on the main server. Client.from_config reads all of this from the fac.json."""

    def __init__(self, redis=None, url=None, prefix="fac", queues=DEFAULT_QUEUES,
                 result_ttl=600, reply_ttl=60, shards=None, *, sentinels=None, master=None,
                 sentinel_password=None, socket_timeout=5.0, wait_replicas=0,
                 wait_timeout_ms=100):
        frappe = frappe_module()
        if sentinels:
            redis = _sentinel_master(url, sentinels, master, sentinel_password, socket_timeout)
        if redis is None and url is None and frappe is not None:
            from frappe.utils.background_jobs import get_redis_conn  # noqa: PLC0415
            redis = get_redis_conn()
        if redis is None:
            redis = redis_lib.Redis.from_url(url or "redis://127.0.0.1:11000/0")
        if wait_replicas < 0 or wait_timeout_ms <= 0:
            raise ValueError("wait_replicas must be >= 0 and wait_timeout_ms > 0")
        self.wait_replicas, self.wait_timeout_ms = wait_replicas, wait_timeout_ms
        self.r = redis
        self._master_check_at = 0.0
        self.prefix = prefix
        self.queues = tuple(queues)
        self.result_ttl, self.reply_ttl = result_ttl, reply_ttl
        self._enqueue = self.r.register_script(ENQUEUE_LUA)
        self._queue_r = {}
        self.servers = [self.r]  # the main ("home") server first, then each shard once
        by_url = {}
        for queue, where in (shards or {}).items():
            if queue not in self.queues:
                raise ValueError("shards: queue %r is not in queues (%s): add it to queues or "
                                 "remove it from the shard map" % (queue, ", ".join(self.queues)))
            if isinstance(where, str):
                where = {"redis": where}
            if isinstance(where, dict):
                where = self._shard_conn(queue, where, by_url, socket_timeout)
            if not any(where is s for s in self.servers):
                self.servers.append(where)
            self._queue_r[queue] = where
        # The servers found through Sentinel (redis-py's SentinelConnectionPool).
        self._sentinel_pools = [p for p in (getattr(s, "connection_pool", None)
                                            for s in self.servers)
                                if hasattr(p, "get_master_address")]

    @staticmethod
    def _shard_conn(queue, where, by_url, socket_timeout):
        """A shard given as an object: its "redis" URL (with "redis_password_file"), and
        with Sentinel "redis_sentinels" and "redis_master" (and
        "redis_sentinel_password_file"), as in the pool's redis_shards; "sentinels",
        "master" and "sentinel_password" are accepted as well."""
        if "redis" not in where:
            raise ValueError("shards.%s needs \"redis\": a URL" % queue)
        url, pw_file = where["redis"], where.get("redis_password_file")
        sentinels = where.get("redis_sentinels", where.get("sentinels"))
        master = where.get("redis_master", where.get("master"))
        spw = where.get("sentinel_password")
        if where.get("redis_sentinel_password_file"):
            spw = _read_password(where["redis_sentinel_password_file"])
        if (master or spw) and not sentinels:
            raise ValueError("shards.%s: redis_master or a sentinel password is set but "
                             "redis_sentinels is not: list the sentinels or remove them" % queue)
        key = (url, pw_file, tuple(sentinels or ()), master)
        if key in by_url:
            return by_url[key]
        if sentinels:
            if not master:
                raise ValueError("shards.%s.redis_sentinels is set, so shards.%s.redis_master "
                                 "must name the master" % (queue, queue))
            conn = _sentinel_master(url, sentinels, master, spw, socket_timeout,
                                    _read_password(pw_file) if pw_file else None)
        else:
            conn = _connect(url, pw_file)
        by_url[key] = conn
        return conn

    @classmethod
    def from_config(cls, path="/etc/fac-worker/fac.json", **overrides):
        """A client that matches the pool's config file: its redis (and
        redis_password_file, or redis_sentinels, redis_master and
        redis_sentinel_password_file), redis_wait, prefix, queues, result_ttl, reply_ttl
        and redis_shards. Keyword arguments override what the file says."""
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        kw = {"prefix": cfg.get("prefix", "fac"),
              "queues": cfg.get("queues", DEFAULT_QUEUES),
              "result_ttl": cfg.get("result_ttl", 600), "reply_ttl": cfg.get("reply_ttl", 60),
              "shards": cfg.get("redis_shards")}
        wait = cfg.get("redis_wait") or {}
        kw.update(wait_replicas=wait.get("replicas", 0), wait_timeout_ms=wait.get("timeout_ms", 100))
        if {"redis", "url", "sentinels"} & set(overrides):
            pass
        elif cfg.get("redis_sentinels"):
            kw.update(url=cfg.get("redis"), sentinels=cfg["redis_sentinels"],
                      master=cfg.get("redis_master"))
            if cfg.get("redis_sentinel_password_file"):
                kw["sentinel_password"] = _read_password(cfg["redis_sentinel_password_file"])
        elif "redis" in cfg:
            kw["redis"] = _connect(cfg["redis"], cfg.get("redis_password_file"))
        kw.update(overrides)
        return cls(**kw)

    def conn(self, queue):
        """The redis.Redis a queue lives on."""
        return self._queue_r.get(queue, self.r)

    # ---- keys (docs/protocol.md "Keys") ----
    def _qkey(self, queue, what):
        return "%s:{%s}:%s" % (self.prefix, queue, what)

    def _key(self, *parts):
        return ":".join((self.prefix,) + parts)

    # ---- producing ----
    def enqueue(self, tool, args=None, *, site=None, user=None, queue="default", timeout=None,
                job_id=None, deduplicate=False, at_front=False, delay=None,
                enqueue_after_commit=False, max_attempts=None, reply_to=None):
        """Pushes a job; returns its id, or None when deduplicate found one with this id
        queued, scheduled or running (as frappe.enqueue does). delay: seconds or a
        timedelta. enqueue_after_commit (inside Frappe): push once the transaction
        commits, nothing on rollback."""
        frappe = frappe_module()
        if frappe is not None:
            site = site or frappe.local.site
            user = user or frappe.session.user
        if deduplicate and job_id is None:
            raise ValueError("deduplicate needs a job_id: the id is what is deduplicated")
        if queue not in self.queues:
            raise ValueError("queue %r is not served (queues: %s)" % (queue, ", ".join(self.queues)))
        env = self._envelope(tool, args, site, user, timeout, job_id, max_attempts, reply_to,
                             deduplicate)
        due = _now_ms() + _delay_ms(delay) if delay else 0
        self._follow_master()
        push = self._pusher(env, queue, due, at_front, deduplicate)
        if enqueue_after_commit:
            if frappe is None:
                raise RuntimeError("enqueue_after_commit needs a Frappe transaction "
                                   "(frappe.db); outside Frappe, enqueue once committed")
            frappe.db.after_commit.add(push)
            return env["id"]
        return env["id"] if push() else None

    def _follow_master(self):
        """With sentinels (the main server's or a shard's), at most once a second: have
        the sentinels switched a master? Then its idle connections go and the next
        command reaches the new master, rather than the old one, which takes (and
        loses) writes until Sentinel demotes it."""
        if not self._sentinel_pools or time.monotonic() < self._master_check_at:
            return
        self._master_check_at = time.monotonic() + 1.0
        for pool in self._sentinel_pools:
            try:
                pool.get_master_address()
            except redis_lib.exceptions.RedisError:
                pass  # no sentinel answers: the next command tells the caller

    def _envelope(self, tool, args, site, user, timeout, job_id, max_attempts, reply_to,
                  deduplicate):
        if args is not None and not isinstance(args, dict):
            raise TypeError("args must be a dict of tool arguments")
        job_id = job_id or os.urandom(12).hex()
        if site and "::" not in job_id:
            job_id = "%s::%s" % (site, job_id)  # Frappe's convention for job ids
        if not 0 < len(job_id.encode()) <= JOB_ID_MAX:
            raise ValueError("job_id must have 1-%d bytes" % JOB_ID_MAX)
        env = {"v": PROTOCOL_VERSION, "id": job_id, "tool": tool, "args": args or {},
               "enqueued_at": _now_ms()}
        for key, value in (("site", site), ("user", user), ("timeout", timeout),
                           ("max_attempts", max_attempts), ("reply_to", reply_to)):
            if value is not None:
                env[key] = value
        if deduplicate:
            env["deduplicate"] = True
        return env

    def _pusher(self, env, queue, due, at_front, deduplicate):
        """One call of the enqueue script (docs/protocol.md "Enqueue script")."""
        keys = [self._qkey(queue, "ready"), self._qkey(queue, "delayed"),
                self._key("unique", env["id"])]
        argv = [msgpack.packb(env, use_bin_type=True), due, "front" if at_front else "back",
                UNIQUE_TTL_S if deduplicate else 0, self._key("scheduler", "wake")]
        conn = self.conn(queue)
        if not self.wait_replicas:
            return lambda: self._enqueue(keys=keys, args=argv, client=conn) == 1
        return lambda: self._push_and_wait(conn, env["id"], keys, argv)

    def _push_and_wait(self, conn, job_id, keys, argv):
        """The enqueue script and WAIT in one round trip (a pipeline), on the queue's own
        server: a WAIT covers only the writes of its own connection."""
        pipe = conn.pipeline(transaction=False)
        self._enqueue(keys=keys, args=argv, client=pipe)
        pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
        pushed, replicas = pipe.execute()
        if pushed == 1 and replicas < self.wait_replicas:
            raise FacNotReplicated(job_id, replicas, self.wait_replicas)
        return pushed == 1

    def call(self, tool, args=None, timeout=30, *, queue="short", site=None, user=None):
        """Runs a tool and returns its result; raises FacError with the tool's error
        (status, type, message) or FacTimeout when no result came within timeout + 5 s."""
        job_id = os.urandom(12).hex()
        # A fresh random id: nothing can be waiting on this reply list already, so the
        # call is two round trips (the enqueue script, the BLPOP) and no DEL before them.
        reply = self._key("reply", job_id)
        conn = self.conn(queue)  # the worker replies on the job's server
        job_id = self.enqueue(tool, args, queue=queue, site=site, user=user, timeout=timeout,
                              job_id=job_id, reply_to=reply)
        got = conn.blpop([reply], timeout=int(timeout) + 5)
        if got is None:
            raise FacTimeout("no result for job %s within %s s; it is still queued or running"
                             % (job_id, timeout))
        record = _unpack(got[1])
        if record.get("status") != "Success":
            raise FacError(record)
        return record.get("result")

    # ---- reading ----
    def result(self, job_id):
        """The result record (a dict), or None while the job is not final. It is on the
        server of the job's queue, which the id does not say: every server is asked."""
        for server in self.servers:
            data = server.get(self._key("result", job_id))
            if data is not None:
                return _unpack(data)
        return None

    def status(self, job_id):
        """{"state": ...} like fac-ctl status: finished | failed | canceled (+ "record"),
        canceled (not final yet), running, queued, scheduled (+ "queue", "due_at"),
        dead (+ "entry") or unknown; searched in that order."""
        rec = self.result(job_id)
        if rec is not None:
            st = rec.get("status")
            state = {"Success": "finished", "Canceled": "canceled"}.get(st, "failed")
            return {"state": state, "record": rec}
        score = self.r.zscore(self._key("canceled"), job_id)
        if score is not None and score > _now_ms():
            return {"state": "canceled"}
        if any(self._in_inflight(q, job_id) for q in self.queues):
            return {"state": "running"}
        if any(self._list_find(q, "ready", job_id) for q in self.queues):
            return {"state": "queued"}
        for q in self.queues:
            found = self._zset_find(q, job_id)
            if found:
                return {"state": "scheduled", "queue": q, "due_at": int(found[1])}
        for q in self.queues:
            entry = self._list_find(q, "dead", job_id)
            if entry:
                return {"state": "dead", "entry": _unpack(entry)}
        return {"state": "unknown"}

    def _has_id(self, element, job_id):
        try:
            obj = _unpack(element)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return False
        return isinstance(obj, dict) and obj.get("id") == job_id

    def _list_find(self, queue, what, job_id, key=None):
        """Searches the queue's list `what` (or the list `key` on the queue's server)."""
        conn, key = self.conn(queue), key or self._qkey(queue, what)
        for start in range(0, 1 << 62, 1000):
            page = conn.lrange(key, start, start + 999)
            if not page:
                return None
            for element in page:
                if self._has_id(element, job_id):
                    return element

    def _zset_find(self, queue, job_id):
        for member, due in self.conn(queue).zscan_iter(self._qkey(queue, "delayed"), count=1000):
            if self._has_id(member, job_id):
                return member, due
        return None

    def _in_inflight(self, queue, job_id):
        pattern = self._qkey(queue, "inflight:*")
        return any(self._list_find(queue, None, job_id, key=k)
                   for k in self.conn(queue).scan_iter(match=pattern, count=1000))

    # ---- canceling ----
    def cancel(self, job_id):
        """Cancels a job like fac-ctl cancel; returns what happened: "ended" (it was
        already final: nothing done), "scheduled" (taken out of its delayed zset and
        finalized as Canceled), "queued_or_running" (a worker will not run it, or stops
        it), "stopped" (its worker already finalized it) or "not_found" (the cancel
        waits 24 h in case the job is enqueued)."""
        if self.result(job_id) is not None:
            return "ended"
        now = _now_ms()
        canceled = self._key("canceled")
        for server in self.servers:  # each server's fetch script looks at its own
            server.zremrangebyscore(canceled, "-inf", now)
            server.zadd(canceled, {job_id: now + CANCEL_TTL_MS})
        self.r.publish(self._key("cancel"), job_id)  # every worker listens on the main server
        if self._cancel_scheduled(job_id):
            for server in self.servers:
                server.zrem(canceled, job_id)
            return "scheduled"
        if any(self._in_inflight(q, job_id) or self._list_find(q, "ready", job_id)
               for q in self.queues):
            return "queued_or_running"
        if self.result(job_id) is not None:
            return "stopped"
        return "not_found"

    def _cancel_scheduled(self, job_id):
        for q in self.queues:
            found = self._zset_find(q, job_id)
            if found and self.conn(q).zrem(self._qkey(q, "delayed"), found[0]) == 1:
                self._finalize_unrun(self.conn(q), _unpack(found[0]))
                return True
        return False

    def _finalize_unrun(self, conn, env):
        """The Canceled record of a job that never ran, as fac-ctl writes it."""
        now = _now_ms()
        rec = msgpack.packb({
            "v": PROTOCOL_VERSION, "id": env["id"], "status": "Canceled",
            "error": {"type": "Canceled", "message": "canceled (fac_client) before it ran"},
            "attempt": env.get("attempt", 0), "started_at": now, "ended_at": now,
            "duration_ms": 0.0, "worker": "fac_client"}, use_bin_type=True)
        pipe = conn.pipeline()
        pipe.set(self._key("result", env["id"]), rec, ex=self.result_ttl)
        if env.get("reply_to"):
            pipe.lpush(env["reply_to"], rec)
            pipe.expire(env["reply_to"], self.reply_ttl)
        if env.get("deduplicate"):
            pipe.delete(self._key("unique", env["id"]))
        pipe.execute()
