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


def test_many_concurrent_injections_and_replays_reach_the_tui_source_in_order(sock):
    """Routed answers used to be numbered and sent from the event loop at once, overtaking lower
    numbered frames still waiting for the next batch, and the TUI's socket source dropped every
    frame whose seq was not above the last as a duplicate: injected answers were lost."""
    import asyncio

    from omproxy_tui.client.sources import SocketSource

    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    s.handshake()
    s.send({"jsonrpc": "2.0", "id": "captured", "method": "tools/list"})
    assert s.recv()["id"] == "captured"
    n_inject, n_replay, n_client = 40, 20, 400
    frames: list[dict] = []

    async def main() -> dict:
        src = SocketSource(sock)
        runner = asyncio.create_task(src.run(frames.extend))

        async def until(pred, what):
            for _ in range(2000):
                if pred():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"timed out waiting for {what}")

        await until(lambda: src.state == "live" and any(f["type"] == "state" for f in frames), "attach")
        captured = next(f for f in frames if f["type"] == "message" and json.loads(f["raw"]).get("id") == "captured")
        # the client keeps talking while the inspector injects and replays
        sender = _send_all(s, [json.dumps({"jsonrpc": "2.0", "id": i, "method": "m"}).encode()
                               for i in range(n_client)])
        cmds = [{"cmd": "inject", "to": "server", "message": {"jsonrpc": "2.0", "id": i, "method": "ping"}}
                for i in range(n_inject)]
        cmds += [{"cmd": "replay", "seq": captured["seq"]} for _ in range(n_replay)]
        replies = await asyncio.gather(*(src.request(c, timeout=30) for c in cmds))
        assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
        ids = {r["inject_id"] for r in replies}
        await asyncio.to_thread(sender.join)
        await until(lambda: {(f.get("injected") or {}).get("id") for f in frames
                             if f["type"] == "message" and f["to_inspector"]} >= ids,
                    "every injected request's answer (some were dropped as duplicates)")
        src.close()
        runner.cancel()
        return {"ids": ids, "replies": replies}

    got = asyncio.run(main())
    for _ in range(n_client):
        s.recv()
    assert s.close() == 0
    events = [f for f in frames if f["type"] in ("message", "resolved", "stderr", "lifecycle")]
    seqs = [f["seq"] for f in events]
    assert seqs == sorted(set(seqs)), "the source emitted frames out of seq order or twice"
    first_seen = {}
    for f in events:
        if f["type"] == "message" and f.get("injected"):
            first_seen.setdefault((f["injected"]["id"], f["status"]), f["seq"])
    for r in got["replies"]:
        assert first_seen[(r["inject_id"], "injected")] == r["seq"]
        assert first_seen[(r["inject_id"], "injected")] < first_seen[(r["inject_id"], "routed")]


def test_a_relayed_message_whose_write_fails_is_reported_with_a_resolved_frame(sock):
    """A message is announced as relayed when it is queued (the stream never waits on a write);
    if the write then fails because the side went away, a resolved frame says so. Here the
    client stops reading: the reply cannot be written to it."""
    import subprocess

    from helpers import omproxy_cmd

    proc = subprocess.Popen(omproxy_cmd("stdio", "--inspect-socket", sock, "--", *RAW_SERVER, "echo"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        insp = Inspector(sock)
        insp.read()
        proc.stdout.close()  # the client is gone (its end of our stdout is closed)
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "m"}).encode() + b"\n")
        proc.stdin.flush()
        reply = insp.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == 1)
        resolved = insp.until(lambda f: f["type"] == "resolved" and f["of"] == reply["seq"])
        assert resolved["action"] == "dropped" and resolved["by"] == "proxy" and resolved["seq"] > reply["seq"]
    finally:
        proc.kill()
        proc.wait(10)
