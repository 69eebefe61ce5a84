"""Search inside the detail pane and JSON folding (issue 10 item 14).

Keys are typed right after the search bar opens, with no pause (``type_now``): they must land in
the bar. A 20 MB message is searched in a thread; the test checks what is found, the benchmark
(``tests/tui/bench_tui.py``) how long it takes and that keys stay answered meanwhile.
"""

from __future__ import annotations

import json

import pytest
from pilot_wait import wait_for
from test_typing import type_now

from omproxy_tui.client.sources import write_recording
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.protocol.builder import message_frame
from omproxy_tui.tui.app import OmproxyApp, build_app

pytestmark = pytest.mark.anyio
SIZE = (140, 40)


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "canned.jsonl"
    write_recording(canned_session(), path)
    return str(path)


async def open_tools_list(pilot) -> None:
    """The canned session's tools/list answer (nested objects and arrays) in the detail pane."""
    app = pilot.app
    await wait_for(pilot, lambda: any(i.state == "loaded" for i in app.sessions.values()), what="loaded")
    rec = next(r for r in app.store.records if r.kind == "response" and r.method == "tools/list")
    app.log_widget.follow = False
    app.log_widget.select_index(rec.index)
    await wait_for(pilot, lambda: app.detail.record is rec, what="detail shown")


async def test_search_typed_at_once_counts_highlights_and_moves(recording):
    app = build_app(recordings=[recording], clock=lambda: T0 + 12.0)
    async with app.run_test(size=SIZE) as pilot:
        await open_tools_list(pilot)
        app.log_widget.focus()
        await type_now(pilot, "ctrl+f", *"name")  # no pause: every letter reaches the bar
        pane, view = app.detail, app.detail.view
        await wait_for(pilot, lambda: pane.search_input.value == "name", what="every letter in the bar")
        assert pane.search_input.has_focus
        total = app.detail.body_text().count('"name"')
        assert total >= 5
        await wait_for(pilot, lambda: pane.match_count == f"1/{total}", what="first of all matches")
        assert f"1/{total}" in pane.border_subtitle
        first = view.matches[0]
        assert view.doc.lines[first[0]][first[1]:first[2]] == "name"
        await pilot.press("enter")
        assert pane.match_count == f"2/{total}"
        await pilot.press("shift+enter")
        assert pane.match_count == f"1/{total}"
        await pilot.press("up")  # wraps to the last
        assert pane.match_count == f"{total}/{total}"
        # Esc closes the bar, the matches stay; n/N in the pane move between them
        await pilot.press("escape")
        assert not pane.search_input.display and view.has_focus
        await pilot.press("n")
        assert pane.match_count == f"1/{total}"
        await pilot.press("N", "N")
        assert pane.match_count == f"{total - 1}/{total}"
        # the rendered rows carry the match styles (the current one differs)
        row = next(y for y in range(view.size.height) if "name" in view.render_line(y).text)
        assert any(seg.style and seg.style.bgcolor for seg in view.render_line(row))
        # reopened, the bar selects the last query: typing replaces it. Smart case: a capital
        # makes the search case-sensitive
        await type_now(pilot, "ctrl+f", *"Echo")
        await wait_for(pilot, lambda: pane.search_input.value == "Echo", what="the new query")
        await wait_for(pilot, lambda: pane.match_count == "1/1", what="case-sensitive search")
        (line, start, end), = view.matches
        assert view.doc.lines[line][start:end] == "Echo"


async def test_n_is_next_error_without_a_search(recording):
    app = build_app(recordings=[recording], clock=lambda: T0 + 12.0)
    async with app.run_test(size=SIZE) as pilot:
        await open_tools_list(pilot)
        app.detail.view.focus()
        before = app.log_widget.cursor
        await pilot.press("n")
        await wait_for(pilot, lambda: app.log_widget.cursor != before, what="moved to the next error")
        assert app.log_widget.selected_record().is_error


async def test_fold_at_cursor_fold_all_and_search_reveals(recording):
    app = build_app(recordings=[recording], clock=lambda: T0 + 12.0)
    async with app.run_test(size=SIZE) as pilot:
        await open_tools_list(pilot)
        view = app.detail.view
        view.focus()
        doc = view.doc
        lines = doc.lines
        tools = next(i for i, line in enumerate(lines) if line.strip() == '"tools": [')
        while view._vis[view.cursor] != tools:
            await pilot.press("down")
        await pilot.press("left")  # fold the tools array at the cursor
        assert tools in doc.folded
        shown = "\n".join(app.detail.view.text_lines())
        assert '"tools": […]  ' in shown and ' lines' in shown and '"name": "echo"' not in shown
        assert view.cursor == view._vis.index(tools)
        await pilot.press("right")  # unfold it
        assert tools not in doc.folded and '"name": "echo"' in "\n".join(view.text_lines())
        await pilot.press("enter")  # toggle
        assert tools in doc.folded
        await pilot.press("enter")
        assert tools not in doc.folded
        # on a line inside a container, ← goes to the line that opens it
        await pilot.press("down", "down")
        inner = view._vis[view.cursor]
        assert '"name": "echo"' in lines[inner]
        await pilot.press("left")
        assert view._vis[view.cursor] == doc.parent[inner] and lines[doc.parent[inner]].strip() == "{"
        # fold all: every container below the top level; what shows is the top level
        await pilot.press("minus")
        root = next(i for i in doc.closer if doc.parent[i] == -1)
        assert doc.folded == {i for i in doc.closer if doc.foldable(i) and i != root}
        assert [lines[i].strip() for i in view._vis if doc.kinds[i] == "json"] == [
            "{", '"jsonrpc": "2.0",', '"id": 1,', '"result": {', "}"]
        # a search match inside a fold unfolds what hides it
        await type_now(pilot, "ctrl+f", *"slow")
        await wait_for(pilot, lambda: app.detail.match_count.startswith("1/"), what="match")
        line = view.matches[view.match_index][0]
        assert line in view._vis
        await pilot.press("escape")
        await pilot.press("plus")
        assert not doc.folded and len(view._vis) == len(lines)


async def test_a_20_mb_body_is_searched_in_a_thread(tmp_path):
    text = "z" * (20 * 1024 * 1024)
    raw = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text + "needle"}]}})
    frames = canned_session()[:2] + [message_frame(1, 1.0, T0 + 1, "s2c", raw)]
    path = tmp_path / "big.jsonl"
    write_recording(frames, path)
    app = build_app(recordings=[str(path)], clock=lambda: T0 + 12.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == 1, what="loaded")
        app.log_widget.move_cursor(0)
        await wait_for(pilot, lambda: app.detail.record is not None, what="detail")
        await pilot.press("o")  # the raw view holds the whole line (the pretty one the first 64 KB)
        assert app.detail.raw and len(app.detail.view.doc.lines[-1]) == len(raw)
        await type_now(pilot, "ctrl+f", *"needle")
        await wait_for(pilot, lambda: app.detail.match_count == "1/1", what="the needle at the end")
        line, start, end = app.detail.view.matches[0]
        assert raw[start:end] == "needle" and start > 20 * 1024 * 1024
        # the view scrolled to it: the rows on screen show it (maybe wrapped over two rows)
        view = app.detail.view
        await pilot.pause()
        shown = "".join(view.render_line(y).text.rstrip() for y in range(view.size.height))
        assert "needle" in shown


async def test_detail_keys_are_remappable_and_in_the_palette(recording):
    app = OmproxyApp([], keymap={"detail_search": "ctrl+g", "detail_fold_all": "ctrl+y"})
    async with app.run_test(size=SIZE) as pilot:
        from omproxy_tui.tui.app import ActionsProvider

        titles = [title for title, _, _ in ActionsProvider(app.screen)._commands()]
        assert any(t.startswith("Search detail  (ctrl+g)") for t in titles)
        assert any(t.startswith("Fold all  (ctrl+y)") for t in titles)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.detail.search_input.has_focus, what="search bar")
