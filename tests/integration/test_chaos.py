"""The chaos suite's short form (tests/chaos/chaos.py, docs/chaos.md): 20,000
jobs through 2 workers with the audit in MariaDB while workers are SIGKILLed,
the supervisor is SIGKILLed and restarted once, Redis is restarted once and
MariaDB is stopped for 5 s.  No job lost, no audit row doubled or missing, and
the workers say in the log that they came back after both outages."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "chaos"))
import chaos  # noqa: E402


def test_chaos_short_form(tmp_path):
    args = chaos.parse_args(["--jobs", "20000", "--rate", "2000", "--kills", "6",
                             "--db-outage", "5", "--drain-timeout", "120",
                             "--workdir", str(tmp_path / "chaos")])
    ok, counts, resumed = chaos.run(args)
    assert counts["jobs lost (must be 0)"] == 0, counts
    assert counts["doubled rows (must be 0)"] == 0, counts
    assert counts["jobs without a row for their final attempt (must be 0)"] == 0, counts
    assert counts["rows of an attempt that never ran (must be 0)"] == 0, counts
    assert counts["result records present"] + counts["jobs dead"] == 20000, counts
    assert all(resumed.values()), resumed
    assert ok
