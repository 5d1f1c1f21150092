#!/usr/bin/python3
"""Callgrind profile of one fac-worker worker through N pre-filled jobs.

Starts a private redis-server (free port, temp dir), pre-fills N envelopes of `tool`
with args {"pad": "x" * k} of --payload bytes (msgpack size), runs fac-worker with one
worker under `valgrind --tool=callgrind --trace-children=yes`, waits until the queue
and the in-flight list are empty, stops the supervisor (SIGTERM, by PID) and prints
the worker's callgrind file name and total instructions.  Figures are instruction
counts, repeatable on a loaded machine (docs/performance.md "How to profile").

    tests/bench/profile.py --jobs 300 --payload 1048576 --tool echo --audit jsonl
    callgrind_annotate --inclusive=yes <file printed>
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
import msgpack  # noqa: E402
import redis  # noqa: E402

from bench import free_port  # noqa: E402  (tests/bench/bench.py, beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
READY = "fac:{default}:ready"


def pad_args(size):
    k = size
    while len(msgpack.packb({"pad": "x" * k})) > size:
        k -= 1
    return {"pad": "x" * k}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--payload", type=int, default=1 << 20, help="msgpack size of args (default 1 MiB)")
    ap.add_argument("--tool", default="echo")
    ap.add_argument("--audit", choices=("jsonl", "none"), default="jsonl")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--build-dir", default=os.environ.get("FAC_BUILD_DIR") or os.path.join(REPO, "build"))
    ap.add_argument("--out-dir", default="/tmp", help="where callgrind.out.<pid> files go (default /tmp)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (config, log, audit file)")
    ap.add_argument("--wrap", help="with --no-valgrind: run fac-worker under this command "
                    "(e.g. \"strace -f -c -o /tmp/s.txt\")")
    ap.add_argument("--no-valgrind", action="store_true", help="run natively, print worker CPU per job")
    a = ap.parse_args()
    if a.jobs < 1 or a.payload < 16:
        ap.error("--jobs must be >= 1 and --payload >= 16")

    tmp = tempfile.mkdtemp(prefix="fac-profile-")
    procs = []
    try:
        port = free_port()
        rs = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", tmp],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rs)
        r = redis.Redis(port=port)
        for _ in range(200):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        args = pad_args(a.payload) if a.tool == "echo" else None
        pipe = r.pipeline(transaction=False)
        now = int(time.time() * 1000)
        for i in range(a.jobs):
            env = {"v": 1, "id": "p-%d" % i, "tool": a.tool, "enqueued_at": now}
            if args:
                env["args"] = args
            pipe.lpush(READY, msgpack.packb(env))
            if len(pipe) >= 8:
                pipe.execute()
        pipe.execute()
        cfg = {"redis": "redis://127.0.0.1:%d" % port, "prefix": "fac", "queues": ["default"],
               "host_id": "profile", "workers": 1, "concurrency": a.concurrency, "max_jobs": 0, "metrics": False,
               "log_file": os.path.join(tmp, "fac.log"), "log_level": "info",
               "audit": {"to": a.audit, "path": os.path.join(tmp, "audit.jsonl")}}
        if a.audit == "none":
            cfg["audit"] = {"to": "none"}
        path = os.path.join(tmp, "fac.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o600)
        cmd = [os.path.join(a.build_dir, "fac-worker"), "-c", path]
        pattern = os.path.join(a.out_dir, "callgrind.fac.%s" % os.getpid())
        if a.no_valgrind and a.wrap:
            cmd = a.wrap.split() + cmd
        if not a.no_valgrind:
            cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                   "--callgrind-out-file=%s.%%p" % pattern] + cmd
        stats0 = r.info("stats")
        cpu0 = r.info("cpu")
        t0 = time.time()
        sup = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
        procs.append(sup)
        worker_cpu = None
        while True:
            time.sleep(0.05)
            if sup.poll() is not None:
                raise SystemExit("fac-worker exited %s; see %s" % (sup.returncode, cfg["log_file"]))
            # acknowledged = gone from ready and from the in-flight list (an empty list has no key)
            if r.llen(READY) == 0 and not r.keys("fac:*inflight*") and r.exists("fac:result:p-0"):
                break
            if time.time() - t0 > 3600:
                raise SystemExit("not done after an hour")
        if a.no_valgrind:
            kids = subprocess.run(["pgrep", "-P", str(sup.pid)], stdout=subprocess.PIPE).stdout.split()
            tick = os.sysconf("SC_CLK_TCK")
            worker_cpu = [0.0, 0.0, 0]
            for k in kids:
                with open("/proc/%s/stat" % k.decode()) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                worker_cpu[0] += int(fields[11]) / tick
                worker_cpu[1] += int(fields[12]) / tick
                worker_cpu[2] += int(fields[7])  # minflt: page faults, a load-independent count
                with open("/proc/%s/status" % k.decode()) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches"):
                            worker_cpu.append(int(line.split()[1]))  # each one a wait for Redis
            stats1, cpu1 = r.info("stats"), r.info("cpu")
        sup.send_signal(signal.SIGTERM)
        sup.wait(timeout=120)
        audit = os.path.join(tmp, "audit.jsonl")
        if a.audit == "jsonl":
            with open(audit, "rb") as f:
                lines = sum(1 for _ in f)
            print("audit lines: %d" % lines)
        if worker_cpu is not None:
            per = lambda k, d0, d1: (d1[k] - d0[k]) / a.jobs  # noqa: E731
            print("worker waits (voluntary context switches) per job: %.2f; Redis per job: %.2f reads, "
                  "%.2f writes processed, %.1f us CPU (under load)"
                  % (sum(worker_cpu[3:]) / a.jobs, per("total_reads_processed", stats0, stats1),
                     per("total_writes_processed", stats0, stats1),
                     1e6 * (per("used_cpu_sys", cpu0, cpu1) + per("used_cpu_user", cpu0, cpu1))))
            print("worker CPU per job: %.1f us user + %.1f us system, %.0f minor page faults (%d jobs; "
                  "CPU times under machine load %s)"
                  % (worker_cpu[0] / a.jobs * 1e6, worker_cpu[1] / a.jobs * 1e6, worker_cpu[2] / a.jobs, a.jobs,
                     open("/proc/loadavg").read().split()[0]))
        files = sorted(glob.glob(pattern + ".*"), key=os.path.getsize)
        for fn in files:
            total = None
            with open(fn) as f:
                for line in f:
                    if line.startswith("summary:") or line.startswith("totals:"):
                        total = int(line.split()[1])
            print("%s: %s instructions (%.0f per job)" % (fn, total, (total or 0) / a.jobs))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if a.keep_tmp:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
