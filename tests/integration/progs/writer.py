"""Writes 1 GiB to stdout, 1 MiB at a time. argv[1] is a marker for /proc scans."""
import sys

chunk = b"x" * (1 << 20)
for _ in range(1024):
    sys.stdout.buffer.write(chunk)
