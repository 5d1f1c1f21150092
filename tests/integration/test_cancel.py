"""fac-ctl cancel JOB-ID (docs/scheduler.md "Cancel"): a queued or delayed job
never runs, a running one is stopped like a timeout; its status says
Canceled."""

import signal
import time
from pathlib import Path

from conftest import (audit_rows, builtin_tools, ctl, delayed_key, enqueue,
                      get_result, inflight_count, job, ready_key, wait_inflight,
                      wait_result, wait_until)

TOOLS = builtin_tools("echo", "noop", "fail", sleep={"timeout": 60})


def _audited(fac, jid):
    return [r for r in audit_rows(Path(fac.tmp) / "audit.jsonl") if jid in str(r)]


def test_a_queued_job_is_canceled_and_never_runs(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    pool = fac.start(config=cfg)
    pool.signal(signal.SIGTSTP)  # quiet: nothing is fetched
    time.sleep(0.3)
    jid = enqueue(fac.r, job("echo", {"x": 1}, reply_to="fac:reply:c1"))
    res = ctl(cfg, "cancel", jid)
    assert res.returncode == 0, res.stderr
    assert ctl(cfg, "status", jid).stdout.split()[0] == "canceled"
    pool.signal(signal.SIGTSTP)  # fetch again
    rec = wait_result(fac.r, jid, timeout=5)
    assert rec["status"] == "Canceled" and rec["error"]["type"] == "Canceled"
    assert fac.r.blpop("fac:reply:c1", 2) is not None
    wait_until(lambda: inflight_count(fac.r) == 0, 5, what="the ack")
    assert _audited(fac, jid) == [], "a canceled job that never ran was audited"
    assert fac.r.zcard("fac:canceled") == 0
    assert ctl(cfg, "status", jid).stdout.split()[0] == "canceled"


def test_a_delayed_job_is_canceled_at_once(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    fac.start(config=cfg)
    res = ctl(cfg, "enqueue", "echo", "{}", "--id", "later", "--in", "1h")
    assert res.returncode == 0
    res = ctl(cfg, "cancel", "later")
    assert res.returncode == 0 and "scheduled" in res.stdout, res.stdout
    assert fac.r.zcard(delayed_key()) == 0
    assert get_result(fac.r, "later")["status"] == "Canceled"


def test_a_running_job_is_stopped_like_a_timeout(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    pool = fac.start(config=cfg)
    jid = enqueue(fac.r, job("sleep", {"ms": 20000}))
    wait_inflight(fac.r, jid)
    time.sleep(0.1)
    t0 = time.monotonic()
    assert ctl(cfg, "cancel", jid).returncode == 0
    rec = wait_result(fac.r, jid, timeout=5)
    took = time.monotonic() - t0
    assert rec["status"] == "Canceled", rec
    assert rec["duration_ms"] < 5000
    assert took < 1.0, "the cancel took %.2f s" % took
    wait_until(lambda: _audited(fac, jid), 5, what="the audit row")
    (row,) = _audited(fac, jid)
    assert row["status"] == "Error" and row["error_type"] == "Canceled"
    # the worker is still serving
    assert wait_result(fac.r, enqueue(fac.r, job("echo")), 5)["status"] == "Success"
    assert pool.running()


def test_a_canceled_job_is_not_retried(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    jid = enqueue(fac.r, job("sleep", {"ms": 20000}, max_attempts=3))
    wait_inflight(fac.r, jid)
    ctl(cfg, "cancel", jid)
    assert wait_result(fac.r, jid, timeout=5)["attempt"] == 0
    time.sleep(0.3)
    assert fac.r.zcard(delayed_key()) == 0 and fac.r.llen(ready_key()) == 0


def test_cancel_of_a_finished_or_unknown_job_fails(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    fac.start(config=cfg)
    jid = enqueue(fac.r, job("echo"))
    wait_result(fac.r, jid)
    res = ctl(cfg, "cancel", jid)
    assert res.returncode == 1 and "already ended" in res.stderr
    res = ctl(cfg, "cancel", "no-such-job")
    assert res.returncode == 1 and "no job no-such-job" in res.stderr


def test_a_job_waiting_for_its_tools_concurrency_cap_is_canceled_and_never_runs(fac):
    tools = builtin_tools("echo", sleep={"timeout": 60, "concurrency": 1})
    cfg = fac.config(workers=1, concurrency=4, tools=tools)
    pool = fac.start(config=cfg)
    first = enqueue(fac.r, job("sleep", {"ms": 1500}))
    wait_inflight(fac.r, first)
    waiting = enqueue(fac.r, job("sleep", {"ms": 1}))
    wait_inflight(fac.r, waiting)  # fetched, held behind the cap of 1
    assert ctl(cfg, "cancel", waiting).returncode == 0
    rec = wait_result(fac.r, waiting, timeout=1.0)
    assert rec["status"] == "Canceled", rec
    assert wait_result(fac.r, first, timeout=5)["status"] == "Success"
    wait_until(lambda: _audited(fac, first), 5, what="the first job's audit row")
    assert _audited(fac, waiting) == [], "the canceled job ran after all"
    wait_until(lambda: inflight_count(fac.r) == 0, 5, what="the acks")
    assert wait_result(fac.r, enqueue(fac.r, job("sleep", {"ms": 1})), 5)["status"] == "Success"
    assert pool.running()
