"""Pilot tests: the real app attached to an in-process fake proxy over a real unix socket."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest
from pilot_wait import wait_for
from fake_proxy import FakeProxy, message, plain

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio

SIZE = (140, 40)


def n_messages(frames) -> int:
    return sum(1 for f in frames if f.get("type") == "message")


@pytest.fixture
async def proxy(sockdir):
    fake = FakeProxy(str(sockdir / "p.sock"), canned_session())
    await fake.start()
    yield fake
    await fake.stop()


def make_app(proxy: FakeProxy) -> OmproxyApp:
    return OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)


async def test_frames_appear_in_log(proxy):
    app = make_app(proxy)
    total = len(proxy.backlog and [f for f in proxy.backlog if f["type"] == "message"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == total)
        info = next(iter(app.sessions.values()))
        assert info.state == "live"
        assert info.server_name == "omproxy-demo" and info.server_version == "1.0.0"
        assert info.label == "demo"
        assert len(info.stderr) == 5
        assert app.log_widget.row_count == total
        # rendered rows carry method names and the latency of responses
        lines = [app.log_widget.render_line(y).text for y in range(app.log_widget.size.height)]
        screen = "\n".join(lines)
        assert "tools/call" in screen
        # follow mode: the last record is visible
        assert app.log_widget.follow
        assert app.log_widget.scroll_y == app.log_widget.max_scroll_y


async def test_live_frames_are_batched_and_rendered(proxy):
    app = make_app(proxy)
    seen = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        base = len([f for f in proxy.backlog if f["type"] == "message"])
        await wait_for(pilot, lambda: len(app.store) == base)
        seq = proxy.backlog[-1]["seq"]
        frames = [message(seq + i + 1, "c2s", {"jsonrpc": "2.0", "method": "notifications/x", "params": {"n": i}})
                  for i in range(500)]
        await proxy.emit(*frames)
        await wait_for(pilot, lambda: len(app.store) == base + 500)
        from omproxy_tui.tui.app import FramesReceived

        batches = [m for m in seen if isinstance(m, FramesReceived)]
        assert len(batches) < 100  # never one message per frame
        assert "notifications/x" in app.methods_seen


async def test_filter_narrows_and_bad_filter_shows_error(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        total = len(app.view.indices)
        await pilot.press("slash")
        assert app.filter_bar.display
        await pilot.press(*"~m tools/list")
        await pilot.press("enter")
        await pilot.pause()
        assert 0 < len(app.view.indices) < total
        assert all(app.store[i].method in (None, "tools/list") or app.store[i].method == "tools/list"
                   for i in app.view.indices)
        assert app.filter_text == "~m tools/list"
        # a bad expression: inline error, filter unchanged
        await pilot.press("slash")
        app.filter_bar.input.value = "~m ("
        await pilot.pause()
        error = plain(app.filter_bar.query_one("#filter-error"))
        assert error.strip()
        assert app.filter_bar.has_class("-invalid")
        await pilot.press("enter")
        await pilot.pause()
        assert app.filter_text == "~m tools/list"
        # history: up recalls the previous expression
        await pilot.press("up")
        assert app.filter_bar.input.value == "~m tools/list"
        await pilot.press("escape")
        await pilot.press("backslash")
        await pilot.pause()
        assert len(app.view.indices) == total


async def test_detail_shows_pair_and_p_jumps(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) > 50)
        log = app.log_widget
        # find the tools/list request
        req_pos = next(p for p, i in enumerate(app.view.indices) if app.store[i].method == "tools/list"
                       and app.store[i].kind == "request")
        log.move_cursor(req_pos)
        req = log.selected_record()
        await wait_for(pilot, lambda: app.detail.record is req)
        assert req.pair is not None
        head = app.detail.head_text()
        assert "latency" in head
        await pilot.press("p")
        assert log.selected_record().index == req.pair
        await wait_for(pilot, lambda: app.detail.record.index == req.pair)
        await pilot.press("p")
        await pilot.pause()
        assert log.selected_record().index == req.index
        await pilot.press("c")
        assert app.clipboard == req.raw


async def test_follow_mode_and_new_badge(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        base = n_messages(proxy.backlog)
        await wait_for(pilot, lambda: len(app.store) == base)
        log = app.log_widget
        log.focus()
        await pilot.press("up", "up", "pageup")
        await pilot.pause()
        assert not log.follow
        seq = proxy.backlog[-1]["seq"]
        await proxy.emit(*[message(seq + i + 1, "s2c", {"jsonrpc": "2.0", "method": "notifications/y"}) for i in range(7)])
        await wait_for(pilot, lambda: log.new_count == 7)
        app._refresh_status()
        assert "7 new" in plain(app.query_one("#status"))
        assert log.scroll_y < log.max_scroll_y
        await pilot.press("end")
        await pilot.pause()
        assert log.follow and log.new_count == 0
        assert log.scroll_y == log.max_scroll_y


async def test_stats_screen_numbers(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        rows = {r.key if hasattr(r, "key") else r.method: r for r in app.stats.rows("count", True)}
        calls = rows["tools/call"]
        assert calls.count == 18  # 3 rounds x 5 calls + big + held + slow(30)
        assert calls.in_flight == 2
        assert calls.errors >= 3
        await pilot.press("s")
        await pilot.pause()
        from textual.widgets import DataTable

        table = app.screen.query_one(DataTable)
        assert table.row_count == len(rows)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_server_log_and_help_screens(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        await pilot.press("l")
        from textual.widgets import Log

        def log_lines() -> list[str]:
            found = app.screen.query(Log)
            return list(found.first().lines) if found else []

        await wait_for(pilot, lambda: any("spawned" in line for line in log_lines()))
        assert any("demo server starting" in line for line in log_lines())
        await pilot.press("escape")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("escape")


async def test_reconnect_dedupes_then_exit_ends_session(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        base = n_messages(proxy.backlog)
        await wait_for(pilot, lambda: len(app.store) == base)
        info = next(iter(app.sessions.values()))
        await proxy.drop_clients()
        await wait_for(pilot, lambda: proxy.connections == 2 and info.state == "live")
        await pilot.pause(0.1)
        assert len(app.store) == base  # the replayed backlog was de-duplicated
        seq = proxy.backlog[-1]["seq"]
        await proxy.emit({"type": "lifecycle", "seq": seq + 1, "t": 1.0, "wall": T0 + 20, "event": "exited", "code": 3})
        await wait_for(pilot, lambda: info.exit_code == 3)
        await proxy.stop()
        await wait_for(pilot, lambda: info.state == "ended")
        assert info.state_text == "ended (3)"


async def test_send_command_reaches_proxy(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) > 0)
        source = next(iter(app.sessions.values())).source
        reply = await source.request({"cmd": "ping"})
        assert reply["ok"] is True
        assert proxy.commands[-1]["cmd"] == "ping"


async def test_export_filtered(proxy, tmp_path):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        assert app.apply_filter("~m ^initialize$")
        await pilot.press("E")
        await pilot.pause()
        target = tmp_path / "out.jsonl"
        from textual.widgets import Input

        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: target.exists() and target.read_text().count("\n") == 2)
        lines = target.read_text().splitlines()
        assert len(lines) == len(app.view.indices) == 2
        frames = [json.loads(line) for line in lines]
        assert [f["dir"] for f in frames] == ["c2s", "s2c"]
        assert '"initialize"' in frames[0]["raw"] and frames[0]["type"] == "message"


async def test_huge_message_detail_is_bounded(sockdir):
    big = "y" * (20 * 1024 * 1024)
    frames = [message(1, "s2c", {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": big}]}})]
    fake = await FakeProxy(str(sockdir / "b.sock"), frames).start()
    try:
        app = make_app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 1, timeout=20)
            app.log_widget.move_cursor(0)
            await wait_for(pilot, lambda: app.detail.record is not None)
            # Bounded by what is rendered, not by a clock (timing belongs to bench_tui.py's big_* rows).
            body = app.detail.body_text()
            assert "MB" in body and len(body) < 200_000
            await pilot.press("o")
            await pilot.pause()
            assert app.detail.raw
    finally:
        await fake.stop()


async def test_discovery_attaches_new_proxies(sockdir, monkeypatch):
    import os

    from omproxy_tui.protocol import discovery

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sockdir))
    rd = discovery.runtime_dir()
    assert oct(rd.stat().st_mode & 0o777) == "0o700"
    # a stale socket (dead pid) is cleaned
    (rd / "999999.sock").write_text("")
    (rd / "999999.json").write_text("{}")
    fake = await FakeProxy(str(discovery.socket_path_for(os.getpid())), canned_session()).start()
    discovery.write_sidecar({"pid": os.getpid(), "name": "found", "transport": "stdio"}, os.getpid())
    try:
        app = OmproxyApp(discover=True, discover_dir=str(rd), clock=lambda: T0)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == n_messages(fake.backlog))
            assert not (rd / "999999.sock").exists()
            [info] = app.sessions.values()
            assert info.label == "demo"  # the hello's name wins over the sidecar's
            assert info.source.path == fake.path
    finally:
        await fake.stop()


@asynccontextmanager
async def _alpha_and_beta(sockdir):
    """Two live sessions, alpha and beta, fully loaded, with the sessions list focused."""
    from omproxy_tui.tui.app import SessionList

    a = await FakeProxy(str(sockdir / "a.sock"), canned_session(name="alpha", pid=1)).start()
    b = await FakeProxy(str(sockdir / "b.sock"), canned_session(T0 + 1, rounds=1, name="beta", pid=2)).start()
    try:
        app = OmproxyApp([SocketSource(a.path), SocketSource(b.path)], clock=lambda: T0)
        async with app.run_test(size=SIZE) as pilot:
            total = n_messages(a.backlog) + n_messages(b.backlog)
            await wait_for(pilot, lambda: len(app.store) == total)
            app._refresh_sessions()
            sessions = app.query_one(SessionList)
            sessions.focus()
            yield app, pilot, a, b, sessions
    finally:
        await a.stop()
        await b.stop()


async def test_two_sessions_scope_and_error_jumps(sockdir):
    async with _alpha_and_beta(sockdir) as (app, pilot, a, b, sessions):
        total = len(app.store)
        assert sorted(app.sessions_by_label) == ["alpha", "beta"]
        # Enter on a session in the list shows only that session
        ids = [sessions.get_option_at_index(n).id for n in range(sessions.option_count)]
        sessions.highlighted = ids.index("beta")
        await pilot.press("enter")
        await pilot.pause()
        assert app.session_scope == "beta"
        assert len(app.view.indices) == n_messages(b.backlog)
        assert {app.store[i].session for i in app.view.indices} == {"beta"}
        await pilot.press("asterisk")
        await pilot.pause()
        assert app.session_scope is None and len(app.view.indices) == total
        # n / N walk the errors
        app.log_widget.focus()
        await pilot.press("home", "n")
        await pilot.pause()
        first = app.log_widget.selected_record()
        assert first.error or first.kind in ("error", "invalid") or first.tool_error
        await pilot.press("n")
        await pilot.pause()
        second = app.log_widget.selected_record()
        assert second.index > first.index
        await pilot.press("N")
        await pilot.pause()
        assert app.log_widget.selected_record().index == first.index


async def test_rows_mark_held_lost_injected_and_palette(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        log = app.log_widget

        def row_text(pred) -> str:
            index = next(i for i in app.view.indices if pred(app.store[i]))
            return log._render_row(app.store[index], False, 140).text

        assert "→H" in row_text(lambda r: r.held)
        seq = proxy.backlog[-1]["seq"]
        await proxy.emit({"type": "lost", "n": 3}, record=False)
        await proxy.emit(message(seq + 4, "c2s", {"jsonrpc": "2.0", "method": "after/gap"}))
        await wait_for(pilot, lambda: "after/gap" in app.methods_seen)
        # the gap is a row of its own, just before the message after it
        after = log.position_of(next(r.index for r in app.store if r.method == "after/gap"))
        assert "✂ 3 frames lost" in log.render_line(after - 1 - int(log.scroll_y)).text
        assert next(iter(app.sessions.values())).lost == 3
        assert "←I" in row_text(lambda r: r.to_inspector)
        assert "→M" in row_text(lambda r: r.changed)
        assert "…" in row_text(lambda r: r.pending and not r.held)
        # responses show their request's method and target
        assert "tools/call fail" in row_text(lambda r: r.kind == "response" and r.tool == "fail")
        # the palette offers every registry action
        from omproxy_tui.tui.actions import ACTIONS
        from omproxy_tui.tui.app import ActionsProvider

        provider = ActionsProvider(app.screen)
        titles = [title for title, _, _ in provider._commands()]
        for spec in ACTIONS:
            assert any(t.startswith(spec.description) for t in titles)
        assert any(t.startswith("Show session demo") for t in titles)
        assert any(t == "Filter method tools/call" for t in titles)


async def test_narrow_terminal_hides_sessions_and_zoom(proxy):
    app = make_app(proxy)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.store) > 10)
        from omproxy_tui.tui.app import SessionList

        assert not app.query_one(SessionList).display
        await pilot.press("v")
        assert app.query_one(SessionList).display
        app.log_widget.focus()
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is app.log_widget
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.maximized is None
        await pilot.press("z")
        await pilot.pause()
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is None


async def test_keymap_override_and_filter_suggestions(proxy, monkeypatch):
    monkeypatch.setenv("OMPROXY_TUI_KEYMAP", "stats=S;bogus=x")
    app = make_app(proxy)
    assert app.keymap_overrides == {"stats": "S"}
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        await pilot.press("s")
        await pilot.pause()
        assert type(app.screen).__name__ != "StatsScreen"
        await pilot.press("S")
        await pilot.pause()
        assert type(app.screen).__name__ == "StatsScreen"
        await pilot.press("escape")
        await pilot.pause()
        from omproxy_tui.tui.widgets.filter_bar import FilterSuggester

        sugg = FilterSuggester(lambda: app.methods_seen, lambda: app.tools_seen)
        assert (await sugg.get_suggestion("~m tools/l")) == "~m tools/list"
        assert (await sugg.get_suggestion("~tool pro")) == "~tool progress"
        assert (await sugg.get_suggestion("~pen")).startswith("~pending")


async def test_filter_applies_live_while_typing(proxy):
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        total = len(app.view.indices)
        await pilot.press("slash", *"~tool echo")
        await wait_for(pilot, lambda: app.filter_text == "~tool echo")
        assert 0 < len(app.view.indices) < total
        assert app.filter_bar.input.has_focus  # still typing
        assert app.filter_bar.history == []  # only Enter records history
        await pilot.press("escape")
        await pilot.pause()
        # Esc restores the filter from before the bar opened (none)
        assert not app.filter_bar.display and app.filter_text == ""
        assert len(app.view.indices) == total


async def test_next_error_stops_on_a_batch_with_an_error_element(sockdir):
    """`n` and `~e` agree: a batch answer with an error element is an error (it was skipped)."""
    frames = [
        message(1, "c2s", [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]),
        message(2, "s2c", [{"jsonrpc": "2.0", "id": 1, "result": {}},
                           {"jsonrpc": "2.0", "id": 2, "error": {"code": -1, "message": "nope"}}]),
        message(3, "c2s", {"jsonrpc": "2.0", "method": "notifications/x"}),
    ]
    fake = await FakeProxy(str(sockdir / "e.sock"), frames).start()
    try:
        app = make_app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 3)
            app.log_widget.focus()
            await pilot.press("home", "n")
            await pilot.pause()
            assert app.log_widget.selected_record().index == 1
            assert next(iter(app.sessions.values())).errors == 1
            log = app.log_widget
            error_color = log._style("error").color
            kind_cell = next(seg for seg in log._render_row(app.store[1], False, 140) if seg.text.startswith("batch"))
            assert kind_cell.style.color == error_color  # coloured as an error
    finally:
        await fake.stop()


async def test_requests_of_an_ended_session_are_no_longer_pending(sockdir):
    """Issue 10.3: a request never answered before the proxy exited says so and is not pending."""
    frames = [
        message(1, "c2s", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow"}}),
        message(2, "c2s", {"jsonrpc": "2.0", "id": 2, "method": "ping"}),
        message(3, "s2c", {"jsonrpc": "2.0", "id": 2, "result": {}}),
    ]
    fake = await FakeProxy(str(sockdir / "x.sock"), frames).start()
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == 3)
        info = next(iter(app.sessions.values()))
        app._refresh_status()
        assert "1 pending" in plain(app.query_one("#status"))
        await fake.emit({"type": "lifecycle", "seq": 4, "t": 1.0, "wall": T0 + 20, "event": "exited", "code": 0})
        await fake.stop()
        await wait_for(pilot, lambda: info.state == "ended")
        app._refresh_status()
        assert "pending" not in plain(app.query_one("#status"))
        assert app.store.pending_count == 0 and not app.store[0].pending
        log = app.log_widget
        assert "no resp" in log._render_row(app.store[0], False, 140).text
        assert "…" not in log._render_row(app.store[0], False, 140).text
        log.focus()
        log.move_cursor(0)
        await wait_for(pilot, lambda: app.detail.record is app.store[0])
        assert "no response (session ended)" in app.detail.head_text()
        assert app.apply_filter("~pending") and len(app.view.indices) == 0
        row = {r.key: r for r in app.stats.rows()}["tools/call"]
        assert row.in_flight == 0


async def test_a_response_shown_before_its_request_still_pairs(sockdir):
    """Issue 10.1: nothing stays "awaiting response" when the reply was recorded first."""
    frames = [
        message(1, "s2c", {"jsonrpc": "2.0", "id": 5, "result": {"content": []}}, t=1.0),
        message(2, "c2s", {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "echo"}}, t=1.0001),
        message(3, "c2s", {"jsonrpc": "2.0", "method": "notifications/x"}, t=1.1),
    ]
    fake = await FakeProxy(str(sockdir / "o.sock"), frames).start()
    try:
        app = make_app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 3)
            assert app.store.pending_count == 0 and app.store[1].pair == 0
            app._refresh_status()
            assert "pending" not in plain(app.query_one("#status"))
            app.log_widget.focus()
            await pilot.press("home", "w")
            await pilot.pause()
            assert app.log_widget.cursor == 0  # w found no pending request below
            row = {r.key: r for r in app.stats.rows()}["tools/call"]
            assert row.in_flight == 0 and row.responses == 1
    finally:
        await fake.stop()


async def test_a_session_whose_start_left_the_backlog_shows_the_gap(sockdir):
    """Issue 10.2: a first seq above 1 means earlier frames are gone; the log says how many."""
    frames = [message(41, "c2s", {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "x"}}),
              message(42, "s2c", {"jsonrpc": "2.0", "id": 9, "result": {}})]
    fake = await FakeProxy(str(sockdir / "g.sock"), frames).start()
    try:
        app = make_app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 2)
            info = next(iter(app.sessions.values()))
            assert info.missing_before == 40
            # a row of its own at the top (tests/tui/test_marker_rows.py has the rest)
            await wait_for(pilot, lambda: app.log_widget.row_count == 3)
            assert "40 earlier frames" in app.log_widget.render_line(0).text
            assert "earlier" not in app.log_widget._render_row(app.store[0], False, 140).text
    finally:
        await fake.stop()


async def test_follow_mode_selects_the_newest_and_status_says_following(proxy):
    """Issue 10.9: the status says "following"/"not following" (not PAUSED, which the proxy's
    pause would clash with); following keeps the selection and detail on the newest message."""
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        log = app.log_widget
        assert log.follow
        await wait_for(pilot, lambda: log.selected_record() is app.store[len(app.store) - 1])
        seq = proxy.backlog[-1]["seq"]
        await proxy.emit(message(seq + 1, "s2c", {"jsonrpc": "2.0", "method": "notifications/newest"}))
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        newest = app.store[len(app.store) - 1]
        await wait_for(pilot, lambda: log.selected_record() is newest and app.detail.record is newest)
        app._refresh_status()
        status = plain(app.query_one("#status"))
        assert "following" in status and "PAUSED" not in status and "not following" not in status
        log.focus()
        await pilot.press("up")
        await pilot.pause()
        app._refresh_status()
        assert "not following" in plain(app.query_one("#status"))


async def test_first_down_with_nothing_selected_selects_the_row_in_view(sockdir):
    frames = [message(i, "c2s", {"jsonrpc": "2.0", "method": "notifications/n", "params": {"i": i}})
              for i in range(1, 501)]
    fake = await FakeProxy(str(sockdir / "d.sock"), frames).start()
    try:
        app = make_app(fake)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == 500)
            log = app.log_widget
            log.focus()
            log.follow = False
            log.cursor = None
            await pilot.pause()
            log.scroll_to(y=200, animate=False, immediate=True, force=True)
            await pilot.pause()
            top = int(log.scroll_y)
            assert top == 200
            await pilot.press("down")
            await pilot.pause()
            assert log.cursor == top and int(log.scroll_y) == top  # no jump to row 0
    finally:
        await fake.stop()


async def test_enter_on_the_sessions_list_works_on_the_first_press(proxy):
    """Issue 10.10: the first session is highlighted when the list gets focus."""
    app = make_app(proxy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        from omproxy_tui.tui.app import SessionList

        app.query_one(SessionList).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.session_scope == "demo"


async def test_a_socket_that_never_appears_says_why_it_waits(sockdir):
    path = str(sockdir / "never.sock")
    app = OmproxyApp([SocketSource(path)], clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        [info] = app.sessions.values()
        await wait_for(pilot, lambda: "no proxy at" in info.detail)
        assert info.state == "connecting" and path in info.detail
        from omproxy_tui.tui.app import SessionList

        app._refresh_sessions()
        option = app.query_one(SessionList).get_option_at_index(0)
        assert "waiting" in str(option.prompt)


async def test_columns_adapt_to_80_columns(proxy):
    """Issue 10.8: size and summary survive at 80 columns, long methods get an ellipsis, the
    footer keeps help and quit, the filter bar is one row, session lines never wrap."""
    app = make_app(proxy)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
        log = app.log_widget
        width = log.scrollable_content_region.width
        big = next(r for r in app.store if r.size > 300_000)
        row = log._render_row(big, False, width).text
        assert "300.1K" in row and "xxxxxxxx" in row
        note = next(r for r in app.store if r.method == "notifications/roots/list_changed")
        assert "notifications/roots…" in log._render_row(note, False, width).text  # cut, and says so
        await pilot.press("slash")
        await pilot.pause()
        assert app.filter_bar.size.height == 1
        await pilot.press("escape")
        from omproxy_tui.tui.actions import bindings

        shown = [b.id for b in bindings() if b.show]
        assert shown[:2] == ["help", "quit"]


async def test_an_ended_socket_is_reattached_when_a_new_proxy_appears_there(sockdir):
    """Issue 10.10: `--socket PATH` follows PATH: a proxy started there after the first one
    ended shows up as a new session."""
    path = str(sockdir / "fixed.sock")
    first = await FakeProxy(path, [message(1, "c2s", {"jsonrpc": "2.0", "method": "notifications/one"})],
                            pid=2 ** 22 + 12345).start()  # a pid that is not alive: the proxy is gone once dropped
    app = OmproxyApp([SocketSource(path, reattach=True)], clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == 1)
        [info] = app.sessions.values()
        await first.stop()
        await wait_for(pilot, lambda: info.state == "ended")
        import os

        if os.path.exists(path):
            os.unlink(path)
        second = await FakeProxy(path, [message(1, "c2s", {"jsonrpc": "2.0", "method": "notifications/two"})]).start()
        second.hello["proxy"]["name"] = "second"
        try:
            await wait_for(pilot, lambda: len(app.store) == 2, timeout=15)
            assert len(app.sessions) == 2 and "second" in app.sessions_by_label
            assert app.store[1].method == "notifications/two" and app.store[1].session == "second"
            assert info.state == "ended"
        finally:
            await second.stop()


async def test_x_on_the_sessions_list_forgets_a_session(sockdir):
    async with _alpha_and_beta(sockdir) as (app, pilot, a, b, sessions):
        sessions.highlighted = [i.label for i in app.sessions.values()].index("beta")
        await pilot.press("x")
        await wait_for(pilot, lambda: sorted(app.sessions_by_label) == ["alpha"])
        assert len(app.view.indices) == n_messages(a.backlog)
        await wait_for(pilot, lambda: sessions.option_count == 1)
