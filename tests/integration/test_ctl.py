"""fac-ctl (docs/operations.md "Commands"): enqueue [--wait], status, stats."""

import json
import signal
import time

from conftest import (builtin_tools, ctl, enqueue, first_json_object,
                      get_result, job, ready_key, unpack, wait_inflight,
                      wait_result, wait_until)

SLOW_SLEEP = builtin_tools("echo", "noop", "fail", sleep={"timeout": 60})


def _status_word(cfg, jid):
    res = ctl(cfg, "status", jid)
    words = res.stdout.split()
    return (words[0] if words else ""), res


def test_enqueue_wait_prints_the_success_record_as_json(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    res = ctl(cfg, "enqueue", "echo", '{"a":1}', "--wait")
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    rec = first_json_object(res.stdout)
    assert rec["status"] == "Success", rec
    assert rec["result"] == {"a": 1}
    assert rec["attempt"] == 0
    assert get_result(fac.r, rec["id"])["status"] == "Success"


def test_enqueue_wait_exits_1_when_the_job_fails(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    res = ctl(cfg, "enqueue", "fail", '{"message":"nope"}', "--wait")
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    rec = first_json_object(res.stdout)
    assert rec["status"] == "Error"
    assert rec["error"]["type"] == "ExecutionError"
    assert rec["error"]["message"] == "nope"


def test_enqueue_prints_an_id_and_status_reports_finished(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    res = ctl(cfg, "enqueue", "echo", '{"b":2}')
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    jid = res.stdout.strip()
    assert jid and len(jid.split()) == 1, "expected just an id: %r" % (
        res.stdout)
    rec = wait_result(fac.r, jid, timeout=10)
    assert rec["result"] == {"b": 2}
    def finished():
        word, st = _status_word(cfg, jid)
        return st if word == "finished" else None
    st = wait_until(finished, 5, interval=0.1, what="status finished")
    assert first_json_object(st.stdout)["id"] == jid


def test_enqueue_with_options_builds_the_documented_envelope(fac):
    cfg = fac.config(workers=1)
    pool = fac.start(config=cfg)
    pool.signal(signal.SIGTSTP)
    time.sleep(0.5)
    res = ctl(cfg, "enqueue", "echo", '{"x":[1,2]}', "--id", "site1::job-7",
              "--site", "site1.local", "--user", "a@b.c", "--timeout", "7.5",
              "--max-attempts", "2")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "site1::job-7"
    (raw,) = fac.r.lrange(ready_key(), 0, -1)
    env = unpack(raw)
    assert env["id"] == "site1::job-7"
    assert env["tool"] == "echo"
    assert env["args"] == {"x": [1, 2]}
    assert env["site"] == "site1.local"
    assert env["user"] == "a@b.c"
    assert env["timeout"] == 7.5
    assert env["max_attempts"] == 2
    assert env.get("v", 1) == 1


def test_status_of_an_unknown_id_prints_unknown(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    word, res = _status_word(cfg, "no-such-job-123")
    assert word == "unknown", (res.returncode, res.stdout, res.stderr)


def test_status_of_a_job_in_a_quiet_pool_is_queued(fac):
    cfg = fac.config(workers=1)
    pool = fac.start(config=cfg)
    pool.signal(signal.SIGTSTP)
    time.sleep(0.5)
    res = ctl(cfg, "enqueue", "echo", "{}")
    assert res.returncode == 0, res.stderr
    jid = res.stdout.strip()
    word, st = _status_word(cfg, jid)
    assert word == "queued", (st.stdout, st.stderr)
    assert fac.r.llen(ready_key()) == 1


def test_status_of_a_running_job_is_running(fac):
    cfg = fac.config(workers=1, tools=SLOW_SLEEP)
    fac.start(config=cfg)
    jid = enqueue(fac.r, job("sleep", {"ms": 5000}))
    wait_inflight(fac.r, jid)
    word, st = _status_word(cfg, jid)
    assert word == "running", (st.stdout, st.stderr)


def test_status_of_a_failed_job_is_failed(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    jid = enqueue(fac.r, job("fail", {"message": "bad thing"}))
    wait_result(fac.r, jid)
    word, st = _status_word(cfg, jid)
    assert word == "failed", (st.stdout, st.stderr)
    rec = first_json_object(st.stdout)
    assert rec["status"] == "Error"
    assert rec["error"]["type"] == "ExecutionError"


def _entries(obj, name_key):
    """A list of dicts from either a list or a {name: dict} mapping."""
    if isinstance(obj, dict):
        return [dict(v, **{name_key: k}) for k, v in obj.items()]
    assert isinstance(obj, list), obj
    return obj


def test_stats_json_lists_queues_and_workers(fac):
    cfg = fac.config(workers=2, queues=["short", "default"])
    pool = fac.start(config=cfg)
    r = fac.r
    done = [enqueue(r, job("echo", {"i": i})) for i in range(5)]
    for j in done:
        wait_result(r, j)
    pool.signal(signal.SIGTSTP)
    time.sleep(0.5)
    for i in range(3):
        enqueue(r, job("echo", {"q": i}))

    def stats():
        res = ctl(cfg, "stats", "--json")
        assert res.returncode == 0, (res.returncode, res.stderr)
        return json.loads(res.stdout)

    data = stats()
    assert isinstance(data, dict), data
    queues = {q.get("name", q.get("queue")): q
              for q in _entries(data["queues"], "name")}
    assert set(queues) == {"short", "default"}, queues
    depth = queues["default"].get("depth", queues["default"].get("ready"))
    assert depth == 3, queues["default"]
    assert queues["short"].get("depth", queues["short"].get("ready")) == 0

    workers = _entries(data["workers"], "id")
    assert {w["pid"] for w in workers} == pool.worker_pids(), workers
    for w in workers:
        for field in ("pid", "state", "jobs_done", "rss"):
            assert field in w, (field, w)
        assert isinstance(w["rss"], int) and w["rss"] > 0, w

    # jobs_done is refreshed with the heartbeat: wait for it to count all 5
    wait_until(lambda: sum(w["jobs_done"] for w in _entries(
        stats()["workers"], "id")) == 5, 10, interval=0.25,
        what="jobs_done to sum to 5")


def test_enqueue_with_invalid_json_args_fails_naming_the_argument(fac):
    cfg = fac.config(workers=1)
    fac.start(config=cfg)
    res = ctl(cfg, "enqueue", "echo", "{bad json")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "json" in out.lower() and ("args" in out.lower()
                                      or "{bad json" in out), out
    assert fac.r.llen(ready_key()) == 0
    assert fac.r.keys("fac:result:*") == []
