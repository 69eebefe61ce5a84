"""Frames are numbered before the message moves, and reach inspectors in that order (issue 7):
real proxy subprocesses, a real echo server, scripted inspectors on the real unix socket."""

import json
import os
import threading

import pytest

from helpers import RAW_SERVER, ROOT, Inspector, Session, short_tmpdir


@pytest.fixture
def sock():
    d = short_tmpdir()
    yield os.path.join(d, "i.sock")


def _send_all(s: Session, lines: list[bytes]) -> threading.Thread:
    def go():
        for line in lines:
            s.proc.stdin.write(line + b"\n")
            s.proc.stdin.flush()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def test_every_request_is_numbered_before_its_reply_and_hooks_see_the_same_seq(sock, tmp_path):
    """A reply can only exist after its request was forwarded, so its seq must be higher; the
    two relay threads race, and numbering after forwarding let fast replies overtake."""
    log = tmp_path / "seq.jsonl"
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}", OMPROXY_SEQLOG=str(log))
    s = Session(["stdio", "--inspect-socket", sock, "--hooks", "seq_hooks:SeqLog"], [*RAW_SERVER, "echo"], env=env)
    insp = Inspector(sock)
    insp.read()
    n = 3000
    sender = _send_all(s, [json.dumps({"jsonrpc": "2.0", "id": i, "method": "m"}).encode() for i in range(n)])
    assert sorted(s.recv()["id"] for _ in range(n)) == list(range(n))
    sender.join()
    insp.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == n - 1)  # the echo server answers in order
    assert s.close() == 0
    events = [f for f in insp.seen if f.get("type") in ("message", "stderr", "lifecycle", "resolved")]
    seqs = [f["seq"] for f in events]
    assert seqs == sorted(set(seqs)), "frames out of seq order or duplicated"
    seq_of = {(f["dir"], json.loads(f["raw"]).get("id")): f["seq"] for f in events if f["type"] == "message"}
    late = [i for i in range(n) if seq_of[("s2c", i)] < seq_of[("c2s", i)]]
    assert not late, f"{len(late)} replies numbered before their request, e.g. id {late[:5]}"
    hooks = {(d, mid): seq for d, seq, mid in map(json.loads, log.read_text().splitlines())}
    assert hooks == seq_of, "hooks and inspectors saw different numbers"
