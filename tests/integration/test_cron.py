"""Cron entries (docs/scheduler.md "Cron"): one job per slot even with
several schedulers, no back-fill of slots missed while no scheduler ran, and
a bad schedule refused by the config check. The schedules here use the
optional leading seconds field so that several slots pass in a few seconds."""

import subprocess
import time

from conftest import (SCHED_BIN, WORKER_BIN, builtin_tools, now_ms,
                      ready_key, unpack, wait_result, wait_until)

EVERY_SECOND = [{"name": "tick", "schedule": "* * * * * *", "tool": "echo",
                 "args": {"from": "cron"}}]


def _fired(r):
    return sorted(unpack(x)["id"] for x in r.lrange(ready_key(), 0, -1))


def test_two_schedulers_fire_each_slot_exactly_once(fac):
    cfg = fac.config(cron=EVERY_SECOND)
    fac.scheduler(config=cfg)
    fac.scheduler(config=cfg, wait_leader=False)
    time.sleep(4.2)
    ids = _fired(fac.r)
    slots = [int(i.rsplit(":", 1)[1]) for i in ids]
    assert len(ids) >= 4, ids
    assert len(set(ids)) == len(ids), "a slot fired twice: %s" % ids
    assert slots == list(range(slots[0], slots[0] + len(slots))), (
        "a slot was skipped: %s" % slots)


def test_one_job_per_slot_across_a_leader_kill(fac):
    cfg = fac.config(cron=EVERY_SECOND)
    a = fac.scheduler(config=cfg)
    b = fac.scheduler(config=cfg, wait_leader=False)
    time.sleep(1.5)
    active, standby = (a, b) if a.is_leader(fac.r) else (b, a)
    active.kill()
    wait_until(lambda: standby.is_leader(fac.r), 6, what="the takeover")
    time.sleep(1.5)
    ids = _fired(fac.r)
    slots = [int(i.rsplit(":", 1)[1]) for i in ids]
    assert len(set(ids)) == len(ids), "a slot fired twice: %s" % ids
    assert slots == list(range(slots[0], slots[0] + len(slots))), (
        "a slot of the hand-over was lost: %s" % slots)


def test_the_cron_job_carries_the_entry_and_runs(fac):
    cron = [{"name": "nightly", "schedule": "*/2 * * * * *", "tool": "echo",
             "args": {"report": 7}, "queue": "default", "site": "s1.local",
             "user": "cron@x"}]
    cfg = fac.config(workers=1, cron=cron)
    fac.start(config=cfg)
    fac.scheduler(config=cfg)
    slot = (now_ms() // 2000 + 1) * 2
    rec = wait_result(fac.r, "cron:nightly:%d" % slot, timeout=5)
    assert rec["status"] == "Success" and rec["result"] == {"report": 7}


def test_slots_missed_while_no_scheduler_ran_are_not_back_filled(fac):
    cfg = fac.config(cron=EVERY_SECOND)
    # a scheduler that last fired 60 s ago, long before this one starts
    fac.r.set("fac:scheduler:cron_at", now_ms() // 1000 - 60)
    started = now_ms() // 1000
    fac.scheduler(config=cfg)
    time.sleep(1.5)
    slots = [int(i.rsplit(":", 1)[1]) for i in _fired(fac.r)]
    assert slots and min(slots) >= started, (slots, started)


def test_a_bad_schedule_is_refused_by_both_config_checks(fac):
    cfg = fac.config(cron=[{"name": "x", "schedule": "61 * * * *",
                            "tool": "echo"}])
    for binary in (SCHED_BIN, WORKER_BIN):
        res = subprocess.run([binary, "-c", str(cfg), "--check-config"],
                             capture_output=True, text=True, timeout=10)
        assert res.returncode == 3, res
        assert "cron[0].schedule: minute" in res.stderr, res.stderr


def test_a_cron_entry_must_name_a_configured_tool(fac):
    cfg = fac.config(tools=builtin_tools("echo"),
                     cron=[{"name": "x", "schedule": "@hourly", "tool": "noop"}])
    res = subprocess.run([SCHED_BIN, "-c", str(cfg), "--check-config"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 3 and "not a configured tool" in res.stderr
