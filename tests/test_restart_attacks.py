"""Adversarial hot-restart cases (issue 12): real proxy, real raw servers, an inspector over the
real socket. Every wait is for a condition with a deadline; no assertion depends on timing."""

import json
import os
import signal

import queue
import subprocess
import threading

import pytest

from helpers import RAW_SERVER, ROOT, Inspector, omproxy_cmd, pid_alive, short_tmpdir, wait_until


class Session:
    """The proxy as a subprocess driven as the MCP client, whose reading of the proxy's stdout
    the test can stop and resume (``reading``): a client that is slow to read."""

    def __init__(self, proxy_args, server):
        self.proc = subprocess.Popen(omproxy_cmd(*proxy_args, "--", *server), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        self.reading = threading.Event()
        self.reading.set()
        self.lines: queue.Queue = queue.Queue()
        self.stderr = b""
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump(self):
        while True:
            self.reading.wait()
            line = self.proc.stdout.readline()
            self.lines.put(line)
            if not line:
                return

    def _pump_err(self):
        while chunk := self.proc.stderr.read1(65536):
            self.stderr += chunk

    def send(self, obj):
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout=15.0):
        line = self.lines.get(timeout=timeout)
        if not line:
            raise EOFError("proxy stdout closed")
        return json.loads(line)


def _answers(raw: bytes) -> dict:
    """How many answers each id got, from everything the client read."""
    counts: dict = {}
    for line in raw.splitlines():
        obj = json.loads(line)
        if isinstance(obj, dict) and "method" not in obj:
            counts.setdefault(obj.get("id"), []).append("error" if "error" in obj else "result")
    return counts


@pytest.mark.parametrize("restarts", [1, 2])
def test_answers_the_old_server_wrote_while_the_client_was_not_reading_are_not_also_answered_with_the_restart_error(
        restarts):
    """The client is slow to read (its pipe is full), so the old server's last answers are still in
    the proxy's pipe when the restart looks for unanswered requests -- and still when a second
    restart follows. Each request must be answered exactly once: by the old server's real
    answer, not also with the -32011 restart error."""
    sock = short_tmpdir() + "/i.sock"
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    try:
        ins = Inspector(sock)
        ins.sock.settimeout(60)
        s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})
        assert s.recv(30)["id"] == 1
        s.reading.clear()  # from here the client does not read its stdout (until told below)
        small = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "last read"}}
        assert ins.send("inject", to="client", message=small)["ok"]
        assert s.recv(30)["method"] == "notifications/message"  # the read in progress took it
        # A message to the client bigger than its pipe: the client does not read, so the
        # server -> client writer blocks on it and what the server answers next waits in its pipe.
        big = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "z" * (1 << 20)}}
        assert ins.send("inject", to="client", message=big)["ok"]
        for i in range(2, 7):
            s.send({"jsonrpc": "2.0", "id": i, "method": "m"})
        ins.message(lambda f, m: f["dir"] == "c2s" and m.get("id") == 6)
        for _ in range(restarts):
            assert ins.send("restart")["ok"]
            done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
            assert done["event"] == "restart", done
        s.proc.stdin.close()
        s.reading.set()
        out = b""
        while line := s.lines.get(timeout=60):
            out += line
        counts = _answers(out)
        assert {k: v for k, v in counts.items() if len(v) != 1} == {}, counts
        assert sorted(counts) == [2, 3, 4, 5, 6], counts
        ins.close()
    finally:
        s.proc.kill()
        s.proc.wait(10)


# A server that answers like raw_server's echo, but hangs without answering anything once MARKER
# exists (a restarted server stuck in its start-up); each start appends its pid to PIDS.
_HANGS_ONCE_MARKED = r"""
import json, os, sys, time
marker, pids = sys.argv[1], sys.argv[2]
with open(pids, "a") as f:
    f.write(f"{os.getpid()}\n")
if os.path.exists(marker):
    time.sleep(3600)
for line in sys.stdin.buffer:
    msg = json.loads(line)
    if "id" in msg and "method" in msg:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"pid": os.getpid()}}) + "\n")
        sys.stdout.flush()
"""


def test_sigterm_while_a_restarted_server_does_not_answer_its_handshake_stops_the_proxy():
    """SIGTERM arrives while the new server has not answered the replayed initialize (with a long
    --restart-timeout): the proxy stops now -- it does not wait out the handshake timeout -- and
    leaves neither server behind."""
    import sys

    from helpers import wait_dead

    d = short_tmpdir()
    marker, pids = os.path.join(d, "hang"), os.path.join(d, "pids")
    sock = os.path.join(d, "i.sock")
    s = Session(["stdio", "--inspect-socket", sock, "--restart-timeout", "3600"],
                [sys.executable, "-c", _HANGS_ONCE_MARKED, marker, pids])
    try:
        s.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
        assert s.recv(30)["id"] == 0
        s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        ins = Inspector(sock)
        ins.sock.settimeout(60)
        open(marker, "w").close()
        assert ins.send("restart")["ok"]
        ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") == "spawned"
                  and f.get("generation") == 2)
        ins.until(lambda f: f.get("type") == "message" and f.get("status") == "injected"
                  and b'"initialize"' in f.get("raw", "").encode())
        s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})  # held by the restart
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(60) is not None
        with open(pids) as f:
            started = [int(x) for x in f.read().split()]
        assert len(started) == 2
        wait_dead(*started)
        ins.close()
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)
        if os.path.exists(pids):  # never leave a hung server behind, whatever failed
            with open(pids) as f:
                for pid in map(int, f.read().split()):
                    if pid_alive(pid):
                        os.kill(pid, signal.SIGKILL)


# Answers each request a moment after reading it, saying which process answered and how many
# requests it had read by then (so the order each server got them in shows); exits at once when
# its stdin closes, leaving what it read and did not answer yet unanswered.
_COUNTING = r"""
import json, os, queue, sys, threading, time
todo = queue.Queue()


def answer():
    n = 0
    while True:
        msg = todo.get()
        n += 1
        time.sleep(0.002)
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"pid": os.getpid(), "n": n}}) + "\n")
        sys.stdout.flush()


threading.Thread(target=answer, daemon=True).start()
for line in sys.stdin.buffer:
    msg = json.loads(line)
    if "id" in msg and "method" in msg:
        todo.put(msg)
os._exit(0)  # stdin closed: what is not answered yet never will be
"""


def test_restarts_back_to_back_during_a_pipelined_burst_answer_every_request_once_in_order():
    """Three SIGUSR1s fired into a burst of 300 pipelined requests, one right after the handshake:
    every request gets exactly one answer -- from a server, or the -32011 restart error -- each
    server got its requests in the order sent, and a later server only ever got later requests."""
    import sys

    s = Session(["stdio"], [sys.executable, "-c", _COUNTING])
    try:
        s.send({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
        first = s.recv(30)
        assert first["id"] == "init"
        s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        os.kill(s.proc.pid, signal.SIGUSR1)  # before the tracker's twice-a-second parse caught up
        for i in range(200):  # half of them during the restart
            s.send({"jsonrpc": "2.0", "id": i, "method": "m"})
        wait_until(lambda: s.stderr.count(b"server restarted") == 1, "the first restart", 60)
        for i in range(200, 300):
            s.send({"jsonrpc": "2.0", "id": i, "method": "m"})
            if i == 220:
                os.kill(s.proc.pid, signal.SIGUSR1)
                wait_until(lambda: s.stderr.count(b"restarting the server") == 2, "the second restart", 60)
                os.kill(s.proc.pid, signal.SIGUSR1)  # a third, right behind it
        wait_until(lambda: s.stderr.count(b"server restarted") == 3, "three restarts", 60)
        s.send({"jsonrpc": "2.0", "id": 300, "method": "m"})  # the last server serves the session
        got: dict = {}
        wait_until(lambda: (got.update({m["id"]: got.get(m["id"], []) + [m]} if (m := s.recv(60)) else None)
                            or all(i in got for i in range(301))), "every request answered", 120)
        assert "result" in got[300][0]
        s.proc.stdin.close()
        while line := s.lines.get(timeout=60):
            m = json.loads(line)
            got.setdefault(m.get("id"), []).append(m)
        assert {k: v for k, v in got.items() if len(v) != 1} == {}
        assert "init" not in got  # answered once, above (the replays' answers are swallowed)
        by_pid: dict = {}
        for i in range(300):
            m = got[i][0]
            if "error" in m:
                assert m["error"]["code"] == -32011, m
                continue
            by_pid.setdefault(m["result"]["pid"], []).append((i, m["result"]["n"]))
        spans = list(by_pid.values())
        for seq in spans:
            assert [n for _, n in seq] == sorted(n for _, n in seq)  # in the order sent
            assert seq[0][1] >= 2  # each new server got the replayed initialize first
        spans.sort(key=lambda seq: seq[0][0])
        for a, b in zip(spans, spans[1:]):
            assert a[-1][0] < b[0][0]  # a later server got only later requests
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


# Echoes like raw_server's echo; once MARKER exists, a start takes a moment first (a restarted
# server that is slow to come up).
_SLOW_START_ONCE_MARKED = r"""
import json, os, sys, time
if os.path.exists(sys.argv[1]):
    time.sleep(1.0)
for line in sys.stdin.buffer:
    msg = json.loads(line)
    if "id" in msg and "method" in msg:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"pid": os.getpid()}}) + "\n")
        sys.stdout.flush()
"""


def test_a_client_that_closes_its_stdin_mid_restart_ends_the_session_cleanly():
    """The client closes its stdin while a restart is under way, nothing of its own waiting: the
    restart completes (the closing does not reach the new server in the middle of its replayed
    handshake), then the new server's stdin is closed, it exits by itself, and the proxy exits 0."""
    import sys

    d = short_tmpdir()
    marker = os.path.join(d, "slow")
    s = Session(["stdio"], [sys.executable, "-c", _SLOW_START_ONCE_MARKED, marker])
    try:
        s.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
        assert s.recv(30)["id"] == 0
        s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        open(marker, "w").close()
        os.kill(s.proc.pid, signal.SIGUSR1)
        wait_until(lambda: b"restarting the server" in s.stderr, "the restart", 60)
        s.proc.stdin.close()
        assert s.proc.wait(60) == 0, s.stderr
        assert b"restart failed" not in s.stderr and b"server restarted" in s.stderr, s.stderr
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


def test_a_long_request_with_an_id_argument_is_answered_under_its_own_id_after_a_restart():
    """The TypeScript SDK writes a request's keys as method, params, jsonrpc, id: in a request
    over 64 KiB (only peeked at, not parsed) the first "id" in sight is a tool argument's. The
    restart must answer the request's own id (7), not invent an answer for "nested" and leave 7
    waiting forever."""
    import sys

    never = "import sys, time\nfor _ in sys.stdin.buffer: pass\ntime.sleep(600)"
    sock = short_tmpdir() + "/i.sock"
    s = Session(["stdio", "--inspect-socket", sock], [sys.executable, "-c", never])
    try:
        ins = Inspector(sock)
        ins.sock.settimeout(60)
        s.proc.stdin.write(b'{"method":"tools/call","params":{"name":"t","arguments":{"id":"nested","x":"'
                           + b"y" * 100_000 + b'"}},"jsonrpc":"2.0","id":7}\n')
        s.proc.stdin.flush()
        ins.message(lambda f, m: f["dir"] == "c2s")
        assert ins.send("restart")["ok"]
        done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
        assert done["event"] == "restart" and done["answered"] == 1, done
        answer = s.recv(60)
        assert answer["id"] == 7 and answer["error"]["code"] == -32011, answer
        ins.close()
    finally:
        s.proc.kill()
        s.proc.wait(10)


# Echoes; each start appends its pid to PIDS; ignores SIGTERM and, at the end of its stdin, stays
# (it must be killed: a restart's stop of it takes its grace periods).
_STUBBORN = r"""
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\n")
for line in sys.stdin.buffer:
    msg = json.loads(line)
    if "id" in msg and "method" in msg:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"pid": os.getpid()}}) + "\n")
        sys.stdout.flush()
time.sleep(3600)
"""


def test_sigterm_while_a_restart_stops_the_old_server_starts_no_new_one():
    """SIGTERM arrives while a restart is still stopping the old server: the proxy is stopping, so
    no new server is started (only to be stopped again) -- the restart gives up, the proxy exits."""
    import sys

    from helpers import wait_dead

    d = short_tmpdir()
    pids = os.path.join(d, "pids")
    s = Session(["stdio"], [sys.executable, "-c", _STUBBORN, pids])
    try:
        s.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
        assert s.recv(30)["id"] == 0
        os.kill(s.proc.pid, signal.SIGUSR1)
        wait_until(lambda: b"restarting the server" in s.stderr, "the restart", 60)
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(60) is not None
        with open(pids) as f:
            started = [int(x) for x in f.read().split()]
        assert len(started) == 1, s.stderr
        wait_dead(*started)
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)
        if os.path.exists(pids):
            with open(pids) as f:
                for pid in map(int, f.read().split()):
                    if pid_alive(pid):
                        os.kill(pid, signal.SIGKILL)


# Before MARKER exists: reads and answers nothing (an initialize that never gets its answer).
# After: answers every request and records each method it got, in order, in LOG.
_DEAF_UNTIL_MARKED = r"""
import json, os, sys
marker, log = sys.argv[1], sys.argv[2]
live = os.path.exists(marker)
for line in sys.stdin.buffer:
    msg = json.loads(line)
    if not live:
        continue
    with open(log, "a") as f:
        f.write(msg.get("method", "-") + "\n")
    if "id" in msg and "method" in msg:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"pid": os.getpid()}}) + "\n")
        sys.stdout.flush()
"""


def test_a_restart_while_the_clients_initialize_is_unanswered_does_not_replay_it():
    """The client's initialize is still in flight when the restart comes: the client gets the
    restart error for it and sends it again -- so the handshake it never completed must not be
    replayed too (the new server would get two initialize requests)."""
    import sys

    d = short_tmpdir()
    marker, log = os.path.join(d, "live"), os.path.join(d, "log")
    sock = os.path.join(d, "i.sock")
    s = Session(["stdio", "--inspect-socket", sock], [sys.executable, "-c", _DEAF_UNTIL_MARKED, marker, log])
    try:
        ins = Inspector(sock)
        ins.sock.settimeout(60)
        init = {"jsonrpc": "2.0", "method": "initialize", "params": {"protocolVersion": "2025-06-18",
                                                                     "capabilities": {},
                                                                     "clientInfo": {"name": "t", "version": "1"}}}
        s.send({**init, "id": 0})
        ins.message(lambda f, m: f["dir"] == "c2s" and m.get("id") == 0)
        open(marker, "w").close()
        assert ins.send("restart")["ok"]
        done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
        assert done["event"] == "restart", done
        first = s.recv(60)
        assert first["id"] == 0 and first["error"]["code"] == -32011, first
        s.send({**init, "id": 1})  # as the error says: send it again
        assert s.recv(60)["id"] == 1
        s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        s.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert s.recv(60)["id"] == 2
        with open(log) as f:
            assert f.read().split() == ["initialize", "notifications/initialized", "tools/list"]
        ins.close()
    finally:
        s.proc.kill()
        s.proc.wait(10)
