"""Client side without textual: discovery, recordings, the socket source (real unix socket)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from pilot_wait import until as _until
from fake_proxy import FakeProxy, message

from omproxy_tui.client.sources import RecordingSource, SocketSource, load_recording, write_recording
from omproxy_tui.demo.canned import canned_session
from omproxy_tui.protocol import discovery

pytestmark = pytest.mark.anyio


def test_runtime_dir_and_paths(sockdir, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sockdir))
    rd = discovery.runtime_dir()
    assert rd == sockdir / "omproxy" and (rd.stat().st_mode & 0o777) == 0o700
    assert discovery.socket_path_for(123) == rd / "123.sock"
    assert discovery.sidecar_path_for(123) == rd / "123.json"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert discovery.runtime_dir_path().name == f"omproxy-{os.getuid()}"


def test_list_proxies_cleans_stale_and_reads_sidecars(sockdir):
    live = os.getpid()
    (sockdir / f"{live}.sock").write_text("")
    (sockdir / f"{live}.json").write_text(json.dumps({"pid": live, "name": "alive", "started": 5}))
    (sockdir / "999999.sock").write_text("")
    (sockdir / "999999.json").write_text("{}")
    (sockdir / "junk.sock").write_text("")
    found = discovery.list_proxies(sockdir)
    assert [p["name"] for p in found] == ["alive"]
    assert found[0]["socket"] == str(sockdir / f"{live}.sock")
    assert not (sockdir / "999999.sock").exists() and not (sockdir / "999999.json").exists()
    assert discovery.list_proxies(sockdir / "missing") == []


async def test_recording_source_reads_frames_and_exports(tmp_path):
    path = tmp_path / "rec.jsonl"
    frames = canned_session()
    write_recording(frames, path)
    with open(path, "a") as fh:
        fh.write("not json\n")
    src = RecordingSource(path)
    got: list[dict] = []
    await src.run(got.extend)
    assert src.state == "loaded" and src.bad_lines == 1
    got_messages = [f for f in got if f["type"] == "message"]
    # each message says where its line is: the recording is the spool for its bodies
    data = path.read_bytes()
    for f in got_messages:
        at_path, off, n = f.pop("_at")
        assert at_path == str(path) and json.loads(data[off : off + n]) == f
    assert got_messages == [f for f in frames if f["type"] == "message"]
    assert got[-1]["type"] == "connection" and got[-1]["detail"] == "1 line skipped: 1 not JSON"
    assert src.label == "demo"
    # a bare message object (export without "type") is accepted
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"dir": "c2s", "raw": "{}"}) + "\n")
    assert load_recording(bare)[0]["type"] == "message"


async def test_recording_source_says_how_far_it_read_and_waits_for_its_consumer(tmp_path):
    """A big file is read in chunks, each followed by a ``loading`` progress frame; a consumer
    that acknowledges chunks (the app) never has more than one waiting for it."""
    from omproxy_tui.protocol.builder import FrameBuilder

    b = FrameBuilder(1000.0)
    for i in range(40):
        b.message("s2c", {"jsonrpc": "2.0", "id": i, "result": {"text": f"{i} " + "x" * 20_000}})
    path = tmp_path / "big.jsonl"
    write_recording(b.frames, path)
    src = RecordingSource(path, chunk_bytes=100_000)
    src.acks = True
    loop = asyncio.get_running_loop()
    batches: list[list[dict]] = []
    unapplied: list[int] = []  # frames emitted earlier and not applied, at each emit

    def emit(batch: list[dict]) -> None:
        unapplied.append(src._sent_before - src._applied)
        batches.append(batch)
        loop.call_soon(src.applied, len(batch))  # applied "later", as the app's queue does

    await src.run(emit)
    progress = [f["detail"] for batch in batches for f in batch if f.get("state") == "loading"]
    assert len(progress) >= 5 and progress[-1].endswith(f"of {os.path.getsize(path) / 1e3:.0f} kB")
    pcts = [int(p.split("%")[0]) for p in progress]
    assert pcts == sorted(pcts) and pcts[0] < 50 <= pcts[-1]
    assert max(unapplied) == 0  # each chunk is emitted only once all before it are applied
    assert batches[-1][-1]["state"] == "loaded"
    assert sum(f["type"] == "message" for batch in batches for f in batch) == 40


async def test_socket_source_batches_and_sends(sockdir):
    fake = await FakeProxy(str(sockdir / "s.sock"), canned_session()).start()
    batches: list[list[dict]] = []
    src = SocketSource(fake.path)
    task = asyncio.ensure_future(src.run(batches.append))
    try:
        want = len([f for f in fake.backlog if f["type"] == "message"])
        await _until(lambda: sum(1 for b in batches for f in b if f["type"] == "message") == want, "the backlog")
        assert src.state == "live" and src.proxy["name"] == "demo"
        assert len(batches) <= 5  # the backlog arrives in a few batches, not frame by frame
        kinds = [f["type"] for b in batches for f in b]
        assert kinds[0] == "connection" and "hello" in kinds
        cmd_id = await src.send({"cmd": "ping"})
        await _until(lambda: {"cmd": "ping", "id": cmd_id} in fake.commands, "the command to reach the proxy")
        assert fake.commands[-1] == {"cmd": "ping", "id": cmd_id}
        # reconnect after a drop: a gap in seq is reported as lost
        await fake.drop_clients()
        last = fake.backlog[-1]["seq"]
        fake.backlog.append(message(last + 5, "c2s", {"jsonrpc": "2.0", "method": "x"}))
        await _until(lambda: any(f["type"] == "lost" for b in batches for f in b), "the lost marker")
        lost = [f for b in batches for f in b if f["type"] == "lost"]
        assert lost and lost[0]["n"] == 4
    finally:
        src.close()
        task.cancel()
        await fake.stop()


async def test_socket_source_gives_up_on_missing_socket(sockdir):
    src = SocketSource(str(sockdir / "none.sock"), give_up_after=0.2)
    frames: list[dict] = []
    await asyncio.wait_for(src.run(frames.extend), 5)
    assert src.state == "ended"
    assert frames[-1]["state"] == "ended" and "cannot connect" in frames[-1]["detail"]
    with pytest.raises(RuntimeError):
        await src.send({"cmd": "ping"})
