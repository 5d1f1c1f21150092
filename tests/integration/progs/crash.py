"""argv[1] is a marker for /proc scans. Says so on stderr, then dies of SIGSEGV."""
import os
import signal
import sys

sys.stderr.write("about to crash\n")
sys.stderr.flush()
os.kill(os.getpid(), signal.SIGSEGV)
