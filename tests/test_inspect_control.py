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

from helpers import RAW_SERVER, Inspector, Session, short_tmpdir, wait_until

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


def _timed(fn):
    t0 = time.monotonic()
    result = fn()
    return result, time.monotonic() - t0


def test_control_channel_answers_while_a_write_to_the_server_is_blocked(sock):
    """Server busy (not reading) and a 1 MiB request stuck in the pipe to it: pause, state, a new
    inspector's hello, release and drop all answer at once."""
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "busy"])
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
        wait_until(lambda: _pipe_fill(pid)[0] >= _pipe_fill(pid)[1], "the pipe to the server to fill up")

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


def _call(i: int, tool: str = "echo") -> dict:
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": {}}}


@pytest.mark.parametrize("expr, operator", [
    ("~pending", "~pending"), ("~marked", "~marked"), ("~slow 100", "~slow"), ("~held", "~held"), ("~m x | !(~q & ~held)", "~held"),
    ("~status held", "~status"), ("~changed", "~changed"), ("~injected", "~injected"),
])
def test_intercept_refuses_operators_the_proxy_cannot_evaluate_on_one_line(sock, expr, operator):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    reply = insp.send("intercept", filter=expr)
    assert not reply["ok"] and operator in reply["error"] and "intercept" in reply["error"], reply
    s.send(_call(1))
    assert s.recv()["id"] == 1  # nothing is held
    assert insp.until(lambda f: f["type"] == "state")["intercept"] is None
    assert s.close() == 0


def test_intercept_filters_mean_what_the_view_filter_means(sock):
    """~s needs the session name; ~m and ~tool on a response mean its request's method/tool, as
    in the view. The proxy used to evaluate a record with an empty session and no pairing."""
    s = Session(["stdio", "--inspect-socket", sock, "--name", "demo"], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    s.send(_call(0))  # in flight before the rule is set: its reply still knows its method
    assert insp.send("pause", dir="s2c")["ok"]
    reply0 = insp.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == 0)
    assert insp.send("intercept", filter="~s ^demo$ & ~m ^tools/call$ & ~tool secret & ~r")["ok"]
    assert insp.send("resume", dir="s2c")["ok"]
    assert s.recv()["id"] == 0
    s.send(_call(1, "public"))
    assert s.recv()["id"] == 1  # the reply to a call of another tool is not held
    s.send(_call(2, "secret"))
    held = insp.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == 2)
    assert held["held"] and held["status"] == "held"
    assert s.nothing_within(0.3)
    assert insp.send("release", seq=held["seq"])["ok"]
    assert s.recv()["id"] == 2
    # another session name never matches
    assert insp.send("intercept", filter="~s other")["ok"]
    s.send(_call(3, "secret"))
    assert s.recv()["id"] == 3
    # a response to a request relayed before the rule was set is matched too
    assert insp.send("pause", dir="s2c")["ok"]
    s.send(_call(4, "secret"))
    insp.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == 4)
    assert insp.send("intercept", filter="~tool secret & ~r")["ok"]
    s.send(_call(5, "public"))
    assert insp.send("resume", dir="s2c")["ok"]
    assert [s.recv()["id"] for _ in range(2)] == [4, 5]
    s.send(_call(6, "secret"))
    insp.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == 6 and f["held"])
    assert insp.send("intercept", filter=None)["ok"]
    assert insp.send("release_all")["released"] == 1
    assert s.recv()["id"] == 6
    assert s.close() == 0
