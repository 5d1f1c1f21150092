"""Retries with exponential backoff (docs/scheduler.md "Retries",
docs/protocol.md "Job envelope" `errors`): a failed or timed-out attempt with
attempts left runs again after a backoff, with its attempt count and error
history; when attempts run out, the final result and a dead entry with the
whole history."""

from pathlib import Path

from conftest import (audit_rows, builtin_tools, ctl, dead_entries,
                      delayed_key, enqueue, get_result, job, unpack,
                      wait_result, wait_until)

TOOLS = builtin_tools("echo", "noop", "fail", sleep={"timeout": 0.2})
FAST = {"base": 0.2, "max": 5, "jitter": 0}


def _start(fac, **kw):
    cfg = fac.config(workers=1, tools=TOOLS, retry_backoff=FAST, **kw)
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    return cfg


def test_a_failing_job_runs_max_attempts_times_with_growing_backoff(fac):
    _start(fac)
    jid = enqueue(fac.r, job("fail", {"message": "boom"}, max_attempts=3))
    rec = wait_result(fac.r, jid, timeout=10)
    assert rec["status"] == "Error" and rec["attempt"] == 2, rec
    wait_until(lambda: len(dead_entries(fac.r)) == 1, 5, what="a dead entry")
    (entry,) = dead_entries(fac.r)
    errors = entry["errors"]
    assert [e["attempt"] for e in errors] == [0, 1, 2]
    assert all(e["type"] == "ExecutionError" and e["message"] == "boom"
               for e in errors)
    gaps = [b["at"] - a["at"] for a, b in zip(errors, errors[1:])]
    # base 0.2 s x 2^attempt, no jitter: 200 ms then 400 ms (+ promotion)
    assert 200 <= gaps[0] < 300 and 400 <= gaps[1] < 500, gaps
    assert entry["error"]["type"] == "ExecutionError"
    assert "failed all 3 attempts" in entry["reason"]
    assert unpack(entry["job"])["attempt"] == 2


def test_every_attempt_writes_its_own_audit_row(fac):
    _start(fac)
    jid = enqueue(fac.r, job("fail", max_attempts=3))
    wait_result(fac.r, jid, timeout=10)
    path = Path(fac.tmp) / "audit.jsonl"
    wait_until(lambda: len([r for r in audit_rows(path) if jid in str(r)]) == 3,
               5, what="3 audit rows")
    rows = [r for r in audit_rows(path) if jid in str(r)]
    assert len({r["name"] for r in rows}) == 3
    assert {r["status"] for r in rows} == {"Error"}


def test_a_job_waiting_for_its_retry_has_no_result_and_is_scheduled(fac):
    cfg = fac.config(workers=1, tools=TOOLS,
                     retry_backoff={"base": 30, "max": 60, "jitter": 0})
    fac.start(config=cfg)
    jid = enqueue(fac.r, job("fail", max_attempts=2))
    wait_until(lambda: fac.r.zcard(delayed_key()) == 1, 5,
               what="the retry in the delayed zset")
    assert get_result(fac.r, jid) is None
    (raw,) = fac.r.zrange(delayed_key(), 0, -1)
    env = unpack(raw)
    assert env["attempt"] == 1
    assert [e["attempt"] for e in env["errors"]] == [0]
    st = ctl(cfg, "status", jid)
    assert st.stdout.split()[0] == "scheduled", st.stdout


def test_a_timed_out_job_is_retried_then_ends_timeout(fac):
    _start(fac)
    jid = enqueue(fac.r, job("sleep", {"ms": 2000}, max_attempts=2))
    rec = wait_result(fac.r, jid, timeout=10)
    assert rec["status"] == "Timeout" and rec["attempt"] == 1, rec
    wait_until(lambda: dead_entries(fac.r), 5, what="a dead entry")
    (entry,) = dead_entries(fac.r)
    assert [e["type"] for e in entry["errors"]] == ["Timeout", "Timeout"]


def test_the_tool_setting_gives_the_default_number_of_attempts(fac):
    tools = builtin_tools("echo", fail={"max_attempts": 2})
    cfg = fac.config(workers=1, tools=tools, retry_backoff=FAST)
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    rec = wait_result(fac.r, enqueue(fac.r, job("fail")), timeout=10)
    assert rec["attempt"] == 1


def test_a_job_without_retries_fails_once_and_is_no_dead_letter(fac):
    _start(fac)
    rec = wait_result(fac.r, enqueue(fac.r, job("fail")), timeout=5)
    assert rec["status"] == "Error" and rec["attempt"] == 0
    assert fac.r.zcard(delayed_key()) == 0
    assert dead_entries(fac.r) == []
