"""Job functions for the python-rq side of tests/bench/bench.py.

The rq workers import this module by name (``rq_tasks.noop``), so bench.py puts
this directory on the workers' PYTHONPATH.  Both functions mirror fac-worker's
builtins: ``noop`` returns nil, ``echo`` returns its argument.
"""


def noop():
    return None


def echo(x):
    return x
