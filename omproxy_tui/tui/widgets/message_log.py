"""The live message log: a Line-API ``ScrollView`` over the Store and its FilteredView.

Its rows are :class:`~omproxy_tui.core.markers.LogRows`: the view's records, with marker rows
(gaps, restarts: not messages) between them. Only visible rows are rendered; each rendered row is
an LRU-cached ``Strip`` keyed by (record index, cursor?, width), invalidated for the indices
``Store.add`` reports as changed; a marker's key carries its revision instead.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip

from omproxy_tui.tui.widgets.line_view import LineView
from omproxy_tui.tui.widgets.scroll_size import set_virtual_size
from omproxy_tui.core.markers import LogRows, Marker, Markers

if TYPE_CHECKING:
    from omproxy_tui.tui.model import FilteredView, Record, Store

KIND_LABEL = {
    "request": "req",
    "notification": "note",
    "response": "resp",
    "error": "ERR",
    "batch": "batch",
    "invalid": "inv",
}

FLAG = {"held": "H", "dropped": "D", "injected": "I", "blocked": "B"}

#: Columns, in order; ``layout`` gives their widths for a terminal width (summary takes the rest).
COLUMN_NAMES = ("time", "session", "", "kind", "method", "id", "latency", "size", "summary")

#: The summary keeps at least this much room; the method column gets at most this share.
#: During a burst (more messages waiting to be ingested), new rows are shown at most this often:
#: following the newest message re-renders every row in view, and doing that after each slice of
#: ingest (up to 60 times a second) took half of the event loop, which keys then waited behind.
BURST_SHOW_EVERY = 0.1
MIN_SUMMARY = 16
METHOD_SHARE = 0.3


def layout(width: int, show_session: bool = True, method_need: int = 24) -> dict[str, int]:
    """Column widths for a row ``width`` cells wide.

    The method column takes what the longest method (with its target) needs, up to
    :data:`METHOD_SHARE` of the width (cut with an ellipsis beyond); narrow terminals shorten the
    time (no milliseconds), id and session columns before the size and the summary lose room.
    """
    narrow = width < 110
    w = {
        "time": 8 if narrow else 12,
        "session": (8 if narrow else 10) if show_session else 0,
        "": 2,
        "kind": 5,
        "id": 4 if narrow else 6,
        "latency": 7 if narrow else 8,
        "size": 6 if narrow else 7,
    }
    fixed = sum(w.values()) + sum(1 for v in w.values() if v)  # one space after each column
    room = max(0, width - fixed - 1 - MIN_SUMMARY)
    w["method"] = max(8, min(method_need, int(width * METHOD_SHARE), room))
    w["summary"] = max(0, width - fixed - w["method"] - 1)
    return w


def fmt_size(n: int) -> str:
    if n < 1024:
        return f"{n}B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f}K"
    return f"{n / 1024 / 1024:.1f}M"


def fmt_latency(secs: float | None) -> str:
    if secs is None:
        return ""
    ms = secs * 1000
    if ms < 10:
        return f"{ms:.2f}ms"
    if ms < 1000:
        return f"{ms:.1f}ms"
    return f"{secs:.2f}s"


def fmt_time(wall: float) -> str:
    lt = time.localtime(wall)
    return time.strftime("%H:%M:%S", lt) + f".{int((wall % 1) * 1000):03d}"


#: What the time column shows (``t`` cycles): the wall clock, the time since the session's first
#: message, the time since the row above.
TIME_MODES = ("wall", "relative", "delta")


def fmt_offset(prefix: str, secs: float, width: int) -> str:
    """``+1.234s`` in at most ``width`` cells (fewer decimals when it would not fit)."""
    for digits in (3, 1, 0):
        text = f"{prefix}{secs:.{digits}f}s"
        if len(text) <= width:
            return text
    return text[:width]


def fmt_id(value: object) -> str:
    if value is None:
        return ""
    return str(value)


def _ellipsis(text: str, width: int) -> str:
    return text if cell_len(text) <= width else set_cell_size(text, width - 1) + "…"


def _full_width(segments: list[Segment], width: int, style: Style) -> Strip:
    """A row exactly ``width`` cells wide. ``Strip(segments, width)`` would only *say* so: a short
    row (a short summary) was then never padded, and the terminal kept what was drawn there
    before (a toast, a dialog) right of it."""
    return Strip(segments).adjust_cell_length(width, style)


def header_text(width: int, show_session: bool = True, method_need: int = 24) -> str:
    """The column titles, aligned with :func:`layout`'s columns."""
    w = layout(width, show_session, method_need)
    parts = []
    for name in COLUMN_NAMES:
        cells = w[name]
        if not cells:
            continue
        title = name if name not in ("latency", "size") else name.rjust(cells)
        parts.append(title if name == "summary" else set_cell_size(title, cells))
    return " ".join(parts)[:width]


class MessageLog(LineView, can_focus=True):
    """Virtual list of records; ``view.indices`` are its rows."""

    COMPONENT_CLASSES = {
        "message-log--cursor",
        "message-log--time",
        "message-log--session",
        "message-log--c2s",
        "message-log--s2c",
        "message-log--request",
        "message-log--notification",
        "message-log--response",
        "message-log--error",
        "message-log--pending",
        "message-log--held",
        "message-log--injected",
        "message-log--changed",
        "message-log--dropped",
        "message-log--lost",
        "message-log--dim",
        "message-log--empty",
        "message-log--marked",
        "message-log--gap",
        "message-log--restart",
    }

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up_cursor", "Page up", show=False),
        Binding("pagedown", "page_down_cursor", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "follow", "Follow", show=False),
    ]

    follow: reactive[bool] = reactive(True)
    #: the session column is only worth its width when several sessions are attached
    show_session: reactive[bool] = reactive(True)
    cursor: reactive[int | None] = reactive(None, repaint=False)
    new_count: reactive[int] = reactive(0)

    class CursorMoved(Message):
        """The selected row changed (coalesced)."""

        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MessageLog.CursorMoved)

    class FollowChanged(Message):
        def __init__(self, follow: bool, new_count: int) -> None:
            super().__init__()
            self.follow = follow
            self.new_count = new_count

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MessageLog.FollowChanged)

    def __init__(
        self,
        store: Store,
        view: FilteredView,
        *,
        session_label: Callable[[object], str] = str,
        rows: LogRows | None = None,
        method_need: Callable[[], int] | None = None,
        empty_text: str = "",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.store = store
        self.view = view
        self.session_label = session_label
        #: what each row shows: a store index, or a marker (a gap, a restart) between messages
        self.rows = rows if rows is not None else LogRows(view, Markers())
        self.empty_text = empty_text
        #: cells the method column would like (the longest method and target seen)
        self.method_need = method_need if method_need is not None else (lambda: 24)
        self._layout_key: tuple | None = None
        #: index into TIME_MODES
        self.time_mode = 0
        self._layout: dict[str, int] = {}
        self._cache: LRUCache[tuple, Strip] = LRUCache(2048)
        self._styles: dict[str, Style] = {}
        #: rows added but not shown yet (a burst, see rows_added), and when rows were last shown
        self._unshown = 0
        self._shown_at = 0.0

    # ---- data ----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def selected_item(self) -> Record | Marker | None:
        """The selected row: a record, a marker, or None."""
        if self.cursor is None or not (0 <= self.cursor < self.row_count):
            return None
        item = self.rows.at(self.cursor)
        return item if isinstance(item, Marker) else self.store[item]

    def selected_record(self) -> Record | None:
        """The selected message (None when nothing, or a marker row, is selected)."""
        item = self.selected_item()
        return None if isinstance(item, Marker) else item

    def selected_marker(self) -> Marker | None:
        item = self.selected_item()
        return item if isinstance(item, Marker) else None

    def position_of(self, index: int) -> int | None:
        """Row of a store index, or None when filtered out."""
        return self.rows.row_of_index(index)

    def row_of_item(self, item: Record | Marker) -> int | None:
        """Row of a record or a marker, or None when it is not shown."""
        if isinstance(item, Marker):
            return self.rows.row_of_marker(item)
        return self.rows.row_of_index(item.index)

    def _update_virtual_size(self) -> None:
        size = Size(self.scrollable_content_region.width, self.row_count)
        if size != self.virtual_size:
            set_virtual_size(self, size)  # no layout of the screen for new rows (scroll_size.py)

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        # Every layout of the screen (the detail pane changing height does one per selection)
        # calls this with the compositor's idea of our virtual size, which is never ours (the
        # rows are ours, not arranged children), so ScrollView took each for a change and
        # re-rendered the scrollbar (~20 rows of ScrollBarRender). Our virtual size is kept by
        # _update_virtual_size; nothing to do when our own size is the same.
        if size == self._size and container_size == self.container_size:
            return False
        return super()._size_updated(size, virtual_size, container_size, layout)

    @property
    def unshown(self) -> int:
        """Rows added during a burst and not shown yet (see rows_added)."""
        return self._unshown

    def rows_added(self, added: int, changed: list[int], busy: bool = False) -> None:
        """Rows were appended to the view; ``changed`` store indices need repainting. ``busy``:
        more are on their way at once (a burst): then they are shown at most every
        :data:`BURST_SHOW_EVERY` seconds, and at the latest with the burst's last batch."""
        for index in changed:
            self.invalidate(index)
        self._unshown += added
        now = time.perf_counter()
        if busy and now - self._shown_at < BURST_SHOW_EVERY:
            return
        self._show_held(now)

    def _show_held(self, now: float | None = None) -> None:
        """Show the rows held back during a burst (see rows_added)."""
        added, self._unshown = self._unshown, 0
        self._shown_at = time.perf_counter() if now is None else now
        self._update_virtual_size()
        if added:
            if self.follow:
                # following keeps the selection (and so the detail pane) on the newest message
                self.cursor = self.row_count - 1
                self._scroll_to_end()
            else:
                self.new_count += added
        self.refresh()

    def invalidate(self, index: int) -> None:
        # the cache is cleared on resize, so its keys need not carry the width
        cache = self._cache
        cache.discard((index, False))
        cache.discard((index, True))

    def reset(self) -> None:
        """The view was re-filtered: keep the selected record (or marker) when it is still visible."""
        selected = self.selected_item()
        self._cache.clear()
        self._update_virtual_size()
        # rows held back during a burst are shown by this (counted under the old view, they
        # would be added to new_count at the burst's end)
        self._unshown = 0
        self.new_count = 0
        if self.follow and self.row_count:
            self.cursor = self.row_count - 1
        elif isinstance(selected, Marker):
            pos = self.rows.row_of_marker(selected)
            self.cursor = pos if pos is not None else (min(self.cursor or 0, self.row_count - 1) if self.row_count else None)
        elif selected is not None:
            pos = self.view.nearest(selected.index)
            self.cursor = None if pos is None else self.rows.row_of(pos)
        else:
            self.cursor = None
        if self.follow or self.cursor is None:
            self._scroll_to_end()
        else:
            self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self._cursor_index()))

    def _cursor_index(self) -> int | None:
        rec = self.selected_record()
        return None if rec is None else rec.index

    # ---- follow --------------------------------------------------------------------------

    def watch_show_session(self) -> None:
        self._cache.clear()
        self.refresh()

    def _scroll_to_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
        self.scroll_end(animate=False, x_axis=False, force=True)

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self._update_virtual_size()
        if self.follow:
            self._scroll_to_end()

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.new_count = 0
            self._scroll_to_end()
        self.post_message(self.FollowChanged(follow, self.new_count))

    def watch_new_count(self, count: int) -> None:
        self.post_message(self.FollowChanged(self.follow, count))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and new_value < self.max_scroll_y:
            self.follow = False

    def _show_held_for_key(self) -> None:
        # a key that moves down (or to the end) shows the rows held back during a burst first:
        # the newest row shown was not the newest, and Down there stopped following
        if self._unshown:
            self._show_held()

    def action_follow(self) -> None:
        self._show_held_for_key()
        self.follow = True
        if self.row_count:
            self.cursor = self.row_count - 1

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False
        super()._on_mouse_scroll_up(event)

    # ---- cursor --------------------------------------------------------------------------

    def watch_cursor(self, old: int | None, new: int | None) -> None:
        for row in (old, new):
            if row is not None:
                item = self.rows.at(row) if 0 <= row < self.row_count else None
                if type(item) is int:
                    self.invalidate(item)
                self.refresh_line(row)
        self.post_message(self.CursorMoved(self._cursor_index()))

    def _scroll_to_cursor(self) -> None:
        if self.cursor is None:
            return
        self.scroll_to_region(
            Region(0, self.cursor, 1, 1), animate=False, immediate=True, force=True
        )

    def move_cursor(self, row: int) -> None:
        if not self.row_count:
            return
        row = max(0, min(self.row_count - 1, row))
        if row < self.row_count - 1 and self.follow:
            self.follow = False  # selecting anything but the newest stops following
        self.cursor = row
        self._scroll_to_cursor()
        if row == self.row_count - 1 and self.scroll_y >= self.max_scroll_y:
            pass

    def select_index(self, index: int) -> bool:
        pos = self.position_of(index)
        if pos is None:
            return False
        if pos != self.row_count - 1:
            self.follow = False
        self.move_cursor(pos)
        return True

    def action_cursor_up(self) -> None:
        if self.cursor is None:
            self.move_cursor(self.row_count - 1)
        else:
            self.follow = False
            self.move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._show_held_for_key()
        # nothing selected: select the top row in view, not row 0 of the whole log
        self.move_cursor(int(self.scroll_y) if self.cursor is None else self.cursor + 1)

    def action_page_up_cursor(self) -> None:
        self.follow = False
        height = max(1, self.scrollable_content_region.height - 1)
        self.move_cursor((self.cursor if self.cursor is not None else self.row_count) - height)

    def action_page_down_cursor(self) -> None:
        self._show_held_for_key()
        height = max(1, self.scrollable_content_region.height - 1)
        self.move_cursor((self.cursor if self.cursor is not None else 0) + height)

    def action_first(self) -> None:
        self.follow = False
        self.move_cursor(0)

    def on_click(self, event: events.Click) -> None:
        row = int(self.scroll_offset.y + event.y)
        if 0 <= row < self.row_count:
            if row < self.row_count - 1:
                self.follow = False
            self.cursor = row

    # ---- rendering -----------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.get_component_rich_style(f"message-log--{name}", partial=True)
            self._styles[name] = style
        return style

    def columns(self, width: int) -> dict[str, int]:
        """Column widths for ``width`` (see :func:`layout`); rendered rows are dropped when they
        change (a longer method seen, a resize)."""
        key = (width, self.show_session, self.method_need())
        if key != self._layout_key:
            if self._layout_key is not None:
                self._cache.clear()
            self._layout_key = key
            self._layout = layout(*key)
        return self._layout

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.base_style
        if row >= self.row_count:
            if self.row_count == 0 and y == 1 and self.empty_text:
                return Strip([Segment("  " + self.empty_text, base + self._style("empty"))]).crop_extend(
                    scroll_x, scroll_x + width, base
                )
            return Strip.blank(width, base)
        index = self.rows.at(row)
        selected = row == self.cursor
        marker = type(index) is not int
        key = ((index.id, index.rev), selected) if marker else (index, selected)
        self.columns(max(width, 40))  # a layout change clears the cache: before the lookup
        strip = self._cache.get(key)
        if strip is None:
            if marker:
                strip = self._render_marker(index, selected, max(width, 40))
            else:
                strip = self._render_row(self.store[index], selected, max(width, 40))
            self._cache[key] = strip
        if scroll_x == 0 and strip.cell_length == width:
            # as it is: crop_extend would cache the strip in itself (a reference cycle, freed
            # only by a full garbage collection, and never once the heap is frozen)
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def cycle_time_mode(self) -> str:
        self.time_mode = (self.time_mode + 1) % len(TIME_MODES)
        self._cache.clear()
        self.refresh()
        return TIME_MODES[self.time_mode]

    def _time_text(self, rec: Record, width: int) -> str:
        mode = TIME_MODES[self.time_mode]
        if mode == "wall":
            text = fmt_time(rec.wall)
            return text if width >= 12 else text[:width]
        if mode == "relative":
            first = self.store.indices_for(rec.session)
            start = self.store[first[0]].wall if first else rec.wall
            return fmt_offset("+", rec.wall - start, width)
        pos = self.view.position(rec.index)
        prev = self.store[self.view.indices[pos - 1]] if pos else None
        return fmt_offset("Δ", rec.wall - prev.wall if prev is not None else 0.0, width)

    def _render_row(self, rec: Record, selected: bool, width: int) -> Strip:
        base = self.base_style
        st = self._style
        row_style = Style()
        status = rec.status or "relayed"
        is_error = rec.is_error
        if rec.held or status == "held":
            row_style = st("held")
        elif status in ("dropped", "blocked"):
            row_style = st("dropped")
        elif rec.injected or status == "injected" or rec.to_inspector:
            row_style = st("injected")
        elif rec.changed:
            row_style = st("changed")
        if selected:
            row_style = row_style + st("cursor")
        style = base + row_style

        def cell(text: str, w: int, extra: Style | None = None) -> Segment:
            return Segment(set_cell_size(text, w), style + extra if extra else style)

        sep = Segment(" ", style)
        dir_style = st("c2s") if rec.dir == "c2s" else st("s2c")
        arrow = "→" if rec.dir == "c2s" else "←"
        if rec.held or status == "held":
            flag = "H"
        elif rec.changed:
            flag = "M"
        else:
            flag = FLAG.get(status, "I" if (rec.injected or rec.to_inspector) else " ")
        if rec.marked and flag == " ":
            flag = "★"
        kind_style = st("error") if is_error else st(rec.kind if rec.kind in ("request", "notification", "response") else "dim")
        kind = KIND_LABEL.get(rec.kind, rec.kind)
        if rec.kind == "response" and is_error:
            kind = "ERR"
        method = rec.method or ""
        if not method and rec.pair is not None:
            method = self.store[rec.pair].method or ""
        if rec.tool and method in ("tools/call", "prompts/get") or (rec.tool and method.startswith("resources/")):
            method = f"{method} {rec.tool}"
        if rec.pending and not rec.cancelled:
            latency, lat_style = "…", st("pending")
        elif rec.index in self.store.unanswered:
            latency, lat_style = "no resp", st("dim")
        elif rec.cancelled:
            latency, lat_style = "cancel", st("error")
        elif rec.kind in ("response", "error") and rec.latency is not None:
            latency, lat_style = fmt_latency(rec.latency), st("dim")
        else:
            latency, lat_style = "", st("dim")
        w = self.columns(width)
        tw = w["time"]
        time_text = self._time_text(rec, tw)
        segments = [cell(time_text, tw, st("marked") if rec.marked else st("time")), sep]
        if w["session"]:
            sw = w["session"]
            segments += [cell(_ellipsis(self.session_label(rec.session), sw), sw, st("session")), sep]
        lw, zw = w["latency"], w["size"]
        segments += [
            cell(arrow, 1, dir_style),
            cell(flag, 1, st("held") if flag == "H" else st("changed") if flag == "M" else None),
            sep,
            cell(kind, 5, kind_style),
            sep,
            cell(_ellipsis(method, w["method"]), w["method"], st("error") if is_error else None),
            sep,
            cell(_ellipsis(fmt_id(rec.id), w["id"]), w["id"], st("dim")),
            sep,
            Segment(_ellipsis(latency, lw).rjust(lw), style + lat_style),
            sep,
            Segment(_ellipsis(fmt_size(rec.size), zw).rjust(zw), style + st("dim")),
            sep,
        ]
        used = sum(seg.cell_length for seg in segments)
        rest = max(0, width - used)
        summary = (rec.summary or "").replace("\n", " ")
        if is_error and rec.error and rec.error not in summary:
            summary = f"{rec.error} {summary}"
        segments.append(Segment(_ellipsis(summary, rest) if rest else "", style + (st("error") if is_error else Style())))
        return _full_width(segments, width, style)

    def _render_marker(self, marker: Marker, selected: bool, width: int) -> Strip:
        """A row that is not a message: the time, the session, then what happened, across the rest."""
        base = self.base_style
        style = base + self._style("restart" if marker.kind == "restart" and not marker.failed else "gap")
        if selected:
            style = style + self._style("cursor")
        w = self.columns(width)
        tw = w["time"]
        time_text = fmt_time(marker.wall) if TIME_MODES[self.time_mode] == "wall" else ""
        segments = [Segment(set_cell_size(time_text if tw >= 12 else time_text[:tw], tw), style + self._style("time")),
                    Segment(" ", style)]
        if w["session"]:
            sw = w["session"]
            segments += [Segment(set_cell_size(_ellipsis(self.session_label(marker.session), sw), sw),
                                 style + self._style("session")), Segment(" ", style)]
        used = sum(seg.cell_length for seg in segments)
        rest = max(0, width - used)
        segments.append(Segment(_ellipsis(f"── {marker.text} ──", rest) if rest else "", style))
        return _full_width(segments, width, style)
