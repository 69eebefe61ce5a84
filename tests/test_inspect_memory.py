"""The inspect channel's memory stays bounded whatever the traffic and the inspectors do (issue 11):
real proxy subprocesses, a real server answering with 1 MB results, peak RSS read from /proc."""

import json
import os
import socket

import pytest

from helpers import RAW_SERVER, Session, short_tmpdir

MB = 1_000_000


@pytest.fixture
def sock():
    d = short_tmpdir()
    yield os.path.join(d, "i.sock")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _big_replies(s: Session, n: int, first_id: int = 0) -> None:
    """n requests, each answered with a 1 MB result; a few in flight at a time."""
    window = 4
    sent = 0
    for _ in range(min(window, n)):
        s.send({"jsonrpc": "2.0", "id": first_id + sent, "method": "m"})
        sent += 1
    for got in range(n):
        reply = s.recv(timeout=60)
        assert reply["id"] == first_id + got and len(reply["result"]["data"]) == MB
        if sent < n:
            s.send({"jsonrpc": "2.0", "id": first_id + sent, "method": "m"})
            sent += 1


def test_unwatched_backlog_is_bounded_by_bytes_and_hello_says_what_was_evicted(sock):
    """400 results of 1 MB with --inspect and nobody attached: the backlog used to keep them all
    (~410 MB); it is bounded by --inspect-backlog-bytes, and a late inspector is told how many
    frames were evicted, while the handshake is always replayed."""
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "big", str(MB)])
    try:
        s.send({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
        assert s.recv()["id"] == "init"
        s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        _big_replies(s, 400)
        peak = peak_rss_mb(s.proc.pid)
        assert peak <= 128, f"peak RSS {peak:.0f} MB"
        from helpers import Inspector

        insp = Inspector(sock)
        hello = insp.read()
        assert hello["evicted"] > 600, hello
        replay = [insp.read() for _ in range(hello["backlog"])]
        # the default bound, plus the handshake kept outside it (here a 1 MB initialize result)
        assert sum(len(f.get("raw", "")) for f in replay) <= 64 * 2**20 + 2 * MB
        methods = [json.loads(f["raw"]).get("method") for f in replay[:2]]
        assert methods == ["initialize", None] and json.loads(replay[1]["raw"])["id"] == "init"
        assert json.loads(replay[2]["raw"]).get("method") == "notifications/initialized"
        seqs = [f["seq"] for f in replay]
        assert seqs == sorted(seqs)
        assert hello["evicted"] + hello["backlog"] == seqs[-1]  # every earlier frame is accounted for
        insp.close()
    finally:
        assert s.close(timeout=30) == 0


def test_inspector_that_never_reads_costs_bounded_memory_and_gets_lost(sock):
    """An attached inspector that stops reading while 300 MB flow: the client gets every reply,
    the proxy's memory stays bounded (it used to grow with the traffic), and the inspector, when
    it reads again, is told what it lost."""
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "big", str(MB)])
    stuck = socket.socket(socket.AF_UNIX)
    try:
        from helpers import Inspector

        probe = Inspector(sock)  # wait for the socket and a live loop
        probe.read()
        probe.close()
        stuck.connect(sock)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        _big_replies(s, 300)
        peak = peak_rss_mb(s.proc.pid)
        assert peak <= 160, f"peak RSS {peak:.0f} MB"
        f = stuck.makefile("rb")
        frames = []
        while not any(fr.get("type") == "lost" for fr in frames):
            line = f.readline()
            assert line, "no lost frame before the socket closed"
            frames.append(json.loads(line))
        lost = next(fr for fr in frames if fr.get("type") == "lost")
        assert lost["n"] > 0
    finally:
        stuck.close()
        assert s.close(timeout=30) == 0


def test_backlog_bytes_takes_size_suffixes_and_refuses_nonsense(sock):
    from helpers import Inspector, run_proxy

    bad = run_proxy(["stdio", "--inspect-backlog-bytes", "lots"], [*RAW_SERVER, "echo"], timeout=30)
    err = bad.stderr.decode().strip()
    assert bad.returncode == 2 and "--inspect-backlog-bytes" in err and "\n" not in err, err
    s = Session(["stdio", "--inspect-socket", sock, "--inspect-backlog-bytes", "2k"], [*RAW_SERVER, "echo"])
    try:
        s.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
        s.recv()
        for i in range(1, 40):
            s.send({"jsonrpc": "2.0", "id": i, "method": "m", "params": {"pad": "p" * 100}})
            assert s.recv()["id"] == i
        insp = Inspector(sock)
        hello = insp.read()
        replay = [insp.read() for _ in range(hello["backlog"])]
        pinned = [json.loads(f["raw"]).get("id") for f in replay[:2]]
        assert pinned == [0, 0]  # the initialize pair, kept although long evicted from the ring
        assert sum(len(f["raw"]) + 200 for f in replay[2:]) <= 2048 and hello["evicted"] > 50
        assert hello["evicted"] + hello["backlog"] == replay[-1]["seq"]
        insp.close()
    finally:
        assert s.close() == 0
