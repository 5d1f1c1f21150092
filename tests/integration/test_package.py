"""The Debian package (cmake/packaging.cmake, ./dev.sh package): built with cpack from
this build, it holds the binaries, units, example config (a conffile) and docs, with
Depends computed from the binaries; installed on this machine with dpkg it creates the
fac-worker user and spool, and a pool started by hand as that user runs a job; purge
removes it again.

These tests change the machine (dpkg -i, a system user). Every install is purged and
the user and spool are removed again when they did not exist before, even when a test
fails. They need root and dpkg and refuse to run where fac-worker is already installed.
"""

import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BUILD_DIR, children_of, wait_until

PACKAGE = "fac-worker"
USER = "fac-worker"
SPOOL = Path("/var/spool/fac-worker")
CONFIG = Path("/etc/fac-worker/fac.json")
BINARIES = ["/usr/bin/fac-worker", "/usr/bin/fac-scheduler", "/usr/bin/fac-ctl"]
UNITS = ["/lib/systemd/system/fac-worker.service", "/lib/systemd/system/fac-worker@.service",
         "/lib/systemd/system/fac-scheduler.service"]
DSH_STATE = Path("/var/lib/systemd/deb-systemd-helper-enabled")


def run(*args, timeout=120):
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, "%s failed (%d):\n%s%s" % (
        " ".join(args), res.returncode, res.stdout, res.stderr)
    return res


def package_state():
    res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True,
                         text=True)
    return res.stdout.strip() if res.returncode == 0 else "not-installed"


def user_exists():
    try:
        pwd.getpwnam(USER)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The .deb cpack builds from this build dir, written to a private directory."""
    for tool in ("dpkg", "dpkg-deb", "dpkg-query", "cpack", "runuser"):
        if not shutil.which(tool):
            pytest.fail("%s is missing: the package tests need dpkg, dpkg-dev, cmake and "
                        "util-linux (./dev.sh deps installs them)" % tool)
    if os.geteuid() != 0:
        pytest.fail("the package tests install a .deb with dpkg and must run as root")
    out = tmp_path_factory.mktemp("deb")
    run("cpack", "-G", "DEB", "-B", str(out), "--config",
        os.path.join(BUILD_DIR, "CPackConfig.cmake"))
    debs = list(out.glob("fac-worker_*.deb"))
    assert len(debs) == 1, "cpack wrote %s" % debs
    return debs[0]


@pytest.fixture
def machine():
    """Puts the machine back as it was: purges the package, and removes the user, group
    and spool when they did not exist before the test."""
    state = package_state()
    if "installed" in state.split():
        pytest.fail("fac-worker is installed on this machine (%s); the test installs and "
                    "purges its own copy: dpkg --purge fac-worker first" % state)
    had_user, had_spool = user_exists(), SPOOL.exists()
    yield
    subprocess.run(["dpkg", "--purge", PACKAGE], capture_output=True, timeout=120)
    if not had_user and user_exists():
        subprocess.run(["userdel", USER], capture_output=True)
    if not had_user:
        try:
            grp.getgrnam(USER)
            subprocess.run(["groupdel", USER], capture_output=True)
        except KeyError:
            pass
    if not had_spool:
        shutil.rmtree(SPOOL, ignore_errors=True)


@pytest.fixture
def installed(deb, machine):
    run("dpkg", "-i", str(deb))
    return deb


def test_the_package_holds_the_binaries_units_example_config_and_docs(deb):
    listing = run("dpkg-deb", "-c", str(deb)).stdout
    paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    for path in BINARIES + UNITS + [str(CONFIG), "/usr/share/doc/fac-worker/README.md",
                                    "/usr/share/doc/fac-worker/copyright",
                                    "/usr/share/doc/fac-worker/docs/configuration.md"]:
        assert path in paths, "%s missing from the package:\n%s" % (path, listing)
    config_line = next(line for line in listing.splitlines() if line.endswith("/fac.json"))
    assert config_line.startswith("-rw-r----- "), config_line


def test_the_control_data_has_computed_depends_a_conffile_and_maintainer_scripts(deb):
    info = run("dpkg-deb", "-I", str(deb)).stdout
    print(info)
    fields = dict(line.split(": ", 1) for line in
                  run("dpkg-deb", "-f", str(deb)).stdout.splitlines() if ": " in line)
    depends = fields["Depends"]
    for dep in ("adduser", "libc6", "libhiredis", "libev4", "libmsgpackc2", "libmariadb3",
                "libcurl4", "libjansson4", "libssl3", "libsystemd0"):
        assert dep in depends, "%s not in Depends: %s" % (dep, depends)
    project = (Path(__file__).resolve().parents[2] / "CMakeLists.txt").read_text()
    assert "project(fac-worker VERSION %s " % fields["Version"] in project, fields["Version"]
    assert fields["Recommends"] == "redis-server"
    assert run("dpkg-deb", "-I", str(deb), "conffiles").stdout.split() == [str(CONFIG)]
    for script in ("postinst", "prerm", "postrm"):
        assert script in info, "%s missing:\n%s" % (script, info)


def test_installing_creates_the_user_the_spool_and_a_config_the_user_can_check(installed):
    user = pwd.getpwnam(USER)
    assert user.pw_uid < 1000 and user.pw_dir == "/var/lib/fac-worker"
    st = SPOOL.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (user.pw_uid, user.pw_gid, 0o750)
    st = CONFIG.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, user.pw_gid, 0o640)
    res = run("runuser", "-u", USER, "--", "/usr/bin/fac-worker", "--check-config",
              "-c", str(CONFIG))
    assert "valid" in res.stdout + res.stderr


def test_the_pool_started_by_hand_as_the_packaged_user_runs_a_job(installed, redis):
    # The packaged example, pointed at the test's redis-server, in a directory the
    # service user can read; its audit goes to the packaged spool.
    config = json.loads(CONFIG.read_text())
    config["redis"] = redis.url
    workdir = Path(tempfile.mkdtemp(prefix="fac-package-"))
    user = pwd.getpwnam(USER)
    os.chown(workdir, 0, user.pw_gid)
    workdir.chmod(0o750)
    cfg = workdir / "fac.json"
    cfg.write_text(json.dumps(config))
    os.chown(cfg, 0, user.pw_gid)
    cfg.chmod(0o640)
    log = open(workdir / "pool.log", "w+")
    pool = subprocess.Popen(["runuser", "-u", USER, "--", "/usr/bin/fac-worker", "-c", str(cfg)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        ctl = ["/usr/bin/fac-ctl", "-c", str(cfg)]

        def idle():
            res = subprocess.run(ctl + ["stats", "--json"], capture_output=True, text=True)
            assert pool.poll() is None, "the pool exited:\n" + (workdir / "pool.log").read_text()
            return '"state":"idle"' in res.stdout

        wait_until(idle, 15, 0.05, "the pool's workers to report idle")
        res = run(*ctl, "enqueue", "echo", '{"package": "works"}', "--wait", timeout=30)
        assert '"package"' in res.stdout and "works" in res.stdout, res.stdout

        # Every process of the pool runs as the packaged user (runuser itself is root).
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        group = [p for p in pids if p != pool.pid and _pgid(p) == pool.pid]
        assert group, "no pool processes found"
        assert {os.stat("/proc/%d" % p).st_uid for p in group} == {user.pw_uid}

        # The result is stored before the audit row is flushed (docs/audit.md).
        def echo_row():
            text = (SPOOL / "audit.jsonl").read_text()
            return any(json.loads(line).get("tool_name") == "echo" for line in text.splitlines())

        wait_until(echo_row, 5, 0.02, "the echo job's row in %s/audit.jsonl" % SPOOL)

        # TERM to the supervisor (runuser's child), as systemctl stop sends it; runuser
        # then exits with the supervisor's status.
        (supervisor,) = children_of(pool.pid)
        os.kill(supervisor, signal.SIGTERM)
        assert pool.wait(30) == 0, (workdir / "pool.log").read_text()
    finally:
        if pool.poll() is None:
            os.killpg(pool.pid, signal.SIGKILL)
            pool.wait(10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_purge_removes_the_package_files_units_state_and_an_empty_spool(installed):
    run("dpkg", "--purge", PACKAGE)
    assert "installed" not in package_state().split(), package_state()
    for path in BINARIES + UNITS + [str(CONFIG), "/etc/fac-worker"]:
        assert not os.path.exists(path), "%s left after purge" % path
    assert not SPOOL.exists()
    left = [str(p) for p in DSH_STATE.rglob("*fac-*")] if DSH_STATE.exists() else []
    assert not left, "deb-systemd-helper state left after purge: %s" % left


def test_purge_keeps_a_spool_that_holds_audit_rows(installed):
    rows = SPOOL / "audit.jsonl"
    rows.write_text('{"tool_name": "echo"}\n')
    res = run("dpkg", "--purge", PACKAGE)
    assert rows.exists()
    assert "kept /var/spool/fac-worker" in res.stderr + res.stdout
