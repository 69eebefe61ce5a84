"""Raw-text filters over spooled bodies run off the UI thread (tui/body_search.py): the app
stays usable, shows progress, a newer filter or Esc cancels, and the rows found are exactly the
ones the same filter finds synchronously."""

from __future__ import annotations

import threading

import pytest
from fake_proxy import FakeProxy, message
from pilot_wait import wait_for

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.core import filters, spool
from omproxy_tui.tui import body_search
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio

SIZE = (140, 40)
N = 12


@pytest.fixture
def small_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(spool, "_default_max", 20_000)  # what --max-memory 20000 sets


@pytest.fixture
def gate(monkeypatch):
    """Reading the spool waits for this event (set by the fixture's end at the latest)."""
    ev = threading.Event()
    read = spool.BodySpool._read

    def gated(self, off, n):
        if threading.current_thread() is not threading.main_thread():
            ev.wait(60)
        return read(self, off, n)

    monkeypatch.setattr(spool.BodySpool, "_read", gated)
    yield ev
    ev.set()


def frames() -> list[dict]:
    out = []
    for i in range(1, N + 1):
        out.append(message(2 * i - 1, "c2s", {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                              "params": {"name": "shot", "arguments": {"n": i}}}))
        out.append(message(2 * i, "s2c", {"jsonrpc": "2.0", "id": i, "result": {
            "content": [{"type": "text", "text": f"marker-{i:04d} " + "p" * 8000}]}}))
    return out


def synchronous(app: OmproxyApp, expr: str) -> list[int]:
    return filters.parse(expr).select(app.store.records, range(len(app.store)))


async def test_search_runs_in_a_thread_with_progress_and_finds_what_a_synchronous_one_finds(
        small_budget, sockdir, gate, monkeypatch):
    monkeypatch.setattr(body_search, "SHOW_AFTER", 0.0)
    fake = await FakeProxy(str(sockdir / "s.sock"), frames()).start()
    try:
        app = OmproxyApp([SocketSource(fake.path)], clock=lambda: 1000.0)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 2 * N)
            assert spool.is_spooled(app.store[1])
            before = list(app.view.indices)
            assert app.apply_filter("marker-0002")
            # the worker waits at the gate: the log still shows everything and keys work
            assert app.body_search.current is not None and app.view.indices == before
            app.log_widget.focus()
            cursor = app.log_widget.cursor
            await pilot.press("up")
            assert app.log_widget.cursor != cursor
            app._refresh_status()
            assert "searching bodies" in str(app._last_status)
            gate.set()
            await wait_for(pilot, lambda: app.body_search.current is None)
            assert app.view.indices == synchronous(app, "marker-0002") == [3]
            assert app.filter_text == "marker-0002"
            app._refresh_status()
            assert "searching" not in str(app._last_status)
    finally:
        await fake.stop()


async def test_a_newer_filter_or_esc_cancels_the_search(small_budget, sockdir, gate):
    fake = await FakeProxy(str(sockdir / "s.sock"), frames()).start()
    try:
        app = OmproxyApp([SocketSource(fake.path)], clock=lambda: 1000.0)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 2 * N)
            # a newer filter: shown at once, the stale search never lands
            assert app.apply_filter("marker-0005")
            stale = app.body_search.thread
            assert app.apply_filter("~d c2s")
            assert app.body_search.current is None and len(app.view.indices) == N
            gate.set()
            stale.join(30)
            await pilot.pause()
            assert len(app.view.indices) == N and app.filter_text == "~d c2s"
            # Esc: the search stops and the filter shown stays
            gate.clear()
            assert app.apply_filter("marker-0007")
            stale = app.body_search.thread
            app.log_widget.focus()
            await pilot.press("escape")
            assert app.body_search.current is None and app.filter_text == "~d c2s"
            gate.set()
            stale.join(30)
            await pilot.pause()
            assert len(app.view.indices) == N and app.filter_text == "~d c2s"
    finally:
        await fake.stop()
