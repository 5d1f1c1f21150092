"""A pool beside a Frappe bench (docs/configuration.md "Beside a bench", DESIGN §4):
given only bench_path (plus test knobs), fac-worker, fac-ctl and --check-config read
the bench's sites/common_site_config.json and sites/<site>/site_config.json. The bench
is a directory tree in Frappe's real layout, written by each test under its tmp dir."""

import json
import subprocess

from conftest import (WORKER_BIN, Pool, builtin_tools, ctl, enqueue, job,
                      wait_result)

SITE = "site1.local"


def make_bench(tmp_path, common, sites=None):
    """frappe-bench/{apps/, sites/{apps.txt, assets/, common_site_config.json,
    <site>/site_config.json}} as `bench init` and `bench new-site` lay it out."""
    bench = tmp_path / "frappe-bench"
    (bench / "apps" / "frappe").mkdir(parents=True)
    (bench / "sites" / "assets").mkdir(parents=True)
    (bench / "sites" / "apps.txt").write_text("frappe\nfrappe_assistant_core\n")
    (bench / "sites" / "common_site_config.json").write_text(json.dumps(common))
    for name, cfg in (sites or {SITE: {"db_name": "_1bd3e0294da19198",
                                       "db_password": "site-db-pw"}}).items():
        (bench / "sites" / name).mkdir()
        (bench / "sites" / name / "site_config.json").write_text(json.dumps(cfg))
    return bench


def bench_config(fac, bench, **overrides):
    """A fac-worker file with bench_path and test knobs only: no redis, no workers."""
    return fac.config(name="bench.json", bench_path=str(bench), redis=None,
                      workers=None, **overrides)


def queue_url(srv):
    return "redis://127.0.0.1:%d" % srv.port  # as Frappe writes redis_queue


def test_pool_takes_redis_and_worker_count_from_the_bench(fac, tmp_path):
    bench = make_bench(tmp_path, {"redis_queue": queue_url(fac.redis),
                                  "background_workers": 3,
                                  "redis_cache": "redis://127.0.0.1:1"})
    pool = fac.start(bench_config(fac, bench), wait=False)
    pool.wait_workers(3, timeout=15)
    rec = wait_result(fac.r, enqueue(fac.r, job("echo", {"k": 1}, site=SITE)))
    assert rec["status"] == "Success" and rec["result"] == {"k": 1}, rec


def test_rq_password_authenticates_and_stays_out_of_the_log(fac, redis_factory,
                                                            tmp_path):
    password = "Rq-Pass-5521"
    secured = redis_factory(password=password)
    bench = make_bench(tmp_path, {"redis_queue": queue_url(secured),
                                  "use_rq_auth": 1, "rq_username": "default",
                                  "rq_password": password,
                                  "background_workers": 1})
    pool = Pool(bench_config(fac, bench), secured, tmp_path)
    fac.pools.append(pool)
    pool.start()
    pool.wait_workers(1, timeout=10)
    rec = wait_result(secured.client, enqueue(secured.client, job("echo")))
    assert rec["status"] == "Success", rec
    assert password not in pool.log_text(), "the RQ password leaked into the log"


def test_assistant_tools_override_lowers_a_tool_timeout(fac, tmp_path):
    bench = make_bench(tmp_path, {"redis_queue": queue_url(fac.redis),
                                  "background_workers": 1},
                       {SITE: {"db_name": "_x",
                               "assistant_tools": {"sleep": {"timeout": 0.5}}}})
    cfg = bench_config(fac, bench, tools=builtin_tools("echo",
                                                       sleep={"timeout": 30}))
    fac.start(cfg, wait=False).wait_workers(1, timeout=10)
    rec = wait_result(fac.r, enqueue(fac.r, job("sleep", {"ms": 5000})),
                      timeout=10)
    assert rec["status"] == "Timeout", rec
    assert rec["duration_ms"] < 2000, rec


def test_fac_ctl_reads_the_bench_too(fac, tmp_path):
    bench = make_bench(tmp_path, {"redis_queue": queue_url(fac.redis),
                                  "background_workers": 1})
    cfg = bench_config(fac, bench)
    fac.start(cfg, wait=False).wait_workers(1, timeout=10)
    res = ctl(cfg, "enqueue", "echo", '{"via": "ctl"}', "--wait")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert '"via":"ctl"' in res.stdout.replace(" ", ""), res.stdout


def test_check_config_refuses_a_postgres_site_naming_its_file(fac, tmp_path):
    bench = make_bench(tmp_path, {"redis_queue": queue_url(fac.redis)},
                       {"pg.local": {"db_type": "postgres", "db_name": "pg",
                                     "db_password": "pg-secret"}})
    res = subprocess.run([WORKER_BIN, "--check-config", "-c",
                          str(bench_config(fac, bench))],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 3, (res.stdout, res.stderr)
    out = res.stdout + res.stderr
    assert "sites/pg.local/site_config.json: db_type" in out, out
    assert "pg-secret" not in out
