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
    deadline = time.monotonic() + 10
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
    log.move_cursor(pos)
    target = log.selected_record()
    deadline = time.monotonic() + 5
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
