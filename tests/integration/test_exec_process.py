"""exec tools (docs/executors.md "exec"): a configured program, never a shell,
with the job's args as JSON on stdin and its result from stdout, in its own
process group under its own limits, against real child programs in
tests/integration/progs/. Every test that leaves processes behind on
purpose checks by scanning /proc that none of them survives."""

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from conftest import (SITE, enqueue, enqueue_many, job, proc_stat,
                      wait_all_results, wait_result, wait_until)

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "progs")
PYTHON = "/usr/bin/python3"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="run_as switches users: needs root")


@pytest.fixture
def marker():
    """A string in the argv of every process a test's tool starts; processes
    forked without exec keep it. At teardown, survivors are killed by pid."""
    m = "fac-test-" + uuid.uuid4().hex
    yield m
    for pid in marked(m):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def marked(m):
    """Live (non-zombie) processes whose command line holds marker m."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        st = proc_stat(int(name))
        if m.encode() in cmd and st and st[0] not in ("Z", "X"):
            found.append(int(name))
    return found


def assert_none_survive(m, within):
    wait_until(lambda: not marked(m), within, interval=0.05,
               what="every process of the tool gone (left: %s)" % marked(m))


def tool(prog, m, *argv, **limits):
    return dict({"kind": "exec", "argv": [PYTHON, "-S", os.path.join(PROGS, prog), m] + list(argv)},
                **limits)


def start(fac, tools, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("concurrency", 8)
    return fac.start(tools=tools, **kw)


def run(fac, name, args=None, timeout=15, **env):
    return wait_result(fac.r, enqueue(fac.r, job(name, args or {}, **env)), timeout=timeout)


def assert_error(rec, *phrases, status="Error", etype="ExecutionError"):
    assert rec["status"] == status, rec
    assert rec["error"]["type"] == etype, rec["error"]
    for p in phrases:
        assert p in rec["error"]["message"], rec["error"]


# ---- what a tool sees --------------------------------------------------------

def test_args_arrive_as_json_on_stdin_and_json_stdout_is_the_result(fac, marker):
    start(fac, {"look": tool("introspect.py", marker)})
    args = {"doctype": "ToDo", "n": [1, 2.5, None, True], "s": "h\u00e9"}
    rec = run(fac, "look", args)
    assert rec["status"] == "Success", rec
    assert rec["result"]["args"] == args


def test_only_fds_0_to_2_are_inherited_and_the_tool_has_its_own_group(fac, marker):
    start(fac, {"look": tool("introspect.py", marker)})
    res = run(fac, "look")["result"]
    assert res["fds"] == [0, 1, 2], "the tool inherited %s" % res["fds"]
    assert res["own_group"] is True


def test_the_environment_is_the_allow_list_and_the_job_context(fac, marker, monkeypatch):
    monkeypatch.setenv("FAC_TEST_ALLOWED", "yes")
    monkeypatch.setenv("FAC_TEST_SECRET", "s3cret")
    start(fac, {"look": tool("introspect.py", marker, env=["PATH", "FAC_TEST_ALLOWED"])})
    rec = run(fac, "look", site=SITE, user="u@example.com", id="env-job-1")
    env = rec["result"]["env"]
    env.pop("LC_CTYPE", None)  # python -S sets it for itself on some locales
    assert env == {"PATH": os.environ["PATH"], "FAC_TEST_ALLOWED": "yes",
                   "FAC_JOB_ID": "env-job-1", "FAC_TOOL": "look", "FAC_SITE": SITE,
                   "FAC_USER": "u@example.com"}, env


def test_the_default_environment_leaves_the_workers_secrets_out(fac, marker, monkeypatch):
    monkeypatch.setenv("FAC_TEST_SECRET", "s3cret")
    start(fac, {"look": tool("introspect.py", marker)})
    env = run(fac, "look")["result"]["env"]
    assert "FAC_TEST_SECRET" not in env
    assert set(env) - {"LC_CTYPE"} <= {"PATH", "LANG", "LC_ALL", "TZ", "FAC_JOB_ID", "FAC_TOOL"}


def test_limits_become_rlimits(fac, marker):
    start(fac, {"look": tool("introspect.py", marker, memory_limit="256MB", cpu_limit=5)})
    limits = run(fac, "look")["result"]["limits"]
    assert limits["AS"] == [256 << 20, 256 << 20]
    assert limits["CPU"] == [5, 6]
    assert limits["CORE"] == [0, 0]


@needs_root
def test_run_as_runs_the_tool_as_that_user(fac, marker):
    uid = 61000 + os.getpid() % 3000
    start(fac, {"look": tool("introspect.py", marker, run_as="%d:%d" % (uid, uid),
                             max_procs=50)})
    res = run(fac, "look")["result"]
    assert res["uid"] == uid
    assert res["limits"]["NPROC"] == [50, 50]


@needs_root
def test_run_as_a_user_name_drops_every_id_and_takes_that_users_groups(fac, marker, monkeypatch):
    """Least privilege (issue 8): a root worker runs the tool as `nobody` with real,
    effective and saved ids all switched, nobody's groups (initgroups(3)) and none of
    root's, fds 0-2 only, and the scrubbed environment."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    monkeypatch.setenv("FAC_TEST_SECRET", "s3cret")
    start(fac, {"look": tool("introspect.py", marker, run_as="nobody")})
    res = run(fac, "look")["result"]
    uid, gid = nobody.pw_uid, nobody.pw_gid
    assert res["ids"]["uid"] == [uid, uid, uid], res["ids"]
    assert res["ids"]["gid"] == [gid, gid, gid], res["ids"]
    assert res["ids"]["groups"] == sorted(set(os.getgrouplist("nobody", gid))), res["ids"]
    assert 0 not in res["ids"]["groups"]
    assert res["fds"] == [0, 1, 2], res["fds"]
    assert "FAC_TEST_SECRET" not in res["env"]
    assert set(res["env"]) - {"LC_CTYPE"} <= {"PATH", "LANG", "LC_ALL", "TZ", "FAC_JOB_ID",
                                               "FAC_TOOL"}, res["env"]


@needs_root
def test_run_as_uid_gid_has_no_supplementary_groups(fac, marker):
    uid = 61000 + os.getpid() % 3000
    start(fac, {"look": tool("introspect.py", marker, run_as="%d:%d" % (uid, uid + 1))})
    ids = run(fac, "look")["result"]["ids"]
    assert ids == {"uid": [uid] * 3, "gid": [uid + 1] * 3, "groups": []}, ids


def test_run_as_a_missing_user_is_refused_at_load(tmp_path):
    from conftest import make_config, WORKER_BIN
    import subprocess
    cfg = make_config(tmp_path, tools={"t": {"kind": "exec", "argv": ["/bin/true"],
                                             "run_as": "no-such-user-fac"}})
    r = subprocess.run([WORKER_BIN, "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 3, r
    assert "tools.t.run_as" in r.stderr and 'no user "no-such-user-fac"' in r.stderr, r.stderr


@needs_root
def test_run_as_is_refused_when_fac_worker_is_not_root(tmp_path):
    """Started as nobody, fac-worker cannot switch users: it refuses to start, naming the
    tool and the fix, instead of failing every job."""
    from conftest import make_config, WORKER_BIN
    import shutil
    import subprocess
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="fac-runas-"))
    try:
        d.chmod(0o755)
        cfg = make_config(d, tools={"t": {"kind": "exec", "argv": ["/bin/true"],
                                          "run_as": "root"}},
                          log_file=str(d / "fac.log"))
        cfg.chmod(0o644)  # no secrets in it: nobody may read it
        r = subprocess.run([WORKER_BIN, "--check-config", "-c", str(cfg)], capture_output=True,
                           text=True, timeout=30, user=65534, group=65534, extra_groups=[])
        assert r.returncode == 3, r
        assert "tools.t.run_as" in r.stderr and "root" in r.stderr, r.stderr
        assert "runs as uid 65534" in r.stderr, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("out,result", [("hello\n", "hello"), ("", None),
                                        ('{"a": [1]}', {"a": [1]}), ("42", 42)])
def test_stdout_is_json_when_it_parses_else_text(fac, marker, out, result):
    start(fac, {"say": tool("say.py", marker, out)})
    rec = run(fac, "say")
    assert rec["status"] == "Success" and rec["result"] == result, rec


# ---- failures --------------------------------------------------------------------

def test_a_non_zero_exit_is_an_error_with_stderr(fac, marker):
    start(fac, {"say": tool("say.py", marker, "partial", "Traceback: boom\n", "3")})
    assert_error(run(fac, "say"), 'tool "say" exited with status 3: Traceback: boom')


def test_a_crash_is_an_error_naming_the_signal(fac, marker):
    start(fac, {"crash": tool("crash.py", marker)})
    assert_error(run(fac, "crash"), "killed by SIGSEGV (Segmentation fault)", "about to crash")


def test_a_program_that_cannot_be_started_is_an_error_naming_it(fac):
    start(fac, {"gone": {"kind": "exec", "argv": ["/nonexistent/tool"]}})
    assert_error(run(fac, "gone"), "exited with status 127",
                 "/nonexistent/tool: No such file or directory")


def test_memory_limit_holds_an_allocation(fac, marker):
    start(fac, {"hog": tool("hog.py", marker, memory_limit="128MB")})
    assert_error(run(fac, "hog", {"mb": 512}), "exited with status 1", "MemoryError")


def test_cpu_limit_stops_a_spinning_tool(fac, marker):
    start(fac, {"spin": tool("spin.py", marker, cpu_limit=1, timeout=10)})
    rec = run(fac, "spin")
    assert_error(rec, "killed by SIGXCPU", "cpu_limit of 1 s")
    assert rec["duration_ms"] < 4000


def test_a_1gb_writer_is_stopped_at_max_output(fac, marker):
    start(fac, {"writer": tool("writer.py", marker, timeout=20)})
    rec = run(fac, "writer")
    assert_error(rec, "more than max_output (10485760 bytes)", "tools.writer.max_output",
                 etype="OutputTooLarge")
    assert rec["duration_ms"] < 3000, "the writer was not stopped early"
    assert_none_survive(marker, 2)


def test_stderr_keeps_its_last_max_stderr_bytes(fac, marker):
    noise = "x" * 5000 + "THE END"
    start(fac, {"say": tool("say.py", marker, "", noise, "1", max_stderr=1000)})
    msg = run(fac, "say")["error"]["message"]
    prefix = 'tool "say" exited with status 1: '
    assert msg.startswith(prefix) and msg.endswith("THE END"), msg[:80]
    assert len(msg) - len(prefix) == 1000


# ---- nothing survives ----------------------------------------------------------

def test_a_timeout_kills_the_whole_group(fac, marker):
    start(fac, {"sleep": tool("sleeper.py", marker, timeout=0.5, kill_grace=5)})
    rec = run(fac, "sleep")
    assert_error(rec, "0.5 s", status="Timeout", etype="Timeout")
    assert 450 < rec["duration_ms"] < 1000
    assert_none_survive(marker, 1)  # SIGTERM was enough: no need to wait for the grace


def test_a_tool_ignoring_sigterm_is_killed_after_kill_grace(fac, marker):
    start(fac, {"sleep": tool("sleeper.py", marker, "ignore-term", timeout=0.5, kill_grace=1)})
    t0 = time.monotonic()
    rec = run(fac, "sleep")
    assert rec["status"] == "Timeout", rec
    assert len(marked(marker)) == 2, "parent and child ignore SIGTERM during the grace"
    assert_none_survive(marker, 3)
    assert time.monotonic() - t0 >= 1.4, "killed before kill_grace"


@needs_root
def test_a_fork_bomb_is_held_by_max_procs_and_killed_on_timeout(fac, marker):
    uid = 61000 + (os.getpid() + 7) % 3000
    start(fac, {"bomb": tool("forkbomb.py", marker, run_as="%d:%d" % (uid, uid),
                             max_procs=20, timeout=1.5, kill_grace=0.2)})
    jid = enqueue(fac.r, job("bomb", {}))
    most = 0
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        most = max(most, len(marked(marker)))
        time.sleep(0.05)
    assert 5 <= most <= 20, "%d processes of the bomb at once" % most
    rec = wait_result(fac.r, jid, timeout=5)
    assert rec["status"] == "Timeout", rec
    assert_none_survive(marker, 3)
    assert run(fac, "bomb", timeout=5)["status"] == "Timeout", "the uid's process count recovered"
    assert_none_survive(marker, 3)


def test_what_a_tool_leaves_running_dies_when_it_exits(fac, marker):
    start(fac, {"leave": tool("sleeper.py", marker, "leave", timeout=10)})
    rec = run(fac, "leave")
    assert rec["status"] == "Success" and rec["result"] == {"left": "a child"}, rec
    assert rec["duration_ms"] < 2000, "waited for the left child"
    assert_none_survive(marker, 1)


def test_stopping_the_worker_kills_its_running_tools(fac, marker):
    pool = start(fac, {"sleep": tool("sleeper.py", marker, "ignore-term", timeout=60)},
                 shutdown_timeout=0.3)
    enqueue(fac.r, job("sleep", {}))
    wait_until(lambda: len(marked(marker)) == 2, 5, what="the tool running")
    pool.stop()
    assert_none_survive(marker, 2)


def test_exec_jobs_run_side_by_side_in_one_worker(fac, marker):
    start(fac, {"say": tool("say.py", marker, "ok")}, concurrency=8)
    t0 = time.monotonic()
    ids = enqueue_many(fac.r, [job("say", {"i": i}) for i in range(16)])
    recs = wait_all_results(fac.r, ids, timeout=15)
    assert all(r["status"] == "Success" and r["result"] == "ok" for r in recs.values())
    assert time.monotonic() - t0 < 5
