"""What an inspector knows about its proxy sessions, beside their messages: the session model.

:class:`SessionModel` owns everything the TUI shows (the :class:`~omproxy_tui.core.store.Store`,
the filtered view, the stats, and one :class:`Session` per attached source) and is the only
place frames change it: :meth:`SessionModel.ingest` takes a batch of frames from one source and
returns what changed (:class:`Ingested`), so a UI can repaint just that. The Textual app renders
this model; screens read it; nothing here imports textual, rich, mcp or pydantic, so scripts and
tests can drive it without a UI.

Steering state lives on :class:`Session` too: ``held``/``paused``/``intercept``/
``pending_injections``/``inspectors`` mirror the proxy's latest ``state`` frame, ``injections``
is the inspector's own record of what it injected (filled by the steering layer).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from omproxy_tui.core import filters
from omproxy_tui.core.markers import LOST, MISSING, LogRows, Marker, Markers
from omproxy_tui.core.stats import Stats
from omproxy_tui.core.store import Store
from omproxy_tui.core.view import FilteredView

__all__ = ["Ingested", "Session", "SessionModel", "ENDED_STATES"]

#: Source states after which no more messages can arrive: requests still waiting then will
#: never be answered (shown as "no response (session ended)", not counted as pending).
ENDED_STATES = frozenset({"ended", "loaded"})

#: Longest session label (the log's session column and the sessions pane are narrow).
LABEL_MAX = 24

_get_dir = attrgetter("dir")
_get_method = attrgetter("method")
_get_tool = attrgetter("tool")
_get_kind = attrgetter("kind")
#: responses whose body names the server and protocol (Session.note_handshake)
_HANDSHAKES = frozenset({"initialize", "server/discover"})


@dataclass
class Session:
    """One attached proxy (or recording). ``source`` is the frame source (see
    :mod:`omproxy_tui.client.sources`); the model never calls it, the app does."""

    key: str
    label: str
    source: Any = None
    proxy: dict[str, Any] = field(default_factory=dict)
    #: ``connecting``/``live``/``reconnecting``/``ended``/``loaded`` (the source's state)
    state: str = "connecting"
    detail: str = ""
    exit_code: int | None = None
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None
    #: ``"initialize"`` (2024/2025 handshake) or ``"2026"`` (server/discover); None until seen
    era: str | None = None
    messages: int = 0
    c2s: int = 0
    s2c: int = 0
    errors: int = 0
    #: frames the inspector missed (``lost`` frames and reconnect gaps)
    lost: int = 0
    #: event frames of the session that were no longer in the proxy's backlog when we attached
    #: (the hello's ``missing``, or told by the first frame's seq); a marker row shows where
    missing_before: int = 0
    #: the hello's proxy name has been applied (a session is renamed at most once)
    relabelled: bool = False
    #: recordings holding several sessions (exports): the ``session`` name of the frames this
    #: session shows, and the keys of the sessions made for the file's other names
    recorded_as: str | None = None
    children: list[str] = field(default_factory=list)
    #: the server's generation: 1, plus one per hot restart (the session stays one across them)
    generation: int = 1
    #: the latest hot restart failed: no server runs until the next one
    restart_failed: bool = False
    # ---- steering state (mirrors the proxy's ``state`` frame) -------------------------------
    held: list[dict[str, Any]] = field(default_factory=list)
    held_bytes: int = 0
    paused: dict[str, bool] = field(default_factory=dict)
    intercept: str | None = None
    pending_injections: int = 0
    inspectors: int = 0
    #: inject id -> what this inspector injected (kept by the steering layer)
    injections: dict[str, Any] = field(default_factory=dict)
    # ---- server side ---------------------------------------------------------------------
    #: (wall, line) of server stderr, in arrival order
    stderr: list[tuple[float, str]] = field(default_factory=list)
    #: (wall, event, details)
    lifecycle: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    _seen_event: bool = field(default=False, repr=False)
    _last_seq: int = field(default=0, repr=False)
    #: replayed backlog frames still to come after the latest hello, and the hello's count
    _backlog_left: int = field(default=0, repr=False)
    _missing_hint: int = field(default=0, repr=False)

    @property
    def transport(self) -> str:
        return str(self.proxy.get("transport") or ("recording" if self.state == "loaded" else "?"))

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    @property
    def state_text(self) -> str:
        if self.state == "ended":
            return "ended" if self.exit_code is None else f"ended ({self.exit_code})"
        return self.state

    def note_handshake(self, method: str | None, kind: str, raw: str) -> None:
        """Pick the server's name/version and protocol era from the handshake response."""
        if kind != "response" or method not in ("initialize", "server/discover"):
            return
        try:
            result = json.loads(raw).get("result") or {}
        except (ValueError, AttributeError):
            return
        if not isinstance(result, dict):
            return
        info = result.get("serverInfo")
        meta = result.get("_meta") if isinstance(result.get("_meta"), dict) else {}
        if not isinstance(info, dict):
            info = meta.get("io.modelcontextprotocol/serverInfo")
        if isinstance(info, dict):
            self.server_name = str(info.get("name") or "") or self.server_name
            self.server_version = str(info.get("version") or "") or self.server_version
        pv = result.get("protocolVersion")
        if pv is None and isinstance(result.get("supportedVersions"), list) and result["supportedVersions"]:
            pv = result["supportedVersions"][-1]
        if pv is not None:
            self.protocol_version = str(pv)
        self.era = "2026" if method == "server/discover" else "initialize"

    def stderr_near(self, wall: float, before: int = 4, after: int = 4, window: float = 5.0) -> list[tuple[float, str, bool]]:
        """Stderr lines around ``wall``: ``(wall, line, after_it)``."""
        walls = [w for w, _ in self.stderr]
        pos = bisect_left(walls, wall)
        out = []
        for i in range(max(0, pos - before), min(len(self.stderr), pos + after)):
            w, line = self.stderr[i]
            if abs(w - wall) <= window:
                out.append((w, line, i >= pos))
        return out


@dataclass
class Ingested:
    """What one :meth:`SessionModel.ingest` call changed."""

    #: records appended to the store
    new: int = 0
    #: indices of records from before the batch whose display changed (paired, resolved...)
    old_changed: list[int] = field(default_factory=list)
    #: rows appended to the log (records and marker rows)
    added_rows: int = 0
    #: the view changed (rows appended, inserted or removed)
    view_changed: bool = False
    #: session list / status bar need a repaint
    sessions_changed: bool = False
    #: a marker row was added or its text changed (a restart finished)
    markers_changed: bool = False


class SessionModel:
    """Store, view, stats and sessions of one inspector (see the module docstring)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.store = Store()
        self.view = FilteredView(self.store)
        self.stats = Stats()
        #: by source key, in attach order
        self.sessions: dict[str, Session] = {}
        #: by label (labels are unique)
        self.by_label: dict[str, Session] = {}
        #: rows of the log that are not messages (gaps, restarts), and the log's rows: the
        #: view's records with the visible markers between them (core/markers.py)
        self.markers = Markers()
        self.rows = LogRows(self.view, self.markers, self._marker_visible)
        self.methods_seen: set[str] = set()
        self.tools_seen: set[str] = set()
        self.filter_text = ""
        self.filter_obj: Any = None
        self.session_scope: str | None = None
        #: labels of forgotten sessions: their records stay in the store, the view hides them
        self.hidden: set[str] = set()
        #: (clock, n) of recent arrivals, for the message rate
        self._arrivals: deque[tuple[float, int]] = deque()
        #: a hook for the app: called with the store length every time records are added
        self.on_records: Callable[[int], None] | None = None
        #: Called with the new view filter on a re-filter; returning True means it computes the
        #: selection itself (off the UI thread) and calls :meth:`show_selection` when done.
        self.refilter_elsewhere: Callable[[Any], bool] | None = None

    # ---- sessions ------------------------------------------------------------------------

    def attach(self, key: str, label: str, *, source: Any = None, proxy: dict[str, Any] | None = None,
               state: str = "connecting") -> Session:
        """Add a session (idempotent per key) under a unique label derived from ``label``."""
        existing = self.sessions.get(key)
        if existing is not None:
            return existing
        session = Session(key=key, label=self._unique_label(label or "proxy"), source=source,
                          proxy=dict(proxy or {}), state=state)
        self.sessions[key] = session
        self.by_label[session.label] = session
        return session

    def forget(self, label: str) -> Session | None:
        """Drop a session from the list and hide its messages (the caller closes its source).
        Returns it, or None when there is no such session."""
        session = self.by_label.pop(label, None)
        if session is None:
            return None
        for key in [session.key, *session.children]:
            child = self.sessions.pop(key, None)
            if child is not None and child is not session:
                self.by_label.pop(child.label, None)
                self.hidden.add(child.label)
        self.hidden.add(label)
        if self.session_scope == label:
            self.session_scope = None
        self._refilter()
        return session

    def _unique_label(self, base: str) -> str:
        base = base[:LABEL_MAX]
        label, n = base, 2
        while label in self.by_label or label in self.hidden:  # a forgotten name stays hidden
            suffix = f"#{n}"
            label = base[: LABEL_MAX - len(suffix)] + suffix
            n += 1
        return label

    def _relabel(self, session: Session, name: str) -> None:
        del self.by_label[session.label]
        old, session.label = session.label, self._unique_label(name)
        self.by_label[session.label] = session
        self.markers.relabel(old, session.label)

    @property
    def live_count(self) -> int:
        return sum(1 for s in self.sessions.values() if s.state == "live")

    @property
    def held_count(self) -> int:
        return sum(len(s.held) for s in self.sessions.values())

    @property
    def lost_count(self) -> int:
        return sum(s.lost for s in self.sessions.values())

    @property
    def pending_count(self) -> int:
        """Requests still awaiting their answer in sessions that can still answer them."""
        return self.store.pending_count

    def message_rate(self, window: float = 5.0) -> float:
        now = self.clock()
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] < now - window:
            arrivals.popleft()
        return sum(n for _, n in arrivals) / window

    # ---- filtering -----------------------------------------------------------------------

    def set_filter(self, expression: str) -> None:
        """Apply a filter expression (raises :class:`~omproxy_tui.core.filters.FilterError`)."""
        expression = expression.strip()
        parsed = filters.parse(expression) if expression else None
        self.filter_text = expression
        self.filter_obj = parsed
        self._refilter()

    def scope(self, label: str | None) -> None:
        """Show only one session's messages (None: all)."""
        self.session_scope = label
        self._refilter()

    def clear_log(self) -> None:
        """Clear the log: the view shows only messages arriving from now on. The store keeps
        everything, so stats, pairing (a later answer still pairs) and counters are unchanged."""
        self.view.clear()

    def _marker_visible(self, marker: Marker) -> bool:
        # under a filter expression a marker stays (context); with its session hidden or another
        # one selected, or cleared from the log, it goes like that session's messages
        return (marker.at >= self.view.start and marker.session not in self.hidden
                and (self.session_scope is None or marker.session == self.session_scope))

    def _refilter(self) -> None:
        parts = [filters.FNot(filters.FSessionIs(label)) for label in sorted(self.hidden)]
        if self.session_scope is not None:
            parts.append(filters.FSessionIs(self.session_scope))
        if self.filter_obj is not None:
            parts.append(self.filter_obj)
        f = None if not parts else parts[0] if len(parts) == 1 else filters.FAnd(parts)
        hook = self.refilter_elsewhere
        if hook is not None and hook(f):
            return  # it will call show_selection() when done
        # the old rows go first: at a million messages the two lists side by side were ~40 MB
        # of the TUI's peak
        self.view.indices = []
        self.view.set_filter(f)

    def show_selection(self, f: Any, indices: list[int], upto: int, changed: Any = ()) -> None:
        """Make the view show filter ``f``, whose matches among the rows before ``upto`` are
        ``indices`` (computed elsewhere, e.g. in a thread, while records kept arriving):
        rows added since and older rows whose state changed since (``changed``) are checked
        here, so the result is what :meth:`FilteredView.set_filter` would give now."""
        view = self.view
        if view.start:
            indices = indices[bisect_left(indices, view.start):]
        view.filter = f
        view.indices = indices
        view.version += 1  # rows replaced (what markers re-place on)
        view._seen = upto
        view.on_added(sorted(changed))

    # ---- ingest --------------------------------------------------------------------------

    def ingest(self, key: str, frames: list[dict[str, Any]]) -> Ingested:
        """Apply a batch of frames from the source ``key``; unknown keys are ignored.

        Per frame only the store's work; counters, stats and the view are updated once per
        batch, over the new records. A malformed frame is skipped, never raised. Frames with a
        ``session`` key (exports holding several sessions) go to a session of that name.
        """
        out = Ingested()
        session = self.sessions.get(key)
        if session is None:
            return out
        store = self.store
        records = store.records
        before_rows = len(self.rows)
        markers_before = self.markers.changes
        start = len(records)
        changed_all: list[int] = []
        for target, run in self._runs(session, frames):
            run_start = len(records)
            self._apply(target, run, changed_all)
            if len(records) > run_start:
                self._account(target, records, run_start)
        out.new = n_new = len(records) - start
        old_changed = sorted({i for i in changed_all if i < start}) if changed_all else []
        out.old_changed = old_changed
        if n_new:
            self._arrivals.append((self.clock(), n_new))
        if old_changed:
            update = self.stats.update
            for i in old_changed:
                update(records[i])
        if changed_all or n_new:
            out.view_changed = self.view.on_added(old_changed)
        if self.markers.changes != markers_before:
            out.markers_changed = out.view_changed = True
        out.added_rows = max(0, len(self.rows) - before_rows)
        out.sessions_changed = True
        if n_new and self.on_records is not None:
            self.on_records(len(records))
        return out

    def _runs(self, session: Session, frames: list[dict[str, Any]]):
        """Split ``frames`` into consecutive runs per target session (order kept)."""
        if not any("session" in f for f in frames):
            yield session, frames
            return
        run: list[dict[str, Any]] = []
        target = session
        for frame in frames:
            name = frame.get("session")
            dest = session if name is None else self._recorded(session, str(name))
            if dest is not target and run:
                yield target, run
                run = []
            target = dest
            run.append(frame)
        if run:
            yield target, run

    def _recorded(self, parent: Session, name: str) -> Session:
        """The session showing the frames recorded under ``name`` in ``parent``'s file."""
        if parent.recorded_as is None and parent.messages == 0 and not parent.children:
            # the file's first session is shown as the file's session, under its recorded name
            parent.recorded_as = name
            if parent.label != name:
                self._relabel(parent, name)
            return parent
        if parent.recorded_as == name:
            return parent
        key = f"{parent.key}\x1f{name}"
        child = self.sessions.get(key)
        if child is None:
            child = self.attach(key, name, source=parent.source, proxy=parent.proxy, state=parent.state)
            child.recorded_as = name
            child.relabelled = True
            parent.children.append(key)
        return child

    def _apply(self, session: Session, frames: list[dict[str, Any]], changed_all: list[int]) -> None:
        store = self.store
        records = store.records
        add_frame = store.add_frame
        label = session.label
        start = len(records)
        recording = session.proxy.get("transport") == "recording"
        for frame in frames:
            ftype = frame.get("type")
            if ftype == "message" or ftype == "resolved":
                if session._seen_event and session._backlog_left <= 0 and not recording:
                    # what _seq does once the session's start is settled, without the call
                    # (every message comes through here)
                    seq = frame.get("seq")
                    if type(seq) is int and seq > session._last_seq:
                        session._last_seq = seq
                else:
                    self._seq(session, frame)
                try:
                    changed_all += add_frame(frame, label)
                except Exception:  # a malformed frame must not stop the others
                    continue
            elif ftype == "stderr":
                session.stderr.append((frame.get("wall") or self.clock(), str(frame.get("line", ""))))
                self._seq(session, frame)
            elif ftype == "lifecycle":
                event_name = str(frame.get("event", "?"))
                details = {k: v for k, v in frame.items() if k not in ("type", "seq", "t", "wall", "event")}
                session.lifecycle.append((frame.get("wall") or self.clock(), event_name, details))
                if event_name == "exited":
                    session.exit_code = frame.get("code")
                elif event_name in ("restarting", "restart", "restart_failed"):
                    if event_name != "restarting":
                        session.restart_failed = event_name == "restart_failed"
                        gen = details.get("generation")
                        if type(gen) is int and not session.restart_failed:
                            session.generation = gen
                    self.markers.restart(len(records), label, frame.get("wall") or self.clock(), event_name, details)
                self._seq(session, frame)
            elif ftype == "hello":
                self._hello(session, frame, len(records) == start)
                label = session.label
                recording = session.proxy.get("transport") == "recording"
            elif ftype == "connection":
                for target in [session] + [self.sessions[k] for k in session.children]:
                    self._connection(target, frame, changed_all)
            elif ftype == "state":
                session.held = list(frame.get("held") or [])
                session.held_bytes = int(frame.get("held_bytes") or 0)
                session.paused = dict(frame.get("paused") or {})
                session.intercept = frame.get("intercept")
                session.pending_injections = int(frame.get("pending_injections") or 0)
                session.inspectors = int(frame.get("inspectors") or 0)
            elif ftype == "lost":
                n = int(frame.get("n") or 0)
                session.lost += n
                # lost frames carry no time: that of the last message received, else now
                last = store.indices_for(label)
                wall = frame.get("wall") or (records[last[-1]].wall if last else self.clock())
                self.markers.add(len(records), label, LOST, wall, n,
                                 {"reconnect": True} if frame.get("reconnect") else None)
                session.lifecycle.append((self.clock(), "lost", {"n": n}))
            # reply / error / inject_timeout frames answer commands: the steering layer's

    def _connection(self, session: Session, frame: dict[str, Any], changed_all: list[int]) -> None:
        state = frame.get("state", session.state)
        session.state = state
        session.detail = frame.get("detail", "")
        if frame.get("code") is not None:
            session.exit_code = frame["code"]
        if state in ENDED_STATES:
            session.held = []
            session.held_bytes = 0
            session.paused = {}
            session.intercept = None
            # nothing can answer its waiting requests any more: "no response", not pending
            changed_all += self.store.end_session(session.label)

    def _hello(self, session: Session, frame: dict[str, Any], nothing_yet: bool) -> None:
        proxy = frame.get("proxy") or {}
        if not isinstance(proxy, dict):
            return
        session.proxy.update(proxy)
        backlog = frame.get("backlog")
        missing = frame.get("evicted", frame.get("missing"))  # protocol v1's name is "evicted"
        session._backlog_left = backlog if type(backlog) is int else 0
        # on a reconnect the hello counts all the proxy ever evicted; the gap since our last frame
        # is the source's own `lost` frame (client/sources.py), not a second one
        session._missing_hint = missing if type(missing) is int and missing > 0 and not session._seen_event else 0
        name = proxy.get("name")
        if name and session.messages == 0 and nothing_yet and not session.relabelled:
            self._relabel(session, str(name))  # name the session after the proxy now we know it
        session.relabelled = True

    def _seq(self, session: Session, frame: dict[str, Any]) -> None:
        """Find where the session's start fell out of the proxy's backlog.

        The first event frame's seq above 1 says the session began earlier; when the proxy keeps
        the handshake, the gap is instead the first seq jump inside the replayed backlog, and the
        hello's ``evicted`` says how many frames it holds.
        """
        seq = frame.get("seq")
        if type(seq) is not int or session.proxy.get("transport") == "recording":
            return  # an export holds the messages someone chose, not a backlog
        last = session._last_seq
        if not session._seen_event:
            session._seen_event = True
            if seq > 1:
                self._mark_missing(session, session._missing_hint or seq - 1, frame.get("wall"))
        elif session._backlog_left > 0 and seq > last + 1 and session._missing_hint and not session.missing_before:
            self._mark_missing(session, session._missing_hint, frame.get("wall"))
        if session._backlog_left > 0:
            session._backlog_left -= 1
        if seq > last:
            session._last_seq = seq

    def _mark_missing(self, session: Session, n: int, wall: Any = None) -> None:
        session.missing_before = n
        # shown at the time of the first frame after the gap: the log's times stay in order
        self.markers.add(len(self.store), session.label, MISSING, wall if isinstance(wall, (int, float)) else self.clock(), n)

    def _account(self, session: Session, records: list[Any], start: int) -> None:
        """Counters, stats and the completion sets for ``records[start:]`` (one batch, one session)."""
        column = getattr(records, "column", None)
        if column is None:  # a plain list of records (tests, scripts)
            new = records[start:]
            self.stats.update_many(new)
            dirs, methods_, tools_, kinds = (list(map(g, new)) for g in (_get_dir, _get_method, _get_tool, _get_kind))
            errors = sum(1 for r in new if r.is_error)
        else:  # a store's RecordTable: whole columns at C speed
            kinds, dirs, methods_, tools_ = (column(name, start) for name in ("kind", "dir", "method", "tool"))
            errors = self.stats.update_rows(records, start, kinds, dirs, methods_, tools_)
        n = len(dirs)
        session.messages += n
        c2s = dirs.count("c2s")
        session.c2s += c2s
        session.s2c += n - c2s
        session.errors += errors
        methods = set(methods_)
        methods.discard(None)
        self.methods_seen |= methods
        tools = set(tools_)
        tools.discard(None)
        self.tools_seen |= tools
        if "response" in kinds and not _HANDSHAKES.isdisjoint(methods):
            # (a paired response carries its request's method: only those can be handshakes)
            for i, kind, method in zip(range(start, start + n), kinds, methods_):
                if kind == "response" and method in _HANDSHAKES:
                    rec = records[i]
                    if rec.pair is not None:
                        method = records[rec.pair].method
                        if method in _HANDSHAKES:  # (the body is read only for these)
                            session.note_handshake(method, "response", rec.raw)
