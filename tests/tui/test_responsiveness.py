"""Responsive at scale (issue 10.6): a burst is ingested a slice at a time, in order, and the
Stats table updates only the cells that changed. (How fast: tests/tui/bench_tui.py.)"""

from __future__ import annotations

import asyncio

import pytest
from fake_proxy import FakeProxy, message
from pilot_wait import wait_for
from textual.widgets import DataTable

from omproxy_tui.client.sources import SocketSource, Source
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.tui import app as app_module
from omproxy_tui.tui.app import FramesReceived, OmproxyApp
from omproxy_tui.tui.screens import StatsScreen

pytestmark = pytest.mark.anyio
SIZE = (140, 40)


class QuietSource(Source):
    """A live session whose frames the test hands to the app itself."""

    key = "quiet"
    label = "quiet"

    async def run(self, emit) -> None:
        await asyncio.Event().wait()


def requests(first_seq: int, n: int) -> list[dict]:
    return [message(seq, "c2s", {"jsonrpc": "2.0", "id": seq, "method": "ping"})
            for seq in range(first_seq, first_seq + n)]


async def test_a_big_batch_is_ingested_a_slice_at_a_time_and_in_order(monkeypatch):
    # one chunk per turn of the event loop: what a slow machine does with the time budget
    monkeypatch.setattr(app_module, "INGEST_SLICE", 0.0)
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        app._frames(FramesReceived(source, requests(1, 1200)))
        # the handler returned after one chunk: the rest waits for the loop's next turns
        assert len(app.store) == app_module.INGEST_CHUNK
        app._frames(FramesReceived(source, requests(1201, 300)))
        assert len(app.store) == app_module.INGEST_CHUNK  # queued behind the first batch
        await wait_for(pilot, lambda: len(app.store) == 1500)
        assert [r.seq for r in app.store] == list(range(1, 1501))
        assert len(app.view.indices) == 1500 and app.log_widget.cursor == 1499  # following
        assert not app._inbox and app._drain_timer is None


async def test_a_small_batch_is_ingested_at_once():
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app._frames(FramesReceived(app.initial_sources[0], requests(1, 50)))
        assert len(app.store) == 50 and not app._inbox


async def test_stats_update_changes_cells_in_place(sockdir):
    frames = canned_session()
    fake = await FakeProxy(str(sockdir / "p.sock"), frames).start()
    app = OmproxyApp([SocketSource(fake.path)], clock=lambda: T0 + 10)
    n = sum(1 for f in fake.backlog if f["type"] == "message")
    last = max(f["seq"] for f in fake.backlog if f["type"] == "message")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == n)
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen))
            screen = app.screen
            screen.sort_index, screen.reverse = 0, False  # by name: new counts do not reorder
            screen.refresh_stats()
            table = screen.query_one(DataTable)
            rows = {key: table.rows[key] for key in table.rows}
            before = table.get_cell("tools/call:echo", "count")
            await fake.emit(message(last + 1, "c2s", {"jsonrpc": "2.0", "id": 900, "method": "tools/call",
                                                      "params": {"name": "echo", "arguments": {}}}))
            await wait_for(pilot, lambda: len(app.store) == n + 1)
            screen.refresh_stats()
            assert table.get_cell("tools/call:echo", "count") == f"{int(before.replace(',', '')) + 1:,}"
            # the same rows, not a rebuilt table (a rebuild made every refresh a full re-layout)
            assert all(table.rows[key] is row for key, row in rows.items())
            assert list(table.rows) == list(rows)
    finally:
        await fake.stop()
