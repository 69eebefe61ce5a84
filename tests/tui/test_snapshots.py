"""SVG snapshots of the main screens (canned session, fixed clock, UTC, fixed terminal size).

Plain ``def`` tests: ``snap_compare`` runs the app itself. Update with ``--snapshot-update``.
"""

from __future__ import annotations

import time

import pytest

from omproxy_tui.client.sources import write_recording
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.tui.app import build_app

SIZE = (140, 40)


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "canned.jsonl"
    write_recording(canned_session(), path)
    return build_app(recordings=[str(path)], clock=lambda: T0 + 12.0)


async def loaded(pilot) -> None:
    app = pilot.app
    deadline = time.monotonic() + 60  # generous: a loaded machine can be ten times slower
    while not any(i.state == "loaded" for i in app.sessions.values()):
        assert time.monotonic() < deadline
        await pilot.pause(0.02)
    await pilot.pause()
    app.filter_bar.input.cursor_blink = False
    app._refresh_sessions()
    app._refresh_status()
    await pilot.pause()


async def select(pilot, predicate) -> None:
    app = pilot.app
    log = app.log_widget
    pos = next(p for p, i in enumerate(app.view.indices) if predicate(app.store[i]))
    log.follow = False
    log.move_cursor(app.model.rows.row_of(pos))
    target = log.selected_record()
    deadline = time.monotonic() + 60
    while app.detail.record is not target:  # the detail pane is debounced
        assert time.monotonic() < deadline
        await pilot.pause(0.02)


def test_main_screen(snap_compare, app):
    async def run_before(pilot):
        await loaded(pilot)
        await select(pilot, lambda r: r.kind == "response" and r.error and r.method is None and r.pair is not None
               or (r.kind == "error"))
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_detail_paired_response(snap_compare, app):
    async def run_before(pilot):
        await loaded(pilot)
        await select(pilot, lambda r: r.kind == "response" and r.pair is not None
               and pilot.app.store[r.pair].method == "tools/list")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_stats_screen(snap_compare, app):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("s")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_filter_error(snap_compare, app):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("slash")
        await pilot.press(*"~m tools & (")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_help_screen(snap_compare, app):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_main_screen_80x24(snap_compare, app):
    """Issue 10.8: at 80 columns the method is cut with an ellipsis, size and summary survive,
    the footer shows help and quit, and the filter bar takes one row."""
    async def run_before(pilot):
        await loaded(pilot)
        await select(pilot, lambda r: r.kind == "response" and r.tool == "progress")
        await pilot.press("slash", *"~tool")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=(80, 24))


def test_main_screen_200x50(snap_compare, app):
    async def run_before(pilot):
        await loaded(pilot)
        await select(pilot, lambda r: r.kind == "request" and r.tool == "echo")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=(200, 50))


# ---- steering (a canned live session: tui/steer needs a source that can send) ---------------


@pytest.fixture
def steer_app():
    from omproxy_tui.demo.steer_canned import CannedLiveSource
    from omproxy_tui.tui.app import OmproxyApp

    return OmproxyApp([CannedLiveSource()], clock=lambda: T0 + 12.0)


async def steer_loaded(pilot) -> None:
    app = pilot.app
    deadline = time.monotonic() + 60  # generous: a loaded machine can be ten times slower
    while not any(s.held for s in app.sessions.values()):
        assert time.monotonic() < deadline
        await pilot.pause(0.02)
    await pilot.pause()
    app.filter_bar.input.cursor_blink = False
    app._refresh_sessions()
    app._refresh_status()
    await pilot.pause()


def test_held_state(snap_compare, steer_app):
    """Held messages flagged in the log, the held flag in detail, intercept + held count in the status."""

    async def run_before(pilot):
        await steer_loaded(pilot)
        await select(pilot, lambda r: r.held and r.tool == "slow")
        await pilot.pause()

    assert snap_compare(steer_app, run_before=run_before, terminal_size=SIZE)


def test_editor_validation_error(snap_compare, steer_app):
    async def run_before(pilot):
        await steer_loaded(pilot)
        await select(pilot, lambda r: r.held and r.tool == "slow")
        await pilot.press("e")
        await pilot.pause()
        area = pilot.app.screen.query_one("#editor-text")
        area.cursor_blink = False
        area.text = area.text.replace('"seconds": 5', '"seconds": 0.5,')
        await pilot.pause()

    assert snap_compare(steer_app, run_before=run_before, terminal_size=SIZE)


def test_compose_form(snap_compare, steer_app):
    """tools/call form for a tool with required, enum and nested (object, array) arguments."""

    async def run_before(pilot):
        await steer_loaded(pilot)
        await select(pilot, lambda r: r.method == "tools/list")
        await pilot.press("C")
        app = pilot.app
        deadline = time.monotonic() + 60  # generous: a loaded machine can be ten times slower
        while not getattr(app.screen, "fields", None):
            assert time.monotonic() < deadline
            await pilot.pause(0.02)
        screen = app.screen
        screen.pick_target("deploy")
        while not (screen.form_ready and [f.name for f in screen.fields] == ["service", "environment", "options", "tags"]):
            assert time.monotonic() < deadline
            await pilot.pause(0.02)
        await pilot.pause()
        screen.query_one("#field-2").value = '{"replicas": 20}'
        for inp in screen.query("Input"):
            inp.cursor_blink = False
        screen.query_one("#field-0").focus()
        await pilot.pause()

    assert snap_compare(steer_app, run_before=run_before, terminal_size=SIZE)


def _marker_frames() -> list[dict]:
    """A live session with every kind of row that is not a message: its start gone from the
    backlog, frames lost, a hot restart (on a file change, a tool added), a failed one, frames
    missed across a reconnect, and a restart still under way."""
    from omproxy_tui.protocol.builder import FrameBuilder

    b = FrameBuilder(wall0=T0, seq=40)
    b.hello({"name": "dev", "transport": "stdio", "target": ["python", "server.py"]}, backlog=20, evicted=40)
    call = lambda i, name: b.message("c2s", {"jsonrpc": "2.0", "id": i, "method": "tools/call",  # noqa: E731
                                            "params": {"name": name, "arguments": {}}})
    call(7, "echo")
    b.message("s2c", {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "hi"}]}}, dt=0.003)
    b.lost(3)
    call(8, "echo")
    b.lifecycle("restarting", dt=0.2, cause="watch", generation=2, files=["server.py"])
    b.message("s2c", {"jsonrpc": "2.0", "id": 8, "error": {"code": -32011, "message": "omproxy: the server was "
                                                           "restarted (watch) before it answered this request"}})
    b.lifecycle("restart", dt=0.4, cause="watch", generation=2, pid=4242, downtime_ms=412.5,
                timings={"stop_ms": 12.0, "start_ms": 380.5, "lists_ms": 20.0},
                changed={"tools": {"added": ["shout"], "removed": [], "changed": ["echo"]}}, answered=1, ok=True)
    b.message("s2c", {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    call(9, "shout")
    b.message("s2c", {"jsonrpc": "2.0", "id": 9, "result": {"content": [{"type": "text", "text": "HI"}]}}, dt=0.002)
    b.lifecycle("restarting", dt=1.0, cause="tool", generation=3)
    b.lifecycle("restart_failed", dt=0.1, cause="tool", generation=3, downtime_ms=96.0, answered=0, ok=False,
                error="the server exited during the handshake (code 1)",
                stderr=["  File \"server.py\", line 12", "SyntaxError: invalid syntax"])
    call(10, "echo")
    b.message("s2c", {"jsonrpc": "2.0", "id": 10, "error": {"code": -32012, "message": "omproxy: the MCP server "
                                                            "is not running"}})
    b.add({"type": "lost", "n": 12, "reconnect": True})  # what client/sources.py says after a reconnect
    b.seq += 12
    b.message("c2s", {"jsonrpc": "2.0", "method": "notifications/after-reconnect"}, dt=5.0)
    b.lifecycle("restarting", dt=1.0, cause="command", generation=4)  # still under way
    return b.frames


@pytest.fixture
def marker_app():
    return build_app(clock=lambda: T0 + 12.0)


async def _with_markers(pilot) -> None:
    from types import SimpleNamespace

    app = pilot.app
    app.model.attach("dev", "dev", proxy={"transport": "stdio"}, state="live")
    app.ingest(SimpleNamespace(key="dev"), _marker_frames())
    app.filter_bar.input.cursor_blink = False
    app._refresh_sessions()
    app._refresh_status()
    await pilot.pause()


def test_marker_rows(snap_compare, marker_app):
    """Issue 10.2 / 12.5: a gap in the backlog, lost frames, a restart and a failed one are rows of
    their own; the failed restart (the newest row, followed) explains itself in the detail pane."""
    async def run_before(pilot):
        await _with_markers(pilot)
        log = pilot.app.log_widget
        rows = [log.rows.at(r) for r in range(log.row_count)]
        failed = next(m for m in rows if not isinstance(m, int) and m.failed)
        log.follow = False
        log.move_cursor(rows.index(failed))
        pilot.app._show_detail()
        await pilot.pause()

    assert snap_compare(marker_app, run_before=run_before, terminal_size=SIZE)


def test_marker_rows_80x24(snap_compare, marker_app):
    async def run_before(pilot):
        await _with_markers(pilot)
        log = pilot.app.log_widget
        rows = [log.rows.at(r) for r in range(log.row_count)]
        log.follow = False
        log.move_cursor(next(i for i, m in enumerate(rows) if not isinstance(m, int) and m.event == "restart"))
        pilot.app._show_detail()
        await pilot.pause()

    assert snap_compare(marker_app, run_before=run_before, terminal_size=(80, 24))


def test_saved_filters_list(snap_compare, tmp_path):
    """Issue 10.14: the saved filters (F), from the config file."""
    from pathlib import Path

    from omproxy_tui.tui.app import OmproxyApp
    from omproxy_tui.client.sources import RecordingSource
    from omproxy_tui.tui.config import Config

    path = tmp_path / "canned.jsonl"
    write_recording(canned_session(), path)
    config = Config(Path("/home/you/.config/omproxy/tui.json"),
                    {"filters": {"errors": "~e", "slow-tools": "~m tools/call & ~slow 1", "pings": "~m ^ping$"}})
    app = OmproxyApp([RecordingSource(str(path))], clock=lambda: T0 + 12.0, config=config)

    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("F")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


# ---- the detail pane: search and folding (issue 10 item 14) ----------------------------------


async def _tools_list_in_detail(pilot) -> None:
    await loaded(pilot)
    await select(pilot, lambda r: r.kind == "response" and r.method == "tools/list")
    await pilot.pause()


def test_detail_search(snap_compare, app):
    """Ctrl+F: the search bar at the bottom of the detail pane, matches highlighted, the current
    one brighter, "2/N" in the pane's border."""

    async def run_before(pilot):
        await _tools_list_in_detail(pilot)
        await pilot.press("ctrl+f", *"description")
        await pilot.press("enter")
        pilot.app.detail.search_input.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_detail_folded(snap_compare, app):
    """Fold all (-), then the cursor line's array unfolded (→): the folded lines say what they hide."""

    async def run_before(pilot):
        await _tools_list_in_detail(pilot)
        view = pilot.app.detail.view
        view.focus()
        await pilot.press("minus")
        await pilot.press("down", "down", "down", "right")  # "result": unfolded, its tools array stays folded
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)
