"""--log-format json and the log_format key (docs/operations.md "Logs")."""

import json

from conftest import builtin_tools, enqueue, job, wait_result

TOOLS = builtin_tools("echo", "fail")


def run_jobs(fac):
    ids = [enqueue(fac.r, job("echo", {"i": i}, site="site1.local")) for i in range(3)]
    ids.append(enqueue(fac.r, job("fail", {"message": "x"}, site="site1.local")))
    for jid in ids:
        wait_result(fac.r, jid)
    return ids


def json_lines(pool):
    pool.stop()
    lines = [l for l in pool.log_path.read_text().splitlines() if l]
    assert lines
    return [json.loads(l) for l in lines]  # raises on any line that is not JSON


def test_every_line_is_json_and_job_lines_carry_their_fields(fac):
    cfg = fac.config(tools=TOOLS, log_level="debug", log_format="json")
    pool = fac.start(config=cfg)
    ids = run_jobs(fac)
    recs = json_lines(pool)
    for r in recs:
        assert {"ts", "level", "role", "pid", "msg"} <= set(r), r
    jobs = {r["job_id"]: r for r in recs if r["msg"].startswith("job finished")}
    assert set(ids) <= set(jobs)
    for jid in ids:
        r = jobs[jid]
        assert r["site"] == "site1.local" and r["role"] == "wrk"
        assert r["tool"] in ("echo", "fail") and isinstance(r["duration_ms"], float)
        assert r["status"] == ("Success" if r["tool"] == "echo" else "Error")


def test_the_flag_overrides_the_config_and_text_stays_text(fac):
    cfg = fac.config(tools=TOOLS)
    pool = fac.start(config=cfg, extra_args=["--log-format", "json"])
    run_jobs(fac)
    assert all(r["role"] in ("sup", "wrk") for r in json_lines(pool))
    cfg2 = fac.config(name="text.json", tools=TOOLS, log_file=str(cfg.parent / "text.log"))
    pool2 = fac.start(config=cfg2)
    pool2.stop()
    first = pool2.log_path.read_text().splitlines()[0]
    assert not first.startswith("{") and " INFO  sup[" in first
