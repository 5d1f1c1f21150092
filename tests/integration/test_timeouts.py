"""Per-tool timeouts and the envelope `timeout` (docs/protocol.md "Job
envelope", docs/configuration.md `tools`; DESIGN §3: a timeout cancels exactly
that job, other jobs of the same worker keep running)."""

import time

from conftest import (builtin_tools, enqueue, enqueue_many, job,
                      wait_all_results, wait_inflight, wait_result)

TOOLS = builtin_tools("echo", "noop", "fail", sleep={"timeout": 1})


def _elapsed(rec):
    return rec["ended_at"] - rec["started_at"]


def _assert_timeout(rec, low_ms, high_ms):
    assert rec["status"] == "Timeout", rec
    assert isinstance(rec.get("error"), dict), rec
    assert rec["error"].get("type") == "Timeout", rec["error"]
    assert low_ms < _elapsed(rec) < high_ms, (
        "ran %d ms (wall), want (%d, %d)" % (_elapsed(rec), low_ms, high_ms))
    assert low_ms < rec["duration_ms"] < high_ms, (
        "duration_ms %r, want (%d, %d)" % (rec["duration_ms"], low_ms,
                                           high_ms))


def test_sleep_shorter_than_tool_timeout_succeeds(fac):
    fac.start(workers=1, tools=TOOLS)
    rec = wait_result(fac.r, enqueue(fac.r, job("sleep", {"ms": 300})))
    assert rec["status"] == "Success", rec
    assert 295 <= rec["duration_ms"] < 900, rec["duration_ms"]


def test_tool_timeout_ends_a_long_job_with_timeout(fac):
    fac.start(workers=1, tools=TOOLS)
    rec = wait_result(fac.r, enqueue(fac.r, job("sleep", {"ms": 5000})),
                      timeout=10)
    _assert_timeout(rec, 950, 1300)


def test_other_jobs_on_the_same_worker_finish_while_one_runs_into_timeout(fac):
    fac.start(workers=1, concurrency=4, tools=TOOLS)
    r = fac.r
    slow = enqueue(r, job("sleep", {"ms": 5000}))
    wait_inflight(r, slow, timeout=5)
    t0 = time.monotonic()
    quick = enqueue_many(r, [job("echo", {"i": i}) for i in range(20)]
                         + [job("sleep", {"ms": 100}) for _ in range(3)])
    res = wait_all_results(r, quick, timeout=5)
    took = time.monotonic() - t0
    slow_rec = wait_result(r, slow, timeout=10)
    _assert_timeout(slow_rec, 950, 1300)
    assert all(x["status"] == "Success" for x in res.values())
    assert max(x["ended_at"] for x in res.values()) < slow_rec["ended_at"], (
        "other jobs waited for the slow one")
    assert took < 0.9, "23 quick jobs took %.2fs beside a sleeping one" % took


def test_envelope_timeout_lowers_the_tool_timeout(fac):
    fac.start(workers=1, tools=TOOLS)
    rec = wait_result(fac.r, enqueue(fac.r, job("sleep", {"ms": 5000},
                                                timeout=0.3)), timeout=10)
    _assert_timeout(rec, 280, 600)


def test_envelope_timeout_cannot_raise_the_tool_timeout(fac):
    fac.start(workers=1, tools=TOOLS)
    rec = wait_result(fac.r, enqueue(fac.r, job("sleep", {"ms": 3000},
                                                timeout=10)), timeout=10)
    _assert_timeout(rec, 950, 1300)


def test_tool_without_timeout_uses_tool_timeout_setting(fac):
    fac.start(workers=1, tool_timeout=0.5,
              tools=builtin_tools("echo", "sleep"))
    rec = wait_result(fac.r, enqueue(fac.r, job("sleep", {"ms": 5000})),
                      timeout=10)
    _assert_timeout(rec, 450, 800)
