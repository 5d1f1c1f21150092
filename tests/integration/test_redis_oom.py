"""Redis refuses the result write (maxmemory reached, noeviction): the job is not
acknowledged and stays in flight, the worker does not crash, and once memory is
back the job runs again and finishes (docs/protocol.md "Delivery guarantee").

Under the ASan build this also guards the ack's lifetime: the audit batcher still
holds the finished job when the failed SET comes back, and used to be handed a
freed one."""

import time

from conftest import (audit_rows, builtin_tools, find_inflight, get_result, job,
                      pack, ready_key, wait_inflight, wait_result, wait_until)


def test_result_write_refused_for_memory_keeps_the_job(fac):
    pool = fac.start(workers=1, concurrency=4,
                     tools=builtin_tools("echo", "sleep"),
                     audit={"to": "jsonl", "path": str(fac.tmp / "audit.jsonl"),
                            "flush_ms": 200})
    r = fac.r
    env = job("sleep", {"ms": 400})
    r.lpush(ready_key(), pack(env))
    wait_inflight(r, env["id"], timeout=5)
    first_pids = set(pool.worker_pids())

    # Every write that may grow memory is refused from now on, the result's SET too.
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", "1")
    time.sleep(1.0)  # the job ends (400 ms) and its SET is refused
    assert get_result(r, env["id"]) is None, "a result was stored past maxmemory"
    assert "storing a result failed" in pool.log_text() or "OOM" in pool.log_text(), \
        pool.log_tail()
    assert find_inflight(r, env["id"]) is not None, \
        "the job left the in-flight list although its result was never stored"

    r.config_set("maxmemory", "0")
    # The worker that held it stops, the supervisor puts the job back once Redis takes
    # writes again (a clean exit: attempt unchanged), and it runs and finishes.
    rec = wait_result(r, env["id"], timeout=30)
    assert rec["status"] == "Success", rec
    assert rec["worker"] not in {"itest:%d" % p for p in first_pids}, rec
    assert "Redis refused a result write" in pool.log_text(), pool.log_tail()
    log = pool.log_text()
    assert "AddressSanitizer" not in log and "signal 6" not in log, pool.log_tail()
    # The pool serves on: an echo job right after.
    e2 = job("echo", {"after": "oom"})
    r.lpush(ready_key(), pack(e2))
    assert wait_result(r, e2["id"], timeout=10)["status"] == "Success"
    # the refused run's row and the finished run's (written before its result's ack)
    wait_until(lambda: len([row for row in audit_rows(fac.tmp / "audit.jsonl")
                            if row.get("tool_name") == "sleep"]) >= 2, 5,
               what="an audit row for each run of the job")
