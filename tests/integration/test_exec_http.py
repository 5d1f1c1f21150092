"""http tools (docs/executors.md "http"): the job's arguments POSTed as JSON
to a whitelisted Frappe method on the job's site, against fac_standin.py,
which answers with Frappe's real reply and error shapes."""

import pytest

from conftest import SITE, enqueue, job, site_config, wait_result

METHODS = ["summarize", "validate", "secret_report", "soft_fail", "nothing", "slow", "missing"]


def start(fac, fac_site, **extra):
    tools = {m: {"kind": "http", "url": "/api/method/myapp.api." + m} for m in METHODS}
    for name, keys in extra.items():
        tools[name] = dict({"kind": "http"}, **keys)
    return fac.start(workers=1, sites=site_config(fac_site.url), tools=tools)


def run(fac, tool, args=None, timeout=10):
    return wait_result(fac.r, enqueue(fac.r, job(tool, args or {}, site=SITE)), timeout=timeout)


def test_the_methods_message_is_the_result_and_args_are_its_kwargs(fac, fac_site):
    start(fac, fac_site)
    rec = run(fac, "summarize", {"doctype": "Sales Invoice", "limit": 5})
    assert rec["status"] == "Success", rec
    assert rec["result"] == {"args": {"doctype": "Sales Invoice", "limit": 5},
                             "user": "Administrator"}


def test_a_full_url_is_called_as_it_is(fac, fac_site):
    start(fac, fac_site, full={"url": fac_site.url + "/api/method/myapp.api.summarize"})
    assert run(fac, "full", {"a": 1})["result"]["args"] == {"a": 1}


def test_a_method_returning_none_is_an_empty_map(fac, fac_site):
    start(fac, fac_site)
    rec = run(fac, "nothing")
    assert rec["status"] == "Success" and rec["result"] == {}, rec


@pytest.mark.parametrize("tool,status,etype,message", [
    ("validate", "Error", "ValidationError", "Posting Date is mandatory"),
    ("secret_report", "Permission Denied", "PermissionError", "Not permitted"),
    ("soft_fail", "Error", "ExecutionError", "Nothing to summarize"),
    ("missing", "Error", "DoesNotExistError", "Method myapp.api.missing not found"),
])
def test_frappes_errors_map_to_the_documented_status(fac, fac_site, tool, status, etype, message):
    start(fac, fac_site)
    rec = run(fac, tool)
    assert rec["status"] == status, rec
    assert rec["error"] == {"type": etype, "message": message}


def test_a_timeout_ends_the_call(fac, fac_site):
    start(fac, fac_site, slow={"url": "/api/method/myapp.api.slow", "timeout": 0.4})
    rec = run(fac, "slow", {"ms": 3000})
    assert rec["status"] == "Timeout", rec
    assert 350 < rec["duration_ms"] < 800
    assert run(fac, "summarize")["status"] == "Success"
