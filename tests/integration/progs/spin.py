"""argv[1] is a marker for /proc scans. Burns CPU forever."""
while True:
    pass
