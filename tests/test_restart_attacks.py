"""Adversarial hot-restart cases (issue 12): real proxy, real raw servers, an inspector over the
real socket. Every wait is for a condition with a deadline; no assertion depends on timing."""

import json
import os
import signal

import queue
import subprocess
import threading

from helpers import RAW_SERVER, Inspector, omproxy_cmd, ROOT, short_tmpdir, wait_until


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


def test_answers_the_old_server_wrote_while_the_client_was_not_reading_are_not_also_answered_with_the_restart_error():
    """The client is slow to read (its pipe is full), so the old server's last answers are still in
    the proxy's pipe when the restart looks for unanswered requests. Each request must be answered
    exactly once: by the old server's real answer, not also with the -32011 restart error."""
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
