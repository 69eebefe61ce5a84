"""Keys typed right after an input opens land in it (issue 10 items 4 and 5).

``type_now`` posts every key to the app at once, with no pause between them: what a fast typist
or a paste into the terminal does. Before the fix, the keys after ``/`` or ``e`` went to the log
(``p`` jumped to a pair, ``d`` hid the detail pane, ``e`` opened the export dialog again).
"""

from __future__ import annotations

import os

import pytest
from pilot_wait import wait_for
from fake_proxy import FakeProxy, plain
from textual import events
from textual.keys import _character_to_key

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio

SIZE = (140, 40)
NAMED = {"colon": ":", "slash": "/", "enter": "\r", "escape": "\x1b", "question_mark": "?", "backspace": "\x7f"}


async def type_now(pilot, *keys: str) -> None:
    """Post all ``keys`` to the app in one go (no pause between them), then let it settle."""
    app = pilot.app
    for key in keys:
        if key in NAMED:
            app.post_message(events.Key(key, NAMED[key]))
        elif len(key) == 1:
            app.post_message(events.Key(_character_to_key(key), key))
        else:
            app.post_message(events.Key(key, None))
    await pilot.pause()
    await pilot.pause()


@pytest.fixture
async def proxy(sockdir):
    fake = FakeProxy(str(sockdir / "p.sock"), canned_session())
    await fake.start()
    yield fake
    await fake.stop()


def n_messages(frames) -> int:
    return sum(1 for f in frames if f.get("type") == "message")


async def started(proxy, pilot) -> OmproxyApp:
    app = pilot.app
    await wait_for(pilot, lambda: len(app.store) == n_messages(proxy.backlog))
    app.log_widget.focus()
    await pilot.pause()
    return app


async def test_filter_keys_typed_at_once_reach_the_filter(proxy):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        await type_now(pilot, "slash", *"~m ping & ~c2ss", "backspace", "enter")
        await wait_for(pilot, lambda: app.filter_text == "~m ping & ~c2s")
        assert app.detail.display  # "d" did not reach the log
        assert all(app.store[i].method == "ping" for i in app.view.indices)


async def test_escape_restores_the_filter_from_before_the_bar_opened(proxy):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        assert app.apply_filter("~q")
        await type_now(pilot, "slash")
        app.filter_bar.input.value = "~tool echo"
        await wait_for(pilot, lambda: app.filter_text == "~tool echo")  # applied live while typing
        await type_now(pilot, "escape")
        await wait_for(pilot, lambda: not app.filter_bar.display)
        assert app.filter_text == "~q"


async def test_question_mark_in_an_empty_filter_bar_opens_help(proxy):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        await type_now(pilot, "slash", "question_mark")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await type_now(pilot, "escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "HelpScreen")
        assert app.filter_bar.input.value == ""
        # back in the bar; in an expression, ? is a regex character
        await wait_for(pilot, lambda: app.focused is app.filter_bar.input)
        await type_now(pilot, *"colou?r")
        await wait_for(pilot, lambda: app.filter_bar.input.value == "colou?r")


async def test_export_keys_typed_at_once_name_the_file(proxy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        assert app.apply_filter("~m ^initialize$")
        await type_now(pilot, "E", *"mine", "enter")
        target = tmp_path / "mine.jsonl"
        await wait_for(pilot, lambda: target.exists())
        assert target.read_text().count("\n") == 2
        assert sorted(os.listdir(tmp_path)) == ["mine.jsonl"]
        assert app.detail.display and type(app.screen).__name__ != "ExportScreen"


async def test_export_shows_the_path_refuses_empty_and_asks_before_overwriting(proxy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.jsonl").write_text("keep me\n")
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        await type_now(pilot, "E")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportScreen")
        screen = app.screen
        note = lambda: plain(screen.query_one("#export-target"))  # noqa: E731
        assert str(tmp_path) in note() and "omproxy-export-" in note()  # the default, in full
        screen.query_one("#export-path").value = ""
        await type_now(pilot, "enter")
        assert type(app.screen).__name__ == "ExportScreen" and "name" in note().lower()
        screen.query_one("#export-path").value = "old"
        await pilot.pause()
        assert str(tmp_path / "old.jsonl") in note()
        await type_now(pilot, "enter")
        assert type(app.screen).__name__ == "ExportScreen" and "exists" in note()
        assert (tmp_path / "old.jsonl").read_text() == "keep me\n"
        await type_now(pilot, "enter")  # confirmed
        await wait_for(pilot, lambda: (tmp_path / "old.jsonl").read_text() != "keep me\n")
        assert type(app.screen).__name__ != "ExportScreen"


async def test_palette_filter_method_is_anchored(proxy):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        from omproxy_tui.tui.app import ActionsProvider

        app.methods_seen.add("notifications/initialize.d")
        provider = ActionsProvider(app.screen)
        [(title, help_text, run)] = [c for c in provider._commands() if c[0] == "Filter method initialize"]
        run()
        await pilot.pause()
        assert {app.store[i].method for i in app.view.indices} == {"initialize"}
        assert help_text == app.filter_text


async def test_mark_messages_and_filter_marked(proxy):
    """Issue 10.14: m marks the selected message (M in the log's flag column); ~marked filters."""
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        log = app.log_widget
        log.move_cursor(3)
        await type_now(pilot, "m")
        log.move_cursor(7)
        await type_now(pilot, "m")
        assert [r.index for r in app.store if r.marked] == [3, 7]
        assert "★" in log._render_row(app.store[3], False, 140).text
        assert app.apply_filter("~marked")
        assert app.view.indices == [3, 7]
        log.move_cursor(0)
        await type_now(pilot, "m")  # unmark
        await pilot.pause()
        assert app.view.indices == [7]  # the view follows the change


async def test_jump_to_a_seq_or_an_id_without_filtering(proxy):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        target = app.store[20]
        await type_now(pilot, "colon", *str(target.seq), "enter")
        await wait_for(pilot, lambda: app.log_widget.selected_record() is target)
        assert app.filter_text == "" and not app.log_widget.follow
        srv = next(r for r in app.store if r.id == "srv-1")
        await type_now(pilot, "colon", *"id srv-1", "enter")
        await wait_for(pilot, lambda: app.log_widget.selected_record() is srv)
        await type_now(pilot, "colon", *"99999", "enter")
        await wait_for(pilot, lambda: any("No message" in str(n.message) for n in app._notifications))


async def test_t_cycles_the_time_column(proxy):
    """Issue 10.14: wall clock → time since the session's first message → delta from the row above."""
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        log = app.log_widget
        first, rec = app.store[0], app.store[5]
        assert log._render_row(rec, False, 140).text.startswith("20:26:")
        await type_now(pilot, "t")
        assert log._render_row(rec, False, 140).text.startswith(f"+{rec.wall - first.wall:.3f}s"[:9])
        await type_now(pilot, "t")
        prev = app.store[4]
        assert log._render_row(rec, False, 140).text.startswith(f"Δ{rec.wall - prev.wall:.3f}s"[:9])
        await type_now(pilot, "t")
        assert log._render_row(rec, False, 140).text.startswith("20:26:")


async def test_ctrl_l_clears_the_log_but_keeps_stats(proxy):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        count = app.stats.messages
        await type_now(pilot, "ctrl+l")
        assert len(app.view.indices) == 0 and app.stats.messages == count
        seq = proxy.backlog[-1]["seq"]
        from fake_proxy import message

        await proxy.emit(message(seq + 1, "c2s", {"jsonrpc": "2.0", "method": "notifications/after"}))
        await wait_for(pilot, lambda: len(app.view.indices) == 1)
        assert app.store[app.view.indices[0]].method == "notifications/after"
