"""A one-line-per-item picker on the Line API, with type-to-find.

Hundreds of tools must not cost a widget (or even a measured, wrapped option) each: only the
visible rows are rendered, from plain strings, and the row height is always one. Typing letters
finds an item (by name prefix first, else anywhere in the name); Backspace edits what was typed.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class PickList(ScrollView, can_focus=True):
    """``items`` are ``(id, name, detail)``; the highlighted one is :attr:`cursor`."""

    COMPONENT_CLASSES = {"pick-list--cursor", "pick-list--name", "pick-list--detail"}

    DEFAULT_CSS = """
    PickList {
        background: $surface;
        border: tall $border-blurred;
        overflow-x: hidden;
        & > .pick-list--name { text-style: bold; }
        & > .pick-list--detail { color: $text-muted; }
        & > .pick-list--cursor {
            color: $block-cursor-blurred-foreground;
            background: $block-cursor-blurred-background;
        }
        &:focus {
            border: tall $border;
            & > .pick-list--cursor {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "choose", "Choose", show=False),
    ]

    cursor: reactive[int | None] = reactive(None, repaint=False)

    class Highlighted(Message):
        def __init__(self, pick_list: PickList, item_id: str, index: int) -> None:
            super().__init__()
            self.pick_list = pick_list
            self.item_id = item_id
            self.index = index

        @property
        def control(self) -> PickList:
            return self.pick_list

        def can_replace(self, message: Message) -> bool:
            # moving fast through the list: only the last highlight matters
            return isinstance(message, PickList.Highlighted) and message.pick_list is self.pick_list

    class Chosen(Message):
        """Enter (or a click) on an item."""

        def __init__(self, pick_list: PickList, item_id: str, index: int) -> None:
            super().__init__()
            self.pick_list = pick_list
            self.item_id = item_id
            self.index = index

        @property
        def control(self) -> PickList:
            return self.pick_list

    def __init__(self, items: list[tuple[str, str, str]] = (), *, id: str | None = None) -> None:  # type: ignore[assignment]
        super().__init__(id=id)
        self.items: list[tuple[str, str, str]] = []
        self._typed = ""
        self.set_items(list(items))

    # ---- items ---------------------------------------------------------------------------

    def set_items(self, items: list[tuple[str, str, str]], cursor: int | None = 0) -> None:
        self.items = items
        self._typed = ""
        self.virtual_size = Size(0, len(items))
        self.set_reactive(PickList.cursor, None)
        self.cursor = min(cursor, len(items) - 1) if items and cursor is not None else None
        self._show_typed()
        self.refresh()

    def index_of(self, item_id: str) -> int | None:
        return next((n for n, item in enumerate(self.items) if item[0] == item_id), None)

    @property
    def highlighted_id(self) -> str | None:
        return self.items[self.cursor][0] if self.cursor is not None and self.cursor < len(self.items) else None

    # ---- cursor --------------------------------------------------------------------------

    def validate_cursor(self, value: int | None) -> int | None:
        if value is None or not self.items:
            return None
        return max(0, min(value, len(self.items) - 1))

    def watch_cursor(self, old: int | None, new: int | None) -> None:
        for row in (old, new):
            if row is not None:
                self.refresh(Region(0, row - self.scroll_offset.y, self.size.width, 1))
        if new is not None:
            self.scroll_to_region(Region(0, new, 1, 1), animate=False, immediate=True)
            self.post_message(self.Highlighted(self, self.items[new][0], new))

    def action_move(self, step: int) -> None:
        self._typed = ""
        self._show_typed()
        self.cursor = 0 if self.cursor is None else self.cursor + step

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        self._typed = ""
        self._show_typed()
        self.cursor = where if where >= 0 else len(self.items) - 1

    def action_choose(self) -> None:
        if self.cursor is not None:
            self.post_message(self.Chosen(self, self.items[self.cursor][0], self.cursor))

    async def _on_click(self, event: events.Click) -> None:
        row = event.y + self.scroll_offset.y
        if 0 <= row < len(self.items):
            self.cursor = row
            self.action_choose()

    # ---- type to find --------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        if event.key == "backspace" and self._typed:
            self._typed = self._typed[:-1]
        elif event.character and event.is_printable and event.key != "space":
            self._typed += event.character
        else:
            return
        event.stop()
        event.prevent_default()
        self._find()

    def _find(self) -> None:
        self._show_typed()
        if not self._typed:
            return
        typed = self._typed.lower()
        names = [name.lower() for _, name, _ in self.items]
        found = next((n for n, name in enumerate(names) if name.startswith(typed)), None)
        if found is None:
            found = next((n for n, name in enumerate(names) if typed in name), None)
        if found is None:
            self.border_subtitle = f"find: {self._typed} (no match)"
        else:
            self.cursor = found

    def _show_typed(self) -> None:
        self.border_subtitle = f"find: {self._typed}" if self._typed else "type to find"

    # ---- rendering -----------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None

    _styles: tuple[Style, Style, Style] | None = None

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if row >= len(self.items):
            return Strip.blank(width, base)
        if self._styles is None:
            self._styles = tuple(self.get_component_rich_style(f"pick-list--{n}", partial=True)  # type: ignore[assignment]
                                 for n in ("cursor", "name", "detail"))
        cursor_style, name_style, detail_style = self._styles  # type: ignore[misc]
        _, name, detail = self.items[row]
        line = base + (cursor_style if row == self.cursor else Style())
        segments = [Segment(" " + name, line + name_style)]
        if detail:
            segments.append(Segment("  " + detail, line + detail_style))
        strip = Strip(segments)
        if strip.cell_length > width:  # cut with an ellipsis, never silently
            strip = strip.crop(0, max(0, width - 1))
            strip = Strip([*strip, Segment("…", line)])
        return strip.extend_cell_length(width, line)
