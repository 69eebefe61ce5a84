"""Detail pane: one record's metadata, timing, pair, stderr around it, and its JSON (bounded)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.console import Group
from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from omproxy_tui.core.markers import Marker
from omproxy_tui.tui.jsonfmt import SHOW_LIMIT, pretty
from omproxy_tui.tui.widgets.message_log import fmt_latency, fmt_size, fmt_time

if TYPE_CHECKING:
    from omproxy_tui.tui.model import Record, Store

_highlighter = JSONHighlighter()

KIND_WORD = {
    "request": "request",
    "notification": "notification",
    "response": "response",
    "error": "error response",
    "batch": "batch",
    "invalid": "invalid line",
}


class DetailPane(VerticalScroll, can_focus=True):
    """Shows ``record``; ``raw`` toggles the raw line view."""

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

    def compose(self):
        yield Static(id="detail-head")
        yield Static(id="detail-body")

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
        head = self.query_one("#detail-head", Static)
        body = self.query_one("#detail-body", Static)
        if record is None:
            self.border_subtitle = ""
            head.update(Text("Select a message (↑/↓, click) to see it here.", style="dim"))
            body.update("")
            return
        head.update(self._head(record))
        if not same or force:
            body.update(self._body(record))
            self.scroll_home(animate=False)

    def _show_marker(self, marker: Marker) -> None:
        """A row that is not a message (a gap, a restart): what it means."""
        key = ("marker", marker.id, marker.rev)
        if key == self._shown:
            return
        self.record = None
        self.marker = marker
        self._shown = key
        self.border_subtitle = ""
        title = Text(marker.text, style="bold")
        meta = Text(f"{self.session_label(marker.session)} · {fmt_time(marker.wall)} · not a message", style="dim")
        self.query_one("#detail-head", Static).update(Group(title, meta, Text("")))
        self.query_one("#detail-body", Static).update(Group(*(Text(line) for line in marker.explain())))
        self.scroll_home(animate=False)

    def toggle_raw(self) -> None:
        self.raw = not self.raw
        if self.record is None and self.marker is not None:
            return  # a marker row has no raw form
        self.show(self.record, force=True)

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

    def _body(self, rec: Record):
        raw = rec.raw or ""
        if self.raw:
            shown = raw[:SHOW_LIMIT]
            note = "raw line as relayed" + (
                f" (first {SHOW_LIMIT // 1024} KB of {fmt_size(rec.size)})" if len(raw) > SHOW_LIMIT else ""
            )
            self.border_subtitle = "raw · o: pretty · c: copy"
            return Group(Text(note, style="dim italic"), Text(shown, overflow="fold"))
        text, note = pretty(raw)
        self.border_subtitle = "pretty · o: raw · c: copy"
        body = Text(text, overflow="fold")
        _highlighter.highlight(body)
        extra = getattr(rec, "extra", None) or {}
        changed = extra.get("changed") if isinstance(extra.get("changed"), dict) else {}
        if rec.changed and changed.get("original"):
            extra = _change_diff(str(changed["original"]), raw, str(changed.get("by") or "?"))
        else:
            extra = Text("")
        if note:
            return Group(Text(note + " · c copies it all", style="italic"), body, extra)
        return Group(body, extra)


#: both sides bigger than this: show the original instead of a diff (difflib is slow on huge text)
DIFF_LIMIT = 200_000


def _change_diff(original: str, now: str, by: str) -> Group:
    """What a hook or an inspector changed: a diff of the pretty-printed before and after."""
    from omproxy_tui.core.steering import json_diff

    title = Text(f"\nchanged by {by}: before → after", style="bold")
    if len(original) + len(now) > DIFF_LIMIT:
        return Group(Text("\noriginal, before the change (too large to diff):", style="bold"),
                     Text(original[:2000], style="dim", overflow="fold"))
    lines = json_diff(original, now)
    if not lines:
        return Group(title, Text("same JSON value, only the formatting differs", style="dim italic"))
    out = Text(overflow="fold")
    for line in lines:
        style = ("green" if line.startswith("+") and not line.startswith("+++") else
                 "red" if line.startswith("-") and not line.startswith("---") else
                 "cyan" if line.startswith("@@") else "dim")
        out.append(line + "\n", style=style)
    return Group(title, out)
