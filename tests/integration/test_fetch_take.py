"""The idle worker's parked command (worker/fetch.c): with one queue, an idle worker
whose jobs are all acknowledged parks a take, `BLMOVE ready inflight RIGHT LEFT 0`,
that moves a pushed job into its in-flight list and runs it without the fetch
script; with several queues it only peeks (`BLMOVE Q Q`); a quiet worker ends its
take with CLIENT UNBLOCK and takes nothing. Observed with MONITOR and CLIENT LIST on
the test's own redis-server."""

import re
import signal
import socket
import threading
import time

from conftest import (enqueue, inflight_count, job, ready_key, result_key,
                      wait_result, wait_until)


class Monitor:
    """Every command the server runs, in order ("CMD arg arg ..."; quoted arguments
    as MONITOR prints them, unquoted), read from a raw MONITOR connection by a thread
    of its own; stop() closes the socket, which ends the thread."""

    _ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')

    def __init__(self, port):
        self.commands = []
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.sendall(b"MONITOR\r\n")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        buf = b""
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\r\n")
            for line in lines:
                text = line.decode("utf-8", "replace")
                if text.startswith("+") and "] " in text:
                    self.commands.append(" ".join(self._ARG.findall(text.split("] ", 1)[1])))

    def stop(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(5)

    def seen(self, pred):
        return [c for c in list(self.commands) if pred(c)]


def _is_take(c):
    w = c.split()
    return len(w) == 6 and w[0].upper() == "BLMOVE" and w[1] != w[2] and w[3:5] == ["RIGHT", "LEFT"]


def _is_peek(c):
    w = c.split()
    return len(w) == 6 and w[0].upper() == "BLMOVE" and w[1] == w[2]


def _peek_conn_blocked(fac):
    clients = [c for c in fac.r.client_list() if c.get("name", "").startswith("fac-default-")]
    assert len(clients) == 1, clients
    return "b" in clients[0]["flags"]


def _idle(fac, mon, pred, timeout=5.0):
    wait_until(lambda: mon.seen(pred), timeout, what="the worker's parked BLMOVE")
    time.sleep(0.2)  # its audit flushed and every job acknowledged


def test_an_idle_worker_takes_a_pushed_job_without_the_fetch_script(fac):
    mon = Monitor(fac.redis.port)
    try:
        fac.start(workers=1)
        _idle(fac, mon, _is_take)
        jid = enqueue(fac.r, job("echo", {"x": 1}))
        rec = wait_result(fac.r, jid, timeout=5)
        assert rec["status"] == "Success" and rec["result"] == {"x": 1}
        wait_until(lambda: inflight_count(fac.r) == 0, 5, what="the ack")
        wait_until(lambda: mon.seen(lambda c: c.upper().startswith("LREM")), 5, what="the LREM in MONITOR")
        cmds = list(mon.commands)
        pushed = next(i for i, c in enumerate(cmds) if c.upper().startswith("LPUSH") and ready_key() in c)
        stored = next(i for i, c in enumerate(cmds) if c.startswith("SET " + result_key(jid)))
        between = [c for c in cmds[pushed:stored] if c.upper().startswith(("EVALSHA", "EVAL "))]
        assert between == [], "the job went through the fetch script: %r" % between
        take = [c for c in cmds[:pushed] if _is_take(c)]
        assert take and take[-1].split()[1] == ready_key(), take
    finally:
        mon.stop()


def test_with_several_queues_an_idle_worker_only_peeks(fac):
    mon = Monitor(fac.redis.port)
    try:
        fac.start(workers=1, queues=["short", "default"])
        _idle(fac, mon, _is_peek)
        jid = enqueue(fac.r, job("echo", {"x": 2}), queue="default")
        assert wait_result(fac.r, jid, timeout=5)["status"] == "Success"
        assert mon.seen(_is_take) == [], "a take with two queues"
        assert len(mon.seen(_is_peek)) >= 2
    finally:
        mon.stop()


def test_a_quiet_worker_ends_its_take_and_takes_nothing(fac):
    mon = Monitor(fac.redis.port)
    try:
        pool = fac.start(workers=1)
        _idle(fac, mon, _is_take)
        assert _peek_conn_blocked(fac)
        pool.signal(signal.SIGTSTP)
        # CLIENT UNBLOCK is an admin command: MONITOR does not show it, CLIENT LIST does.
        wait_until(lambda: not _peek_conn_blocked(fac), 5, what="the take to be unblocked")
        jid = enqueue(fac.r, job("echo", {"x": 3}))
        time.sleep(0.5)
        assert fac.r.llen(ready_key()) == 1 and inflight_count(fac.r) == 0, "a quiet worker took a job"
        pool.signal(signal.SIGTSTP)
        assert wait_result(fac.r, jid, timeout=5)["status"] == "Success"
    finally:
        mon.stop()
