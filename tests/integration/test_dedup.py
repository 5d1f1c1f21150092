"""Deduplicated enqueue (docs/protocol.md "Enqueue script"): with the
`deduplicate` flag, a job whose id is already queued or running is not
enqueued again, as Frappe's enqueue(job_id=..., deduplicate=True)."""

import signal
import time

from conftest import (builtin_tools, ctl, ready_key, wait_inflight,
                      wait_result, wait_until)

TOOLS = builtin_tools("echo", "noop", sleep={"timeout": 60})


def _enqueue(cfg, jid, tool="echo", args="{}"):
    return ctl(cfg, "enqueue", tool, args, "--id", jid, "--deduplicate")


def test_a_queued_id_is_not_enqueued_twice(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    pool = fac.start(config=cfg)
    pool.signal(signal.SIGTSTP)
    time.sleep(0.3)
    assert _enqueue(cfg, "u-1").returncode == 0
    res = _enqueue(cfg, "u-1")
    assert res.returncode == 6 and "already queued or running" in res.stderr
    assert fac.r.llen(ready_key()) == 1


def test_a_running_id_is_not_enqueued_again(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    fac.start(config=cfg)
    assert _enqueue(cfg, "u-2", "sleep", '{"ms": 1500}').returncode == 0
    wait_inflight(fac.r, "u-2")
    assert _enqueue(cfg, "u-2", "sleep", '{"ms": 1}').returncode == 6


def test_once_final_the_id_may_be_enqueued_again(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    fac.start(config=cfg)
    assert _enqueue(cfg, "u-3").returncode == 0
    wait_result(fac.r, "u-3")
    wait_until(lambda: not fac.r.exists("fac:unique:u-3"), 5,
               what="the unique key released")
    assert _enqueue(cfg, "u-3").returncode == 0


def test_without_the_flag_duplicates_are_enqueued(fac):
    cfg = fac.config(workers=1, tools=TOOLS)
    pool = fac.start(config=cfg)
    pool.signal(signal.SIGTSTP)
    time.sleep(0.3)
    for _ in range(2):
        assert ctl(cfg, "enqueue", "echo", "{}", "--id", "u-4").returncode == 0
    assert fac.r.llen(ready_key()) == 2
