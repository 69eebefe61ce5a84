"""The composer's one-widget pickers: PickList (type to find) and Choice (←/→)."""

from __future__ import annotations

import pytest
from textual.app import App

from omproxy_tui.tui.widgets.choice import Choice
from omproxy_tui.tui.widgets.pick_list import PickList

pytestmark = pytest.mark.anyio

ITEMS = [(f"tool_{i:03d}", f"tool_{i:03d}", f"Tool number {i}") for i in range(200)] + [
    ("search_files", "search_files", "Search"), ("deploy", "deploy", "")]


class Pickers(App):
    chosen: list[str]

    def compose(self):
        self.chosen = []
        yield PickList(ITEMS, id="list")
        yield Choice([("dev", "dev"), ("prod", "prod")], blank="not sent", id="choice")

    def on_pick_list_chosen(self, event: PickList.Chosen) -> None:
        self.chosen.append(event.item_id)


async def test_pick_list_finds_as_you_type_and_moves():
    app = Pickers()
    async with app.run_test(size=(80, 20)) as pilot:
        picks = app.query_one(PickList)
        picks.focus()
        await pilot.pause()
        assert picks.highlighted_id == "tool_000"
        await pilot.press(*"dep")  # a name prefix
        assert picks.highlighted_id == "deploy" and "dep" in picks.border_subtitle
        await pilot.press("backspace", "backspace", "backspace", *"files")  # anywhere in a name
        assert picks.highlighted_id == "search_files"
        await pilot.press(*"zz")
        assert picks.highlighted_id == "search_files" and "no match" in picks.border_subtitle
        await pilot.press("home", "down", "down")  # moving forgets what was typed
        assert picks.highlighted_id == "tool_002" and "type to find" in picks.border_subtitle
        await pilot.press("end")
        assert picks.highlighted_id == "deploy"
        # only the rows on screen are rendered; the highlighted one is on screen
        rows = [picks.render_line(y).text for y in range(picks.scrollable_content_region.height)]
        assert any("deploy" in row for row in rows)
        await pilot.press("enter")
        await pilot.pause()
        assert app.chosen == ["deploy"]


async def test_choice_steps_through_its_options():
    app = Pickers()
    async with app.run_test(size=(80, 20)) as pilot:
        choice = app.query_one(Choice)
        choice.focus()
        await pilot.pause()
        assert choice.value is Choice.NOTHING
        await pilot.press("right")
        assert choice.value == "dev"
        await pilot.press("space", "right")  # wraps around
        assert choice.value is Choice.NOTHING
        await pilot.press("left")
        assert choice.value == "prod"
        with pytest.raises(ValueError):
            choice.value = "staging"
