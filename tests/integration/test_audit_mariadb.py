"""The audit trail in MariaDB (DESIGN §6, docs/audit.md): one row per job
attempt in the site's `tabAssistant Audit Log`, filled as Frappe Assistant Core
fills it, batched, acknowledged only once committed or spooled, never lost and
never doubled, against a real mariadb-server started by the `mariadb` fixture
(one per module; every test has its own site database).

FAC_LONG=1 makes the volume tests ten times larger.
"""

import os
import select
import signal
import threading
import time
from pathlib import Path

from conftest import (AUDIT_TABLE, audit_row_name, builtin_tools, enqueue,
                      enqueue_many, fetch_results, free_port, inflight_count, job, pack,
                      result_key, site_db_config, wait_all_results,
                      wait_result, wait_until)

SCALE = 10 if os.environ.get("FAC_LONG") == "1" else 1
SITE = "site1.local"
TOOLS = builtin_tools("echo", "noop", "fail", sleep={"timeout": 0.2})


def audit_config(tmp_path, **extra):
    cfg = {"to": "mariadb", "path": str(tmp_path / "audit.jsonl"),
           "spool": str(tmp_path / "spool"), "flush_ms": 10}
    cfg.update(extra)
    return cfg


def start_pool(fac, mariadb, tmp_path, db, workers=1, concurrency=8,
               audit=None, sites=None, wait=True):
    sites = sites or {SITE: {"db": site_db_config(mariadb, db, db + "-pw")}}
    return fac.start(workers=workers, concurrency=concurrency,
                     audit=audit or audit_config(tmp_path), sites=sites,
                     tools=TOOLS, wait=wait)


def site_job(tool, args=None, **kw):
    kw.setdefault("site", SITE)
    return job(tool, args, **kw)


def spool_files(tmp_path):
    d = Path(tmp_path) / "spool"
    return sorted(d.glob("*.spool")) if d.exists() else []


def wait_rows(mariadb, db, n, timeout=60):
    wait_until(lambda: mariadb.count(db) >= n, timeout,
               what="%d audit rows in %s" % (n, db))
    time.sleep(0.2)  # a late extra row would show now
    return mariadb.count(db)


def expected_names(results):
    return {audit_row_name(jid, rec["attempt"], rec["started_at"])
            for jid, rec in results.items()}


def db_names(mariadb, db):
    return [r[0] for r in mariadb.sql("SELECT name FROM `%s`" % AUDIT_TABLE,
                                      db=db)]


def assert_exactly_one_row_per_job(mariadb, db, results):
    names = db_names(mariadb, db)
    want = expected_names(results)
    assert len(names) == len(set(names)), "duplicate names"
    missing, extra = want - set(names), set(names) - want
    assert not missing and not extra, (
        "%d rows for %d jobs: %d missing (e.g. %s), %d extra (e.g. %s)"
        % (len(names), len(results), len(missing), sorted(missing)[:3],
           len(extra), sorted(extra)[:3]))


# --------------------------------------------------------------------------
# row contents
# --------------------------------------------------------------------------

def test_a_success_row_is_filled_as_fac_fills_it(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("ok_row", "ok_row-pw")
    start_pool(fac, mariadb, tmp_path, db)
    args = {"doctype": "Sales Invoice", "name": "SINV-0001",
            "api_key": "key-123", "nested": {"password": "pw-456"}}
    jid = enqueue(fac.r, site_job("echo", args, user="jane@example.com",
                                  client_id="claude-desktop",
                                  session_id="sess-42",
                                  ip_address="10.1.2.3",
                                  source_app="frappe_assistant_core"))
    rec = wait_result(fac.r, jid)
    wait_rows(mariadb, db, 1)
    (row,) = mariadb.audit_rows(db)
    assert row["name"] == audit_row_name(jid, 0, rec["started_at"])
    assert row["naming_series"] == "ASST-AUDIT-.YYYY.-.MM.-.DD.-"
    assert row["action"] == row["tool_name"] == "echo"
    assert row["status"] == "Success" and row["error_type"] is None
    assert row["user"] == row["owner"] == row["modified_by"] == "jane@example.com"
    assert (row["client_id"], row["session_id"], row["ip_address"],
            row["source_app"]) == ("claude-desktop", "sess-42", "10.1.2.3",
                                   "frappe_assistant_core")
    assert row["target_doctype"] == "Sales Invoice"
    assert row["target_name"] == "SINV-0001"
    assert "key-123" not in row["input_data"] and "pw-456" not in row["input_data"]
    assert row["input_data"].count("***REDACTED***") == 2
    assert '"SINV-0001"' in row["output_data"] and row["output_truncated"] == "0"
    assert row["docstatus"] == "0" and row["idx"] == "0"
    assert abs(float(row["execution_time"]) - rec["duration_ms"] / 1000) < 1e-5
    started = time.strftime("%Y-%m-%d %H:%M:%S",
                            time.gmtime(rec["started_at"] // 1000))
    assert row["timestamp"].startswith(started), (row["timestamp"], started)
    assert row["creation"] == row["modified"] and row["creation"] >= row["timestamp"]
    assert not (tmp_path / "audit.jsonl").exists(), "the row went to the file"


def test_error_and_timeout_rows_carry_the_error(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("err_rows", "err_rows-pw")
    start_pool(fac, mariadb, tmp_path, db)
    fail_id = enqueue(fac.r, site_job("fail", {"message": "Customer is mandatory"}))
    slow_id = enqueue(fac.r, site_job("sleep", {"ms": 5000}))
    wait_all_results(fac.r, [fail_id, slow_id], timeout=10)
    wait_rows(mariadb, db, 2)
    rows = {r["tool_name"]: r for r in mariadb.audit_rows(db)}
    assert rows["fail"]["status"] == "Error"
    assert rows["fail"]["error_type"] == "ExecutionError"
    assert rows["fail"]["error_message"] == "Customer is mandatory"
    assert rows["fail"]["output_data"] is None
    assert rows["sleep"]["status"] == "Timeout"
    assert rows["sleep"]["error_type"] == "Timeout"
    assert "0.2 s timeout" in rows["sleep"]["error_message"]
    assert 0.19 < float(rows["sleep"]["execution_time"]) < 1.0


def test_a_permission_denied_row_from_a_rescued_result(fac, mariadb, tmp_path):
    """A rescued job whose final result already exists is acknowledged without
    running; its row is written from the result record, with the record's
    attempt, so the name is the one the first run gave it."""
    db = mariadb.create_site_db("denied_row", "denied_row-pw")
    start_pool(fac, mariadb, tmp_path, db)
    jid, started = "site1.local::denied-1", int(time.time() * 1000) - 5000
    fac.r.set(result_key(jid), pack({
        "v": 1, "id": jid, "status": "Permission Denied",
        "error": {"type": "PermissionError",
                  "message": "User jane@example.com lacks role Accounts Manager"},
        "attempt": 0, "started_at": started, "ended_at": started + 12,
        "duration_ms": 12.5, "worker": "gone:1"}))
    enqueue(fac.r, site_job("echo", {"doctype": "GL Entry"}, id=jid, attempt=1,
                            user="jane@example.com"))
    wait_rows(mariadb, db, 1)
    (row,) = mariadb.audit_rows(db)
    assert row["name"] == audit_row_name(jid, 0, started)
    assert row["status"] == "Permission Denied"
    assert row["error_type"] == "PermissionError"
    assert row["error_message"] == "User jane@example.com lacks role Accounts Manager"
    assert abs(float(row["execution_time"]) - 0.0125) < 1e-6
    assert row["target_doctype"] == "GL Entry"


def test_output_is_clipped_at_50000_bytes(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("clip_row", "clip_row-pw")
    start_pool(fac, mariadb, tmp_path, db)
    jid = enqueue(fac.r, site_job("echo", {"blob": "é" * 40000}))
    wait_result(fac.r, jid)
    wait_rows(mariadb, db, 1)
    (row,) = mariadb.audit_rows(db, "output_data,output_truncated")
    assert row["output_truncated"] == "1"
    assert len(row["output_data"].encode()) <= 50000
    assert len(row["output_data"].encode()) >= 49990


def test_a_table_with_the_llm_columns_works_too(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("llm_cols", "llm_cols-pw", llm_columns=True)
    start_pool(fac, mariadb, tmp_path, db)
    ids = enqueue_many(fac.r, [site_job("noop") for _ in range(5)])
    wait_all_results(fac.r, ids)
    assert wait_rows(mariadb, db, 5) == 5
    rows = mariadb.audit_rows(db, "llm_model,total_tokens,status")
    assert {(r["llm_model"], r["total_tokens"], r["status"]) for r in rows} == \
        {(None, "0", "Success")}


def test_datetimes_follow_the_sites_system_settings_time_zone(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("tz_site", "tz_site-pw")
    mariadb.sql("CREATE TABLE `tabSingles` (doctype varchar(140), field varchar(140), "
                "value longtext);\nINSERT INTO `tabSingles` VALUES "
                "('System Settings', 'time_zone', 'Asia/Kolkata');", db=db)
    start_pool(fac, mariadb, tmp_path, db)
    jid = enqueue(fac.r, site_job("noop"))
    rec = wait_result(fac.r, jid)
    wait_rows(mariadb, db, 1)
    (row,) = mariadb.audit_rows(db, "timestamp")
    ist = time.strftime("%Y-%m-%d %H:%M", time.gmtime(rec["started_at"] // 1000 + 19800))
    assert row["timestamp"].startswith(ist), (row["timestamp"], ist)


def test_jobs_without_a_site_database_go_to_the_jsonl_file(fac, mariadb, tmp_path):
    import json
    db = mariadb.create_site_db("mixed", "mixed-pw")
    start_pool(fac, mariadb, tmp_path, db)
    ids = enqueue_many(fac.r, [site_job("noop"), job("noop"),
                               site_job("noop", site="other.local")])
    wait_all_results(fac.r, ids)
    wait_until(lambda: inflight_count(fac.r) == 0, 5, what="acknowledged")
    assert mariadb.count(db) == 1
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert sorted(json.loads(l)["job_id"] for l in lines) == sorted(ids[1:])


def test_each_row_goes_to_its_own_sites_database(fac, mariadb, tmp_path):
    a = mariadb.create_site_db("site_a", "site_a-pw")
    b = mariadb.create_site_db("site_b", "site_b-pw", llm_columns=True)
    sites = {"a.local": {"db": site_db_config(mariadb, a, "site_a-pw")},
             "b.local": {"db": site_db_config(mariadb, b, "site_b-pw")}}
    start_pool(fac, mariadb, tmp_path, a, sites=sites)
    envs = [job("echo", {"n": i}, site="a.local" if i % 3 else "b.local") for i in range(30)]
    results = wait_all_results(fac.r, enqueue_many(fac.r, envs))
    wait_until(lambda: inflight_count(fac.r) == 0, 10, what="all acknowledged")
    by_site = {"a.local": {}, "b.local": {}}
    for e in envs:
        by_site[e["site"]][e["id"]] = results[e["id"]]
    assert_exactly_one_row_per_job(mariadb, a, by_site["a.local"])
    assert_exactly_one_row_per_job(mariadb, b, by_site["b.local"])


# --------------------------------------------------------------------------
# start checks
# --------------------------------------------------------------------------

def test_a_table_missing_a_required_column_stops_the_pool_at_start(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("no_status", "no_status-pw")
    mariadb.sql("ALTER TABLE `%s` DROP COLUMN `status`" % AUDIT_TABLE, db=db)
    pool = start_pool(fac, mariadb, tmp_path, db, wait=False)
    assert pool.wait_exit(20) == 3
    log = pool.log_text()
    assert "`tabAssistant Audit Log`" in log and "no column `status`" in log, log
    assert "bench --site site1.local migrate" in log


def test_wrong_credentials_stop_the_pool_without_logging_the_password(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("bad_pw", "bad_pw-pw")
    secret = "wrong-secret-3141"
    (tmp_path / "db.pw").write_text(secret + "\n")
    (tmp_path / "db.pw").chmod(0o600)
    sites = {SITE: {"db": site_db_config(mariadb, db, None, password_file=str(tmp_path / "db.pw"))}}
    del sites[SITE]["db"]["password"]
    pool = start_pool(fac, mariadb, tmp_path, db, sites=sites, wait=False)
    assert pool.wait_exit(20) == 3
    log = pool.log_text()
    assert "refused the connection" in log and "sites.site1.local.db" in log, log
    assert secret not in log


def test_an_unreachable_database_at_start_spools_and_replays(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("late_db", "late_db-pw")
    sites = {SITE: {"db": site_db_config(mariadb, db, "late_db-pw", port=free_port())}}
    start_pool(fac, mariadb, tmp_path, db, sites=sites)
    ids = enqueue_many(fac.r, [site_job("noop") for _ in range(20)])
    wait_all_results(fac.r, ids)
    wait_until(lambda: inflight_count(fac.r) == 0, 5, what="acked from the spool")
    assert len(spool_files(tmp_path)) == 1
    assert sum(1 for _ in open(spool_files(tmp_path)[0])) == 20


# --------------------------------------------------------------------------
# never lost, never doubled
# --------------------------------------------------------------------------

def test_10000_jobs_give_exactly_10000_rows(fac, mariadb, tmp_path):
    n = 10000 * SCALE
    db = mariadb.create_site_db("ten_k", "ten_k-pw")
    start_pool(fac, mariadb, tmp_path, db, workers=2, concurrency=16)
    ids = enqueue_many(fac.r, [site_job("noop") for _ in range(n)])
    results = wait_all_results(fac.r, ids, timeout=120)
    wait_until(lambda: inflight_count(fac.r) == 0, 30, what="all acknowledged")
    assert mariadb.count(db) == n
    assert_exactly_one_row_per_job(mariadb, db, results)


class Producer(threading.Thread):
    """Enqueues jobs at a steady rate, in chunks, from a thread of its own."""

    def __init__(self, r, envs, seconds):
        super().__init__(daemon=True)
        self.r, self.envs, self.seconds = r, envs, seconds
        self.sent = 0

    def run(self):
        chunk = 100
        pause = self.seconds / (len(self.envs) / chunk)
        for i in range(0, len(self.envs), chunk):
            enqueue_many(self.r, self.envs[i:i + chunk])
            self.sent = i + chunk
            time.sleep(pause)


def test_mariadb_stopped_for_10s_mid_stream_loses_and_doubles_nothing(fac, mariadb, tmp_path):
    n = 20000 * SCALE
    db = mariadb.create_site_db("outage", "outage-pw")
    pool = start_pool(fac, mariadb, tmp_path, db, workers=2, concurrency=16)
    envs = [site_job("noop") for _ in range(n)]
    producer = Producer(fac.r, envs, seconds=16)
    producer.start()
    try:
        wait_until(lambda: producer.sent >= n // 5, 30, what="a fifth enqueued")
        mariadb.stop()
        stopped_at = time.monotonic()
        # the audit must not hold up results or acks while the server is away
        wait_until(lambda: spool_files(tmp_path), 10, what="a spool file")
        time.sleep(max(0.0, 10 - (time.monotonic() - stopped_at)))
    finally:
        mariadb.start()
    producer.join(60)
    ids = [e["id"] for e in envs]
    results = wait_all_results(fac.r, ids, timeout=120)
    wait_until(lambda: inflight_count(fac.r) == 0, 30, what="all acknowledged")
    wait_until(lambda: not spool_files(tmp_path), 60, what="the spool replayed")
    assert mariadb.count(db) == n
    assert_exactly_one_row_per_job(mariadb, db, results)
    log = pool.log_text()
    assert "audit rows go to the spool" in log and "spool replayed into MariaDB" in log


def hold_table_lock(mariadb, db):
    """A root session holding a WRITE lock on the audit table: every INSERT
    waits until release() (the lock dies with the session)."""
    import subprocess
    from conftest import MARIADB_CLIENT
    p = subprocess.Popen([MARIADB_CLIENT, "--no-defaults", "-S", mariadb.socket,
                          "-u", "root", "-N", "-B", "--unbuffered", db],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    p.stdin.write(b"LOCK TABLES `%s` WRITE;\nSELECT 'locked';\n" % AUDIT_TABLE.encode())
    p.stdin.flush()
    if not select.select([p.stdout], [], [], 10)[0] or p.stdout.readline().strip() != b"locked":
        p.kill()
        p.wait(10)
        raise AssertionError("the mariadb client did not take the table lock within 10 s")

    def release():
        p.stdin.write(b"UNLOCK TABLES;\n")
        p.stdin.close()
        p.wait(10)
    return release


def test_a_worker_sigkilled_during_a_flush_loses_and_doubles_nothing(fac, mariadb, tmp_path):
    n = 500
    db = mariadb.create_site_db("killed", "killed-pw")
    pool = start_pool(fac, mariadb, tmp_path, db, workers=2, concurrency=16,
                      audit=audit_config(tmp_path, db_timeout=30))
    release = hold_table_lock(mariadb, db)
    try:
        ids = enqueue_many(fac.r, [site_job("echo", {"i": i}) for i in range(n)])
        results = wait_all_results(fac.r, ids, timeout=20)  # results do not wait
        assert inflight_count(fac.r) == n, "acknowledged before the row committed"
        for pid in pool.worker_pids():
            os.kill(pid, signal.SIGKILL)  # each is inside a flush (INSERT waiting)
    finally:
        release()
    wait_until(lambda: inflight_count(fac.r) == 0 and fac.r.llen("fac:{default}:ready") == 0,
               60, what="the rescued jobs acknowledged")
    wait_until(lambda: not spool_files(tmp_path), 60, what="the spool replayed")
    assert wait_rows(mariadb, db, n) == n
    assert_exactly_one_row_per_job(mariadb, db, fetch_results(fac.r, ids))
    assert all(r["attempt"] == 0 for r in results.values())


def test_a_slow_database_spools_after_db_timeout_then_replays(fac, mariadb, tmp_path):
    db = mariadb.create_site_db("slow", "slow-pw")
    start_pool(fac, mariadb, tmp_path, db, audit=audit_config(tmp_path, db_timeout=0.5))
    release = hold_table_lock(mariadb, db)
    try:
        ids = enqueue_many(fac.r, [site_job("noop") for _ in range(50)])
        results = wait_all_results(fac.r, ids)
        t0 = time.monotonic()
        wait_until(lambda: inflight_count(fac.r) == 0, 10, what="acked from the spool")
        assert time.monotonic() - t0 < 5
        assert spool_files(tmp_path)
    finally:
        release()
    wait_until(lambda: not spool_files(tmp_path), 30, what="the spool replayed")
    assert wait_rows(mariadb, db, 50) == 50
    assert_exactly_one_row_per_job(mariadb, db, results)


def test_the_spool_survives_a_pool_restart(fac, mariadb, tmp_path):
    """Rows spooled while MariaDB is down, then the pool stopped: the next pool
    finds the files its predecessors left and replays them once MariaDB is up."""
    db = mariadb.create_site_db("restart", "restart-pw")
    first = start_pool(fac, mariadb, tmp_path, db, workers=2)
    mariadb.stop()
    try:
        ids = enqueue_many(fac.r, [site_job("noop") for _ in range(300)])
        results = wait_all_results(fac.r, ids)
        wait_until(lambda: inflight_count(fac.r) == 0, 10, what="acked from the spool")
        assert first.stop() == 0
        assert spool_files(tmp_path), "nothing was spooled"
    finally:
        mariadb.start()
    second = start_pool(fac, mariadb, tmp_path, db, workers=1)
    wait_until(lambda: not spool_files(tmp_path), 30, what="the spool replayed")
    assert wait_rows(mariadb, db, 300) == 300
    assert_exactly_one_row_per_job(mariadb, db, results)
    assert "left by a worker that is gone" in second.log_text()


def test_a_dead_workers_spool_file_is_replayed_by_the_next_pool(fac, mariadb, tmp_path):
    """The spool survives a restart: a file left behind (nobody holds its lock)
    is replayed and then deleted; a torn last line is dropped."""
    import json
    db = mariadb.create_site_db("orphan", "orphan-pw")
    spool = tmp_path / "spool"
    spool.mkdir()
    lines = []
    for i in range(30):
        lines.append(json.dumps({
            "name": "ASST-AUDIT-2026-01-02-%020x" % i, "creation": "2026-01-02 03:04:05.000000",
            "modified": "2026-01-02 03:04:05.000000", "owner": "Administrator",
            "modified_by": "Administrator", "docstatus": 0, "idx": 0,
            "naming_series": "ASST-AUDIT-.YYYY.-.MM.-.DD.-", "action": "echo",
            "tool_name": "echo", "user": "Administrator", "status": "Success",
            "execution_time": 0.001, "timestamp": "2026-01-02 03:04:05.000000",
            "input_data": "{}", "output_truncated": 0, "site": SITE,
            "job_id": "old-%d" % i, "attempt": 0, "worker": "gone:1"}))
    (spool / "site1.local@itest-1-1.spool").write_text("\n".join(lines) + "\n{\"name\":\"torn")
    pool = start_pool(fac, mariadb, tmp_path, db)
    wait_until(lambda: not spool_files(tmp_path), 20, what="the orphan replayed")
    assert wait_rows(mariadb, db, 30) == 30
    (row,) = mariadb.audit_rows(db, "timestamp,execution_time",
                                "WHERE name='ASST-AUDIT-2026-01-02-%020x'" % 7)
    assert row["timestamp"] == "2026-01-02 03:04:05.000000"
    assert "torn last line" in pool.log_text()


def test_nul_and_invalid_utf8_from_an_exec_tool_reach_mariadb_as_valid_json(fac, mariadb, tmp_path):
    """Hostile bytes end to end (docs/hostile-input.md): a tool printing NUL, bytes that
    are not UTF-8 and a CESU surrogate; args holding a str that is not UTF-8. The row's
    columns hold valid UTF-8 JSON (U+FFFD, \\u0000), equal to the result record."""
    import json as _json
    import msgpack as _msgpack
    db = mariadb.create_site_db("hostile_bytes", "hostile_bytes-pw")
    code = ("import sys; sys.stdout.buffer.write("
            "b'a\\x00b \\xff\\xfe c \\xc3\\xa9 \\xed\\xa0\\x80 end')")
    fac.start(workers=1, concurrency=4, audit=audit_config(tmp_path),
              sites={SITE: {"db": site_db_config(mariadb, db, db + "-pw")}},
              tools={"bytes": {"kind": "exec", "argv": ["/usr/bin/python3", "-S", "-c", code]}})
    jid = "hostile-bytes-1"
    body = pack({"v": 1, "id": jid, "tool": "bytes", "site": SITE})
    data = bytes([body[0] + 1]) + body[1:] + pack("args") + b"\x81" + pack("s") + b"\xa5x\x00\xff\xfey"
    fac.r.lpush("fac:{default}:ready", data)
    wait_result(fac.r, jid)
    rec = _msgpack.unpackb(fac.r.get(result_key(jid)), raw=False)  # strict: valid UTF-8
    assert rec["status"] == "Success", rec
    assert rec["result"] == "a\x00b \ufffd\ufffd c \u00e9 \ufffd\ufffd\ufffd end"
    wait_rows(mariadb, db, 1)
    (hexrow,) = mariadb.sql("SELECT HEX(input_data), HEX(output_data) FROM `%s`" % AUDIT_TABLE,
                            db=db)
    input_data = bytes.fromhex(hexrow[0]).decode("utf-8")  # strict: raises if not UTF-8
    output_data = bytes.fromhex(hexrow[1]).decode("utf-8")
    assert "\x00" not in input_data + output_data
    assert _json.loads(output_data) == rec["result"]
    assert _json.loads(input_data) == {"s": "x\x00\ufffd\ufffdy"}
