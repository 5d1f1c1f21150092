"""The supervisor speaks systemd's notify protocol (Type=notify): the test plays
systemd's side of $NOTIFY_SOCKET and reads what arrives (worker/notify.h)."""

import signal
import socket
import time

from conftest import enqueue, job, wait_result, wait_until


class NotifySocket:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def fields(self, name):
        """Every value of NAME= in the messages so far, in order."""
        self.drain()
        out = []
        for m in self.messages:
            for line in m.splitlines():
                if line.startswith(name + "="):
                    out.append(line[len(name) + 1:])
        return out

    def wait_for(self, name, value=None, timeout=10, after=0):
        def seen():
            vals = self.fields(name)[after:]
            return [v for v in vals if value is None or value in v]
        return wait_until(seen, timeout, interval=0.05, what="%s=%s" % (name, value or "*"))


def test_ready_status_watchdog_reloading_and_stopping_reach_systemd(fac, monkeypatch, tmp_path):
    ns = NotifySocket(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", ns.path)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping every 200 ms
    cfg = fac.config(workers=2)
    pool = fac.start(config=cfg, wait=False)

    ns.wait_for("READY", "1")
    assert len(pool.worker_pids()) == 2, "READY=1 came before both workers served"
    assert wait_result(fac.r, enqueue(fac.r, job("echo")), 5)["status"] == "Success"

    status = ns.wait_for("STATUS", "workers 2/2", timeout=5)
    assert "jobs/s" in status[-1] and "ready" in status[-1] and "default=" in status[-1], status
    pings = len(ns.fields("WATCHDOG"))
    time.sleep(1.0)
    assert len(ns.fields("WATCHDOG")) >= pings + 3, "watchdog pings stopped"

    readies = len(ns.fields("READY"))
    pool.signal(signal.SIGHUP)
    ns.wait_for("RELOADING", "1")
    ns.wait_for("READY", "1", timeout=15, after=readies)
    assert len(pool.worker_pids()) == 2

    pool.signal(signal.SIGTERM)
    ns.wait_for("STOPPING", "1")
    assert pool.wait_exit(15) == 0


def test_without_notify_socket_nothing_is_sent_and_the_pool_runs(fac, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    fac.start(workers=1)
    assert wait_result(fac.r, enqueue(fac.r, job("noop")), 5)["status"] == "Success"
