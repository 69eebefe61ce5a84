"""Opening recordings: one reader for the format, sessions of a multi-session export kept apart."""

from __future__ import annotations


import pytest

from pilot_wait import wait_for
from omproxy_tui.core.export import export_jsonl, load_jsonl
from omproxy_tui.core.store import Store
from omproxy_tui.protocol.builder import FrameBuilder
from omproxy_tui.protocol.recording import write_recording
from omproxy_tui.tui.app import build_app

pytestmark = pytest.mark.anyio


def two_sessions() -> list[dict]:
    """Two sessions using the same JSON-RPC ids, their messages interleaved in one file."""
    a = FrameBuilder(1000.0, session="alpha")
    b = FrameBuilder(1000.005, session="beta")
    for i in range(1, 4):
        a.message("c2s", {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "a"}})
        b.message("c2s", {"jsonrpc": "2.0", "id": i, "method": "resources/read", "params": {"uri": "x://b"}})
        a.message("s2c", {"jsonrpc": "2.0", "id": i, "result": {"content": []}}, dt=0.003)
        b.message("s2c", {"jsonrpc": "2.0", "id": i, "result": {"contents": []}}, dt=0.007)
    out = []
    for fa, fb in zip(a.frames, b.frames):
        out += [fa, fb]
    return out


async def test_multi_session_export_opens_as_separate_sessions(tmp_path):
    path = tmp_path / "two.jsonl"
    write_recording(two_sessions(), path)
    app = build_app(recordings=[str(path)], clock=lambda: 1000.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: any(s.state == "loaded" for s in app.sessions.values()))
        await wait_for(pilot, lambda: len(app.store) == 12)
        assert sorted(app.sessions_by_label) == ["alpha", "beta"]
        assert {s.messages for s in app.sessions.values()} == {6}
        assert app.store.pending_count == 0
        for rec in app.store:
            assert rec.pair is not None, rec.raw
            assert app.store[rec.pair].session == rec.session
        latencies = sorted({round(r.latency, 3) for r in app.store if r.kind == "response"})
        assert latencies == [0.003, 0.007]
        # a second export of the reopened file keeps the session names
        out = tmp_path / "again.jsonl"
        export_jsonl(app.store, out)
        again = Store()
        load_jsonl(out, again)
        assert again.sessions == {"alpha", "beta"} and again.pending_count == 0


async def test_recording_with_bad_lines_says_so(tmp_path):
    path = tmp_path / "bad.jsonl"
    b = FrameBuilder()
    b.message("c2s", {"jsonrpc": "2.0", "method": "notifications/initialized"})
    write_recording(b.frames, path)
    with open(path, "a") as fh:
        fh.write("this is not json\n[1,2]\n{\"no\": \"type\"}\n")
    app = build_app(recordings=[str(path)], clock=lambda: 1000.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: any(s.state == "loaded" for s in app.sessions.values()))
        [session] = app.sessions.values()
        assert session.messages == 1
        assert "3 lines skipped" in session.detail
        assert "1 not JSON" in session.detail and "1 not a JSON object" in session.detail


@pytest.mark.parametrize("content, says", [
    ("", "empty file: no frames"),
    ('{"name": "my-package", "version": "1.0.0"}\n', "not a recording: no message frames (1 line skipped: 1 not a frame (no type))"),
    ("hello\nworld\n", "not a recording: no message frames (2 lines skipped: 2 not JSON)"),
])
async def test_opening_something_that_is_not_a_recording_says_so(tmp_path, content, says):
    """Issue 10.13: not an empty log that looks like it is waiting."""
    path = tmp_path / "x.jsonl"
    path.write_text(content)
    app = build_app(recordings=[str(path)], clock=lambda: 1000.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: any(s.state == "loaded" for s in app.sessions.values()))
        [session] = app.sessions.values()
        assert session.detail == says
        app._refresh_status()
        assert says in app.log_widget.empty_text
