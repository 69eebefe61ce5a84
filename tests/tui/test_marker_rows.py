"""Rows of the log that are not messages (issue 10.2, issue 12.5): a gap in the backlog, frames
lost or missed across a reconnect, a hot restart and a failed one. Driven through a real unix
socket (an in-process fake proxy)."""

from __future__ import annotations

import pytest
from fake_proxy import FakeProxy, message, plain
from pilot_wait import wait_for

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.core.markers import Marker
from omproxy_tui.demo.canned import T0
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio

SIZE = (140, 40)


def _app(fake: FakeProxy) -> OmproxyApp:
    return OmproxyApp([SocketSource(fake.path)], clock=lambda: T0 + 10)


def _screen_rows(app: OmproxyApp) -> list[str]:
    log = app.log_widget
    return [log.render_line(y).text for y in range(min(log.row_count, log.size.height))]


def _detail(app: OmproxyApp) -> str:
    return app.detail.head_text() + "\n" + app.detail.body_text()


async def test_a_session_whose_start_left_the_backlog_has_a_gap_row_at_the_top(sockdir, tmp_path):
    """Issue 10.2: "N earlier frames not in the backlog" is a row of its own: selectable, explained in
    the detail pane, kept under a filter, never a message (stats, export, error jumps)."""
    frames = [message(41, "c2s", {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "x"}}),
              message(42, "s2c", {"jsonrpc": "2.0", "id": 9, "error": {"code": -1, "message": "bad"}}),
              message(43, "c2s", {"jsonrpc": "2.0", "method": "notifications/after"})]
    fake = await FakeProxy(str(sockdir / "g.sock"), frames).start()
    try:
        app = _app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 3)
            log = app.log_widget
            await wait_for(pilot, lambda: log.row_count == 4, what="a gap row and three messages")
            rows = _screen_rows(app)
            assert "40 earlier frames of fake not in the proxy's backlog" in rows[0]
            assert "tools/call" in rows[1] and "earlier" not in rows[1]
            # selectable: the detail pane says what it is
            log.focus()
            await pilot.press("home")
            await wait_for(pilot, lambda: "not a message" in _detail(app), what="detail explains the row")
            assert log.selected_record() is None and isinstance(log.selected_marker(), Marker)
            assert "backlog" in _detail(app)
            # n skips it (not a message) and finds the error; N from there finds nothing above
            await pilot.press("n")
            await wait_for(pilot, lambda: log.selected_record() is app.store[1])
            await pilot.press("N")
            await pilot.pause()
            assert log.selected_record() is app.store[1]
            # p pairs messages, not rows
            await pilot.press("p")
            await wait_for(pilot, lambda: log.selected_record() is app.store[0])
            # a filter keeps it, as context
            assert app.apply_filter("~m notifications/after")
            assert log.row_count == 2 and isinstance(log.rows.at(0), Marker)
            assert app.apply_filter("")
            # not a message: stats and export leave it out
            assert app.stats.messages == 3
            target = tmp_path / "out.jsonl"
            await pilot.press("E")
            from textual.widgets import Input

            await wait_for(pilot, lambda: bool(app.screen.query(Input)))
            app.screen.query_one(Input).value = str(target)
            await pilot.press("enter")
            await wait_for(pilot, lambda: target.exists() and target.read_text().count("\n") == 3)
    finally:
        await fake.stop()


async def test_the_hellos_evicted_count_places_the_gap_after_the_kept_handshake(sockdir):
    frames = [{"type": "hello", "v": 1, "evicted": 500, "proxy": {"name": "kept", "transport": "stdio"}},
              message(1, "c2s", {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}),
              message(2, "s2c", {"jsonrpc": "2.0", "id": 0, "result": {"serverInfo": {"name": "s", "version": "1"}}}),
              message(503, "c2s", {"jsonrpc": "2.0", "method": "notifications/late"})]
    fake = await FakeProxy(str(sockdir / "h.sock"), frames).start()
    try:
        app = _app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 3 and app.log_widget.row_count == 4)
            rows = _screen_rows(app)
            assert "initialize" in rows[0] and "initialize" in rows[1]
            assert "500 earlier frames" in rows[2] and "notifications/late" in rows[3]
    finally:
        await fake.stop()


async def test_frames_lost_and_missed_across_a_reconnect_are_gap_rows(sockdir):
    fake = await FakeProxy(str(sockdir / "r.sock"), [message(1, "c2s", {"jsonrpc": "2.0", "method": "notifications/a"})]).start()
    try:
        app = _app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 1)
            [info] = app.sessions.values()
            # the proxy skipped frames for a slow inspector: it says so with a `lost` frame
            await fake.emit({"type": "lost", "n": 3}, record=False)
            await fake.emit(message(5, "c2s", {"jsonrpc": "2.0", "method": "notifications/b"}))
            await wait_for(pilot, lambda: len(app.store) == 2)
            # a reconnect whose replayed backlog no longer holds seq 6..9
            fake.backlog.append(message(10, "c2s", {"jsonrpc": "2.0", "method": "notifications/c"}))
            await fake.drop_clients()
            await wait_for(pilot, lambda: len(app.store) == 3 and fake.connections == 2)
            await wait_for(pilot, lambda: app.log_widget.row_count == 5)
            rows = _screen_rows(app)
            assert "notifications/a" in rows[0]
            assert "3 frames lost (this inspector fell behind)" in rows[1]
            assert "notifications/b" in rows[2]
            assert "4 frames missed while reconnecting" in rows[3]
            assert "notifications/c" in rows[4]
            assert info.lost == 7
    finally:
        await fake.stop()


async def test_a_restart_and_a_failed_one_are_rows_with_cause_downtime_and_changes(sockdir):
    """Issue 12.5 from the proxy's lifecycle frames: one row per restart, from "restarting" to its
    outcome, with the cause, the downtime and what changed in the lists; a failed one says why."""
    fake = await FakeProxy(str(sockdir / "s.sock"), [message(1, "c2s", {"jsonrpc": "2.0", "id": 1, "method": "ping"})]).start()
    try:
        app = _app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 1)
            log = app.log_widget
            await fake.emit({"type": "lifecycle", "seq": 2, "t": 1.0, "wall": T0 + 1, "event": "restarting",
                             "cause": "watch", "generation": 2, "files": ["server.py"]})
            await wait_for(pilot, lambda: log.row_count == 2)
            assert "restarting the server: generation 2 (file changed)" in _screen_rows(app)[1]
            # following: the new row is selected, the detail pane explains it
            await wait_for(pilot, lambda: "server.py" in _detail(app))
            await fake.emit(message(3, "s2c", {"jsonrpc": "2.0", "id": 1, "error": {"code": -32011, "message": "restarted"}}))
            await fake.emit({"type": "lifecycle", "seq": 4, "t": 1.5, "wall": T0 + 1.5, "event": "restart",
                             "cause": "watch", "generation": 2, "downtime_ms": 512.0, "pid": 4242,
                             "changed": {"tools": {"added": ["new_tool"], "removed": [], "changed": []}}})
            want = "server restarted #2 (file changed) · 0.51 s down · tools +new_tool"
            await wait_for(pilot, lambda: want in _screen_rows(app)[1], what="the restart row completed")
            assert "restarted" in _screen_rows(app)[2]  # the error answer follows the row
            await fake.emit({"type": "lifecycle", "seq": 5, "t": 2.0, "wall": T0 + 2, "event": "restarting",
                             "cause": "tool", "generation": 3})
            await fake.emit({"type": "lifecycle", "seq": 6, "t": 2.5, "wall": T0 + 2.5, "event": "restart_failed",
                             "cause": "tool", "generation": 3, "error": "cannot start 'srv': No such file",
                             "stderr": ["Traceback: boom"], "downtime_ms": 20.0})
            await wait_for(pilot, lambda: log.row_count == 4 and "FAILED" in _screen_rows(app)[3])
            assert "restart #3 (restart tool) FAILED" in _screen_rows(app)[3]
            await wait_for(pilot, lambda: "Traceback: boom" in _detail(app), what="the failure explained")
            assert len(app.view) == 2 and app.stats.messages == 2
    finally:
        await fake.stop()
