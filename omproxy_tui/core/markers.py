"""Rows of the log that are not messages: what happened between messages.

A :class:`Marker` says that something happened at a place in the message stream: earlier frames
of a session that were no longer in the proxy's backlog when we attached (``missing``), frames
this inspector missed (``lost``: it fell behind, or a reconnect skipped some), a hot restart of
the server (``restart``, from its ``restarting`` event until ``restart``/``restart_failed``).

Markers are kept apart from the store on purpose: they are not messages, so stats, pairing,
exports, filters and the error/pending jumps never see them. :class:`LogRows` interleaves them
with a :class:`~omproxy_tui.core.view.FilteredView`'s records into the rows a log shows; a marker
sits just before the first record that arrived after it (its ``at``, a store index).

Filters: a marker stays visible under any filter expression (it is context: "the server
restarted here", "frames are missing here"), placed before the next record that matches. It is
hidden with its session (another session selected, the session forgotten) and by clearing the
log (markers from before the clear, like the messages).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LogRows", "Marker", "Markers"]

#: marker kinds
MISSING, LOST, RESTART = "missing", "lost", "restart"


@dataclass(eq=False)
class Marker:
    """One row of the log that is not a message."""

    #: store index of the first record that arrived after it (it is shown just before that one)
    at: int
    #: label of the session it belongs to
    session: str
    #: ``missing``, ``lost`` or ``restart``
    kind: str
    #: when it happened (wall clock)
    wall: float
    #: frames it stands for (``missing``, ``lost``)
    n: int = 0
    #: what the proxy said: a restart's lifecycle details (``event`` is the latest one: ``restarting``,
    #: ``restart`` or ``restart_failed``), a lost frame's ``reconnect``
    details: dict[str, Any] = field(default_factory=dict)
    #: its position in :attr:`Markers.items` (stable)
    id: int = 0
    #: bumped every time its text changes (a restart that finished): renderers key caches on it
    rev: int = 0

    @property
    def event(self) -> str:
        return str(self.details.get("event") or "")

    @property
    def failed(self) -> bool:
        return self.kind == RESTART and self.event == "restart_failed"

    @property
    def text(self) -> str:
        """One line for the log."""
        d = self.details
        if self.kind == MISSING:
            return f"✂ {self.n:,} earlier frames of {self.session} not in the proxy's backlog"
        if self.kind == LOST:
            why = "missed while reconnecting" if d.get("reconnect") else "lost (this inspector fell behind)"
            return f"✂ {self.n:,} frames {why}"
        gen, cause = d.get("generation", "?"), _cause(d)
        if self.event == "restarting":
            return f"⟳ restarting the server: generation {gen} ({cause})…"
        if self.failed:
            return f"⟳ restart #{gen} ({cause}) FAILED after {_secs(d)}: {d.get('error', '')}"
        return f"⟳ server restarted #{gen} ({cause}) · {_secs(d)} down · {list_changes(d) or 'no list changed'}"

    def explain(self) -> list[str]:
        """Lines for the detail pane: what the row means."""
        d = self.details
        if self.kind == MISSING:
            return [
                f"{self.n:,} earlier frames of session {self.session} are not in the proxy's backlog.",
                "The session started before this inspector attached, and the proxy keeps only its most "
                "recent frames (messages, server stderr lines, lifecycle events) for inspectors that attach "
                "late. The proxy keeps the handshake, so the session's server and protocol stay known.",
                "Not a message: stats, exports and pairing do not count it; it stays visible under a filter.",
            ]
        if self.kind == LOST:
            if d.get("reconnect"):
                why = ("The connection to the proxy dropped; after reconnecting, the proxy's backlog no longer "
                       "held these frames (their seq numbers were skipped).")
            else:
                why = ("This inspector read more slowly than the proxy sent, so the proxy skipped these frames "
                       "for it (the client and the server got every message).")
            return [f"{self.n:,} frames of session {self.session} were not received here.", why,
                    "Requests among them may show as unanswered, responses as without a request."]
        lines = [f"Hot restart of the server of session {self.session}: generation {d.get('generation', '?')}, "
                 f"cause: {_cause(d)}."]
        if d.get("files"):
            lines.append("files changed: " + ", ".join(map(str, d["files"])))
        if self.event == "restarting":
            lines.append("Restarting: client requests are held until the new server has answered the handshake.")
            return lines
        lines.append(f"downtime: {_secs(d)}" + (
            f" (stop {d['timings'].get('stop_ms')} ms, start {d['timings'].get('start_ms')} ms, "
            f"lists {d['timings'].get('lists_ms')} ms)" if isinstance(d.get("timings"), dict) else ""))
        if d.get("answered"):
            lines.append(f"{d['answered']} request(s) in flight were answered with an error saying the server restarted.")
        if self.failed:
            lines.append(f"FAILED: {d.get('error', '')}")
            for line in d.get("stderr") or ():
                lines.append(f"  stderr: {line}")
            lines.append("The client's requests are answered with an error until the next restart (R, a watched "
                         "file changes, the restart tool).")
        else:
            if d.get("pid") is not None:
                lines.append(f"new server pid {d['pid']}")
            lines.append("lists: " + (list_changes(d) or "no list changed"))
        return lines


def _cause(d: dict[str, Any]) -> str:
    cause = str(d.get("cause") or "?")
    return {"command": "key or command", "watch": "file changed", "tool": "restart tool",
            "signal": "SIGUSR1"}.get(cause, cause)


def _secs(d: dict[str, Any]) -> str:
    try:
        return f"{float(d.get('downtime_ms') or 0) / 1000:.2f} s"
    except (TypeError, ValueError):
        return "? s"


def list_changes(d: dict[str, Any]) -> str:
    """``tools +a -b ~c; prompts +d``: what a restart changed in the lists the client sees."""
    changed = d.get("changed")
    if not isinstance(changed, dict):
        return ""
    parts = []
    for kind, diff in changed.items():
        if not isinstance(diff, dict):
            continue
        names = [*(f"+{n}" for n in diff.get("added") or ()), *(f"-{n}" for n in diff.get("removed") or ()),
                 *(f"~{n}" for n in diff.get("changed") or ())]
        if names:
            parts.append(f"{kind} " + " ".join(names))
    return "; ".join(parts)


class Markers:
    """All markers, in arrival order (so ``at`` never decreases)."""

    __slots__ = ("items", "changes")

    def __init__(self) -> None:
        self.items: list[Marker] = []
        #: bumped by every added or changed marker (a UI repaints when it moved)
        self.changes = 0

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def add(self, at: int, session: str, kind: str, wall: float, n: int = 0,
            details: dict[str, Any] | None = None) -> Marker:
        """A new marker; a gap (``missing``/``lost``) right after one of the same kind, session and
        place only adds to its count (a proxy under pressure sends many ``lost`` frames)."""
        details = dict(details or {})
        if kind in (MISSING, LOST) and self.items:
            last = self.items[-1]
            if (last.at, last.session, last.kind) == (at, session, kind) and \
                    bool(last.details.get("reconnect")) == bool(details.get("reconnect")):
                last.n += n
                last.rev += 1
                self.changes += 1
                return last
        marker = Marker(at, session, kind, wall, n, details, id=len(self.items))
        self.items.append(marker)
        self.changes += 1
        return marker

    def restart(self, at: int, session: str, wall: float, event: str, details: dict[str, Any]) -> Marker:
        """A restart's lifecycle event: ``restarting`` adds a row, ``restart``/``restart_failed``
        completes the row of the same generation (or adds one when its start was not seen)."""
        details = dict(details, event=event)
        if event != "restarting":
            gen = details.get("generation")
            for m in reversed(self.items):
                if m.kind == RESTART and m.session == session:
                    if m.event == "restarting" and m.details.get("generation") == gen:
                        m.details.update(details)
                        m.rev += 1
                        self.changes += 1
                        return m
                    break
        return self.add(at, session, RESTART, wall, details=details)

    def relabel(self, old: str, new: str) -> None:
        for m in self.items:
            if m.session == old:
                m.session = new


def _marker_id(m: Marker) -> int:
    return m.id


class LogRows:
    """The rows of a log: a view's records with the visible markers interleaved.

    A row is a store index (int) or a :class:`Marker`. Visible marker ``k`` sits before view row
    ``vpos[k]`` (the first shown record that arrived after it), so it is log row ``vpos[k] + k``.
    Kept up to date lazily: appends to the view only re-place the markers at its end; a re-filter,
    an insertion or removal (the view's ``version``) re-places them all (a bisect each).
    """

    __slots__ = ("view", "markers", "visible", "_version", "_n", "_seen", "_vis", "_vpos", "_mrows")

    def __init__(self, view: Any, markers: Markers, visible: Callable[[Marker], bool] | None = None) -> None:
        self.view = view
        self.markers = markers
        self.visible = visible if visible is not None else (lambda m: True)
        self._version: object = None
        self._n = 0  # len(view.indices) when last placed
        self._seen = 0  # markers considered
        self._vis: list[Marker] = []
        self._vpos: list[int] = []
        self._mrows: list[int] = []

    def sync(self) -> None:
        view = self.view
        indices = view.indices
        n = len(indices)
        version = view.version
        items = self.markers.items
        if version == self._version and n == self._n and len(items) == self._seen:
            return
        vis, vpos = self._vis, self._vpos
        if version != self._version:
            vis = self._vis = [m for m in items if self.visible(m)]
            vpos = self._vpos = [bisect_left(indices, m.at) for m in vis]
            k = 0
        else:
            # only appends: markers placed at the old end may now sit before a new record
            old = self._n
            k = len(vpos)
            while k and vpos[k - 1] >= old:
                k -= 1
            for j in range(k, len(vpos)):
                vpos[j] = bisect_left(indices, vis[j].at, old)
            for m in items[self._seen:]:
                if self.visible(m):
                    vis.append(m)
                    vpos.append(bisect_left(indices, m.at))
        mrows = self._mrows
        del mrows[k:]
        mrows.extend(p + j for j, p in enumerate(vpos[k:], k))
        self._version, self._n, self._seen = version, n, len(items)

    def __len__(self) -> int:
        self.sync()
        return self._n + len(self._vis)

    @property
    def marker_rows(self) -> list[Marker]:
        """The visible markers, in order."""
        self.sync()
        return self._vis

    def at(self, row: int) -> int | Marker:
        """What log row ``row`` shows: a store index or a marker."""
        self.sync()
        mrows = self._mrows
        if not mrows:
            return self.view.indices[row]
        k = bisect_left(mrows, row)
        if k < len(mrows) and mrows[k] == row:
            return self._vis[k]
        return self.view.indices[row - k]

    def row_of(self, vrow: int) -> int:
        """Log row of view row ``vrow``."""
        self.sync()
        return vrow + bisect_right(self._vpos, vrow) if self._vpos else vrow

    def row_of_index(self, index: int) -> int | None:
        """Log row of store index ``index``, or None when the view does not show it."""
        vrow = self.view.position(index)
        return None if vrow is None else self.row_of(vrow)

    def row_of_marker(self, marker: Marker) -> int | None:
        self.sync()
        vis = self._vis
        k = bisect_left(vis, marker.id, key=_marker_id)  # visible markers keep their order
        return self._mrows[k] if k < len(vis) and vis[k] is marker else None

    def view_row(self, row: int) -> int:
        """The view row of log row ``row``; for a marker, the view row of the record after it."""
        self.sync()
        mrows = self._mrows
        if not mrows:
            return row
        k = bisect_left(mrows, row)
        return self._vpos[k] if k < len(mrows) and mrows[k] == row else row - k
