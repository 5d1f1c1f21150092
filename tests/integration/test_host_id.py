"""One host_id per machine (docs/scale-out.md "Many hosts"): a supervisor keeps
P:host:<host_id> set to its machine's boot id while it runs, and refuses to start
(exit 3, naming the host_id and the fix) when another machine holds it; otherwise
its start-up rescue would requeue the other machine's running jobs as its own.
The other machine is played by writing what its supervisor writes."""

import signal

from conftest import HOST_ID, PREFIX, wait_until

HOST_KEY = "%s:host:%s" % (PREFIX, HOST_ID)


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def test_a_host_id_held_by_another_machine_is_refused(fac):
    fac.r.set(HOST_KEY, "0c1d2e3f-another-machine", px=30000)
    pool = fac.start(wait=False)
    assert pool.wait_exit(15) == 3
    log = pool.log_text()
    assert 'host_id "%s" is in use by another machine' % HOST_ID in log, pool.log_tail()
    assert "give every host its own host_id" in log
    assert not pool.child_pids()  # no worker was started
    assert fac.r.get(HOST_KEY) == b"0c1d2e3f-another-machine"


def test_the_machine_holds_its_host_id_while_it_runs_and_frees_it_on_stop(fac):
    pool = fac.start()
    mine = boot_id().encode()
    wait_until(lambda: fac.r.get(HOST_KEY) == mine, 5, what="the host key set to our boot id")
    ttl = fac.r.pttl(HOST_KEY)
    assert 0 < ttl <= 30000, ttl  # dead_after (30 s): a vanished host frees it by itself
    # A restart on the same machine (same boot id) is not a clash.
    pool.signal(signal.SIGKILL)
    pool.wait_exit(10)
    assert fac.r.get(HOST_KEY) == mine
    again = fac.start()
    assert again.running()
    again.stop()
    assert fac.r.get(HOST_KEY) is None  # a graceful stop frees it at once
