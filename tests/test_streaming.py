"""Cut-through: big lines are forwarded as they arrive (README, "What the relay guarantees").

Real processes throughout: the proxy, tests/servers/split_server.py (writes a line in two halves,
the second only once the test creates a file), a client reading the proxy's stdout byte by byte,
and a scripted inspector on the real socket. Nothing here sleeps for correctness: every wait is
for a condition, with a deadline.
"""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from helpers import ROOT, Inspector, omproxy_cmd, short_tmpdir

SPLIT = [sys.executable, str(ROOT / "tests" / "servers" / "split_server.py")]
HALF = 300_000
DEADLINE = 30.0


# The library API without a hot-restart writer (the CLI always has one, and it needs client lines
# whole: see README).
LIBRARY = [sys.executable, "-c", "import sys; from omproxy_tui.proxy.stdio import StdioProxy, ServerParams; "
           "sys.exit(StdioProxy().run(ServerParams(sys.argv[1], sys.argv[2:])))"]


class Client:
    """The proxy as a subprocess; its stdout collected as raw bytes, as they arrive."""

    def __init__(self, proxy_args: list[str], sigdir: str, library: bool = False):
        self.dir = sigdir
        cmd = [*LIBRARY, *SPLIT, sigdir] if library else omproxy_cmd("stdio", *proxy_args, "--", *SPLIT, sigdir)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=ROOT)
        self.out = bytearray()
        self.err = bytearray()
        self.cond = threading.Condition()
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 1 << 16):
            with self.cond:
                self.out += chunk
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _read_err(self) -> None:
        while chunk := os.read(self.proc.stderr.fileno(), 1 << 16):
            self.err += chunk

    def wait(self, pred, what: str) -> bytes:
        deadline = time.monotonic() + DEADLINE
        with self.cond:
            while not pred(bytes(self.out)):
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"timed out waiting for {what}; got {len(self.out)} bytes: "
                                         f"{bytes(self.out[:120])!r}...; stderr: {bytes(self.err)[-2000:]!r}")
                self.cond.wait(left)
            return bytes(self.out)

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def go(self, mid) -> None:
        open(os.path.join(self.dir, f"go{mid}"), "w").close()

    def close(self) -> int:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def req(mid, method: str, **params) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": mid, "method": method, "params": params}).encode() + b"\n"


def big_reply(mid) -> bytes:
    return b'{"jsonrpc":"2.0","id":%d,"result":{"text":"' % mid + b"a" * HALF + b"b" * HALF + b'"}}\n'


@pytest.fixture
def sigdir(tmp_path):
    return str(tmp_path)


@pytest.mark.parametrize("mode", ["plain", "inspected", "typed hook"])
def test_client_gets_the_first_bytes_of_a_big_reply_before_the_server_finished_it(sigdir, mode):
    args, insp, sock = [], None, None
    if mode == "inspected":
        sock = os.path.join(short_tmpdir(), "s.sock")
        args = ["--inspect-socket", sock]
    elif mode == "typed hook":
        args = ["--hooks", "omproxy_tui.examples.method_counter:MethodCounter"]
    c = Client(args, sigdir)
    try:
        if sock:
            insp = Inspector(sock)
            insp.until(lambda f: f.get("type") == "state")
        c.send(req(1, "big", half=HALF))
        # The server has written half the line and waits for us: the client already has it.
        c.wait(lambda out: len(out) >= HALF, "the first half of the reply")
        c.go(1)
        out = c.wait(lambda out: out.endswith(b"\n"), "the whole reply")
        assert out == big_reply(1)
        if insp is not None:  # observers still see the whole line, once, in order
            frame = insp.message(lambda f, obj: f["dir"] == "s2c")
            assert frame["size"] == len(big_reply(1)) - 1 and frame["status"] == "relayed"
            asked = insp.message(lambda f, obj: f["dir"] == "c2s")
            assert asked["seq"] < frame["seq"]
        assert c.close() == 0
    finally:
        if insp is not None:
            insp.close()
        c.close()


def test_a_big_request_is_streamed_to_the_server(sigdir):
    c = Client([], sigdir, library=True)
    try:
        head = b'{"jsonrpc":"2.0","id":7,"method":"echo","params":{"pad":"' + b"x" * 200_000
        c.send(head)
        partial = os.path.join(sigdir, "partial")
        deadline = time.monotonic() + DEADLINE
        while not os.path.exists(partial):  # the server touches it once 100 kB of the line arrived
            assert time.monotonic() < deadline, "the server never saw the start of the request"
            c.proc.poll()
            time.sleep(0.01)
        c.send(b'"}}\n')
        out = c.wait(lambda out: out.endswith(b"\n"), "the reply")
        assert json.loads(out)["result"]["got"] == len(head) + 4
    finally:
        c.close()


def test_a_banner_split_over_many_reads_is_still_blocked(sigdir):
    c = Client([], sigdir)
    try:
        c.send(req(3, "banner"))
        c.go(3)
        out = c.wait(lambda out: out.endswith(b"\n"), "the reply after the banner")
        assert out == b'{"jsonrpc": "2.0", "id": 3, "result": {}}\n'
    finally:
        c.close()
    assert b"not JSON" in bytes(c.err)


def test_server_exiting_in_the_middle_of_a_streamed_line(sigdir):
    c = Client([], sigdir)
    try:
        c.send(req(4, "die", half=HALF))
        c.wait(lambda out: out.endswith(b"\n"), "the cut-off line, ended")
    finally:
        c.close()
    out = bytes(c.out)
    # Already forwarded as it arrived: the client gets it, ended with a newline (so its next
    # line would start clean), and stderr says what happened.
    assert out == b'{"jsonrpc":"2.0","id":4,"result":{"text":"' + b"a" * HALF + b"\n"
    assert b"cut off" in bytes(c.err) and b"already been forwarded" in bytes(c.err)


@pytest.fixture
def inspected(sigdir):
    sock = os.path.join(short_tmpdir(), "s.sock")
    c = Client(["--inspect-socket", sock], sigdir)
    insp = Inspector(sock)
    insp.until(lambda f: f.get("type") == "state")
    yield c, insp
    insp.close()
    c.close()


@pytest.mark.parametrize("how", ["pause", "intercept"])
def test_pause_and_intercept_still_hold_whole_lines(inspected, how):
    c, insp = inspected
    if how == "pause":
        assert insp.send("pause", dir="s2c")["ok"]
    else:
        assert insp.send("intercept", filter="~d s2c & ~m big")["ok"]
    c.send(req(5, "big", half=HALF))
    c.go(5)
    frame = insp.message(lambda f, obj: f["dir"] == "s2c")
    assert frame["status"] == "held" and frame["size"] == len(big_reply(5)) - 1
    assert bytes(c.out) == b""  # nothing of it was streamed (a held line is written on release only)
    assert insp.send("release", seq=frame["seq"])["ok"]
    assert c.wait(lambda out: out.endswith(b"\n"), "the released reply") == big_reply(5)


def test_a_pause_that_begins_mid_line_applies_after_the_line(inspected):
    c, insp = inspected
    after = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "next"}}
    c.send(req(6, "big", half=HALF, after=after))
    c.wait(lambda out: len(out) >= HALF, "the first half")
    assert insp.send("pause", dir="s2c")["ok"]
    c.go(6)
    # The line already started finishes; the next one is held.
    assert c.wait(lambda out: out.endswith(b"\n"), "the rest of the streamed line") == big_reply(6)
    held = insp.message(lambda f, obj: f["dir"] == "s2c" and obj and obj.get("method") == "notifications/message")
    assert held["status"] == "held"
    assert bytes(c.out) == big_reply(6)
    assert insp.send("resume", dir="s2c")["ok"]
    out = c.wait(lambda out: out.count(b"\n") == 2, "the held notification")
    assert json.loads(out.split(b"\n")[1]) == after


def test_an_observed_streamed_line_that_is_not_json_is_forwarded_reported_and_shown_with_its_error(inspected):
    """Observed, a streamed line is fully parsed (after its last byte moved): one that ends like
    JSON but is not is still forwarded whole, reported on stderr, and inspectors see its error."""
    c, insp = inspected
    c.send(req(9, "big", half=HALF, broken=True))
    c.wait(lambda out: len(out) >= HALF, "the first half")
    c.go(9)
    out = c.wait(lambda out: out.endswith(b"\n"), "the whole line")
    assert out == big_reply(9).replace(b'"}}', b'\x01"}}')
    frame = insp.until(lambda f: f.get("type") == "message" and f["dir"] == "s2c")
    assert frame["error"] and frame["status"] == "relayed" and frame["size"] == len(out) - 1
    c.close()
    assert b"streamed through is not JSON-RPC" in bytes(c.err)


def test_an_injection_during_a_streamed_line_lands_after_it(inspected):
    c, insp = inspected
    c.send(req(8, "big", half=HALF))
    c.wait(lambda out: len(out) >= HALF, "the first half")
    note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "injected"}}
    assert insp.send("inject", to="client", message=note)["ok"]
    c.go(8)
    out = c.wait(lambda out: out.count(b"\n") == 2, "the reply and the injection")
    first, second, _ = out.split(b"\n")
    assert first + b"\n" == big_reply(8)
    assert json.loads(second) == note
    # ...and the inspector's stream says the same order.
    frames = [insp.message(lambda f, obj: f["dir"] == "s2c") for _ in range(2)]
    assert [f["status"] for f in frames] == ["relayed", "injected"]
    assert frames[0]["seq"] < frames[1]["seq"]


def test_a_streamed_reply_ends_its_request_for_hot_restart(sigdir):
    """The hot-restart writer answers requests the old server left unanswered; a reply streamed
    through (its id at its very end, in the last piece) must count as an answer."""
    import signal

    c = Client([], sigdir)
    try:
        c.send(req(9, "big", half=HALF, idlast=True))
        c.wait(lambda out: len(out) >= HALF, "the first half")
        c.go(9)
        first = c.wait(lambda out: out.endswith(b"\n"), "the whole reply")
        assert json.loads(first)["id"] == 9
        c.proc.send_signal(signal.SIGUSR1)  # restart the server
        c.send(req(10, "ping"))
        out = c.wait(lambda out: b'"id": 10' in out, "an answer from the new server")
        # Nothing else came in between: no "restarted" error for the request already answered.
        assert [json.loads(x)["id"] for x in out.splitlines()] == [9, 10]
    finally:
        c.close()
