"""Supervisor lifecycle (DESIGN §5, docs/operations.md "Signals", "Exit
codes", docs/configuration.md): signals, recycling, heartbeat, requeue of a
dead worker's jobs, exit codes, crash-loop backoff, --check-config."""

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import (HOST_ID, WORKER_BIN, WRK_PID_RE, Pool, builtin_tools,
                      dead_entries, enqueue, enqueue_many, free_port,
                      get_result, inflight_count, job, make_config, pack,
                      pid_alive, proc_stat, ready_elements, unpack, wait_all_results,
                      wait_inflight, wait_result, wait_until, worker_id_pid,
                      write_json_atomic)

SLOW_SLEEP = builtin_tools("echo", "noop", "fail", sleep={"timeout": 60})
TEST_TOOLS = builtin_tools("echo", "noop", "sleep", "fail",
                           leak={"builtin": "leak"}, hang={"builtin": "hang"})


def _ready_ids(r):
    return [unpack(x).get("id") for x in ready_elements(r)]


# --------------------------------------------------------------------------
# TERM / QUIT
# --------------------------------------------------------------------------

def test_term_lets_a_running_job_finish_and_exits_0(fac):
    pool = fac.start(workers=1, shutdown_timeout=5, tools=SLOW_SLEEP)
    r = fac.r
    jid = enqueue(r, job("sleep", {"ms": 1500}))
    wait_inflight(r, jid)
    t0 = time.monotonic()
    pool.signal(signal.SIGTERM)
    rc = pool.wait_exit(8)
    took = time.monotonic() - t0
    assert rc == 0
    rec = get_result(r, jid)
    assert rec is not None, "job killed by TERM instead of finishing"
    assert rec["status"] == "Success"
    assert took < 4, "exit took %.1fs after a 1.5 s job" % took
    assert r.llen("fac:{default}:ready") == 0
    assert inflight_count(r) == 0


def test_term_stops_fetching_new_jobs(fac):
    pool = fac.start(workers=1, shutdown_timeout=5, tools=SLOW_SLEEP)
    r = fac.r
    running = enqueue(r, job("sleep", {"ms": 1000}))
    wait_inflight(r, running)
    pool.signal(signal.SIGTERM)
    time.sleep(0.2)
    later = enqueue(r, job("echo", {"late": True}))
    assert pool.wait_exit(8) == 0
    assert get_result(r, running)["status"] == "Success"
    assert get_result(r, later) is None, "a stopping pool took a new job"
    assert _ready_ids(r) == [later]


def test_term_requeues_a_job_longer_than_shutdown_timeout(fac):
    pool = fac.start(workers=1, shutdown_timeout=1, kill_grace=0.5,
                     tools=SLOW_SLEEP)
    r = fac.r
    jid = enqueue(r, job("sleep", {"ms": 10000}, attempt=0))
    wait_inflight(r, jid)
    t0 = time.monotonic()
    pool.signal(signal.SIGTERM)
    rc = pool.wait_exit(8)
    took = time.monotonic() - t0
    assert rc == 0
    assert took < 1 + 0.5 + 1.5, "TERM took %.1fs with shutdown_timeout 1" % took
    assert took > 0.9, "TERM did not wait shutdown_timeout (%.2fs)" % took
    ready = [unpack(x) for x in ready_elements(r)]
    assert [e.get("id") for e in ready] == [jid], ready
    assert ready[0].get("attempt", 0) == 0, "attempt changed on TERM requeue"
    assert get_result(r, jid) is None
    assert inflight_count(r) == 0


def test_quit_exits_fast_and_requeues_the_running_job(fac):
    pool = fac.start(workers=1, shutdown_timeout=20, tools=SLOW_SLEEP)
    r = fac.r
    jid = enqueue(r, job("sleep", {"ms": 10000}))
    wait_inflight(r, jid)
    t0 = time.monotonic()
    pool.signal(signal.SIGQUIT)
    rc = pool.wait_exit(10)
    took = time.monotonic() - t0
    assert took < 2, "QUIT took %.1fs" % took
    assert rc == 0
    assert _ready_ids(r) == [jid]
    assert get_result(r, jid) is None
    assert inflight_count(r) == 0


def test_requeued_job_runs_on_the_next_start(fac):
    cfg = fac.config(workers=1, tools=SLOW_SLEEP)
    pool = fac.start(config=cfg)
    r = fac.r
    jid = enqueue(r, job("sleep", {"ms": 5000}))
    wait_inflight(r, jid)
    pool.signal(signal.SIGQUIT)
    assert pool.wait_exit(10) == 0
    fac.start(config=cfg)
    rec = wait_result(r, jid, timeout=10)
    assert rec["status"] == "Success"


# --------------------------------------------------------------------------
# TTIN / TTOU / TSTP
# --------------------------------------------------------------------------

def test_ttin_adds_a_worker_and_ttou_removes_one(fac):
    pool = fac.start(workers=2)
    before = pool.worker_pids()
    pool.signal(signal.SIGTTIN)
    live = pool.wait_workers(3, timeout=10)
    after_in = {h["_pid"] for h in live.values()}
    assert before < after_in
    pool.signal(signal.SIGTTOU)
    pool.wait_workers(2, timeout=10)
    wait_until(lambda: len(pool.child_pids()) == 2, 10,
               what="2 child processes after TTOU")
    # the pool still works
    ids = enqueue_many(fac.r, [job("echo", {"i": i}) for i in range(20)])
    wait_all_results(fac.r, ids, timeout=10)


def test_ttou_never_goes_below_one_worker(fac):
    pool = fac.start(workers=1)
    pids = pool.worker_pids()
    pool.signal(signal.SIGTTOU)
    time.sleep(1.0)
    assert pool.worker_pids() == pids
    assert len(pool.child_pids()) == 1
    assert wait_result(fac.r, enqueue(fac.r, job("noop")))["status"] == \
        "Success"


def test_tstp_makes_the_pool_quiet_and_a_second_tstp_resumes(fac):
    pool = fac.start(workers=2)
    r = fac.r
    pool.signal(signal.SIGTSTP)
    time.sleep(0.5)
    ids = enqueue_many(r, [job("echo", {"i": i}) for i in range(5)])
    time.sleep(1.0)
    assert r.llen("fac:{default}:ready") == 5, "a quiet pool took jobs"
    assert all(get_result(r, j) is None for j in ids)
    assert len(pool.live_workers()) == 2, "quiet pool lost its workers"
    pool.signal(signal.SIGTSTP)
    res = wait_all_results(r, ids, timeout=5)
    assert all(x["status"] == "Success" for x in res.values())


def test_tstp_lets_running_jobs_finish(fac):
    pool = fac.start(workers=1, tools=SLOW_SLEEP)
    r = fac.r
    jid = enqueue(r, job("sleep", {"ms": 800}))
    wait_inflight(r, jid)
    pool.signal(signal.SIGTSTP)
    rec = wait_result(r, jid, timeout=5)
    assert rec["status"] == "Success"
    assert pool.running()


# --------------------------------------------------------------------------
# HUP / USR1
# --------------------------------------------------------------------------

def test_hup_reloads_config_replaces_all_workers_and_loses_no_job(fac):
    cfg = fac.config(workers=2, concurrency=4, tools=SLOW_SLEEP)
    pool = fac.start(config=cfg)
    r = fac.r
    old = pool.worker_pids()
    assert len(old) == 2

    ids = []
    stop = threading.Event()

    def produce():
        i = 0
        while not stop.is_set():
            env = job("sleep", {"ms": 20}) if i % 3 == 0 else job(
                "echo", {"i": i})
            ids.append(enqueue(r, env))
            i += 1
            time.sleep(0.005)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        time.sleep(0.3)
        new_cfg = dict(pool.config, concurrency=8)
        write_json_atomic(cfg, new_cfg)
        pool.signal(signal.SIGHUP)

        def replaced():
            live = pool.live_workers()
            pids = {h["_pid"] for h in live.values()}
            if len(live) == 2 and not (pids & old) and all(
                    h.get("concurrency") == "8" for h in live.values()):
                return live
            return None
        live = wait_until(replaced, 20, interval=0.05,
                          what="2 new workers with concurrency 8")
        time.sleep(0.3)
    finally:
        stop.set()
        producer.join(5)
    assert len(ids) > 100
    res = wait_all_results(r, ids, timeout=20)
    assert all(x["status"] == "Success" for x in res.values()), {
        x["status"] for x in res.values()}
    assert pool.running(), "supervisor died on HUP"
    for pid in old:
        assert not pid_alive(pid), "old worker %d still alive" % pid
    assert all(h["concurrency"] == "8" for h in live.values())
    workers_used = {x["worker"] for x in res.values()}
    assert {worker_id_pid(w) for w in workers_used} & old, "old never ran"
    assert set(live) <= workers_used, "new workers ran no job"


def test_hup_with_a_bad_config_file_keeps_the_running_workers(fac):
    cfg = fac.config(workers=1)
    pool = fac.start(config=cfg)
    pids = pool.worker_pids()
    Path(cfg).write_text('{"workers": "many", ')
    pool.signal(signal.SIGHUP)
    time.sleep(1.0)
    assert pool.running()
    assert pool.worker_pids() == pids
    assert wait_result(fac.r, enqueue(fac.r, job("noop")))["status"] == \
        "Success"


def test_usr1_reopens_the_log_file(fac, tmp_path):
    pool = fac.start(workers=1, log_level="debug")
    log = Path(pool.log_path)
    wait_until(lambda: log.exists() and log.stat().st_size > 0, 5,
               what="first log lines")
    moved = tmp_path / "fac.log.1"
    os.rename(log, moved)
    pool.seen_logs.append(moved)
    old_inode = moved.stat().st_ino
    pool.signal(signal.SIGUSR1)
    time.sleep(0.3)
    # cause some log lines: a new worker, a few jobs
    pool.signal(signal.SIGTTIN)
    pool.wait_workers(2, timeout=10)
    ids = enqueue_many(fac.r, [job("echo") for _ in range(5)])
    wait_all_results(fac.r, ids, timeout=5)
    wait_until(lambda: log.exists() and log.stat().st_size > 0, 5,
               what="a new, non-empty log file at %s" % log)
    assert log.stat().st_ino != old_inode
    assert "sup[%d]" % pool.pid in log.read_text(), (
        "supervisor did not write to the reopened log")


# --------------------------------------------------------------------------
# recycling, heartbeat, reaping
# --------------------------------------------------------------------------

def test_worker_recycles_when_rss_passes_max_memory(fac):
    pool = fac.start(workers=1, max_memory="64MB", test_tools=True,
                     tools=TEST_TOOLS)
    r = fac.r
    (old_pid,) = pool.worker_pids()
    rec = wait_result(r, enqueue(r, job("leak", {"mb": 100})), timeout=10)
    assert rec["status"] == "Success", rec
    assert worker_id_pid(rec["worker"]) == old_pid
    wait_until(lambda: not pid_alive(old_pid), 10,
               what="the leaking worker to exit")
    live = pool.wait_workers(1, timeout=10)
    (new_pid,) = {h["_pid"] for h in live.values()}
    assert new_pid != old_pid
    rec2 = wait_result(r, enqueue(r, job("echo", {"after": "leak"})),
                       timeout=10)
    assert rec2["status"] == "Success"
    assert worker_id_pid(rec2["worker"]) == new_pid


def test_worker_below_max_memory_is_not_recycled(fac):
    pool = fac.start(workers=1, max_memory="256MB", test_tools=True,
                     tools=TEST_TOOLS)
    r = fac.r
    (pid,) = pool.worker_pids()
    rec = wait_result(r, enqueue(r, job("leak", {"mb": 20})), timeout=10)
    assert rec["status"] == "Success"
    time.sleep(0.5)
    assert pool.worker_pids() == {pid}


def test_worker_recycles_after_max_jobs(fac):
    fac.start(workers=1, concurrency=1, max_jobs=20)
    r = fac.r
    ids = enqueue_many(r, [job("echo", {"i": i}) for i in range(100)])
    res = wait_all_results(r, ids, timeout=30)
    assert len(res) == 100
    assert all(x["status"] == "Success" for x in res.values())
    per_worker = {}
    for x in res.values():
        per_worker[x["worker"]] = per_worker.get(x["worker"], 0) + 1
    print("jobs per worker:", per_worker)
    assert len(per_worker) >= 4, per_worker
    # max_jobs plus up to 10 % jitter
    assert max(per_worker.values()) <= 22, per_worker


def test_stuck_worker_is_killed_and_replaced(fac):
    pool = fac.start(workers=1, heartbeat_timeout=1, kill_grace=0.5,
                     shutdown_timeout=1, test_tools=True, tools=TEST_TOOLS)
    r = fac.r
    (old_pid,) = pool.worker_pids()
    t0 = time.monotonic()
    jid = enqueue(r, job("hang", {"ms": 20000}))
    wait_inflight(r, jid)
    wait_until(lambda: not pid_alive(old_pid), 6,
               what="the hung worker %d to be killed" % old_pid)
    killed_after = time.monotonic() - t0
    live = pool.wait_workers(1, timeout=6, exact=False)
    assert old_pid not in {h["_pid"] for h in live.values()}
    print("hung worker killed %.2fs after the hang job was enqueued"
          % killed_after)
    pool.kill()


def test_job_that_keeps_killing_workers_goes_dead_as_worker_lost(fac):
    pool = fac.start(workers=1, heartbeat_timeout=1, kill_grace=0.5,
                     shutdown_timeout=1, test_tools=True, tools=TEST_TOOLS)
    r = fac.r
    jid = enqueue(r, job("hang"))
    wait_until(lambda: r.llen("fac:{default}:dead") >= 1, 25, interval=0.1,
               what="the hang job in the dead list")
    (entry,) = dead_entries(r)
    assert entry.get("id") == jid
    assert entry["error"]["type"] == "WorkerLost", entry
    assert isinstance(entry.get("reason"), str) and entry["reason"]
    assert unpack(entry["job"]).get("id") == jid
    rec = wait_result(r, jid, timeout=5)
    assert rec["status"] == "Error"
    assert rec["error"]["type"] == "WorkerLost"
    # the pool recovered
    pool.wait_workers(1, timeout=10)
    rec2 = wait_result(r, enqueue(r, job("echo", {"ok": 1})), timeout=10)
    assert rec2["status"] == "Success"
    assert r.llen("fac:{default}:ready") == 0


def test_killed_workers_job_is_run_again_with_next_attempt(fac):
    pool = fac.start(workers=1, tools=SLOW_SLEEP)
    r = fac.r
    (pid,) = pool.worker_pids()
    jid = enqueue(r, job("sleep", {"ms": 3000}))
    wait_inflight(r, jid)
    time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    rec = wait_result(r, jid, timeout=15)
    assert rec["status"] == "Success", rec
    assert rec["attempt"] == 1
    assert worker_id_pid(rec["worker"]) != pid
    assert r.llen("fac:{default}:ready") == 0
    wait_until(lambda: inflight_count(r) == 0, 3, what="empty in-flight")


def test_killing_workers_that_did_jobs_does_not_escalate_the_restart_backoff(fac):
    """Only workers that die before finishing any job are a crash loop."""
    pool = fac.start(workers=1)
    r = fac.r
    gaps = []
    for _ in range(6):
        assert wait_result(r, enqueue(r, job("echo")), 5)["status"] == "Success"
        (pid,) = pool.worker_pids()
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pool.worker_pids() and pid not in pool.worker_pids(), 10,
                   interval=0.02, what="a new worker")
        gaps.append(time.monotonic() - t0)
    # an escalating backoff would reach 100 ms x 2^5 = 3.2 s by the sixth kill
    assert max(gaps) < 1.5, gaps


def test_workers_die_with_the_supervisor(fac):
    pool = fac.start(workers=2)
    pids = pool.worker_pids()
    assert len(pids) == 2
    os.kill(pool.pid, signal.SIGKILL)
    pool.proc.wait(5)
    wait_until(lambda: not any(pid_alive(p) for p in pids), 2,
               what="workers %r to die with their supervisor" % pids)


def test_next_supervisor_rescues_jobs_of_workers_that_died_with_the_last(fac):
    cfg = fac.config(workers=1, tools=SLOW_SLEEP)
    pool = fac.start(config=cfg)
    r = fac.r
    (pid,) = pool.worker_pids()
    jid = enqueue(r, job("sleep", {"ms": 2000}))
    wait_inflight(r, jid)
    os.kill(pool.pid, signal.SIGKILL)
    pool.proc.wait(5)
    # wait until the orphaned worker is reaped (gone from /proc, not just a
    # zombie), as it would be on a real host before a new supervisor starts
    wait_until(lambda: proc_stat(pid) is None, 5, what="worker reaped")
    assert inflight_count(r) == 1
    fac.start(config=cfg)
    rec = wait_result(r, jid, timeout=15)
    assert rec["status"] == "Success"
    assert rec["attempt"] == 1


# --------------------------------------------------------------------------
# exit codes, backoff, --check-config
# --------------------------------------------------------------------------

def _watch_children(pool, seconds):
    """Distinct child pids of the supervisor seen while polling."""
    seen = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end and pool.running():
        seen |= pool.child_pids()
        time.sleep(0.005)
    return seen


def test_wrong_redis_password_exits_3_without_respawning(fac, redis_factory,
                                                        tmp_path):
    secured = redis_factory(password="secret")
    password = "Wr0ngPassw0rd-XYZ"
    cfg = make_config(tmp_path, name="wrongpass.json", workers=2,
                      redis="redis://default:%s@127.0.0.1:%d/0"
                      % (password, secured.port))
    pool = Pool(cfg, None, tmp_path)
    fac.pools.append(pool)
    pool.start()
    seen = _watch_children(pool, 10)
    rc = pool.wait_exit(1)
    assert rc == 3, "exit code %r, want 3 (boot error)" % rc
    log = pool.log_text()
    seen |= {int(p) for p in WRK_PID_RE.findall(log)}
    assert len(seen) <= 2, "workers respawned after exit 3: %d pids" % len(
        seen)
    assert re.search(r"WRONGPASS|auth|password|credential", log, re.I), (
        "log does not name the problem:\n" + log[-2000:])
    assert password not in log, "the password leaked into the log"


def test_unreachable_redis_backs_off_and_term_exits_0(fac, tmp_path):
    port = free_port()  # nothing listens here
    cfg = make_config(tmp_path, name="noredis.json", workers=1,
                      redis="redis://127.0.0.1:%d/0" % port)
    pool = Pool(cfg, None, tmp_path)
    fac.pools.append(pool)
    pool.start()
    seen = _watch_children(pool, 4)
    assert pool.running(), "supervisor gave up (rc %r); log:\n%s" % (
        pool.proc.returncode, pool.log_tail())
    log = pool.log_text()
    seen |= {int(p) for p in WRK_PID_RE.findall(log)}
    print("worker starts in 4 s: %d" % len(seen))
    assert len(seen) >= 2, "no respawn seen (%d worker pids)" % len(seen)
    assert len(seen) < 15, "no backoff: %d worker starts in 4 s" % len(seen)
    pool.signal(signal.SIGTERM)
    assert pool.wait_exit(6) == 0


def _check_config(path):
    return subprocess.run([WORKER_BIN, "--check-config", "-c", str(path)],
                          capture_output=True, text=True, timeout=10)


def test_check_config_accepts_a_valid_file(tmp_path):
    cfg = make_config(tmp_path, redis="redis://127.0.0.1:1/0",
                      tools=TEST_TOOLS, test_tools=True, max_memory="64MB")
    res = _check_config(cfg)
    assert res.returncode == 0, res.stdout + res.stderr


def test_check_config_rejects_an_unknown_key_naming_file_and_key(tmp_path):
    cfg = make_config(tmp_path, name="unknown-key.json",
                      redis="redis://127.0.0.1:1/0", bogus_knob=1)
    res = _check_config(cfg)
    out = res.stdout + res.stderr
    assert res.returncode == 3, (res.returncode, out)
    assert "unknown-key.json" in out, out
    assert "bogus_knob" in out, out


def test_check_config_rejects_a_wrong_type_naming_the_key_path(tmp_path):
    tools = builtin_tools("echo", "sleep")
    tools["echo"]["timeout"] = "abc"
    cfg = make_config(tmp_path, name="wrong-type.json",
                      redis="redis://127.0.0.1:1/0", tools=tools)
    res = _check_config(cfg)
    out = res.stdout + res.stderr
    assert res.returncode == 3, (res.returncode, out)
    assert "wrong-type.json" in out, out
    assert "tools.echo.timeout" in out, out


def test_start_with_an_invalid_config_exits_3(tmp_path):
    cfg = make_config(tmp_path, name="bad.json",
                      redis="redis://127.0.0.1:1/0", workers="two")
    res = subprocess.run([WORKER_BIN, "-c", str(cfg)], capture_output=True,
                         text=True, timeout=10, start_new_session=True)
    out = res.stdout + res.stderr + (
        Path(tmp_path / "fac.log").read_text()
        if (tmp_path / "fac.log").exists() else "")
    assert res.returncode == 3, (res.returncode, out)
    assert "workers" in out


def test_int_is_graceful_like_term(fac):
    pool = fac.start(workers=1, shutdown_timeout=5, tools=SLOW_SLEEP)
    r = fac.r
    jid = enqueue(r, job("sleep", {"ms": 700}))
    wait_inflight(r, jid)
    pool.signal(signal.SIGINT)
    assert pool.wait_exit(8) == 0
    assert get_result(r, jid)["status"] == "Success"


def test_dash_w_overrides_the_configured_worker_count(fac):
    cfg = fac.config(workers=1)
    pool = fac.start(config=cfg, wait=False, extra_args=["-w", "3"])
    pool.wait_workers(3, timeout=10)


def test_bad_command_line_exits_2(tmp_path):
    cfg = make_config(tmp_path, redis="redis://127.0.0.1:1/0")
    res = subprocess.run([WORKER_BIN, "-c", str(cfg), "--no-such-flag"],
                         capture_output=True, text=True, timeout=10,
                         start_new_session=True)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)


def test_redis_password_file_authenticates_and_stays_out_of_the_log(
        fac, redis_factory, tmp_path):
    password = "Pw-From-File-7731"
    secured = redis_factory(password=password)
    pwfile = tmp_path / "redis.pw"
    pwfile.write_text(password + "\n")
    os.chmod(pwfile, 0o600)
    cfg = make_config(tmp_path, name="pwfile.json", workers=1,
                      redis="redis://127.0.0.1:%d/0" % secured.port,
                      redis_password_file=str(pwfile))
    pool = Pool(cfg, secured, tmp_path)
    fac.pools.append(pool)
    pool.start()
    pool.wait_workers(1, timeout=10)
    rec = wait_result(secured.client, enqueue(secured.client,
                                              job("echo", {"k": 1})))
    assert rec["status"] == "Success"
    pool.signal(signal.SIGTERM)
    assert pool.wait_exit(8) == 0
    assert password not in pool.log_text()


def test_rescued_job_whose_result_exists_is_acknowledged_not_rerun(fac):
    """protocol.md "Delivery guarantee": a crash between result and ack."""
    r = fac.r
    dead_wid = "%s:%d" % (HOST_ID, 4190001)  # no such process
    assert not pid_alive(4190001)
    done = job("echo", {"run": "again?"})
    fresh = job("echo", {"run": "yes"})
    planted = {"v": 1, "id": done["id"], "status": "Success",
               "result": {"planted": True}, "attempt": 0,
               "started_at": 1, "ended_at": 2, "duration_ms": 1.0,
               "worker": dead_wid}
    r.set("fac:result:%s" % done["id"], pack(planted), ex=600)
    r.zadd("fac:workers", {dead_wid: 1})
    r.hset("fac:worker:%s" % dead_wid, mapping={
        "pid": "4190001", "host": HOST_ID, "queues": "default",
        "state": "busy"})
    ik = "fac:{default}:inflight:%s" % dead_wid
    r.lpush(ik, pack(done), pack(fresh))
    fac.start(workers=1)
    rec = wait_result(r, fresh["id"], timeout=10)
    assert rec["status"] == "Success" and rec["attempt"] == 1
    wait_until(lambda: r.llen("fac:{default}:ready") == 0
               and inflight_count(r) == 0, 5,
               what="both rescued jobs acknowledged")
    again = unpack(r.get("fac:result:%s" % done["id"]))
    assert again["result"] == {"planted": True}, (
        "a job whose result existed was run again: %r" % again)
    assert r.llen("fac:{default}:dead") == 0
