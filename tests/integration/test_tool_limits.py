"""Per-tool limits that apply to every kind (docs/configuration.md `tools`,
docs/executors.md "Limits"): `concurrency` caps one tool's jobs per worker
while other tools keep running, and `cache_ttl` answers the same call from
Redis without running the tool, saying so with `cached: true`."""

import time

from conftest import (audit_rows, builtin_tools, enqueue, enqueue_many,
                      inflight_count, job, wait_all_results, wait_result,
                      wait_until)


def _max_overlap(records):
    """The most records whose [started_at, ended_at) intervals overlap. A
    record's ended_at is started_at + duration_ms rounded, so a job that
    starts when another ends may seem to start up to 2 ms before it ended."""
    edges = sorted([(r["started_at"], 1) for r in records] +
                   [(r["ended_at"] - 2, -1) for r in records])
    best = now = 0
    for _, d in edges:
        now += d
        best = max(best, now)
    return best


def test_a_tool_concurrency_cap_holds_that_tools_jobs_per_worker(fac):
    fac.start(workers=1, concurrency=8,
              tools=builtin_tools("echo", sleep={"concurrency": 2}))
    r = fac.r
    ids = enqueue_many(r, [job("sleep", {"ms": 300}) for _ in range(6)])
    recs = wait_all_results(r, ids, timeout=10)
    assert all(x["status"] == "Success" for x in recs.values()), recs
    assert _max_overlap(recs.values()) == 2, sorted(
        (x["started_at"], x["ended_at"]) for x in recs.values())
    span = (max(x["ended_at"] for x in recs.values())
            - min(x["started_at"] for x in recs.values()))
    assert 880 <= span < 1500, "6 jobs of 300 ms, 2 at a time, took %d ms" % span


def test_held_jobs_stay_in_flight_and_other_tools_keep_running(fac):
    fac.start(workers=1, concurrency=8,
              tools=builtin_tools("echo", sleep={"concurrency": 1}))
    r = fac.r
    slow = enqueue_many(r, [job("sleep", {"ms": 400}) for _ in range(3)])
    wait_until(lambda: inflight_count(r) == 3, 5, what="3 sleeps in flight")
    t0 = time.monotonic()
    quick = enqueue(r, job("echo", {"x": 1}))
    assert wait_result(r, quick, timeout=5)["status"] == "Success"
    assert time.monotonic() - t0 < 0.3, "echo waited for the capped tool"
    assert inflight_count(r) >= 2, "held jobs left the in-flight list"
    recs = wait_all_results(r, slow, timeout=10)
    assert _max_overlap(recs.values()) == 1


def test_the_same_call_within_cache_ttl_is_answered_from_the_cache(fac, tmp_path):
    fac.start(workers=1, tools=builtin_tools(sleep={"cache_ttl": 30}))
    r = fac.r
    first = wait_result(r, enqueue(r, job("sleep", {"ms": 300, "k": "v"},
                                          site="s1", user="u@x")))
    assert first["status"] == "Success" and "cached" not in first, first
    # the same arguments in another order: the same call
    again = wait_result(r, enqueue(r, job("sleep", {"k": "v", "ms": 300},
                                          site="s1", user="u@x")))
    assert again["status"] == "Success", again
    assert again.get("cached") is True, again
    assert again["duration_ms"] < 100, "a cache hit ran the tool: %r" % again
    wait_until(lambda: inflight_count(r) == 0, 5, what="both acknowledged")
    rows = audit_rows(tmp_path / "audit.jsonl")
    assert [row["status"] for row in rows] == ["Success", "Success"], rows


def test_another_user_site_or_argument_is_another_call(fac):
    fac.start(workers=1, tools=builtin_tools(echo={"cache_ttl": 30}))
    r = fac.r
    base = dict(site="s1", user="u@x")
    wait_result(r, enqueue(r, job("echo", {"a": 1}, **base)))
    others = [job("echo", {"a": 2}, **base),
              job("echo", {"a": 1}, site="s1", user="v@x"),
              job("echo", {"a": 1}, site="s2", user="u@x")]
    for env in others:
        rec = wait_result(r, enqueue(r, env))
        assert rec["status"] == "Success" and "cached" not in rec, (env, rec)


def test_only_success_is_cached(fac):
    fac.start(workers=1, tools=builtin_tools(fail={"cache_ttl": 30}))
    r = fac.r
    for _ in range(2):
        rec = wait_result(r, enqueue(r, job("fail", {"message": "no"})))
        assert rec["status"] == "Error" and "cached" not in rec, rec
    assert not list(r.scan_iter(match="fac:cache:*")), "an Error was cached"


def test_a_cached_result_expires_after_cache_ttl(fac):
    fac.start(workers=1, tools=builtin_tools(echo={"cache_ttl": 0.3}))
    r = fac.r
    wait_result(r, enqueue(r, job("echo", {"a": 1})))
    assert wait_result(r, enqueue(r, job("echo", {"a": 1}))).get("cached")
    time.sleep(0.5)
    rec = wait_result(r, enqueue(r, job("echo", {"a": 1})))
    assert "cached" not in rec, rec
