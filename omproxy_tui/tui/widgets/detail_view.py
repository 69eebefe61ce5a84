"""The detail pane's scrolling body on the Line API: a head (rendered once per width) above a
:class:`~omproxy_tui.tui.detail_doc.Doc`, with a line cursor, JSON folding and search matches.

Only the rows on screen are styled and rendered, so a 20 MB raw line or a 40,000-line pretty
JSON costs what the screen shows; long lines wrap (the row index is rebuilt when the width, a
fold or the document changes: one pass over the visible lines).
"""

from __future__ import annotations

from bisect import bisect_right

from rich.cells import cell_len, get_character_cell_size
from rich.console import RenderableType
from rich.highlighter import JSONHighlighter
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from omproxy_tui.tui import actions
from omproxy_tui.tui.widgets.line_view import LineView
from omproxy_tui.tui.widgets.scroll_size import set_virtual_size
from omproxy_tui.tui.detail_doc import ADD, DEL, DIM, HUNK, JSON, NOTE, TITLE, Doc

_highlighter = JSONHighlighter()

KIND_STYLE = {
    NOTE: Style(italic=True, dim=True),
    TITLE: Style(bold=True),
    ADD: Style(color="green"),
    DEL: Style(color="red"),
    HUNK: Style(color="cyan"),
    DIM: Style(dim=True),
}

#: non-ASCII lines longer than this wrap by characters, not cells (measuring cells is per character)
CELL_WRAP_LIMIT = 100_000


class DetailView(LineView, can_focus=True):
    COMPONENT_CLASSES = {"detail-view--cursor", "detail-view--match", "detail-view--match-current"}

    DEFAULT_CSS = """
    DetailView {
        height: 1fr;
        background: transparent;
        overflow-x: hidden;  /* rows wrap at the width: nothing to scroll sideways */
        & > .detail-view--cursor { background: $primary 25%; }
        & > .detail-view--match { background: $warning 45%; }
        & > .detail-view--match-current { background: $warning; color: $background; text-style: bold; }
    }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "Top", show=False),
        Binding("end", "edge(1)", "Bottom", show=False),
        # fold, unfold, next/previous match: the registry's "detail" scope (remappable by id)
        *actions.scoped_bindings("detail"),
    ]

    class MatchMoved(Message):
        """The current match changed (the pane shows "3/17")."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.head: RenderableType = ""
        self.doc = Doc()
        #: visible document lines, and the first row of each (plus the total at the end)
        self._vis: list[int] = []
        self._starts: list[int] = [0]
        self._head_strips: list[Strip] = []
        self._width = 0
        self._offsets: dict[int, list[int]] = {}
        self._nrows: list[int] = []
        self._nrows_doc: Doc | None = None
        #: index into ``_vis`` of the line cursor
        self.cursor = 0
        self.matches: list[tuple[int, int, int]] = []
        self._line_matches: dict[int, list[tuple[int, int, int]]] = {}
        self.match_index: int | None = None
        self._cache: LRUCache[tuple, Strip] = LRUCache(1024)
        self._version = 0
        self._styles: dict[str, Style] = {}

    # ---- content -------------------------------------------------------------------------

    def set_content(self, head: RenderableType, doc: Doc, *, keep_place: bool = False) -> None:
        self.head = head
        self.doc = doc
        self.matches, self._line_matches, self.match_index = [], {}, None
        self._head_strips = []
        if not keep_place:
            self.cursor = 0
        self._relayout()
        if not keep_place:
            self.scroll_to(0, 0, animate=False, immediate=True)

    def set_head(self, head: RenderableType) -> None:
        self.head = head
        self._head_strips = []
        self._relayout()

    def set_matches(self, matches: list[tuple[int, int, int]]) -> None:
        self.matches = matches
        self._line_matches = {}
        for n, (line, start, end) in enumerate(matches):
            self._line_matches.setdefault(line, []).append((start, end, n))
        self.match_index = None
        if matches:
            here = self._vis[self.cursor] if self._vis else 0
            self.goto_match(next((n for n, m in enumerate(matches) if m[0] >= here), 0))
        else:
            self._changed()
        self.post_message(self.MatchMoved())

    def goto_match(self, n: int) -> None:
        if not self.matches:
            return
        self.match_index = n % len(self.matches)
        line, start, _ = self.matches[self.match_index]
        if any(f for f in self.doc.folded):
            before = set(self.doc.folded)
            self.doc.reveal(line)
            if self.doc.folded != before:
                self._relayout()
        v = bisect_right(self._vis, line) - 1
        self.cursor = max(0, v)
        row = self._starts[v] + self._chunk_of(line, start) if v >= 0 else 0
        self._changed()
        self.scroll_to_region(Region(0, len(self._head_strips) + row, 1, 1), animate=False, center=True,
                              immediate=True)
        self.post_message(self.MatchMoved())

    # ---- layout --------------------------------------------------------------------------

    def _display_text(self, i: int) -> str:
        text = self.doc.lines[i]
        return text + self.doc.fold_suffix(i) if i in self.doc.folded else text

    def _wrap(self, i: int, width: int) -> list[int]:
        """Start offsets of the rows line ``i`` wraps into."""
        cached = self._offsets.get(i)
        if cached is not None:
            return cached
        text = self._display_text(i)
        if text.isascii() or len(text) > CELL_WRAP_LIMIT:
            out = list(range(0, max(len(text), 1), width))
        else:
            out, cells = [0], 0
            for n, ch in enumerate(text):
                w = get_character_cell_size(ch)
                if cells + w > width:
                    out.append(n)
                    cells = 0
                cells += w
        self._offsets[i] = out
        return out

    def _rows(self, i: int, width: int) -> int:
        text = self._display_text(i)
        if len(text) <= width and (text.isascii() or cell_len(text) <= width):
            return 1
        return len(self._wrap(i, width))

    def _relayout(self) -> None:
        width = max(1, self.scrollable_content_region.width or self.size.width or 80)
        if width != self._width or self._nrows_doc is not self.doc:
            # rows per line, for this width and document: a fold only re-sums them
            self._nrows = [0] * len(self.doc.lines)
            self._nrows_doc = self.doc
        self._width = width
        self._offsets = {}
        self._vis = self.doc.visible()
        nrows, folded = self._nrows, self.doc.folded
        starts = [0]
        total = 0
        for i in self._vis:
            n = nrows[i]
            if n == 0 or i in folded:  # (a folded line's suffix changes its length)
                n = self._rows(i, width)
                if i not in folded:
                    nrows[i] = n
            total += n
            starts.append(total)
        self._starts = starts
        self.cursor = min(self.cursor, max(0, len(self._vis) - 1))
        self._render_head(width)
        set_virtual_size(self, Size(width, len(self._head_strips) + total))
        self._changed()

    def _render_head(self, width: int) -> None:
        if not self.is_mounted:
            self._head_strips = []
            return
        console = self.app.console
        lines = console.render_lines(self.head, console.options.update_width(width), pad=False)
        self._head_strips = [Strip(line) for line in lines]

    def _changed(self) -> None:
        self._version += 1
        self.refresh()

    def on_resize(self) -> None:
        if (self.scrollable_content_region.width or 0) != self._width:
            self._relayout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = {}
        self._version += 1

    def _chunk_of(self, line: int, offset: int) -> int:
        offsets = self._wrap(line, self._width) if self._starts else [0]
        return max(0, bisect_right(offsets, offset) - 1)

    # ---- rendering -----------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(f"detail-view--{name}", partial=True)
        return style

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.base_style
        head = len(self._head_strips)
        if row < head:
            return self._head_strips[row].crop_extend(0, width, base)
        row -= head
        if not self._vis or row >= self._starts[-1]:
            return Strip.blank(width, base)
        v = bisect_right(self._starts, row) - 1
        line = self._vis[v]
        chunk = row - self._starts[v]
        cursor = v == self.cursor and self.has_focus
        key = (line, chunk, width, cursor, self._version)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_chunk(line, chunk, cursor, width, base)
            self._cache[key] = strip
        return strip

    def _render_chunk(self, line: int, chunk: int, cursor: bool, width: int, base: Style) -> Strip:
        text = self._display_text(line)
        offsets = self._wrap(line, self._width) if len(text) > width else [0]
        start = offsets[chunk] if chunk < len(offsets) else len(text)
        end = offsets[chunk + 1] if chunk + 1 < len(offsets) else len(text)
        kind = self.doc.kinds[line]
        piece = Text(text[start:end], style=KIND_STYLE.get(kind, ""), no_wrap=True, end="")
        if kind == JSON:
            _highlighter.highlight(piece)
        real = len(self.doc.lines[line])
        if real < end:  # the fold suffix
            piece.stylize("dim italic", max(0, real - start))
        for s, e, n in self._line_matches.get(line, ()):
            if e > start and s < end:
                style = self._style("match-current" if n == self.match_index else "match")
                piece.stylize(style, max(s, start) - start, min(e, end) - start)
        if cursor:
            piece.stylize_before(self._style("cursor"))
        segments = list(piece.render(self.app.console))
        line_style = base + self._style("cursor") if cursor else base
        return Strip(Segment.apply_style(segments, base)).crop_extend(0, width, line_style)

    # ---- cursor and folding ----------------------------------------------------------------

    def _move_to(self, v: int) -> None:
        if not self._vis:
            return
        self.cursor = max(0, min(v, len(self._vis) - 1))
        self._changed()
        head = len(self._head_strips)
        top, bottom = self._starts[self.cursor], self._starts[self.cursor + 1]
        if self.cursor == 0:
            top = -head  # the first line: show the head above it too
        self.scroll_to_region(Region(0, head + top, 1, bottom - top), animate=False, immediate=True)

    def action_move(self, step: int) -> None:
        self._move_to(self.cursor + step)

    def action_page(self, direction: int) -> None:
        # a page of rows, then the line at that row
        height = max(1, self.scrollable_content_region.height - 1)
        row = self._starts[self.cursor] + direction * height if self._vis else 0
        self._move_to(max(0, bisect_right(self._starts, max(0, row)) - 1))

    def action_edge(self, end: int) -> None:
        self._move_to(len(self._vis) - 1 if end else 0)
        if not end:
            self.scroll_home(animate=False, immediate=True)

    async def _on_click(self, event: events.Click) -> None:
        # a click puts the line cursor there (then ←/→/Enter fold it)
        row = event.y + self.scroll_offset.y - len(self._head_strips)
        if self._vis and 0 <= row < self._starts[-1]:
            self.cursor = bisect_right(self._starts, row) - 1
            self._changed()

    def on_focus(self) -> None:
        self._changed()  # the cursor line shows only with focus

    def on_blur(self) -> None:
        self._changed()

    def _at_cursor(self) -> int | None:
        return self._vis[self.cursor] if self._vis else None

    def _refold(self, keep_line: int | None) -> None:
        self._relayout()
        if keep_line is not None:
            self._move_to(max(0, bisect_right(self._vis, keep_line) - 1))

    def action_fold(self) -> None:
        """Fold the container at the cursor; on a line inside one (or a folded one), go to its opener."""
        line = self._at_cursor()
        if line is None:
            return
        if self.doc.fold(line):
            self._refold(line)
        elif self.doc.parent[line] != -1:
            self._move_to(bisect_right(self._vis, self.doc.parent[line]) - 1)

    def action_unfold(self) -> None:
        line = self._at_cursor()
        if line is not None and self.doc.unfold(line):
            self._refold(line)

    def action_toggle_fold(self) -> None:
        line = self._at_cursor()
        if line is None:
            return
        if not (self.doc.unfold(line) or self.doc.fold(line)):
            return
        self._refold(line)

    def action_fold_all(self) -> None:
        line = self._at_cursor()
        self.doc.fold_all()
        # the cursor stays on its line, or the fold that now hides it
        while line is not None and line != -1 and any(p in self.doc.folded for p in self._ancestors(line)):
            line = self.doc.parent[line]
        self._refold(line if line != -1 else None)

    def action_unfold_all(self) -> None:
        line = self._at_cursor()
        self.doc.unfold_all()
        self._refold(line)

    def _ancestors(self, line: int) -> list[int]:
        out, p = [], self.doc.parent[line]
        while p != -1:
            out.append(p)
            p = self.doc.parent[p]
        return out

    # ---- matches -------------------------------------------------------------------------

    def action_next_match(self) -> None:
        if not self.matches:
            raise SkipAction()  # n/N stay next/previous error when there is no search
        self.goto_match((self.match_index if self.match_index is not None else -1) + 1)

    def action_prev_match(self) -> None:
        if not self.matches:
            raise SkipAction()
        self.goto_match((self.match_index if self.match_index is not None else 0) - 1)

    def text_lines(self) -> list[str]:
        """What the view shows, as plain lines (the head, then the visible document lines)."""
        console = self.app.console
        head = console.render_lines(self.head, console.options.update_width(max(self._width, 40)), pad=False)
        out = ["".join(seg.text for seg in line).rstrip() for line in head]
        out.extend(self._display_text(i) for i in self._vis)
        return out
