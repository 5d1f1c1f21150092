"""Secrets at rest and in flight (lib/secrets.h, docs/configuration.md "Secrets"): a
config that holds a secret, or a secret file, open to every user is refused; secrets
never reach a process's command line, the log or the records."""

import os
import subprocess

import msgpack

from conftest import WORKER_BIN, enqueue, job, make_config, wait_result

SECRET = "Sup3r-Secret-Value-991"


def check(path):
    return subprocess.run([WORKER_BIN, "--check-config", "-c", str(path)], capture_output=True,
                          text=True, timeout=10)


def test_a_world_readable_config_with_an_inline_secret_is_refused(tmp_path):
    cfg = make_config(tmp_path, redis="redis://:%s@127.0.0.1:1/0" % SECRET)
    os.chmod(cfg, 0o644)
    res = check(cfg)
    assert res.returncode == 3, res.stdout + res.stderr
    assert str(cfg) in res.stderr and "chmod o-rwx" in res.stderr, res.stderr
    assert SECRET not in res.stderr + res.stdout
    os.chmod(cfg, 0o640)
    assert check(cfg).returncode == 0


def test_a_world_readable_config_without_secrets_is_accepted(tmp_path):
    cfg = make_config(tmp_path, redis="redis://127.0.0.1:1/0")
    os.chmod(cfg, 0o644)
    assert check(cfg).returncode == 0


def test_a_world_readable_secret_file_is_refused(tmp_path):
    pw = tmp_path / "api.secret"
    pw.write_text(SECRET)
    pw.chmod(0o604)
    cfg = make_config(tmp_path, redis="redis://127.0.0.1:1/0",
                      sites={"site1.local": {"url": "http://127.0.0.1:1", "api_key": "k",
                                             "api_secret_file": str(pw)}})
    res = check(cfg)
    assert res.returncode == 3 and str(pw) in res.stderr, res.stderr
    pw.chmod(0o600)
    assert check(cfg).returncode == 0


def test_secrets_reach_no_command_line_environment_log_or_record(fac, redis_factory, tmp_path):
    secured = redis_factory(password=SECRET)
    cfg = make_config(tmp_path, name="secure.json", workers=2,
                      redis="redis://:%s@127.0.0.1:%d/0" % (SECRET, secured.port),
                      sites={"site1.local": {"url": "http://127.0.0.1:1", "api_key": "k",
                                             "api_secret": SECRET}})
    pool = fac.start(config=cfg, wait=False)
    r = secured.client
    jid = enqueue(r, job("echo", {"note": "hello"}))
    rec = wait_result(r, jid, timeout=10)
    assert rec["status"] == "Success"
    with open("/proc/%d/task/%d/children" % (pool.pid, pool.pid)) as f:
        pids = [pool.pid] + [int(p) for p in f.read().split()]
    assert len(pids) == 3, pids  # the supervisor and its two workers
    for pid in pids:
        for part in ("cmdline", "environ"):
            with open("/proc/%d/%s" % (pid, part), "rb") as f:
                assert SECRET.encode() not in f.read(), "secret in /proc/%d/%s" % (pid, part)
    assert SECRET.encode() not in msgpack.packb(rec)
    pool.stop(timeout=10)
    assert SECRET not in pool.log_text()
    audit = tmp_path / "audit.jsonl"
    assert audit.exists() and SECRET not in audit.read_text()


def test_a_redis_acl_user_authenticates(fac, redis_factory, tmp_path):
    secured = redis_factory(password="admin-pw")
    secured.client.execute_command("ACL", "SETUSER", "facpool", "on", ">" + SECRET, "~*", "&*",
                                   "+@all")
    cfg = make_config(tmp_path, name="acl.json", workers=1,
                      redis="redis://facpool:%s@127.0.0.1:%d/0" % (SECRET, secured.port))
    pool = fac.start(config=cfg, wait=False)
    jid = enqueue(secured.client, job("echo", {"acl": True}))
    assert wait_result(secured.client, jid, timeout=10)["status"] == "Success"
    clients = secured.client.execute_command("CLIENT", "LIST").decode()
    assert "user=facpool" in clients, clients
    pool.stop(timeout=10)
    assert SECRET not in pool.log_text()
