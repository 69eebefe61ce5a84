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
    log.move_cursor(pos)
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
