"""The control channel stays responsive whatever the traffic does (issue 7): a real proxy
subprocess, a real server that stops reading its stdin, a scripted inspector on the real socket."""

import fcntl
import os
import signal
import struct
import subprocess
import termios
import time

import pytest

from helpers import RAW_SERVER, Inspector, Session, short_tmpdir

# The issue asks for 100 ms; the bound is generous so a loaded two-core machine passes. Before the
# fix these never answered at all (the event loop waited on a lock held across the blocked write).
ANSWER_WITHIN = 2.0


@pytest.fixture
def sock():
    d = short_tmpdir()
    yield os.path.join(d, "i.sock")


def _pipe_fill(pid: int) -> tuple[int, int]:
    """(bytes waiting in a process's stdin pipe, the pipe's capacity), read through /proc."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        waiting = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        return waiting, fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(fd)


def _wait_for(cond, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _timed(fn):
    t0 = time.monotonic()
    result = fn()
    return result, time.monotonic() - t0


def test_control_channel_answers_while_a_write_to_the_server_is_blocked(sock):
    """Server busy (not reading) and a 1 MiB request stuck in the pipe to it: pause, state, a new
    inspector's hello, release and drop all answer at once."""
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "deaf"])
    a = b = None
    try:
        a = Inspector(sock, timeout=10)
        assert a.read()["type"] == "hello"
        assert a.send("pause", dir="s2c")["ok"]
        s.send({"jsonrpc": "2.0", "id": 1, "method": "deafen"})
        reply = a.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == 1)
        n1 = a.message(lambda f, m: f["dir"] == "s2c" and (m.get("params") or {}).get("n") == 1)
        assert reply["held"] and n1["held"]
        import json

        pid = json.loads(reply["raw"])["result"]["pid"]
        s.send({"jsonrpc": "2.0", "id": 2, "method": "big", "params": {"x": "x" * (1 << 20)}})
        _wait_for(lambda: _pipe_fill(pid)[0] >= _pipe_fill(pid)[1], "the pipe to the server to fill up")

        # a new inspector gets hello and state
        def attach():
            nonlocal b
            b = Inspector(sock, timeout=10)
            hello = b.read()
            state = b.until(lambda f: f["type"] == "state")
            return hello, state

        (hello, state), took = _timed(attach)
        assert hello["type"] == "hello" and state["paused"]["s2c"] is True
        assert took < ANSWER_WITHIN, f"hello/state took {took:.2f}s"

        # pause answers, and the state it changed reaches inspectors
        ok, took = _timed(lambda: a.send("pause", dir="c2s"))
        assert ok["ok"] and took < ANSWER_WITHIN, f"pause took {took:.2f}s"
        state, took = _timed(lambda: a.until(lambda f: f["type"] == "state" and f["paused"]["c2s"]))
        assert took < ANSWER_WITHIN, f"state took {took:.2f}s"

        # release a held reply: the answer comes at once and the client gets the reply
        ok, took = _timed(lambda: a.send("release", seq=reply["seq"]))
        assert ok["ok"] and took < ANSWER_WITHIN, f"release took {took:.2f}s"
        assert s.recv()["id"] == 1

        # drop a held notification
        ok, took = _timed(lambda: a.send("drop", seq=n1["seq"]))
        assert ok["ok"] and took < ANSWER_WITHIN, f"drop took {took:.2f}s"
        ok, took = _timed(lambda: a.send("resume", dir="both"))
        assert ok["ok"] and took < ANSWER_WITHIN, f"resume took {took:.2f}s"
        assert s.recv()["params"]["n"] == 2
    finally:
        for insp in (a, b):
            if insp is not None:
                insp.close()
        # SIGTERM: the proxy closes the server's stdin without waiting on the blocked write, then
        # SIGTERMs the busy server after its grace period; the blocked write fails and it exits.
        s.proc.send_signal(signal.SIGTERM)
        try:
            code = s.proc.wait(30)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            code = None
    assert code is not None, "the proxy did not exit on SIGTERM with a write to the server blocked"
