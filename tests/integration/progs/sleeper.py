"""Forks one child; both sleep. With argv[2] == "ignore-term" both ignore
SIGTERM. With argv[2] == "leave" the parent prints a result and exits at once,
leaving the child behind. argv[1] is a marker for /proc scans."""
import os
import signal
import sys
import time

mode = sys.argv[2] if len(sys.argv) > 2 else ""
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    time.sleep(1000)
    os._exit(0)
if mode == "leave":
    print('{"left": "a child"}')
    sys.exit(0)
time.sleep(1000)
