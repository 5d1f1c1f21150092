"""fac-ctl dead list|show|retry|purge (docs/operations.md "Dead letters"):
one job by id, a filter (--queue, --type) with --all, or all of them."""

import json

from conftest import (builtin_tools, ctl, dead_entries, dead_key, enqueue,
                      first_json_object, get_result, inflight_count, job,
                      unpack, wait_result, wait_until)

TOOLS = builtin_tools("echo", "noop", "fail")
FAST = {"base": 0.05, "max": 1, "jitter": 0}


def _pool(fac, queues=("default",)):
    cfg = fac.config(workers=1, tools=TOOLS, retry_backoff=FAST,
                     queues=list(queues))
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    return cfg


def _dead_job(fac, jid, queue="default"):
    """A job that exhausts its 2 attempts and goes dead."""
    enqueue(fac.r, job("fail", {"message": "no"}, id=jid, max_attempts=2),
            queue=queue)
    wait_until(lambda: any(e.get("id") == jid
                           for e in dead_entries(fac.r, queue)), 10,
               what="job %s dead" % jid)


def _unknown_tool_job(fac, jid):
    enqueue(fac.r, job("nope", id=jid))
    wait_until(lambda: any(e.get("id") == jid for e in dead_entries(fac.r)),
               5, what="job %s dead" % jid)


def test_dead_list_shows_each_entry_and_json_decodes_the_job(fac):
    cfg = _pool(fac)
    _dead_job(fac, "d-1")
    _unknown_tool_job(fac, "d-2")
    res = ctl(cfg, "dead", "list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:3] == ["d-2", "default", "UnknownTool"]
    assert lines[1].split()[:4] == ["d-1", "default", "ExecutionError", "1"]
    entries = json.loads(ctl(cfg, "dead", "list", "--json").stdout)
    assert [e["id"] for e in entries] == ["d-2", "d-1"]
    assert entries[1]["job"]["tool"] == "fail"  # decoded, not base64
    assert len(entries[1]["errors"]) == 2


def test_dead_show_prints_one_entry(fac):
    cfg = _pool(fac)
    _dead_job(fac, "d-3")
    res = ctl(cfg, "dead", "show", "d-3")
    assert res.returncode == 0, res.stderr
    entry = first_json_object(res.stdout)
    assert entry["id"] == "d-3" and entry["job"]["id"] == "d-3"
    assert ctl(cfg, "dead", "show", "missing").returncode == 1


def test_dead_retry_runs_the_job_again_with_fresh_attempts(fac):
    cfg = _pool(fac)
    _dead_job(fac, "d-4")
    res = ctl(cfg, "dead", "retry", "d-4")
    assert res.returncode == 0, res.stderr
    assert "retried d-4" in res.stdout
    # it fails again: attempts 2 and 3, then dead once more with 4 errors
    wait_until(lambda: (get_result(fac.r, "d-4") or {}).get("attempt") == 3,
               10, what="attempt 3 of the retried job")
    wait_until(lambda: len(dead_entries(fac.r)) == 1
               and len(dead_entries(fac.r)[0]["errors"]) == 4, 5,
               what="the job dead again with its whole history")
    env = unpack(dead_entries(fac.r)[0]["job"])
    assert env["max_attempts"] == 4


def test_dead_retry_all_with_a_type_filter(fac):
    cfg = _pool(fac)
    _dead_job(fac, "d-5")
    _unknown_tool_job(fac, "d-6")
    res = ctl(cfg, "dead", "retry", "--all", "--type", "UnknownTool")
    assert res.returncode == 0, res.stderr
    assert "retried d-6" in res.stdout and "d-5" not in res.stdout
    # still an unknown tool: dead again, d-5 untouched
    wait_until(lambda: len([e for e in dead_entries(fac.r)
                            if e["id"] == "d-6"]) == 1
               and unpack([e for e in dead_entries(fac.r)
                           if e["id"] == "d-6"][0]["job"])["attempt"] == 1,
               5, what="d-6 dead again")
    assert {e["id"] for e in dead_entries(fac.r)} == {"d-5", "d-6"}


def test_dead_purge_one_by_queue_and_all(fac):
    cfg = _pool(fac, queues=("default", "long"))
    _dead_job(fac, "p-1")
    _dead_job(fac, "p-2")
    _dead_job(fac, "p-3", queue="long")
    res = ctl(cfg, "dead", "purge", "p-1")
    assert res.returncode == 0 and "purged 1" in res.stdout, res.stdout
    assert [e["id"] for e in dead_entries(fac.r)] == ["p-2"]
    res = ctl(cfg, "dead", "purge", "--all", "--queue", "default")
    assert "purged 1" in res.stdout
    assert fac.r.llen(dead_key()) == 0 and fac.r.llen(dead_key("long")) == 1
    ctl(cfg, "dead", "purge", "--all")
    assert fac.r.llen(dead_key("long")) == 0


def test_dead_retry_needs_an_id_or_all(fac):
    cfg = _pool(fac)
    assert ctl(cfg, "dead", "retry").returncode == 2
    assert ctl(cfg, "dead", "purge", "x", "--all").returncode == 2
    assert ctl(cfg, "dead", "bury").returncode == 2


def test_the_dead_list_stays_capped_with_exhausted_retries(fac):
    cfg = fac.config(workers=1, tools=TOOLS, retry_backoff=FAST, dead_max=3)
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    ids = [enqueue(fac.r, job("fail", max_attempts=2)) for _ in range(6)]
    for jid in ids:
        wait_result(fac.r, jid, timeout=10)
    wait_until(lambda: inflight_count(fac.r) == 0, 5, what="all acknowledged")
    assert fac.r.llen(dead_key()) == 3
