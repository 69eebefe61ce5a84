"""The one frame builder and the one recording reader (protocol/, standard library only)."""

from __future__ import annotations

import json

from omproxy_tui.core.records import record_from_frame
from omproxy_tui.protocol.builder import FrameBuilder, message_frame
from omproxy_tui.protocol.recording import RecordingReader, read_recording, write_recording

PROXY_KEYS = ["type", "seq", "t", "wall", "dir", "raw", "size", "error", "held", "status", "changed", "injected",
              "to_inspector"]


def test_message_frame_has_the_proxys_keys_in_order():
    f = message_frame(3, 1.5, 10.0, "c2s", {"jsonrpc": "2.0", "method": "x", "params": {"s": "é"}})
    assert list(f) == PROXY_KEYS
    assert f["raw"] == '{"jsonrpc":"2.0","method":"x","params":{"s":"é"}}'
    assert f["size"] == len(f["raw"].encode()) and f["held"] is False and f["status"] == "relayed"
    held = message_frame(4, 1.6, 10.1, "s2c", "line", status="held", session="a")
    assert held["held"] is True and held["raw"] == "line" and held["session"] == "a"
    bad = message_frame(5, 1.7, 10.2, "s2c", b"\xff\xfe", error="line is not valid UTF-8")
    assert "raw" not in bad and bad["raw_b64"] == "//4=" and bad["size"] == 2
    assert record_from_frame(bad, "s", 0).kind == "invalid"


def test_frame_builder_numbers_every_event_and_advances_the_clock():
    b = FrameBuilder(1000.0, t0=5.0)
    b.hello({"name": "x"})
    b.state()
    m = b.message("c2s", {"jsonrpc": "2.0", "id": 1, "method": "ping"}, dt=0.5)
    e = b.stderr("hi")
    b.lost(2)
    r = b.resolved(1, "dropped")
    assert [f.get("seq") for f in b.frames] == [None, None, 1, 2, None, 5]
    assert m["t"] == 5.5 and m["wall"] == 1000.5 and e["type"] == "stderr"
    assert r["of"] == 1 and r["action"] == "dropped"


def test_reader_counts_skipped_lines_and_accepts_bare_messages(tmp_path):
    path = tmp_path / "r.jsonl"
    b = FrameBuilder()
    b.message("c2s", "{}")
    write_recording(b.frames, path)
    with open(path, "a") as fh:
        fh.write("\n  \nnope\n[]\n{\"a\": 1}\n" + json.dumps({"dir": "s2c", "raw": "{}"}) + "\n")
    reader = RecordingReader(path)
    frames = list(reader)
    assert [f["type"] for f in frames] == ["message", "message"]
    assert reader.lines == 5
    assert reader.skipped_text == "3 lines skipped: 1 not JSON, 1 not a JSON object, 1 not a frame (no type)"
    assert read_recording(path) == frames
