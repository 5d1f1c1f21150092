#!/usr/bin/python3
"""Leak check (issue 8): a fac-worker pool (supervisor + 2 workers) under
valgrind memcheck runs many jobs of every executor kind that needs no outside
server, is stopped with TERM (graceful), and every valgrind log is parsed.

    tests/valgrind/run.py                      # 100,000 jobs (tests/valgrind/README.md)
    tests/valgrind/run.py --jobs 2000          # the short form (ctest -L valgrind)

It starts its own redis-server and fac_standin.py (the mcp/http stand-in) with
the helpers of tests/integration/conftest.py and ends them by pid / process
group, also on error or Ctrl-C.  The job mix: mostly noop/echo, plus exec
(/bin/cat), mcp and http against the stand-in, fail, timeouts (sleep past the
timeout), and bad input (not msgpack, unknown tool, args not a map, over
max_payload).

valgrind runs with --leak-check=full --trace-children=yes (the workers are
forked, not exec'd, so they are traced anyway; the exec tools /bin/cat are
skipped with --trace-children-skip) and a log file per pid.  For each log it
prints the process (supervisor / worker), "definitely lost", "indirectly
lost", and the error count.  Exit status: 0 when every process exited with a
leak summary and there is no definite leak and no memory error; 1 otherwise
(2 when the run itself failed: jobs lost, a process killed).
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
from conftest import (FacStandin, RedisServer, WORKER_BIN, children_of,  # noqa: E402
                      dead_key, fetch_results, job, make_config, pack,
                      ready_key, site_config, wait_until)

SITE = "site1.local"
VG_ERR_EXIT = 97


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--batch", type=int, default=2000,
                   help="jobs enqueued at once; the next batch when the queue is short")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--show-possible", action="store_true",
                   help="also print the stacks of 'possibly lost' blocks in the logs")
    p.add_argument("--workdir", help="work directory (default: a new temporary one)")
    p.add_argument("--timeout", type=float, default=7200,
                   help="give up (exit 2) when the jobs are not done after this long")
    return p.parse_args(argv)


def tools():
    return {
        "noop": {"kind": "builtin"},
        "echo": {"kind": "builtin"},
        "fail": {"kind": "builtin"},
        "sleep": {"kind": "builtin", "timeout": 0.05},
        "cat": {"kind": "exec", "argv": ["/bin/cat"], "timeout": 30},
        "sleeper": {"kind": "exec", "argv": ["/bin/sleep", "5"], "timeout": 0.2,
                    "kill_grace": 0.1},
        "echo_args": {"kind": "mcp", "timeout": 30},
        "create_document": {"kind": "mcp", "timeout": 30},
        "drop": {"kind": "mcp", "timeout": 30},
        "huge": {"kind": "mcp", "timeout": 30, "max_reply": "64KB"},
        "summarize": {"kind": "http", "url": "/api/method/myapp.api.summarize",
                      "timeout": 30},
        "validate": {"kind": "http", "url": "/api/method/myapp.api.validate",
                     "timeout": 30},
    }


# (weight, maker) -> an envelope dict, or raw bytes (bad input)
def mix():
    big = "x" * 300
    return [
        (60, lambda i: job("noop")),
        (25, lambda i: job("echo", {"i": i, "s": big, "l": [1, 2.5, None, True]})),
        (3, lambda i: job("fail", {"message": "boom %d" % i})),
        (1, lambda i: job("sleep", {"ms": 2000})),                    # Timeout
        (2, lambda i: job("cat", {"i": i, "k": "v\u00e9"})),
        (0.2, lambda i: job("sleeper")),                              # exec timeout
        (2, lambda i: job("echo_args", {"i": i}, site=SITE)),
        (0.5, lambda i: job("create_document", {}, site=SITE)),
        (0.2, lambda i: job("drop", {}, site=SITE)),
        (0.2, lambda i: job("huge", {"mb": 0.1}, site=SITE)),         # ReplyTooLarge
        (2, lambda i: job("summarize", {"i": i}, site=SITE)),
        (0.5, lambda i: job("validate", {}, site=SITE)),
        (0.5, lambda i: b"\xc1 not msgpack %d" % i),                  # DecodeError
        (0.5, lambda i: job("no_such_tool")),                         # UnknownTool
        (0.3, lambda i: pack({"v": 1, "id": "bad-%d" % i, "tool": "echo", "args": [1]})),
        (0.1, lambda i: job("echo", {"blob": "y" * 70000})),          # over max_payload
        (0.2, lambda i: job("echo", {"e": b"\xff\x00raw", "s": "nul\x00"})),
    ]


def pick(rng, table):
    total = sum(w for w, _ in table)
    x = rng.random() * total
    for w, maker in table:
        x -= w
        if x <= 0:
            return maker
    return table[-1][1]


SUMMARY_RE = {
    "definitely": re.compile(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks"),
    "indirectly": re.compile(r"indirectly lost: ([\d,]+) bytes in ([\d,]+) blocks"),
    "possibly": re.compile(r"possibly lost: ([\d,]+) bytes in ([\d,]+) blocks"),
    "errors": re.compile(r"ERROR SUMMARY: ([\d,]+) errors from ([\d,]+) contexts"),
}


# error reports valgrind prints as they happen (a process that exec'd has no summary)
ERROR_LINE_RE = re.compile(r"^==\d+== (Invalid (read|write|free)|Conditional jump|Syscall param|"
                           r"Use of uninitialised|Mismatched free|Source and destination overlap|"
                           r"Argument '.*' of function .* has a fishy)", re.M)


def num(s):
    return int(s.replace(",", ""))


def parse_log(path, roles):
    text = path.read_text(errors="replace")
    m = re.search(r"==(\d+)== Command: (.*)", text)
    pid = int(path.name.split(".")[1])
    info = {"pid": pid, "log": str(path), "command": m.group(2) if m else "?",
            "role": roles.get(pid, "child"), "complete": "ERROR SUMMARY" in text}
    for key, rx in SUMMARY_RE.items():
        mm = rx.search(text)
        info[key] = num(mm.group(1)) if mm else 0
        if key == "errors" and mm:
            info["error_contexts"] = num(mm.group(2))
    info["errors"] = max(info["errors"], len(ERROR_LINE_RE.findall(text)))
    if "All heap blocks were freed" in text:
        info["definitely"] = info["indirectly"] = info["possibly"] = 0
        info["all_freed"] = True
    # a process that exec'd something else (the scheduler, or a tool) leaves a
    # log without a summary; fac-worker's own processes all end with one
    info["execd"] = not info["complete"] and "Command:" in text
    return info


def vg_flags(vgdir, show_possible=False):
    kinds = "definite,indirect,possible" if show_possible else "definite,indirect"
    return ["valgrind", "--leak-check=full", "--show-leak-kinds=" + kinds,
            "--errors-for-leak-kinds=definite", "--trace-children=yes",
            "--trace-children-skip=/bin/*,/usr/bin/*,*/fac-scheduler",
            "--child-silent-after-fork=no", "--track-fds=no",
            "--error-exitcode=%d" % VG_ERR_EXIT, "--num-callers=30",
            "--log-file=%s/vg.%%p.log" % vgdir]


def self_check(work):
    """The same flags and parser on a program with one known definite leak and one
    invalid read: both must be found, or this script could not fail."""
    d = work / "selfcheck"
    d.mkdir(exist_ok=True)
    src = d / "leak.c"
    src.write_text("#include <stdlib.h>\n#include <string.h>\n"
                   "int main(void) { char *p = malloc(4096); memset(p, 1, 4096); p = 0;\n"
                   "  int *q = malloc(4); int v = q[1]; free(q); return v == 7; }\n")
    subprocess.run(["cc", "-g", "-O0", "-o", str(d / "leak"), str(src)], check=True)
    r = subprocess.run(vg_flags(d) + [str(d / "leak")], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (log,) = d.glob("vg.*.log")
    info = parse_log(log, {})
    ok = (r.returncode == VG_ERR_EXIT and info["definitely"] == 4096 and info["errors"] >= 2
          and info["complete"])
    print("self-check (a program leaking 4096 bytes and reading past a block): %s "
          "(definitely lost %d, errors %d, exit %d)"
          % ("found" if ok else "NOT FOUND", info["definitely"], info["errors"], r.returncode),
          flush=True)
    return ok


def main(argv=None):
    a = parse_args(argv)
    if not shutil.which("valgrind"):
        print("valgrind not found (apt-get install valgrind)", file=sys.stderr)
        return 2
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="fac-vg-"))
    work.mkdir(parents=True, exist_ok=True)
    vgdir = work / "vg"
    if vgdir.exists():
        shutil.rmtree(vgdir)
    vgdir.mkdir()
    if not self_check(work):
        return 2
    rng = random.Random(8)
    srv = RedisServer(work / "redis").start()
    standin = FacStandin(work).start()
    r = srv.client
    cfg = make_config(work, redis=srv.url, workers=a.workers,
                      concurrency=a.concurrency, tools=tools(),
                      sites=site_config(standin.url), max_payload="64KB",
                      heartbeat_timeout=120, kill_grace=5, shutdown_timeout=60,
                      max_memory="2GB", max_memory_hard="4GB", max_jobs=0,
                      log_level="warn")
    argv = vg_flags(vgdir, a.show_possible) + [WORKER_BIN, "-c", str(cfg)]
    stderr = open(work / "fac-worker.stderr", "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr,
                            stderr=subprocess.STDOUT, start_new_session=True)
    rc = None
    status = 0
    roles = {proc.pid: "supervisor"}
    try:
        # wait for the workers (slow to start under valgrind)
        def workers_up():
            assert proc.poll() is None, "fac-worker exited early (%s)" % proc.returncode
            kids = children_of(proc.pid)
            return kids if len(kids) >= a.workers else None
        for pid in wait_until(workers_up, 120, interval=0.2, what="workers"):
            roles[pid] = "worker"
        print("pool up after %.1fs: supervisor %d, workers %s" % (
            time.monotonic() - t0, proc.pid, sorted(p for p in roles if p != proc.pid)),
            flush=True)
        table = mix()
        ids = []
        raw_bad = 0
        sent = 0
        t_jobs = time.monotonic()
        last_report = t_jobs
        while sent < a.jobs:
            if r.llen(ready_key()) > a.batch // 2:
                time.sleep(0.05)
            else:
                pipe = r.pipeline(transaction=False)
                for _ in range(min(a.batch, a.jobs - sent)):
                    env = pick(rng, table)(sent)
                    if isinstance(env, dict):
                        ids.append(env["id"])
                        pipe.lpush(ready_key(), pack(env))
                    else:
                        raw_bad += 1
                        pipe.lpush(ready_key(), env)
                    sent += 1
                pipe.execute()
            for pid in children_of(proc.pid):
                roles.setdefault(pid, "worker")
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                print("  %d/%d enqueued, %d waiting, %.0fs" % (
                    sent, a.jobs, r.llen(ready_key()), last_report - t_jobs), flush=True)
            if time.monotonic() - t0 > a.timeout:
                raise RuntimeError("not done after %.0fs" % a.timeout)
            assert proc.poll() is None, "fac-worker exited (%s)" % proc.returncode
        # every enveloped job gets a result record or a dead entry
        def done():
            assert proc.poll() is None, "fac-worker exited (%s)" % proc.returncode
            if r.llen(ready_key()):
                return False
            got = fetch_results(r, ids)
            dead = r.llen(dead_key())
            return len(got) + dead >= len(ids) + raw_bad and (got, dead)
        got, dead = wait_until(done, max(60, a.timeout - (time.monotonic() - t0)),
                               interval=1, what="every job finished")
        t_done = time.monotonic()
        statuses = {}
        for rec in got.values():
            statuses[rec.get("status")] = statuses.get(rec.get("status"), 0) + 1
        print("%d jobs done in %.1fs (%.0f/s): results %s, dead %d" % (
            a.jobs, t_done - t_jobs, a.jobs / max(t_done - t_jobs, 1e-9),
            dict(sorted(statuses.items(), key=str)), dead), flush=True)
        for pid in children_of(proc.pid):
            roles.setdefault(pid, "worker")
        # graceful stop
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(300)
        print("supervisor exited with %s after TERM (%.1fs)" % (rc, time.monotonic() - t_done))
    except Exception as e:
        print("RUN FAILED: %s" % e, file=sys.stderr)
        status = 2
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            status = 2
        stderr.close()
        standin.stop()
        srv.stop()
    total = time.monotonic() - t0
    # parse every log
    logs = sorted(vgdir.glob("vg.*.log"))
    print("\n%-10s %-8s %12s %12s %12s %8s  %s" % ("role", "pid", "definitely", "indirectly",
                                                  "possibly", "errors", "log"))
    bad = False
    fac_logs = 0
    execd = execd_errors = 0
    for p in logs:
        info = parse_log(p, roles)
        if info["execd"]:
            # a worker's child between fork and the exec of a tool (/bin/cat, ...): its
            # log ends at the exec, with no summary; only errors before it count
            execd += 1
            if info["errors"]:
                execd_errors += 1
                print("%-10s %-8d %12s %12s %12s %8d  %s" % (
                    "tool-child", info["pid"], "-", "-", "-", info["errors"], p.name))
            bad |= info["errors"] > 0
            continue
        fac_logs += 1
        print("%-10s %-8d %12d %12d %12d %8d  %s" % (
            info["role"], info["pid"], info["definitely"], info["indirectly"],
            info["possibly"], info["errors"], p.name))
        if not info["complete"]:
            print("   ^ no summary: the process did not exit normally", flush=True)
            bad = True
        if info["definitely"] or info["errors"]:
            bad = True
    print("%d logs of tool children (fork, then exec of a skipped program): %d with errors"
          % (execd, execd_errors))
    if fac_logs < 1 + a.workers:
        print("only %d fac-worker logs (expected at least %d)" % (fac_logs, 1 + a.workers))
        bad = True
    if rc not in (0, None) and rc != VG_ERR_EXIT:
        print("supervisor exit status %s" % rc)
    if rc == VG_ERR_EXIT:
        bad = True
    print("\ntotal %.1fs, work directory %s" % (total, work))
    if not a.keep and not bad and status == 0:
        shutil.rmtree(work, ignore_errors=True)
    if status:
        return status
    print("RESULT: %s" % ("LEAK OR MEMORY ERROR" if bad else "no definite leak, no memory error"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
