"""Responsive at scale (issue 10.6): a burst is ingested a slice at a time, in order, and the
Stats table updates only the cells that changed. (How fast: tests/tui/bench_tui.py.)"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
from fake_proxy import FakeProxy, message
from pilot_wait import wait_for
from textual import events
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


async def show_stats(app: OmproxyApp, pilot) -> StatsScreen:
    """Press ``s``; the Stats screen once it is on top."""
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen))
    return app.screen


@asynccontextmanager
async def live_socket_session(sockdir, monkeypatch):
    """The app on a real socket session (FakeProxy, the canned session), its backlog in; a
    burst handed to it is ingested one chunk per turn, and a key's hold never times out."""
    monkeypatch.setattr(app_module, "KEY_HOLD_MAX", 60.0)
    monkeypatch.setattr(app_module, "INGEST_SLICE", 0.0)  # one chunk per turn: the inbox stays full
    fake = await FakeProxy(str(sockdir / "p.sock"), canned_session()).start()
    source = SocketSource(fake.path)
    app = OmproxyApp([source])
    try:
        async with app.run_test(size=SIZE) as pilot:
            n = sum(1 for f in fake.backlog if f["type"] == "message")
            await wait_for(pilot, lambda: source._writer is not None and len(app.store) == n and not app._inbox)
            yield app, pilot, source, fake
    finally:
        await fake.stop()


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
            screen = await show_stats(app, pilot)
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


async def test_a_key_goes_before_the_rest_of_a_burst_and_nothing_is_lost(monkeypatch):
    # input first: from a key's arrival until the screen shows it handled, ingest waits (a
    # burst's slices made each of the key's trips through the event loop wait behind them)
    monkeypatch.setattr(app_module, "INGEST_SLICE", 0.0)  # one chunk per turn of the loop
    monkeypatch.setattr(app_module, "KEY_HOLD_MAX", 60.0)  # the cap must not end the wait here
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        app._frames(FramesReceived(source, requests(1, 1200)))
        stored_at_action: list[int] = []
        stats = app.action_stats
        monkeypatch.setattr(app, "action_stats", lambda: (stored_at_action.append(len(app.store)), stats()))
        before = len(app.store)
        app.post_message(events.Key("s", "s"))  # as the terminal's driver posts a keypress
        await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen))
        assert stored_at_action == [before]
        await wait_for(pilot, lambda: len(app.store) == 1200)  # then ingest goes on
        assert [r.seq for r in app.store] == list(range(1, 1201))
        assert app._key_hold is None and not app._inbox


async def test_a_key_from_the_terminal_stops_ingest_before_it_is_posted(monkeypatch):
    # The terminal's driver hands a key over from its thread (run_coroutine_threadsafe): two
    # turns of the event loop before the app's post_message sees it, and each turn ran a slice
    # of the burst. The driver now says so first, and ingest stops at once.
    monkeypatch.setattr(app_module, "INGEST_SLICE", 0.0)  # one chunk per turn of the loop
    monkeypatch.setattr(app_module, "KEY_HOLD_MAX", 60.0)
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        app._frames(FramesReceived(source, requests(1, 3000)))
        stored_at_action: list[int] = []
        stats = app.action_stats
        monkeypatch.setattr(app, "action_stats", lambda: (stored_at_action.append(len(app.store)), stats()))
        key = events.Key("s", "s")
        key.set_sender(app)
        before = len(app.store)
        app._driver.send_message(key)  # what the driver's input thread does with a keypress
        await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen))
        assert stored_at_action == [before]
        await wait_for(pilot, lambda: len(app.store) == 3000)
        assert [r.seq for r in app.store] == list(range(1, 3001))
        assert app._key_hold is None and not app._input_waiting and not app._inbox


async def test_a_burst_is_shown_at_its_end_following_or_not(monkeypatch):
    # During a burst the log shows new rows at most every BURST_SHOW_EVERY seconds; the burst's
    # last batch shows the rest, also when that batch adds no row of its own.
    monkeypatch.setattr(app_module, "INGEST_SLICE", 0.0)
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        log = app.log_widget
        seen_unshown: list[int] = []
        rows_added = log.rows_added
        monkeypatch.setattr(log, "rows_added", lambda *a: (rows_added(*a), seen_unshown.append(log.unshown)))
        app._frames(FramesReceived(source, requests(1, 2000)))
        app._frames(FramesReceived(source, [{"type": "no-such-frame"}]))  # adds no row
        await wait_for(pilot, lambda: len(app.store) == 2000 and not app._inbox)
        assert any(seen_unshown), "rows were held back during the burst"
        assert log.unshown == 0 and log.cursor == 1999 and log.follow
        assert log.virtual_size.height == 2000
        # not following: the count of new rows below is right after the burst
        log.move_cursor(10)
        assert not log.follow
        app._frames(FramesReceived(source, requests(2001, 1500)))
        await wait_for(pilot, lambda: len(app.store) == 3500 and not app._inbox)
        assert log.unshown == 0 and log.new_count == 1500 and log.cursor == 10
        assert log.virtual_size.height == 3500


async def test_the_stats_screen_is_kept_and_restyled_only_after_a_css_change():
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app._frames(FramesReceived(app.initial_sources[0], requests(1, 50)))
        stats = await show_stats(app, pilot)
        await pilot.press("o")
        sort = stats.sort_index
        table = stats.query_one(DataTable)
        background = table.styles.background
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StatsScreen))
        await show_stats(app, pilot)
        assert app.screen is stats and stats.sort_index == sort  # shown as it was left
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StatsScreen))
        # a theme switch while it is hidden: the next opening applies the new styles
        app.theme = "textual-light" if app.current_theme.dark else "textual-dark"
        await pilot.pause()
        await show_stats(app, pilot)
        await wait_for(pilot, lambda: table.styles.background != background)


async def test_the_heap_is_not_frozen_while_a_dialog_is_open():
    # gc.freeze() keeps whatever is alive from the cyclic collector for good: a dialog frozen
    # while open would never be freed once closed
    import gc

    from omproxy_tui.tui.screens import HelpScreen

    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        seq = 1
        for _ in range(3):
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            frozen_at = app._gc_frozen_at
            app._frames(FramesReceived(source, requests(seq, app_module.GC_FREEZE_EVERY + 500)))
            seq += app_module.GC_FREEZE_EVERY + 500
            await wait_for(pilot, lambda: len(app.store) == seq - 1 and not app._inbox)
            assert app._gc_frozen_at == frozen_at
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
            app._frames(FramesReceived(source, requests(seq, app_module.GC_FREEZE_EVERY + 500)))
            seq += app_module.GC_FREEZE_EVERY + 500
            await wait_for(pilot, lambda: len(app.store) == seq - 1 and not app._inbox)
            assert app._gc_frozen_at > frozen_at  # frozen again once the dialog is gone
        gc.unfreeze()
        try:
            gc.collect()
            assert not [o for o in gc.get_objects() if isinstance(o, HelpScreen)]
        finally:
            gc.freeze()


async def test_the_socket_is_not_read_while_a_key_is_handled_during_a_burst(sockdir, monkeypatch):
    # During a burst, while a key is in hand, the proxy's bytes wait in the socket (reading them
    # into the stream's buffer took 2-8 ms a read, between the key's steps). Not when nothing
    # waits to be ingested: the reply to a command the key sends must come in at once.
    async with live_socket_session(sockdir, monkeypatch) as (app, pilot, source, fake):
        transport = source._writer.transport
        seen: list[bool] = []
        stats = app.action_stats
        monkeypatch.setattr(app, "action_stats", lambda: (seen.append(transport.is_reading()), stats()))
        assert transport.is_reading()
        await show_stats(app, pilot)  # nothing to ingest: the socket is read on
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StatsScreen) and app._key_hold is None)
        app._frames(FramesReceived(source, requests(10_000, 3000)))  # a burst being ingested
        await show_stats(app, pilot)
        assert seen == [True, False]
        await wait_for(pilot, lambda: app._key_hold is None)
        assert transport.is_reading()


async def test_the_kept_stats_screen_lists_only_its_keys_each_time_it_is_shown():
    # while hidden, the app's log keys are enabled again: its footer must not take them up
    # (nor be rebuilt for them, a layout each time it was shown)
    from textual.widgets._footer import FooterKey

    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        widgets = None
        for _ in range(3):
            await show_stats(app, pilot)
            await pilot.pause()
            keys = {k.key for k in app.screen.query(FooterKey)}
            shown = [id(k) for k in app.screen.query(FooterKey)]
            assert widgets is None or shown == widgets  # the same footer, not rebuilt
            widgets = shown
            assert "o" in keys and "escape" in keys
            assert not keys & {"slash", "f", "p", "E", "P"}, keys
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, StatsScreen))
            await pilot.pause()
            main_keys = {k.key for k in app.screen.query(FooterKey)}
            assert "slash" in main_keys


async def test_a_refilter_during_a_burst_does_not_count_rows_it_no_longer_shows(monkeypatch):
    # Rows held back during a burst (MessageLog.unshown) were counted under the view before a
    # re-filter (a filter typed, Ctrl+L): shown at the burst's end, they were added to the
    # "new below" count of a view that does not have them.
    from omproxy_tui.tui.widgets import message_log

    monkeypatch.setattr(app_module, "INGEST_SLICE", 0.0)
    monkeypatch.setattr(message_log, "BURST_SHOW_EVERY", 1e12)  # held back until the burst's end
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        log = app.log_widget
        app._frames(FramesReceived(source, requests(1, 50)))
        log.move_cursor(10)
        assert not log.follow
        app._frames(FramesReceived(source, requests(51, 2000)))  # one chunk now, the rest later
        assert log.unshown > 0
        assert app.apply_filter("~m nothing-matches")
        await wait_for(pilot, lambda: len(app.store) == 2050 and not app._inbox)
        assert len(app.view.indices) == 0
        assert log.unshown == 0 and log.new_count == 0


async def test_a_session_forgotten_during_a_burst_is_not_left_with_its_socket_paused(sockdir, monkeypatch):
    # The key that forgets a session (x in the session list) pauses the sockets like any key
    # during a burst; the hold ended by resuming the sessions still listed, and the forgotten
    # one stayed paused for good: its connection never saw the proxy go away.
    from omproxy_tui.tui.app import SessionList

    async with live_socket_session(sockdir, monkeypatch) as (app, pilot, source, fake):
        transport = source._writer.transport
        sessions = app.query_one(SessionList)
        sessions.focus()
        await wait_for(pilot, lambda: app.focused is sessions and sessions.highlighted == 0)
        app._frames(FramesReceived(source, requests(10_000, 3000)))  # a burst being ingested
        await pilot.press("x")
        await wait_for(pilot, lambda: source.key not in app.model.sessions and app._key_hold is None)
        assert transport.is_reading() or transport.is_closing()
        await fake.drop_clients()  # the proxy goes away: the forgotten source's reading ends
        await wait_for(pilot, lambda: source._writer is None)


async def test_down_at_the_end_of_a_followed_log_keeps_following_during_a_burst(monkeypatch):
    # While following, Down (or PageDown) at the newest row does nothing: the log goes on
    # following. During a burst the rows held back (MessageLog.unshown) were below the cursor
    # already, so Down "selected something else than the newest" and following stopped.
    from omproxy_tui.tui.widgets import message_log

    monkeypatch.setattr(app_module, "INGEST_SLICE", 0.0)
    monkeypatch.setattr(message_log, "BURST_SHOW_EVERY", 1e12)  # held back until the burst's end
    monkeypatch.setattr(app_module, "KEY_HOLD_MAX", 60.0)
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        log = app.log_widget
        app._frames(FramesReceived(source, requests(1, 50)))
        assert log.follow and log.cursor == 49
        for key in ("down", "pagedown"):
            app._frames(FramesReceived(source, requests(len(app.store) + 1, 2000)))  # one chunk now
            assert log.unshown > 0
            await pilot.press(key)
            assert log.follow, f"{key} at the newest row stopped following"
            await wait_for(pilot, lambda: not app._inbox)
            assert log.follow and log.cursor == len(app.store) - 1


async def test_the_stats_numbers_go_on_under_a_dialog():
    # A dialog over Stats (help, the command palette) leaves it in sight, dimmed: its numbers
    # went on updating when each opening made a new screen; the kept one paused its timer
    # whenever another screen came on top, and showed the numbers of then until the dialog closed.
    from textual.widgets import Label

    from omproxy_tui.tui.screens import HelpScreen

    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        app._frames(FramesReceived(source, requests(1, 50)))
        stats = await show_stats(app, pilot)
        label = stats.query_one("#stats-rate-label", Label)
        assert "50 messages" in str(label.render())
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        app._frames(FramesReceived(source, requests(51, 30)))
        await wait_for(pilot, lambda: "80 messages" in str(label.render()))


async def test_a_footer_under_another_screen_keeps_its_keys():
    # Textual counts the screen just below the top one as "current" (it may show through), so
    # the footers' guard did not hold there: opening Stats rebuilt the hidden main footer for
    # the keys of Stats' state, and closing it rebuilt it again (the Esc that closes Stats paid
    # for it); Stats under a dialog listed the log's keys in its footer.
    from textual.widgets._footer import FooterKey

    from omproxy_tui.tui.screens import HelpScreen

    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = app.screen
        before = [id(k) for k in main.query(FooterKey)]
        assert "slash" in {k.key for k in main.query(FooterKey)}
        stats = await show_stats(app, pilot)
        await pilot.pause()
        assert [id(k) for k in main.query(FooterKey)] == before
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        keys = {k.key for k in stats.query(FooterKey)}
        assert "o" in keys and not keys & {"slash", "f", "p", "E", "P"}, keys
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is stats)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is main)
        await pilot.pause()
        assert [id(k) for k in main.query(FooterKey)] == before


async def test_the_kept_stats_screen_has_the_numbers_of_now_when_shown_again():
    # it is brought up to date by the action that shows it, before its first frame (its 1 s
    # timer, paused while hidden, would show the numbers of when it was closed until then)
    from textual.widgets import Label

    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        app._frames(FramesReceived(source, requests(1, 50)))
        stats = await show_stats(app, pilot)
        label = stats.query_one("#stats-rate-label", Label)
        assert "50 messages" in str(label.render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StatsScreen))
        app._frames(FramesReceived(source, requests(51, 70)))
        app.action_stats()  # what the key runs; nothing painted or timed in between
        assert "120 messages" in str(label.render())
        await wait_for(pilot, lambda: app.screen is stats)
