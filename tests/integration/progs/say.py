"""argv[1] is a marker for /proc scans. Writes argv[2] to stdout and argv[3]
(if any) to stderr, then exits with argv[4] (default 0)."""
import sys

sys.stdout.write(sys.argv[2])
if len(sys.argv) > 3:
    sys.stderr.write(sys.argv[3])
sys.exit(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
