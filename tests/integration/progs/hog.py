"""argv[1] is a marker for /proc scans. Allocates args.mb MiB and touches it."""
import json
import sys

mb = json.load(sys.stdin)["mb"]
block = bytearray(mb << 20)
print(len(block))
