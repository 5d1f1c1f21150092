"""sql tools (docs/executors.md "sql"): named read-only queries from the config,
run on the job's site database on the worker's event loop, against a real
mariadb-server (the `mariadb` fixture) holding `tabToDo` and `tabHas Role` as
Frappe creates them (tests/fixtures/frappe_core_schema.sql). Only values from
args are bound; a timeout or cancel kills the query on the server, which is
checked in information_schema.PROCESSLIST, not assumed.
"""

import subprocess
import time

import pytest

from conftest import (SQL_FIXTURES, WORKER_BIN, ctl, enqueue, job, make_config,
                      site_db_config, wait_inflight, wait_result, wait_until)

SITE = "site1.local"
DB = "sql_site"
Q_TASKS = ("SELECT name, status, allocated_to FROM `tabToDo` "
           "WHERE allocated_to = %(user)s AND status = %(status)s ORDER BY name")
TOOLS = {
    "tasks": {"kind": "sql", "query": Q_TASKS, "timeout": 5},
    "echo_value": {"kind": "sql", "query": "SELECT %(v)s AS v"},
    "by_description": {"kind": "sql", "query":
                       "SELECT name FROM `tabToDo` WHERE description = %(text)s"},
    "by_names": {"kind": "sql", "query":
                 "SELECT name FROM `tabToDo` WHERE name IN %(names)s ORDER BY name"},
    "typed": {"kind": "sql", "query":
              "SELECT 7 AS i, -3 AS neg, CAST(2.5 AS DECIMAL(21,9)) AS d, 1.5e0 AS dbl, "
              "CAST('2025-01-02' AS DATE) AS day, NULL AS nothing, 'x%%' AS pct, "
              "18446744073709551615 AS huge"},
    "all_todos": {"kind": "sql", "query": "SELECT name FROM `tabToDo` ORDER BY name",
                  "max_records": 3},
    "todo_count": {"kind": "sql", "query": "SELECT COUNT(*) AS n FROM `tabToDo`",
                   "roles": ["System Manager", "Projects Manager"]},
    "slow": {"kind": "sql", "query": "SELECT SLEEP(%(s)s) AS slept", "timeout": 1},
    "slow_long": {"kind": "sql", "query": "SELECT SLEEP(%(s)s) AS slept", "timeout": 30},
    "sneaky_write": {"kind": "sql", "query": "SELECT NEXTVAL(todo_seq) AS n"},
}
TASKS = [("TD-1", "Open", "jane@example.com", "call the customer"),
         ("TD-2", "Open", "jane@example.com", "' OR 1=1 --"),
         ("TD-3", "Closed", "jane@example.com", "ship it"),
         ("TD-4", "Open", "bob@example.com", "review"),
         ("TD-5", "Open", "bob@example.com", "plan")]


@pytest.fixture(scope="module")
def site_db(mariadb):
    mariadb.sql("CREATE DATABASE `%s`;\n"
                "CREATE USER '%s'@'%%' IDENTIFIED BY '%s-pw';\n"
                "GRANT ALL ON `%s`.* TO '%s'@'%%';\n" % (DB, DB, DB, DB, DB))
    mariadb.sql((SQL_FIXTURES / "frappe_core_schema.sql").read_text(), db=DB)
    rows = ",".join("('%s','%s','%s','%s')" % (n, s, u, d.replace("'", "''"))
                    for n, s, u, d in TASKS)
    mariadb.sql("INSERT INTO `tabToDo` (name, status, allocated_to, description) "
                "VALUES %s;\n"
                "INSERT INTO `tabHas Role` (name, parent, parenttype, parentfield, role) "
                "VALUES ('r1', 'jane@example.com', 'User', 'roles', 'Projects Manager'),"
                " ('r2', 'bob@example.com', 'User', 'roles', 'Sales User'),"
                " ('r3', 'eve@example.com', 'Role Profile', 'roles', 'System Manager');\n"
                "CREATE SEQUENCE todo_seq;" % rows, db=DB)
    return DB


@pytest.fixture
def pool(fac, mariadb, site_db):
    sites = {SITE: {"db": site_db_config(mariadb, site_db, site_db + "-pw")},
             "nodb.local": {"url": "http://127.0.0.1:1"}}
    return fac.start(workers=1, concurrency=4, tools=TOOLS, sites=sites)


def run(fac, tool, args=None, timeout=10, **kw):
    kw.setdefault("site", SITE)
    return wait_result(fac.r, enqueue(fac.r, job(tool, args or {}, **kw)), timeout)


def rows(rec):
    assert rec["status"] == "Success", rec
    return rec["result"]["rows"]


def running_queries(mariadb):
    """Statements of the site's DB user the server is running now."""
    return mariadb.sql("SELECT ID, INFO FROM information_schema.PROCESSLIST "
                       "WHERE USER = '%s' AND COMMAND = 'Query'" % DB)


def assert_no_query_left(mariadb, within=3.0):
    wait_until(lambda: not running_queries(mariadb), within,
               what="no running query of %s in PROCESSLIST (left: %s)"
               % (DB, running_queries(mariadb)))


def todo_count(mariadb):
    return int(mariadb.sql("SELECT COUNT(*) FROM `tabToDo`", db=DB)[0][0])


def test_a_query_returns_row_maps_bound_from_args(fac, pool):
    rec = run(fac, "tasks", {"user": "jane@example.com", "status": "Open"})
    assert rows(rec) == [
        {"name": "TD-1", "status": "Open", "allocated_to": "jane@example.com"},
        {"name": "TD-2", "status": "Open", "allocated_to": "jane@example.com"}]
    assert rec["result"]["truncated"] is False


def test_values_keep_their_types(fac, pool):
    (row,) = rows(run(fac, "typed"))
    assert row == {"i": 7, "neg": -3, "d": 2.5, "dbl": 1.5, "day": "2025-01-02",
                   "nothing": None, "pct": "x%", "huge": "18446744073709551615"}


@pytest.mark.parametrize("value", [42, -7, 2.25, True, None, "plain"])
def test_bound_scalars_come_back_as_sent(fac, pool, value):
    (row,) = rows(run(fac, "echo_value", {"v": value}))
    assert row["v"] == (1 if value is True else value)


INJECTIONS = ["' OR 1=1 --", "x'; DROP TABLE `tabToDo`; --", "\\'; DROP TABLE x; #",
              'a"b`c\\d', "nul\x00byte", "Grüße – 日本 🎉", "\x1a\r\n\t", "%(v)s %s %%"]


def test_injection_attempts_are_plain_data(fac, pool, mariadb):
    before = todo_count(mariadb)
    for text in INJECTIONS:
        (row,) = rows(run(fac, "echo_value", {"v": text}))
        assert row["v"] == text
        assert rows(run(fac, "by_description", {"text": text})) == (
            [{"name": "TD-2"}] if text == "' OR 1=1 --" else [])
    assert todo_count(mariadb) == before


def test_a_list_binds_as_an_in_list_and_an_empty_one_matches_nothing(fac, pool):
    rec = run(fac, "by_names", {"names": ["TD-4", "TD-1", "nope') OR ('1'='1"]})
    assert rows(rec) == [{"name": "TD-1"}, {"name": "TD-4"}]
    assert rows(run(fac, "by_names", {"names": []})) == []


def test_max_records_caps_rows_and_says_so(fac, pool):
    rec = run(fac, "all_todos")
    assert rows(rec) == [{"name": "TD-1"}, {"name": "TD-2"}, {"name": "TD-3"}]
    assert rec["result"]["truncated"] is True


def test_a_missing_or_unbindable_arg_is_an_error_naming_it(fac, pool):
    rec = run(fac, "tasks", {"user": "jane@example.com"})
    assert rec["status"] == "Error", rec
    assert rec["error"]["type"] == "ValidationError"
    assert "args.status is missing" in rec["error"]["message"]
    rec = run(fac, "echo_value", {"v": {"nested": 1}})
    assert rec["status"] == "Error" and "args.v cannot be bound" in rec["error"]["message"]


def test_roles_let_a_holder_and_administrator_through(fac, pool):
    assert rows(run(fac, "todo_count", user="jane@example.com")) == [{"n": 5}]
    assert rows(run(fac, "todo_count", user="Administrator")) == [{"n": 5}]
    assert rows(run(fac, "todo_count")) == [{"n": 5}]  # no user: Administrator


@pytest.mark.parametrize("user", ["bob@example.com", "eve@example.com", "x' OR '1'='1"])
def test_roles_deny_a_user_without_one(fac, pool, user):
    rec = run(fac, "todo_count", user=user)
    assert rec["status"] == "Permission Denied", rec
    assert "none of the roles" in rec["error"]["message"]
    assert "System Manager, Projects Manager" in rec["error"]["message"]


def test_a_slow_query_times_out_and_is_gone_from_the_server(fac, pool, mariadb):
    t0 = time.monotonic()
    rec = run(fac, "slow", {"s": 5})
    assert rec["status"] == "Timeout", rec
    assert time.monotonic() - t0 < 3
    assert_no_query_left(mariadb)
    assert rows(run(fac, "echo_value", {"v": "after"})) == [{"v": "after"}]


def test_a_canceled_query_is_killed_on_the_server(fac, pool, mariadb):
    jid = enqueue(fac.r, job("slow_long", {"s": 25}, site=SITE))
    wait_inflight(fac.r, jid)
    wait_until(lambda: running_queries(mariadb), 5, what="the SLEEP running")
    assert ctl(pool.config_path, "cancel", jid).returncode == 0
    assert wait_result(fac.r, jid, 5)["status"] == "Canceled"
    assert_no_query_left(mariadb)


def test_a_select_that_writes_is_refused_by_the_read_only_session(fac, pool):
    rec = run(fac, "sneaky_write")
    assert rec["status"] == "Error", rec
    assert "only read" in rec["error"]["message"]


def test_an_unknown_site_or_one_without_a_database_is_a_config_error(fac, pool):
    for site, want in [("other.local", "add sites.other.local.db"),
                       ("nodb.local", "sites.nodb.local.db.name")]:
        rec = run(fac, "echo_value", {"v": 1}, site=site)
        assert rec["status"] == "Error" and rec["error"]["type"] == "ConfigError", rec
        assert want in rec["error"]["message"]


def test_a_wrong_password_names_the_site_key_not_the_secret(fac, mariadb, site_db):
    sites = {SITE: {"db": site_db_config(mariadb, site_db, "not-the-pw-123")}}
    fac.start(workers=1, tools=TOOLS, sites=sites)
    rec = run(fac, "echo_value", {"v": 1})
    assert rec["error"]["type"] == "ConfigError", rec
    assert "sites.%s.db" % SITE in rec["error"]["message"]
    assert "not-the-pw-123" not in rec["error"]["message"]


@pytest.mark.parametrize("query", ["DELETE FROM `tabToDo`", "  update x set y=1",
                                   "/* hi */ INSERT INTO t VALUES (1)",
                                   "SELECT 'a%' FROM t"])
def test_check_config_refuses_writes_and_bad_placeholders(tmp_path, query):
    cfg = make_config(tmp_path, tools={"bad": {"kind": "sql", "query": query}})
    res = subprocess.run([WORKER_BIN, "--check-config", "-c", str(cfg)],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "tools.bad.query" in res.stderr + res.stdout
