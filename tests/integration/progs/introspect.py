"""argv[1] is a marker for /proc scans. Prints, as JSON, what an exec tool
sees: its args (stdin), environment, open file descriptors, process group,
user (real, effective and saved ids, groups) and rlimits (test_exec_process.py)."""
import json
import os
import resource
import sys

args = json.load(sys.stdin)
fd_dir = "/proc/self/fd"
fds = []
for fd in os.listdir(fd_dir):
    try:
        os.readlink(os.path.join(fd_dir, fd))
        fds.append(int(fd))
    except OSError:
        pass  # the descriptor listdir used, closed by now
fds.sort()
limits = {name: list(resource.getrlimit(getattr(resource, "RLIMIT_" + name)))
          for name in ("AS", "CPU", "NPROC", "CORE")}
json.dump({"args": args, "env": dict(os.environ), "fds": fds,
           "own_group": os.getpgid(0) == os.getpid(), "uid": os.getuid(),
           "ids": {"uid": os.getresuid(), "gid": os.getresgid(), "groups": sorted(os.getgroups())},
           "limits": limits}, sys.stdout)
