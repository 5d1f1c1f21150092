"""clients/python/fac_client end to end against the real worker, scheduler and Redis
(docs/python-client.md): enqueue with every option, call, status through the states
fac-ctl status reports, cancel like fac-ctl cancel, and the Frappe path (site, user,
Redis and after_commit from frappe) with a small stand-in for Frappe's API surface,
since Frappe itself is not installable here."""

import hashlib
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import (builtin_tools, ctl, ready_key, result_key, unpack,
                      wait_result, wait_until)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
import fac_client  # noqa: E402
from fac_client import Client, FacError  # noqa: E402

QUEUES = ["short", "default", "long"]
TOOLS = builtin_tools("echo", "noop", "fail", sleep={"timeout": 1})


def start(fac, **kw):
    return fac.start(workers=1, queues=QUEUES, tools=TOOLS, **kw)


@pytest.fixture
def client(fac):
    return Client(url=fac.redis.url)


def test_enqueue_runs_the_job_with_its_options(fac, client):
    start(fac)
    jid = client.enqueue("echo", {"a": 1}, site="site1.local", user="u@example.com",
                         queue="long", job_id="j1", timeout=5)
    assert jid == "site1.local::j1"
    rec = wait_result(fac.r, jid)
    assert rec["status"] == "Success" and rec["result"] == {"a": 1}, rec


def test_call_returns_the_result(fac, client):
    start(fac)
    assert client.call("echo", {"x": [1, 2]}, timeout=5) == {"x": [1, 2]}


def test_call_raises_the_tools_error(fac, client):
    start(fac)
    with pytest.raises(FacError) as e:
        client.call("fail", {"message": "no such customer"}, timeout=5)
    assert (e.value.status, e.value.type) == ("Error", "ExecutionError")
    assert "no such customer" in e.value.message


def test_call_raises_timeout_when_the_tool_runs_too_long(fac, client):
    start(fac)
    with pytest.raises(FacError) as e:
        client.call("sleep", {"ms": 5000}, timeout=5)
    assert (e.value.status, e.value.type) == ("Timeout", "Timeout")


def test_deduplicate_skips_a_job_while_one_with_its_id_is_pending(fac, client):
    assert client.enqueue("echo", {"n": 1}, job_id="d1", deduplicate=True) == "d1"
    assert client.enqueue("echo", {"n": 2}, job_id="d1", deduplicate=True) is None
    assert fac.r.llen(ready_key()) == 1
    start(fac)
    assert wait_result(fac.r, "d1")["result"] == {"n": 1}
    fac.r.delete(result_key("d1"))
    wait_until(lambda: not fac.r.exists("fac:unique:d1"), 5, what="unique key released")
    assert client.enqueue("echo", {"n": 3}, job_id="d1", deduplicate=True) == "d1"
    assert wait_result(fac.r, "d1")["result"] == {"n": 3}


def test_delay_runs_the_job_when_due(fac, client):
    start(fac)
    fac.scheduler(queues=QUEUES, tools=TOOLS)
    t0 = time.time()
    jid = client.enqueue("echo", {}, delay=1.0)
    assert client.status(jid)["state"] == "scheduled"
    rec = wait_result(fac.r, jid, timeout=10)
    assert rec["status"] == "Success"
    assert rec["started_at"] >= t0 * 1000 + 950, (rec["started_at"], t0)


def test_at_front_is_served_next(fac, client):
    first = client.enqueue("echo", {}, job_id="a")
    client.enqueue("echo", {}, job_id="b")
    client.enqueue("echo", {}, job_id="c", at_front=True)
    assert unpack(fac.r.lindex(ready_key(), -1))["id"] == "c"
    assert unpack(fac.r.lindex(ready_key(), -2))["id"] == first


def test_status_goes_through_the_states(fac, client):
    assert client.status("nope") == {"state": "unknown"}
    jid = client.enqueue("sleep", {"ms": 600})
    assert client.status(jid)["state"] == "queued"
    later = client.enqueue("echo", {}, delay=3600)
    st = client.status(later)
    assert st["state"] == "scheduled" and st["queue"] == "default"
    assert st["due_at"] > time.time() * 1000 + 3500 * 1000
    bad = client.enqueue("fail", {"message": "m"})
    gone = client.enqueue("no_such_tool", {})
    start(fac)
    wait_until(lambda: client.status(jid)["state"] == "running", 5, what="running")
    wait_until(lambda: client.status(jid)["state"] == "finished", 5, what="finished")
    assert client.status(jid)["record"]["status"] == "Success"
    wait_result(fac.r, bad)
    assert client.status(bad)["state"] == "failed"
    wait_result(fac.r, gone)
    fac.r.delete(result_key(gone))  # once the record expired, the dead entry remains
    st = client.status(gone)
    assert st["state"] == "dead" and st["entry"]["error"]["type"] == "UnknownTool", st


def test_cancel_of_a_queued_job(fac, client):
    jid = client.enqueue("echo", {})
    assert client.cancel(jid) == "queued_or_running"
    assert client.status(jid) == {"state": "canceled"}
    start(fac)
    assert wait_result(fac.r, jid)["status"] == "Canceled"
    assert client.status(jid)["state"] == "canceled"
    assert client.cancel(jid) == "ended"


def test_cancel_of_a_scheduled_job_finalizes_it_at_once(fac, client):
    jid = client.enqueue("echo", {}, delay=3600, job_id="s1", deduplicate=True)
    assert client.cancel(jid) == "scheduled"
    st = client.status(jid)
    assert st["state"] == "canceled" and st["record"]["error"]["type"] == "Canceled"
    assert not fac.r.exists("fac:unique:s1")
    assert client.cancel("never-enqueued") == "not_found"


def test_the_client_ships_the_workers_enqueue_script(fac, client):
    """fac-ctl runs lib/scripts.c's script_enqueue (EVAL on NOSCRIPT): Redis then
    knows the SHA1 of exactly that text, which must be the client's enqueue.lua."""
    fac.r.script_flush()
    res = ctl(fac.config(queues=QUEUES), "enqueue", "noop", "{}", "--deduplicate",
              "--id", "sha-check")
    assert res.returncode == 0, res.stderr
    sha = hashlib.sha1(fac_client.client.ENQUEUE_LUA.encode()).hexdigest()
    assert fac.r.script_exists(sha) == [True], "enqueue.lua differs from script_enqueue"


# ---- inside Frappe ----

FAKE_FRAPPE = {
    "frappe/__init__.py": '''
        """Stand-in for the few names of Frappe's API fac_client uses."""
        class _Local:
            site = "site1.local"
        class _Session:
            user = "jane@example.com"
        class _AfterCommit:
            def __init__(self):
                self.calls = []
            def add(self, fn):
                self.calls.append(fn)
        class _DB:
            def __init__(self):
                self.after_commit = _AfterCommit()
            def commit(self):
                calls, self.after_commit.calls = self.after_commit.calls, []
                for fn in calls:
                    fn()
            def rollback(self):
                self.after_commit.calls = []
        local, session, db = _Local(), _Session(), _DB()
    ''',
    "frappe/utils/__init__.py": "",
    "frappe/utils/background_jobs.py": '''
        import os
        import redis
        def get_redis_conn():
            return redis.Redis.from_url(os.environ["FAKE_FRAPPE_REDIS_QUEUE"])
    ''',
}


@pytest.fixture
def frappe(fac, tmp_path, monkeypatch):
    for name, text in FAKE_FRAPPE.items():
        path = tmp_path / "fake" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.setenv("FAKE_FRAPPE_REDIS_QUEUE", fac.redis.url)
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    import frappe as module  # noqa: PLC0415
    yield module
    for name in [m for m in sys.modules if m == "frappe" or m.startswith("frappe.")]:
        del sys.modules[name]


def test_inside_frappe_site_user_and_redis_come_from_frappe(fac, frappe):
    start(fac)
    jid = fac_client.enqueue("echo", {"k": 1}, job_id="f1")
    assert jid == "site1.local::f1"
    rec = wait_result(fac.r, jid)
    assert rec["result"] == {"k": 1}
    assert fac_client.status(jid)["state"] == "finished"
    assert fac_client.call("echo", {"k": 2}, timeout=5) == {"k": 2}


def test_enqueue_after_commit_pushes_only_on_commit(fac, frappe):
    kept = fac_client.enqueue("echo", {}, enqueue_after_commit=True)
    assert fac.r.llen(ready_key()) == 0
    frappe.db.commit()
    env = unpack(fac.r.lindex(ready_key(), 0))
    assert (env["id"], env["site"], env["user"]) == (kept, "site1.local", "jane@example.com")
    fac_client.enqueue("echo", {}, enqueue_after_commit=True)
    frappe.db.rollback()
    frappe.db.commit()
    assert fac.r.llen(ready_key()) == 1


def test_enqueue_after_commit_outside_frappe_is_refused(client):
    with pytest.raises(RuntimeError, match="needs a Frappe transaction"):
        client.enqueue("echo", {}, enqueue_after_commit=True)
