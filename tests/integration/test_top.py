"""fac-ctl top (docs/operations.md "fac-ctl top"): one frame with --once, and a
live view that redraws and quits on q."""

import shutil
import signal
import subprocess


from conftest import CTL_BIN, builtin_tools, ctl, enqueue, job, wait_result, wait_until

TOOLS = builtin_tools("echo", "noop")


def test_once_prints_queues_workers_and_recent_failures(fac):
    cfg = fac.config(tools=TOOLS)
    pool = fac.start(config=cfg)
    wait_result(fac.r, enqueue(fac.r, job("echo")))
    enqueue(fac.r, job("no_such_tool", id="dead-one"))
    wait_until(lambda: fac.r.llen("fac:{default}:dead"), 5, what="a dead letter")
    pid = next(iter(pool.wait_workers(1).values()))["_pid"]
    res = ctl(cfg, "top", "--once")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "\033[" not in out  # no screen control for scripts
    assert "QUEUE" in out and "\ndefault " in out
    assert str(pid) in out
    assert "RECENT FAILURES" in out and "dead-one" in out


def test_bad_interval_is_a_usage_error(fac):
    cfg = fac.config(tools=TOOLS)
    res = ctl(cfg, "top", "--interval", "0")
    assert res.returncode == 2 and "--interval" in res.stderr


def test_live_view_redraws_and_quits_on_q(fac, tmp_path):
    assert shutil.which("tmux"), "tmux is missing: ./dev.sh deps installs it"
    cfg = fac.config(tools=TOOLS)
    fac.start(config=cfg)
    sock = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", sock]
    subprocess.run(tmux + ["new-session", "-d", "-x", "120", "-y", "40", "-s", "top",
                           "%s -c %s top --interval 0.2" % (CTL_BIN, cfg)], check=True)
    try:
        def screen():
            return subprocess.run(tmux + ["capture-pane", "-p", "-t", "top"],
                                  capture_output=True, text=True).stdout
        wait_until(lambda: "QUEUE" in screen(), 5, what="a first frame")
        fac.pools[0].signal(signal.SIGTSTP)  # quiet: the jobs stay queued
        wait_until(lambda: all(h.get("state") == "quiet"
                               for h in fac.pools[0].registry().values()), 5, what="quiet")
        for _ in range(7):
            enqueue(fac.r, job("noop"))
        wait_until(lambda: any(l.split()[:2] == ["default", "7"] for l in screen().splitlines()),
                   5, what="the redrawn depth")
        subprocess.run(tmux + ["send-keys", "-t", "top", "q"], check=True)
        wait_until(lambda: subprocess.run(tmux + ["has-session", "-t", "top"],
                                          capture_output=True).returncode != 0,
                   5, what="top to quit on q")
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
