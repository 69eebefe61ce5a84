"""The real app with a tiny body budget: what is shown, copied, filtered and exported is read
back from the spool (a live session) or from the opened recording itself (``--open``)."""

from __future__ import annotations

import json

import pytest
from pilot_wait import wait_for
from fake_proxy import FakeProxy, message, plain

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.core import spool
from omproxy_tui.core.spool import is_spooled
from omproxy_tui.protocol.builder import FrameBuilder
from omproxy_tui.protocol.recording import write_recording
from omproxy_tui.tui.app import OmproxyApp, build_app

pytestmark = pytest.mark.anyio

SIZE = (140, 40)


@pytest.fixture
def small_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(spool, "_default_max", 20_000)  # what --max-memory 20000 sets


def result(i: int, text: str) -> dict:
    return {"jsonrpc": "2.0", "id": i, "result": {"content": [{"type": "text", "text": text}]}}


def call(i: int) -> dict:
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "shot", "arguments": {"n": i}}}


async def check_spooled_app(app: OmproxyApp, pilot, n: int, tmp_path, newest_in_memory: bool = True) -> None:
    store = app.store
    assert is_spooled(store[1]) and is_spooled(store[2 * n - 1]) is not newest_in_memory
    # detail pane of the first (spooled) response: its body, read back
    row = app.view.position(1)
    app.log_widget.move_cursor(row)
    await wait_for(pilot, lambda: app.detail.record is not None and app.detail.record.index == 1)
    await pilot.pause()
    assert "marker-0001" in app.detail.body_text()
    await pilot.press("o")
    await wait_for(pilot, lambda: "marker-0001" in app.detail.body_text())
    await pilot.press("o")
    # copy gives the exact line
    app.action_copy()
    assert app.clipboard == store[1].raw and json.loads(app.clipboard)["result"]["content"][0]["text"].startswith(
        "marker-0001")
    # raw-text filters find spooled bodies
    assert app.apply_filter("marker-0001")
    await wait_for(pilot, lambda: app.view.indices == [1])
    assert app.apply_filter("~m tools/call")
    await wait_for(pilot, lambda: len(app.view.indices) == 2 * n)  # responses inherit the method
    # export writes the spooled bodies
    assert app.apply_filter("")
    from omproxy_tui.core.export import export_jsonl

    out = tmp_path / "export.jsonl"
    export_jsonl(store, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [f["raw"] for f in lines] == [r.raw for r in store]
    assert "marker-0001" in lines[1]["raw"]


async def test_live_session_bodies_beyond_the_budget_are_read_back(small_budget, sockdir, tmp_path):
    n = 12
    frames = []
    for i in range(1, n + 1):
        frames.append(message(2 * i - 1, "c2s", call(i)))
        frames.append(message(2 * i, "s2c", result(i, f"marker-{i:04d} " + "p" * 8000)))
    fake = await FakeProxy(str(sockdir / "s.sock"), frames).start()
    try:
        app = OmproxyApp([SocketSource(fake.path)], clock=lambda: 1000.0)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 2 * n)
            assert app.store.spool is not None and app.store.body_bytes <= 20_000
            await check_spooled_app(app, pilot, n, tmp_path)
    finally:
        await fake.stop()


async def test_open_recording_reads_bodies_from_the_file(small_budget, tmp_path):
    n = 12
    b = FrameBuilder(1000.0)
    for i in range(1, n + 1):
        b.message("c2s", call(i))
        b.message("s2c", result(i, f"marker-{i:04d} " + "q" * 8000), dt=0.002)
    path = tmp_path / "big.jsonl"
    write_recording(b.frames, path)
    app = build_app(recordings=[str(path)], clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any(s.state == "loaded" for s in app.sessions.values()))
        assert len(app.store) == 2 * n
        assert app.store.spool is None  # nothing copied: the recording is the spool
        # big bodies of a recording are read from it from the start, the newest too
        await check_spooled_app(app, pilot, n, tmp_path, newest_in_memory=False)
