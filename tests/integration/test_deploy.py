"""The systemd units in deploy/systemd pass `systemd-analyze verify` and score as
"OK" (2.5 or lower) in `systemd-analyze security` (DESIGN §5, docs/operations.md)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import WORKER_BIN

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
NAMES = ["fac-worker.service", "fac-worker@.service", "fac-scheduler.service"]


@pytest.fixture
def units(tmp_path):
    """The units with /usr/bin paths pointing at this build (verify checks them)."""
    build = Path(WORKER_BIN).parent
    for name in NAMES:
        text = (UNITS / name).read_text()
        text = text.replace("/usr/bin/fac-worker", str(build / "fac-worker"))
        text = text.replace("/usr/bin/fac-scheduler", str(build / "fac-scheduler"))
        (tmp_path / name).write_text(text)
    return tmp_path


def analyze(*args, cwd):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd"
    return subprocess.run(["systemd-analyze", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_units_pass_systemd_analyze_verify(units):
    res = analyze("verify", "--man=no", "fac-worker.service", "fac-worker@erp.service",
                  "fac-scheduler.service", cwd=units)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "" and res.stderr.strip() == "", res.stdout + res.stderr


@pytest.mark.parametrize("name", ["fac-worker.service", "fac-scheduler.service"])
def test_units_score_ok_in_systemd_analyze_security(units, name):
    res = analyze("security", "--offline=yes", "--no-pager", name, cwd=units)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", res.stdout)
    assert m, res.stdout[-2000:] + res.stderr
    score = float(m.group(1))
    print("%s: exposure %.1f %s" % (name, score, m.group(2)))
    assert score <= 2.5, "%s scores %.1f %s" % (name, score, m.group(2))


def test_the_pool_unit_is_type_notify_with_graceful_stop_and_no_restart_on_boot_errors():
    text = (UNITS / "fac-worker.service").read_text()
    for line in ["Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed",
                 "KillSignal=SIGTERM", "RestartPreventExitStatus=3", "WatchdogSec=30"]:
        assert line in text.splitlines(), line
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", text, re.M).group(1))
    assert stop > 25 + 5, "TimeoutStopSec must exceed shutdown_timeout plus kill_grace"
