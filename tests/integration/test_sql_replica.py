"""sql tools reading a replica (docs/executors.md "Reading a replica"): with real
MariaDB replication between two private mariadbd (the primary with log-bin and
server-id 1, the replica with server-id 2 fed by CHANGE MASTER TO … / START
SLAVE). Once the site's database has replicated, the replica is stopped (STOP
SLAVE) and a row goes to the primary only, so what a tool returns tells which
server answered; the job's audit row must land on the primary and never on the
replica. A replica that is down fails the job naming it, unless the site allows
falling back to the primary (replica_fallback).
"""

import time

import pytest

from conftest import (AUDIT_TABLE, MariaDB, enqueue, job, site_db_config,
                      wait_result, wait_until)

SITE = "site1.local"
DB = "rep_site"
TABLE_TO_DO = ("CREATE TABLE `tabToDo` (name varchar(140) PRIMARY KEY, "
        "description text) ENGINE=InnoDB;")
TOOLS = {
    "todos": {"kind": "sql", "query": "SELECT name FROM `tabToDo` ORDER BY name"},
    "todos_primary": {"kind": "sql", "replica": False,
                      "query": "SELECT name FROM `tabToDo` ORDER BY name"},
    "server_id": {"kind": "sql", "query": "SELECT @@server_id AS id"},
    "server_id_replica": {"kind": "sql", "replica": True,
                          "query": "SELECT @@server_id AS id"},
}


def replica_running(srv):
    rows = srv.sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                   "WHERE VARIABLE_NAME = 'SLAVE_RUNNING'")
    return rows == [["ON"]]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(primary, replica), replicating; the site database made on the primary and
    seen on the replica, with one ToDo."""
    primary = MariaDB(tmp_path_factory.mktemp("primary"),
                      extra_args=["--log-bin=primary-bin", "--server-id=1",
                                  "--binlog-format=ROW"])
    replica = MariaDB(tmp_path_factory.mktemp("replica"),
                      extra_args=["--server-id=2", "--relay-log=replica-relay",
                                  "--read-only"])
    try:
        primary.install().start()
        replica.install().start()
        primary.sql("CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw';\n"
                    "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';")
        replica.sql("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, "
                    "MASTER_USER='repl', MASTER_PASSWORD='repl-pw', "
                    "MASTER_USE_GTID=slave_pos;\nSTART SLAVE;" % primary.port)
        wait_until(lambda: replica_running(replica), 20, interval=0.1,
                   what="replication running")
        primary.create_site_db(DB, DB + "-pw")
        primary.sql(TABLE_TO_DO + "\nINSERT INTO `tabToDo` VALUES ('TD-1', 'before');", db=DB)
        wait_until(lambda: replica.sql(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='%s' "
            "AND TABLE_NAME='tabToDo'" % DB) == [["1"]] and replica.sql(
                "SELECT name FROM `tabToDo`", db=DB) == [["TD-1"]],
            30, interval=0.1, what="the site database replicated")
        assert replica.sql("SELECT COUNT(*) FROM mysql.user WHERE user='%s'" % DB) == [["1"]]
        # From here on the replica lags for good: what the primary gets next, it
        # does not.
        replica.sql("STOP SLAVE;")
        wait_until(lambda: not replica_running(replica), 20, interval=0.1,
                   what="replication stopped")
        primary.sql("INSERT INTO `tabToDo` VALUES ('TD-2', 'after');", db=DB)
        yield primary, replica
    finally:
        for srv in (primary, replica):
            if srv.proc is not None and srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait(10)


def sites(primary, replica, **site):
    cfg = {"db": site_db_config(primary, DB, DB + "-pw"),
           "replica": {"host": "127.0.0.1", "port": replica.port}}
    cfg.update(site)
    return {SITE: cfg}


def start(fac, tmp_path, site_cfg):
    return fac.start(workers=1, concurrency=4, tools=TOOLS, sites=site_cfg,
                     audit={"to": "mariadb", "path": str(tmp_path / "audit.jsonl"),
                            "spool": str(tmp_path / "spool"), "flush_ms": 10})


def run(fac, tool):
    return wait_result(fac.r, enqueue(fac.r, job(tool, {}, site=SITE)), 15)


def names(rec):
    assert rec["status"] == "Success", rec
    return [r["name"] for r in rec["result"]["rows"]]


def server_id(rec):
    assert rec["status"] == "Success", rec
    return rec["result"]["rows"][0]["id"]


def audit_names(srv):
    return sorted(r[0] for r in srv.sql("SELECT name FROM `%s`" % AUDIT_TABLE, db=DB))


def test_sql_tools_read_the_replica_and_audit_rows_go_to_the_primary(fac, pair, tmp_path):
    primary, replica = pair
    before = audit_names(primary)
    start(fac, tmp_path, sites(primary, replica, read_from_replica=True))
    assert primary.sql("SELECT name FROM `tabToDo` ORDER BY name", db=DB) == \
        [["TD-1"], ["TD-2"]]
    assert names(run(fac, "todos")) == ["TD-1"]  # the replica never got TD-2
    assert server_id(run(fac, "server_id")) == 2
    # A tool may insist on the primary.
    assert names(run(fac, "todos_primary")) == ["TD-1", "TD-2"]
    wait_until(lambda: len(audit_names(primary)) >= len(before) + 3, 15,
               what="three audit rows on the primary")
    time.sleep(0.3)  # a row written to the replica would show by now
    assert len(audit_names(primary)) == len(before) + 3
    assert audit_names(replica) == []


def test_replica_true_reads_the_replica_without_read_from_replica(fac, pair, tmp_path):
    primary, replica = pair
    start(fac, tmp_path, sites(primary, replica))
    assert server_id(run(fac, "server_id")) == 1
    assert server_id(run(fac, "server_id_replica")) == 2
    assert names(run(fac, "todos")) == ["TD-1", "TD-2"]


def test_a_site_without_a_replica_reads_its_primary(fac, pair, tmp_path):
    primary, _ = pair
    start(fac, tmp_path, {SITE: {"db": site_db_config(primary, DB, DB + "-pw")}})
    assert server_id(run(fac, "server_id_replica")) == 1


def test_a_replica_that_is_down_fails_the_job_or_falls_back_when_allowed(fac, pair,
                                                                         tmp_path):
    primary, replica = pair
    replica.stop()
    try:
        before = len(audit_names(primary))
        pool = start(fac, tmp_path, sites(primary, replica, read_from_replica=True))
        rec = run(fac, "todos")
        assert rec["status"] == "Error", rec
        assert rec["error"]["type"] == "ConnectionError", rec
        msg = rec["error"]["message"]
        assert "replica MariaDB %s@127.0.0.1:%d/%s" % (DB, replica.port, DB) in msg, msg
        assert "sites.site1.local.replica_fallback" in msg, msg
        assert DB + "-pw" not in msg
        # Its audit row (an Error) is on the primary all the same.
        wait_until(lambda: len(audit_names(primary)) == before + 1, 15,
                   what="the failed job's audit row on the primary")
        pool.stop()

        other = tmp_path / "fallback"
        other.mkdir()
        pool = start(fac, other, sites(primary, replica, read_from_replica=True,
                                       replica_fallback=True))
        assert names(run(fac, "todos")) == ["TD-1", "TD-2"]
        assert server_id(run(fac, "server_id")) == 1
        log = pool.log_text()
        assert "replica MariaDB" in log and "reads the primary" in log, log
        assert DB + "-pw" not in log
    finally:
        replica.start()
