"""Detail pane: one record's metadata, timing, pair, stderr around it, and its JSON.

The body is a Line-API view (``detail_view.py``) over a document (``detail_doc.py``): the
pretty JSON folds (←/→ at the cursor line, Enter toggles, -/+ fold or unfold all) and can be
searched (Ctrl+F: a search bar at the bottom of the pane; Enter/Shift+Enter or n/N move between
matches, highlighted, "3/17"). Only what is on screen is rendered, so the raw view shows a 20 MB
message whole, and a search of it runs in a thread, in slices, superseded by the next keystroke.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Vertical
from textual.worker import get_current_worker
from textual.widgets import Input

from omproxy_tui.core.markers import Marker
from omproxy_tui.tui.detail_doc import ADD, DEL, DIM, HUNK, JSON, MAX_MATCHES, NOTE, TEXT, TITLE, Doc, find_matches
from omproxy_tui.tui.jsonfmt import PARSE_LIMIT, SHOW_LIMIT, pretty
from omproxy_tui.tui.widgets.detail_view import DetailView
from omproxy_tui.tui.widgets.message_log import fmt_latency, fmt_size, fmt_time

if TYPE_CHECKING:
    from omproxy_tui.tui.model import Record, Store

KIND_WORD = {
    "request": "request",
    "notification": "notification",
    "response": "response",
    "error": "error response",
    "batch": "batch",
    "invalid": "invalid line",
}

#: pretty text of a parsed message is shown whole up to this size (the view renders only what
#: is on screen; the cost is json.dumps and one pass to pair the brackets)
PRETTY_LIMIT = 8 * 1024 * 1024
#: documents smaller than this are searched at once, bigger ones in a thread
SYNC_SEARCH = 256 * 1024


class DetailSearch(Input):
    """The search bar of the detail pane: typing searches as you go."""

    BINDINGS = [
        Binding("down", "step(1)", "Next match", show=False),
        Binding("up", "step(-1)", "Previous match", show=False),
        Binding("shift+enter", "step(-1)", "Previous match", show=False),
        Binding("escape", "close", "Close search", show=False),
    ]

    def action_step(self, step: int) -> None:
        pane = self.parent
        if isinstance(pane, DetailPane):
            pane.step_match(step)

    def action_close(self) -> None:
        pane = self.parent
        if isinstance(pane, DetailPane):
            pane.close_search()


class DetailPane(Vertical):
    """Shows ``record``; ``raw`` toggles the raw line view."""

    DEFAULT_CSS = """
    DetailPane > #detail-search {
        dock: bottom;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(
        self,
        store: Store,
        *,
        session_label: Callable[[object], str] = str,
        stderr_near: Callable[[object, float], list[tuple[float, str, bool]]] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.store = store
        self.session_label = session_label
        self.stderr_near = stderr_near
        self.record: Record | None = None
        #: the marker row shown, when no record is
        self.marker: Marker | None = None
        self.raw = False
        self._shown: object = object()
        self._mode = "pretty"
        self._query = ""
        self._search_id = 0
        self._searching = False

    def compose(self):
        yield DetailView(id="detail-view")
        search = DetailSearch(placeholder="search this message (smart case) · Enter next · Shift+Enter previous · Esc",
                              id="detail-search")
        search.display = False
        yield search

    @property
    def view(self) -> DetailView:
        return self.query_one("#detail-view", DetailView)

    @property
    def search_input(self) -> DetailSearch:
        return self.query_one("#detail-search", DetailSearch)

    def on_mount(self) -> None:
        self.border_title = "Detail"
        self.show(None)

    def show(self, record: Record | Marker | None, *, force: bool = False) -> None:
        if isinstance(record, Marker):
            self._show_marker(record)
            return
        key = None if record is None else (
            record.index, record.pair, record.pending, record.status, record.held, record.latency, self.raw,
            record.index in self.store.unanswered,
        )
        if not force and key == self._shown and record is self.record:
            return
        same = record is not None and self.record is not None and record.index == self.record.index
        self.record = record
        self.marker = None
        self._shown = key
        view = self.view
        if record is None:
            self._mode = ""
            self._subtitle()
            view.set_content(Text("Select a message (↑/↓, click) to see it here.", style="dim"), Doc())
            return
        if same and not force:
            view.set_head(self._head(record))  # its state changed (answered, released): same body
            return
        view.set_content(self._head(record), self._doc(record))
        if self._query:
            self._search(self._query)

    def _show_marker(self, marker: Marker) -> None:
        """A row that is not a message (a gap, a restart): what it means."""
        key = ("marker", marker.id, marker.rev)
        if key == self._shown:
            return
        self.record = None
        self.marker = marker
        self._shown = key
        self._mode = ""
        self._subtitle()
        title = Text(marker.text, style="bold")
        meta = Text(f"{self.session_label(marker.session)} · {fmt_time(marker.wall)} · not a message", style="dim")
        doc = Doc()
        doc.add(list(marker.explain()), TEXT)
        self.view.set_content(Group(title, meta, Text("")), doc)

    def toggle_raw(self) -> None:
        self.raw = not self.raw
        if self.record is None and self.marker is not None:
            return  # a marker row has no raw form
        self.show(self.record, force=True)

    # ---- text, for tests and copy -------------------------------------------------------

    def head_text(self) -> str:
        return "\n".join(self.view.text_lines()[: len(self.view._head_strips)])

    def body_text(self) -> str:
        return "\n".join(self.view.doc.lines)

    # ---- search --------------------------------------------------------------------------

    def open_search(self) -> DetailSearch:
        search = self.search_input
        search.display = True
        search.focus()
        self._subtitle()
        return search

    def close_search(self) -> None:
        """Esc: the bar closes, the matches stay (n/N in the pane move between them)."""
        self.search_input.display = False
        self.view.focus()
        self._subtitle()

    def step_match(self, step: int) -> None:
        view = self.view
        if view.matches:
            view.goto_match((view.match_index if view.match_index is not None else (-1 if step > 0 else 0)) + step)

    @on(Input.Changed, "#detail-search")
    def _query_changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    @on(Input.Submitted, "#detail-search")
    def _query_submitted(self, event: Input.Submitted) -> None:
        self.step_match(1)

    @on(DetailView.MatchMoved)
    def _match_moved(self) -> None:
        self._subtitle()

    def _search(self, query: str) -> None:
        self._query = query
        self._search_id += 1
        lines = self.view.doc.lines
        if not query or sum(len(line) for line in lines[:2000]) + len(lines) < SYNC_SEARCH and len(lines) < 20_000:
            self._searching = False
            self.view.set_matches(find_matches(lines, query) or [])
            return
        self._searching = True
        self._subtitle()
        self._search_in_thread(lines, query, self._search_id)

    @work(thread=True, exclusive=True, group="detail-search")
    def _search_in_thread(self, lines: list[str], query: str, search_id: int) -> None:
        worker = get_current_worker()
        found = find_matches(lines, query, lambda: worker.is_cancelled or search_id != self._search_id)
        if found is not None:
            self.app.call_from_thread(self._found, search_id, found)

    def _found(self, search_id: int, found: list[tuple[int, int, int]]) -> None:
        if search_id != self._search_id:
            return
        self._searching = False
        self.view.set_matches(found)

    @property
    def match_count(self) -> str:
        """"3/17" (or "searching…", "no match")."""
        view = self.view
        if self._searching:
            return "searching…"
        if not self._query:
            return ""
        if not view.matches:
            return "no match"
        total = f"{len(view.matches):,}" + ("+" if len(view.matches) >= MAX_MATCHES else "")
        return f"{(view.match_index or 0) + 1}/{total}"

    def _subtitle(self) -> None:
        parts = [self._mode] if self._mode else []
        count = self.match_count
        if count:
            parts.append(f"{count} · n/N" if self.view.matches else count)
        elif self._mode:
            parts.append("Ctrl+F search")
        if self._mode == "pretty":
            parts.append("←/→ fold")
        if self._mode:
            parts += [f"o: {'pretty' if self._mode == 'raw' else 'raw'}", "c: copy"]
        self.border_subtitle = " · ".join(parts)

    # ---- pieces --------------------------------------------------------------------------

    def _head(self, rec: Record) -> Group:
        arrow = "client → server" if rec.dir == "c2s" else "server → client"
        title = Text()
        title.append(f"{KIND_WORD.get(rec.kind, rec.kind)} ", style="bold")
        if rec.method:
            title.append(rec.method, style="bold")
        if rec.tool:
            title.append(f"  {rec.tool}", style="italic")
        if rec.id is not None:
            title.append(f"  id={rec.id}")
        lines: list[Text] = [title]
        meta = Text(style="dim")
        meta.append(f"{arrow} · {self.session_label(rec.session)} · seq {rec.seq} · {fmt_size(rec.size)}")
        meta.append(f" · {fmt_time(rec.wall)}")
        lines.append(meta)
        status = rec.status or "relayed"
        flags = []
        if rec.held or status == "held":
            flags.append(("HELD — waiting for you: a release · e edit · X drop · A release all", "bold reverse"))
        elif status != "relayed":
            flags.append((status.upper(), "bold"))
        extra = getattr(rec, "extra", None) or {}
        if rec.injected:
            inj = extra.get("injected") if isinstance(extra.get("injected"), dict) else {}
            flags.append((f"injected by inspector {inj.get('by', '?')} (inject id {inj.get('id', '?')})", "italic"))
        if rec.to_inspector:
            flags.append(("reply to an injected request (not forwarded)", "italic"))
        if rec.changed:
            ch = extra.get("changed") if isinstance(extra.get("changed"), dict) else {}
            flags.append((f"modified by {ch.get('by', '?')} ({ch.get('action', 'changed')})", "bold"))
        if rec.error:
            flags.append((f"error: {rec.error}", "bold red"))
        elif rec.tool_error:
            flags.append(("tool error (result has isError: true)", "bold red"))
        elif rec.is_error:
            flags.append(("batch with an error or invalid element", "bold red"))
        if rec.cancelled:
            flags.append(("cancelled by notifications/cancelled", "bold"))
        for text, style in flags:
            lines.append(Text(text, style=style))
        timing = Text()
        if rec.pair is not None:
            other = self.store[rec.pair]
            word = "response" if rec.kind in ("request",) else "request"
            timing.append(f"{word}: ", style="bold")
            timing.append(f"{fmt_time(other.wall)} ({KIND_WORD.get(other.kind, other.kind)}, {fmt_size(other.size)})")
            if rec.latency is not None:
                timing.append("  latency ", style="bold")
                timing.append(fmt_latency(rec.latency))
            timing.append("   p", style="bold reverse")
            timing.append(f" jumps to the {word}", style="dim")
        elif rec.kind == "request":
            if rec.pending:
                timing.append("awaiting response…", style="italic")
            elif rec.index in self.store.unanswered:
                timing.append("no response (session ended)", style="italic")
            else:
                timing.append("no response", style="italic")
        elif rec.kind in ("response", "error"):
            timing.append("no matching request seen", style="dim italic")
        if timing:
            lines.append(timing)
        if self.stderr_near is not None:
            near = self.stderr_near(rec.session, rec.wall)
            if near:
                lines.append(Text("server stderr around this message:", style="bold"))
                for wall, line, after in near:
                    t = Text(f"  {fmt_time(wall)} ", style="dim", no_wrap=True, overflow="ellipsis")
                    t.append(line)
                    lines.append(t)
        lines.append(Text(""))
        return Group(*lines)

    def _doc(self, rec: Record) -> Doc:
        raw = rec.raw or ""
        doc = Doc()
        if self.raw:
            self._mode = "raw"
            doc.add([f"raw line as relayed ({fmt_size(rec.size)})"], NOTE)
            doc.add(raw.split("\n"), TEXT)
        else:
            self._mode = "pretty"
            text, note = pretty(raw, SHOW_LIMIT if len(raw) > PARSE_LIMIT else PRETTY_LIMIT)
            if note:
                more = " · o: raw view shows (and searches) all of it" if len(raw) > PARSE_LIMIT else ""
                doc.add([note + " · c copies it all" + more], NOTE)
            doc.add(text.split("\n"), TEXT if note and note.startswith("not valid JSON") else JSON)
            extra = getattr(rec, "extra", None) or {}
            changed = extra.get("changed") if isinstance(extra.get("changed"), dict) else {}
            if rec.changed and changed.get("original"):
                _change_diff(doc, str(changed["original"]), raw, str(changed.get("by") or "?"))
        self._subtitle()
        return doc


#: both sides bigger than this: show the original instead of a diff (difflib is slow on huge text)
DIFF_LIMIT = 200_000


def _change_diff(doc: Doc, original: str, now: str, by: str) -> None:
    """What a hook or an inspector changed: a diff of the pretty-printed before and after."""
    from omproxy_tui.core.steering import json_diff

    if len(original) + len(now) > DIFF_LIMIT:
        doc.add(["", "original, before the change (too large to diff):"], TITLE)
        doc.add(original[:2000].split("\n"), DIM)
        return
    doc.add(["", f"changed by {by}: before → after"], TITLE)
    lines = json_diff(original, now)
    if not lines:
        doc.add(["same JSON value, only the formatting differs"], NOTE)
        return
    for line in lines:
        kind = (ADD if line.startswith("+") and not line.startswith("+++") else
                DEL if line.startswith("-") and not line.startswith("---") else
                HUNK if line.startswith("@@") else DIM)
        doc.add([line], kind)
