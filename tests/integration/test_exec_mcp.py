"""mcp tools (docs/executors.md "mcp"): a JSON-RPC tools/call to FAC's
endpoint on the job's site, against fac_standin.py, which answers with FAC's
real reply shapes. Every FAC outcome maps to the documented status, error
type and FAC's own message; a timeout removes exactly that transfer."""

import os
import time

import pytest

from conftest import (SITE, enqueue, enqueue_many, job, site_config,
                      wait_all_results, wait_result, wait_until)

STANDIN_TOOLS = ["echo_args", "get_document", "list_documents", "create_document",
                 "delete_document", "submit_document", "run_python_code",
                 "internal_error", "server_error", "slow", "huge", "drop", "no_such_tool"]


def mcp_tools(**extra):
    tools = {name: {"kind": "mcp"} for name in STANDIN_TOOLS}
    for name, keys in extra.items():
        tools[name] = dict({"kind": "mcp"}, **keys)
    return tools


def start(fac, fac_site, sites=None, tools=None, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("concurrency", 8)
    return fac.start(sites=sites or site_config(fac_site.url), tools=tools or mcp_tools(), **kw)


def run(fac, tool, args=None, timeout=10, **env):
    env.setdefault("site", SITE)
    return wait_result(fac.r, enqueue(fac.r, job(tool, args or {}, **env)), timeout=timeout)


def assert_error(rec, status, etype, *phrases):
    assert rec["status"] == status, rec
    assert rec["error"]["type"] == etype, rec["error"]
    for p in phrases:
        assert p in rec["error"]["message"], rec["error"]


# ---- success shapes -------------------------------------------------------

def test_the_result_inside_facs_success_envelope_is_the_job_result(fac, fac_site):
    start(fac, fac_site)
    rec = run(fac, "echo_args", {"doctype": "ToDo", "n": [1, 2.5, None]}, user="u@x")
    assert rec["status"] == "Success", rec
    assert rec["result"] == {"arguments": {"doctype": "ToDo", "n": [1, 2.5, None]},
                             "user": "Administrator"}


def test_an_unwrapped_result_of_newer_fac_is_the_job_result(fac, fac_site):
    start(fac, fac_site)
    rec = run(fac, "get_document", {"doctype": "ToDo", "name": "T-1"})
    assert rec["status"] == "Success", rec
    assert rec["result"] == {"doctype": "ToDo", "name": "T-1", "owner": "Administrator",
                             "docstatus": 0}


def test_the_name_key_calls_fac_by_another_name_and_sends_the_site(fac, fac_site):
    start(fac, fac_site, tools=mcp_tools(doc={"name": "get_document"}))
    rec = run(fac, "doc", {"doctype": "ToDo", "name": "T-2"})
    assert rec["status"] == "Success" and rec["result"]["name"] == "T-2", rec
    assert fac_site.stats()["calls"] == {"get_document": 1}
    assert fac_site.stats()["sites"] == [SITE], "X-Frappe-Site-Name names the job's site"


# ---- FAC's failures ---------------------------------------------------------

def test_success_false_with_is_error_false_is_an_error_with_facs_message(fac, fac_site):
    start(fac, fac_site)
    assert_error(run(fac, "create_document", {"doctype": "Sales Invoice"}),
                 "Error", "ValidationError", "Customer is mandatory")


def test_a_permission_error_of_the_tool_is_permission_denied(fac, fac_site):
    start(fac, fac_site)
    assert_error(run(fac, "delete_document"), "Permission Denied", "PermissionError",
                 "Insufficient permissions to execute delete_document")


@pytest.mark.parametrize("tool,etype,message", [
    ("submit_document", "DoesNotExistError", "Sales Invoice SINV-0009 not found"),
    ("run_python_code", "ExecutionError", "Error executing run_python_code: division by zero"),
    ("no_such_tool", "ExecutionError", "Tool 'no_such_tool' not found or not available"),
])
def test_is_error_true_is_an_error_with_facs_message(fac, fac_site, tool, etype, message):
    start(fac, fac_site)
    assert_error(run(fac, tool), "Error", etype, message)


def test_a_jsonrpc_error_with_http_400_is_an_error(fac, fac_site):
    start(fac, fac_site)
    assert_error(run(fac, "internal_error"), "Error", "JSONRPCError",
                 "Internal error: 'NoneType' object has no attribute 'get'", "-32603")


def test_http_500_is_an_error_with_frappes_exception(fac, fac_site):
    start(fac, fac_site)
    assert_error(run(fac, "server_error"), "Error", "OperationalError",
                 "Lost connection to MySQL server")


def test_a_user_without_assistant_access_is_permission_denied(fac, fac_site):
    start(fac, fac_site, sites=site_config(fac_site.url, key="k-off", secret="s-off"))
    assert_error(run(fac, "echo_args"), "Permission Denied", "PermissionError",
                 "Assistant access is disabled for user off@example.com")


def test_a_wrong_secret_names_the_config_keys_but_never_the_secret(fac, fac_site):
    pool = start(fac, fac_site, sites=site_config(fac_site.url, secret="wrong-s3cret"))
    rec = run(fac, "echo_args")
    assert_error(rec, "Error", "AuthenticationError", "Invalid API credentials",
                 "sites.%s.api_key" % SITE)
    assert "wrong-s3cret" not in rec["error"]["message"]
    assert "wrong-s3cret" not in pool.log_text()


def test_the_secret_may_come_from_api_secret_file(fac, fac_site, tmp_path):
    (tmp_path / "secret").write_text("s-admin\n")
    (tmp_path / "secret").chmod(0o600)
    sites = {SITE: {"url": fac_site.url, "api_key": "k-admin",
                    "api_secret_file": str(tmp_path / "secret")}}
    start(fac, fac_site, sites=sites)
    assert run(fac, "echo_args")["status"] == "Success"


def test_a_job_for_an_unconfigured_site_names_the_site_and_the_key_to_add(fac, fac_site):
    start(fac, fac_site)
    assert_error(run(fac, "echo_args", site="other.local"), "Error", "ConfigError",
                 'site "other.local" is not configured', '"sites"')


def test_a_job_without_a_site_says_to_give_one(fac, fac_site):
    start(fac, fac_site)
    rec = wait_result(fac.r, enqueue(fac.r, job("echo_args", {})))
    assert_error(rec, "Error", "ConfigError", 'the job has no "site"')


def test_a_site_nobody_listens_on_is_a_connection_error(fac, fac_site):
    from conftest import free_port
    start(fac, fac_site, sites=site_config("http://127.0.0.1:%d" % free_port()))
    assert_error(run(fac, "echo_args"), "Error", "ConnectionError", "no reply from http://127.0.0.1:")


# ---- slow, huge and dropped replies ----------------------------------------

def _worker_tcp_peers(pid, port):
    """Socket inodes of process pid's established TCP connections to port."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    peers = set()
    with open("/proc/%d/net/tcp" % pid) as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            remote_port = int(cols[2].split(":")[1], 16)
            if remote_port == port and cols[3] == "01" and cols[9] in inodes:
                peers.add(cols[9])
    return peers


def test_a_timeout_removes_exactly_that_transfer(fac, fac_site):
    pool = start(fac, fac_site, tools=mcp_tools(slow={"timeout": 0.5}))
    (wpid,) = pool.worker_pids()
    port = int(fac_site.url.rsplit(":", 1)[1])
    slow = enqueue(fac.r, job("slow", {"ms": 4000}, site=SITE))
    (slow_conn,) = wait_until(lambda: _worker_tcp_peers(wpid, port), 5,
                              what="the slow request on the wire")
    quick = enqueue_many(fac.r, [job("echo_args", {"i": i}, site=SITE) for i in range(10)])
    rec = wait_result(fac.r, slow, timeout=5)
    assert_error(rec, "Timeout", "Timeout", "0.5 s")
    assert 450 < rec["duration_ms"] < 900, rec["duration_ms"]
    assert all(r["status"] == "Success" for r in wait_all_results(fac.r, quick, 5).values())
    assert slow_conn not in _worker_tcp_peers(wpid, port), "the timed-out transfer is still open"
    assert fac_site.stats()["in_flight"] == 1, "the stand-in still sleeps on the slow call"
    wait_until(lambda: fac_site.stats()["in_flight"] == 0, 6, what="the stand-in done")


def test_a_slow_reply_within_the_timeout_succeeds(fac, fac_site):
    start(fac, fac_site)
    rec = run(fac, "slow", {"ms": 300})
    assert rec["status"] == "Success" and rec["result"] == {"slept_ms": 300}, rec
    assert rec["duration_ms"] >= 295


def test_a_reply_larger_than_max_reply_is_an_error_naming_it(fac, fac_site):
    start(fac, fac_site, tools=mcp_tools(huge={"max_reply": "1MB"}))
    assert_error(run(fac, "huge", {"mb": 3}), "Error", "ReplyTooLarge",
                 "larger than max_reply (1048576 bytes)", "tools.huge.max_reply")


def test_a_large_reply_within_max_reply_is_the_result(fac, fac_site):
    start(fac, fac_site, tools=mcp_tools(huge={"max_reply": "8MB"}))
    rec = run(fac, "huge", {"mb": 2})
    assert rec["status"] == "Success" and len(rec["result"]["blob"]) == 2 * 1048576


def test_a_dropped_connection_is_a_connection_error(fac, fac_site):
    start(fac, fac_site)
    assert_error(run(fac, "drop"), "Error", "ConnectionError", "no reply from")
    assert run(fac, "echo_args")["status"] == "Success", "the worker recovers"


# ---- many requests, one worker ----------------------------------------------

def test_one_worker_has_many_requests_in_flight(fac, fac_site):
    start(fac, fac_site, concurrency=16)
    t0 = time.monotonic()
    ids = enqueue_many(fac.r, [job("slow", {"ms": 500}, site=SITE) for _ in range(16)])
    recs = wait_all_results(fac.r, ids, timeout=10)
    took = time.monotonic() - t0
    assert all(r["status"] == "Success" for r in recs.values())
    assert took < 1.5, "16 calls of 500 ms took %.2f s in one worker" % took
    assert fac_site.stats()["max_in_flight"] == 16


def test_connections_are_reused_between_jobs(fac, fac_site):
    start(fac, fac_site, concurrency=2)
    for i in range(30):
        assert run(fac, "echo_args", {"i": i})["status"] == "Success"
    assert fac_site.stats()["connections"] <= 2, fac_site.stats()["connections"]


# ---- limits ------------------------------------------------------------------

@pytest.mark.parametrize("given,sent", [(1000, 50), (10, 10), (50, 50), (0, 50),
                                        (-5, 50), ("all", 50), (None, None)])
def test_max_records_clamps_args_limit(fac, fac_site, given, sent):
    start(fac, fac_site, tools=mcp_tools(list_documents={"max_records": 50}))
    args = {"doctype": "ToDo"} if given is None else {"doctype": "ToDo", "limit": given}
    assert run(fac, "list_documents", args)["status"] == "Success"
    assert fac_site.stats()["limits"] == [sent]


def test_cache_ttl_answers_the_same_call_without_calling_fac(fac, fac_site):
    start(fac, fac_site, tools=mcp_tools(echo_args={"cache_ttl": 60}))
    first = run(fac, "echo_args", {"q": 1}, user="u@x")
    again = run(fac, "echo_args", {"q": 1}, user="u@x")
    assert again.get("cached") is True and again["result"] == first["result"], again
    assert fac_site.stats()["calls"] == {"echo_args": 1}
