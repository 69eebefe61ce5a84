"""omproxy-tui: the Textual app. Sources → Store/FilteredView/Stats → widgets.

Threading/flow: one async worker per source posts :class:`FramesReceived` batches; only the
app's handler mutates the model, then tells widgets what changed (attributes down).
"""

from __future__ import annotations

import asyncio
import gc
import operator
import re
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.text import Text
from textual import events, on, work
from textual.css.query import NoMatches
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.message import Message
from textual.widgets import Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from omproxy_tui.client.sources import ProxyWatcher, RecordingSource, SocketSource, Source
from omproxy_tui.tui.body_search import BodySearch
from omproxy_tui.core.sessions import Session, SessionModel
from omproxy_tui.core.steering import Steering
from omproxy_tui.tui import actions, clipboard
from omproxy_tui.tui.config import Config, ConfigError
from omproxy_tui.tui.model import FilterError, export_jsonl, filters
from omproxy_tui.core.records import id_text
from omproxy_tui.tui.screens import (
    ExportScreen,
    HelpScreen,
    JumpScreen,
    ServerLogScreen,
    StatsScreen,
    default_export_name,
)
from omproxy_tui.tui.gc_pacing import FullCollections
from omproxy_tui.tui.saved_filters import SaveFilterScreen, SavedFiltersScreen
from omproxy_tui.tui.steer.controller import DEMO_HINT, SteeringMixin
from omproxy_tui.tui.steer.dialogs import ChoiceScreen
from omproxy_tui.tui.widgets.detail import DetailPane
from omproxy_tui.tui.widgets.filter_bar import FilterBar
from omproxy_tui.tui.widgets.steady_footer import SteadyFooter
from omproxy_tui.tui.widgets.message_log import MessageLog, header_text


def styles_dir() -> Path:
    """Packaged ``omproxy_tui/styles`` (wheel) first, else the source tree's ``styles/``."""
    pkg = Path(__file__).resolve().parent.parent / "styles"
    if pkg.is_dir():
        return pkg
    return Path(__file__).resolve().parent.parent.parent / "styles"


#: Every this many new records, the ingest path freezes the heap (see ``_freeze_records``).
GC_FREEZE_EVERY = 2_000
#: No key for this long (seconds), nothing to ingest: a quiet moment, for a full garbage collection
QUIET_AFTER_KEY = 1.0
#: No key for this long, no message for half of it: idle, for a thaw (tui/gc_pacing.py)
IDLE_AFTER = 4.0

#: Ingesting a burst: frames per ``ingest`` call, and seconds of ingest before the event loop
#: gets a turn (see ``_drain_inbox``).
INGEST_CHUNK = 100
INGEST_SLICE = 0.005
#: Input first: after a key arrives, ingest waits until the screen has been painted with the
#: key handled (see ``_hold_ingest``), but never longer than this (a key with nothing to paint).
KEY_HOLD_MAX = 0.25
#: What ``_drain_timer`` holds while ingest waits for a key's paint.
_HELD = object()

EMPTY_TEXT = "Waiting for proxies…  run  omproxy stdio --inspect -- <server cmd>  or try  omproxy-tui --demo"


_is_error = operator.attrgetter("is_error")

#: ``OmproxyApp._type_into`` while an input is being opened and not known yet
_OPENING = object()


class FramesReceived(Message):
    """A batch of frames from one source."""

    def __init__(self, source: Source, frames: list[dict[str, Any]]) -> None:
        super().__init__()
        self.source = source
        self.frames = frames


class SessionList(OptionList):
    """One entry per attached proxy session; ``x`` forgets the highlighted one."""

    BINDINGS = [Binding("x,delete", "forget", "Forget session")]

    def action_forget(self) -> None:
        app: OmproxyApp = self.app  # type: ignore[assignment]
        infos = list(app.model.sessions.values())
        if self.highlighted is not None and 0 <= self.highlighted < len(infos):
            app.forget_session(infos[self.highlighted].label)

    class Scoped(Message):
        def __init__(self, label: str) -> None:
            super().__init__()
            self.label = label


def _otlp_dropped(info: Session) -> int:
    """Spans the session's ``--otlp`` export has dropped: the count of its latest ``otlp_dropped``
    lifecycle event (sent while spans are being dropped) or ``otlp`` (the total, at its end)."""
    for _, event, details in reversed(info.lifecycle):
        if event in ("otlp", "otlp_dropped"):
            return int(details.get("dropped") or 0)
    return 0


def _session_prompt(info: Session, scoped: bool) -> Text:
    state_style = {
        "live": "bold green",
        "ended": "bold red",
        "loaded": "bold cyan",
        "reconnecting": "bold yellow",
        "connecting": "yellow",
        "loading": "yellow",
    }.get(info.state, "")
    dot = {"live": "●", "ended": "■", "loaded": "▣"}.get(info.state, "○")
    text = Text()
    text.append(f"{dot} ", style=state_style)
    text.append(info.label, style="bold" + (" underline" if scoped else ""))
    text.append(f"  {info.transport}\n", style="dim")
    server = info.server_name or "server ?"
    if info.server_version:
        server += f" {info.server_version}"
    text.append(f"  {server}\n")
    text.append(f"  {info.state_text}", style=state_style)
    if info.state in ("connecting", "reconnecting", "loading") and info.detail:
        text.append(f"\n  {info.detail}", style="dim")
    elif info.state == "loaded" and info.detail:  # what was wrong with the file
        text.append(f"\n  {info.detail}", style="bold yellow")
    if info.era:
        text.append(f" · {info.protocol_version or info.era}", style="dim")
    if info.generation > 1:
        text.append(f" · gen {info.generation}", style="bold")
    text.append("\n")
    text.append(f"  {info.messages:,} msgs ", style="")
    text.append(f"→{info.c2s:,} ←{info.s2c:,}", style="dim")
    extras = []
    if info.errors:
        extras.append((f"{info.errors} errors", "bold red"))
    if info.lost:
        extras.append((f"{info.lost} lost", "bold red"))
    if info.missing_before:
        extras.append((f"{info.missing_before:,} before backlog", "bold red"))
    if info.restart_failed:
        extras.append(("restart failed", "bold red"))
    if info.held:
        extras.append((f"{len(info.held)} held", "bold magenta"))
    if info.stderr:
        extras.append((f"{len(info.stderr)} stderr", "dim"))
    dropped = _otlp_dropped(info)
    if dropped:
        extras.append((f"{dropped:,} OTLP spans dropped", "bold red"))
    if extras:
        text.append("\n ")
        for word, style in extras:
            text.append(" " + word, style=style)
    # one line per line: a long name or detail is cut with an ellipsis, never wrapped in two
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class ActionsProvider(Provider):
    """Every registry action, plus 'show session …' and 'filter method …'."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app: OmproxyApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, Callable[[], Any]]] = []
        for spec in actions.ACTIONS:
            run = (lambda a=spec.action: app.detail.view.run_action(a)) if spec.scope == "detail" else (
                lambda a=spec.action: app.run_action(a))
            out.append(
                (f"{spec.description}  ({actions.display_keys(app.keymap_overrides.get(spec.id, spec.keys))})", spec.help,
                 run)
            )
        for label in list(app.sessions_by_label):
            out.append((f"Show session {label}", "Only this session's messages", lambda l=label: app.scope_session(l)))
        for method in sorted(app.methods_seen):
            expression = f"~m {filters.quote('^' + re.escape(method) + '$')}"
            out.append((f"Filter method {method}", expression, lambda e=expression: app.apply_filter(e)))
        for name, expression in sorted(app.config.filters.items()):
            out.append((f"Saved filter @{name}", expression, lambda e=expression: app.apply_filter(e)))
            out.append((f"Delete saved filter @{name}", expression, lambda n=name: app.delete_saved_filter(n)))
        return out

    async def discover(self) -> Hits:
        for title, help_text, cb in self._commands():
            yield DiscoveryHit(title, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, cb in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)


class OmproxyApp(SteeringMixin, App[None]):
    TITLE = "omproxy-tui"
    CSS_PATH = [styles_dir() / "app.tcss", styles_dir() / "screens.tcss", styles_dir() / "steer.tcss"]
    BINDINGS = actions.bindings()
    COMMANDS = App.COMMANDS | {ActionsProvider}

    def __init__(
        self,
        sources: Iterable[Source] = (),
        *,
        discover: bool = False,
        discover_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
        demo: Any = None,
        keymap: dict[str, str] | None = None,
        config: Config | None = None,
    ) -> None:
        super().__init__()
        #: the config file (saved filters, keys): tui/config.py
        self.config = config if config is not None else Config.load()
        #: binding id -> keys (the config file's "keys", then OMPROXY_TUI_KEYMAP, or the caller's),
        #: applied with set_keymap
        if keymap is None:
            keymap = {k: v for k, v in self.config.keys.items() if k in actions.BY_ID}
            keymap.update(actions.keymap_from_env())
        self.keymap_overrides = dict(keymap)
        self.initial_sources = list(sources)
        self.discover = discover
        self.discover_dir = discover_dir
        self.clock = clock
        self.demo = demo
        #: everything the app shows; the app renders it and never keeps its own copy
        self.model = SessionModel(clock)
        self.model.on_records = self._freeze_records
        #: raw-text filters over spooled bodies run in a thread (see tui/body_search.py)
        self.body_search = BodySearch(self)
        self.model.refilter_elsewhere = self.body_search.start
        self._sessions_dirty = True
        self._status_dirty = True
        self._detail_timer: Any = None
        #: batches of frames not ingested yet: [source, frames, how many are done] (see _frames)
        self._inbox: deque[list[Any]] = deque()
        self._drain_timer: Any = None
        #: when the key that ingest waits for arrived (None: not waiting), the keys on their way
        #: (ids of the Key events), and what reading waits on meanwhile
        self._key_hold: float | None = None
        self._keys_in_hand: set[int] = set()
        self._hold_timer: Any = None
        self._ingest_go: asyncio.Event | None = None
        #: the sources whose reading a key paused (see _hold_reading)
        self._reading_held: list[Source] = []
        #: set from the terminal's input thread when a key arrives, before the event loop sees
        #: it (see _watch_input); cleared once the key is posted and ingest holds for it
        self._input_waiting = False
        self._stats_screen: StatsScreen | None = None
        #: full garbage collections wait for a moment without keys or ingest (tui/gc_pacing.py)
        self.full_collections = FullCollections()
        self._last_key_at = 0.0
        self._last_ingest_at = 0.0
        self._sessions_user_set = False
        self._last_status: Any = None
        self._gc_frozen_at = 0
        #: our injections and the intercept history (tui/steer/controller.py)
        self.steering = Steering()
        # keys typed while an input is opening (see type_into)
        self._type_into: Any = None
        self._typed: list[events.Key] = []
        self._filter_before = ""
        self._followers: list[SocketSource] = []  # sources waiting for a new proxy at an old path
        self._need_key: tuple = ()
        self._need = 24
        self._header = ""

    # ---- the model, under the names widgets and tests use ----------------------------------

    @property
    def store(self):
        return self.model.store

    @property
    def view(self):
        return self.model.view

    @property
    def stats(self):
        return self.model.stats

    @property
    def sessions(self) -> dict[str, Session]:
        return self.model.sessions

    @property
    def sessions_by_label(self) -> dict[str, Session]:
        return self.model.by_label

    @property
    def methods_seen(self) -> set[str]:
        return self.model.methods_seen

    @property
    def tools_seen(self) -> set[str]:
        return self.model.tools_seen

    @property
    def filter_text(self) -> str:
        return self.model.filter_text

    @property
    def session_scope(self) -> str | None:
        return self.model.session_scope

    # ---- keys typed while an input opens ----------------------------------------------------

    def type_into(self, widget: Any) -> None:
        """``widget`` (an input being opened) gets focus soon: the keys typed since the key that
        opened it are handed to it, in order, once it has focus.

        Keys reach the focused widget as they arrive, and focus moves (and a new screen mounts)
        on a later turn of the message loop, so without this the keys typed right after ``/``
        or ``e`` went to the log and ran its bindings (``p`` jumped, ``d`` hid the detail pane,
        ``e`` opened another dialog).
        """
        self._type_into = widget
        self.set_timer(2.0, lambda: self._give_up_typing(widget))

    def _opens_input(self, key: str) -> bool:
        """Is ``key`` bound to an action that opens an input (while no input has focus)?"""
        if len(self.screen_stack) > 1:
            # a screen on top has its own keys (the composer's Ctrl+S sends): only those it names
            # as opening an input hold back what is typed next (else the keys after the
            # composer's Ctrl+S were kept half a second for an input that never opened)
            return key in getattr(self.screen, "INPUT_KEYS", ())
        if isinstance(self.focused, (Input, TextArea)):
            # Ctrl+S in the filter bar opens the dialog naming the filter
            return key == "ctrl+s" and self.focused.id == "filter-input"
        for spec in actions.ACTIONS:
            if spec.opens_input and key in self.keymap_overrides.get(spec.id, spec.keys).split(","):
                return True
        return False

    def post_message(self, message: Message) -> bool:
        if (isinstance(message, events.Key) and not message.is_forwarded
                and threading.get_ident() == self._thread_id):
            # from the terminal: reading and ingest wait from now (not only once the key is
            # reached in the queue: each turn of the event loop before that also waited behind them)
            self._hold_ingest()
            self._keys_in_hand.add(id(message))
            self._input_waiting = False  # the hold covers it from here
            self._last_key_at = time.monotonic()
        return super().post_message(message)

    def _watch_input(self) -> None:
        """Learn of a key while it is still in the terminal driver's thread. The driver hands it
        to the event loop with ``run_coroutine_threadsafe``: two turns of the loop before
        :meth:`post_message` sees it, and during a burst each turn ran a slice of reading and
        one of ingest (and any repaint that was due): ~60 ms before the key was even posted.
        Reading and ingest check this flag between messages and stop at once."""
        driver = self._driver
        if driver is None:
            return
        send = driver.send_message

        def send_message(message: Message) -> None:
            if isinstance(message, events.Key):
                self._input_waiting = True  # a plain store: safe from the driver's thread
            send(message)

        driver.send_message = send_message  # type: ignore[method-assign]

    def _input_urgent(self) -> bool:
        """For reading (sources): stop between two messages, a key is coming or being handled."""
        return self._input_waiting or self._key_hold is not None

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key):
            await self._route_event(event)
            return
        key = id(event)
        if not event.is_forwarded:
            # A key goes to the focused widget, bubbles back here, and its binding runs then:
            # it is on its way until it is back (or stopped on the way, see _key_reached).
            self._hold_ingest()
            self._keys_in_hand.add(key)
            target = self.focused or self.screen
            try:
                await self._route_event(event)
            finally:
                if event.is_forwarded:
                    target.call_later(self._key_reached, event)
                else:
                    self._keys_in_hand.discard(key)
            return
        try:
            await self._route_event(event)
        finally:
            self._keys_in_hand.discard(key)

    def _key_reached(self, event: events.Key) -> None:
        """The focused widget has handled ``event``: if it stopped it, it does not come back."""
        if event._stop_propagation:
            self._keys_in_hand.discard(id(event))

    async def _route_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            target = self._type_into
            if target is not None and target is not _OPENING and self.focused is target:
                await self._flush_typed()
                target = self._type_into  # a kept key may have opened another input
            if target is not None:
                self._typed.append(event)
                return
            if self._opens_input(event.key):
                self._keep_typing()
        await super().on_event(event)

    def _keep_typing(self, typed: list[events.Key] | None = None) -> None:
        """From now on keep what is typed (after ``typed``), until the input being opened has focus."""
        self._type_into = _OPENING
        self._typed = list(typed or ())
        self.set_timer(0.5, lambda: self._give_up_typing(_OPENING))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if self._type_into is not None and event.widget is self._type_into:
            self.call_later(self._flush_typed)

    async def _flush_typed(self) -> None:
        typed, self._typed, self._type_into = self._typed, [], None
        for n, key in enumerate(typed):
            opens = self._opens_input(key.key)  # e.g. Ctrl+S in the filter bar: the name dialog
            # a fresh event: the kept one was already dispatched (and stopped) once
            await super().on_event(events.Key(key.key, key.character))
            if opens:
                self._keep_typing(typed[n + 1:])  # the keys after it are for the input it opens
                return

    async def _give_up_typing(self, widget: Any) -> None:
        # no input took focus (the action did not open one, or its screen closed at once):
        # the keys go where focus is now
        if self._type_into is widget:
            await self._flush_typed()

    # ---- theme ---------------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {
            "omp-error": "#ff5f5f",
            "omp-pending": "#d7af00",
            "omp-held": "#d75fd7",
            "omp-held-bg": "#5f005f 40%",
            "omp-injected": "#5fafff",
            "omp-changed": "#ffaf5f",
            "omp-c2s": "#87d787",
            "omp-s2c": "#87afff",
            "omp-lost": "#ff5f5f",
        }

    # ---- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield SessionList(id="sessions")
            with Vertical(id="center"):
                yield Static("", id="log-header")
                log = MessageLog(
                    self.store,
                    self.view,
                    session_label=str,
                    rows=self.model.rows,
                    method_need=self._method_need,
                    empty_text=EMPTY_TEXT,
                    id="log",
                )
                yield log
                yield FilterBar(
                    lambda: self.methods_seen,
                    lambda: self.tools_seen,
                    lambda: self.sessions_by_label,
                    id="filter-bar",
                    saved=lambda: self.config.filters,
                )
                yield DetailPane(
                    self.store,
                    stderr_near=self._stderr_near,
                    id="detail",
                )
        yield Static("", id="status")
        # steady: a plain Footer rebuilds itself whenever a dialog opens or closes over it
        yield SteadyFooter()

    @property
    def log_widget(self) -> MessageLog:
        return self.query_one("#log", MessageLog)

    @property
    def detail(self) -> DetailPane:
        return self.query_one("#detail", DetailPane)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one("#filter-bar", FilterBar)

    def on_mount(self) -> None:
        self._watch_input()
        self.full_collections.start()
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)
        self.query_one("#sessions").border_title = "Sessions"
        self.log_widget.border_title = "Messages"
        self.filter_bar.display = False
        self.log_widget.focus()
        for source in self.initial_sources:
            self.attach(source)
        if self.discover:
            self.watcher = ProxyWatcher(self._discovered, directory=self.discover_dir)
            self.run_worker(self.watcher.run(), group="discovery", exit_on_error=False)
        self.set_interval(0.5, self._tick)
        self.call_after_refresh(self._freeze_startup)
        self._refresh_sessions()
        self._refresh_status()
        if self.demo is not None:
            self.notify(DEMO_HINT, title="Try steering the demo", timeout=20)
        if self.config.error:
            self.notify(f"Config file not used: {self.config.error}", severity="warning", timeout=10)

    def on_unmount(self) -> None:
        self.full_collections.stop()

    # ---- sources -------------------------------------------------------------------------

    def _discovered(self, info: dict[str, Any]) -> None:
        self.attach(SocketSource(info["socket"], info=info))

    def attach(self, source: Source) -> None:
        if source.key in self.model.sessions:
            return
        self.model.attach(source.key, source.label, source=source, proxy=source.proxy, state=source.state)
        self._sessions_dirty = True
        source.turn = self._reading_turn
        source.urgent = self._input_urgent
        self.run_worker(self._run_source(source), group="sources", exit_on_error=False)

    async def _run_source(self, source: Source) -> None:
        def emit(frames: list[dict[str, Any]]) -> None:
            self.post_message(FramesReceived(source, frames))

        if isinstance(source, RecordingSource):
            source.acks = True  # ingest() says what is applied: keys never wait behind a file

        await source.run(emit)
        if isinstance(source, SocketSource) and source.reattach and not source._closed:
            self._follow_path(source.path, 2)

    def _follow_path(self, path: str, n: int) -> None:
        """Wait for a new proxy at ``path``; it becomes a new session once it says hello."""
        nxt = SocketSource(path, reattach=True)
        nxt.key = f"{path}#{n}"
        nxt.turn = self._reading_turn
        nxt.urgent = self._input_urgent
        self._followers.append(nxt)

        def emit(frames: list[dict[str, Any]]) -> None:
            if nxt.key not in self.model.sessions:
                if not any(f.get("type") == "hello" for f in frames):
                    return  # still waiting for a proxy there: no session row for that
                self.model.attach(nxt.key, nxt.label, source=nxt, proxy=nxt.proxy, state=nxt.state)
            self.post_message(FramesReceived(nxt, frames))

        async def run() -> None:
            await nxt.run(emit)
            if nxt.key in self.model.sessions and not nxt._closed:
                self._follow_path(path, n + 1)

        self.run_worker(run(), group="sources", exit_on_error=False)

    def _stderr_near(self, session: object, wall: float) -> list[tuple[float, str, bool]]:
        info = self.model.by_label.get(str(session))
        return info.stderr_near(wall) if info else []

    # ---- ingest --------------------------------------------------------------------------

    @on(FramesReceived)
    def _frames(self, event: FramesReceived) -> None:
        # Batches wait their turn in the inbox (in order) and are ingested a slice at a time;
        # a small batch with nothing waiting is ingested at once, as before.
        self._inbox.append([event.source, event.frames, 0])
        if self._drain_timer is None:
            self._drain_inbox()

    def _drain_inbox(self) -> None:
        """Ingest from the inbox for at most :data:`INGEST_SLICE` seconds, then let the event loop
        run (keys, repaints) before the rest: a burst (a 50k-message burst, a backlog replay)
        arrives in batches of thousands of frames, and ingesting one took long enough to be felt."""
        if self._input_waiting:
            self._hold_ingest()  # (the key is not posted yet; the hold starts now)
        if self._key_hold is not None:
            self._drain_timer = _HELD  # resumed by _release_ingest
            return
        self._drain_timer = None
        inbox = self._inbox
        clock = time.perf_counter
        start = clock()
        while inbox and not self._input_waiting:
            entry = inbox[0]
            source, frames, offset = entry
            chunk = frames[offset:offset + INGEST_CHUNK] if offset or len(frames) > INGEST_CHUNK else frames
            entry[2] = offset + len(chunk)
            if entry[2] >= len(frames):
                inbox.popleft()
            self.ingest(source, chunk, busy=bool(inbox))
            info = self.model.sessions.get(source.key)
            if info is not None and getattr(source, "can_send", False):
                self._restart_news(info.label, chunk)
            if clock() - start >= INGEST_SLICE:
                break
        if inbox:
            # the rest at the event loop's next turn, behind what it has ready (a key from the
            # terminal's thread, the screen's update): not call_later, which only queues behind
            # the app's messages, nor a Textual timer (at least a millisecond of sleep each)
            self._drain_timer = asyncio.get_running_loop().call_soon(self._drain_next)

    # ---- input first ---------------------------------------------------------------------

    def _hold_ingest(self) -> None:
        """A key arrived: ingest waits until the screen shows it handled. During a burst the
        event loop is busy ingesting, and a key needs several turns of it (the key, its action,
        the repaint); each turn waited behind a slice of ingest, and keys took 400-700 ms to show.
        The inbox only grows meanwhile (nothing is lost, the order is kept); ingest catches up
        between keys and after the burst."""
        if self._key_hold is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not running (yet): nothing is being ingested
                return
            self._key_hold = time.perf_counter()
            self._hold_timer = loop.call_later(KEY_HOLD_MAX, self._release_ingest)
            if self._inbox:
                # a burst: its bytes wait in the socket meanwhile. Not otherwise: the reply to a
                # command the key sends must come in at once (the hold can last until a repaint)
                self._hold_reading(True)
            if self._ingest_go is not None:
                self._ingest_go.clear()

    def _release_ingest(self) -> None:
        self._key_hold = None
        self._input_waiting = False  # (a key announced but never posted: not waited for again)
        self._keys_in_hand.clear()  # (one stopped on the way, never seen back: not waited for again)
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        if self._ingest_go is not None:
            self._ingest_go.set()
        self._hold_reading(False)
        if self._drain_timer is _HELD:
            self._drain_timer = asyncio.get_running_loop().call_soon(self._drain_next)

    def _hold_reading(self, held: bool) -> None:
        # resumed: the sources that were paused, listed or not (the key may have forgotten a
        # session: left paused, its connection never saw its proxy go away)
        if held:
            for info in self.model.sessions.values():
                if info.source is not None and info.source not in self._reading_held:
                    self._reading_held.append(info.source)
                    info.source.hold_reading(True)
        else:
            held_sources, self._reading_held = self._reading_held, []
            for source in held_sources:
                source.hold_reading(False)

    async def _reading_turn(self) -> None:
        """Sources read in slices; between them, reading waits while a key is on its way."""
        if self._input_waiting:
            self._hold_ingest()
        if self._key_hold is not None:
            if self._ingest_go is None:
                self._ingest_go = asyncio.Event()
            await self._ingest_go.wait()

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if (renderable is not None and self._key_hold is not None and not self._keys_in_hand
                and not self._input_waiting):
            self._release_ingest()  # painted with the key handled: reading and ingest go on

    def _drain_next(self) -> None:
        if not self.is_running:  # the app is closing: nothing to show it on
            self._drain_timer = None
            return
        try:
            self._drain_inbox()
        except Exception as error:  # noqa: BLE001 - as in a message handler: the app reports it
            self._drain_timer = None
            self._handle_exception(error)

    def ingest(self, source: Source, frames: list[dict[str, Any]], busy: bool = False) -> None:
        """Apply a batch to the model, then repaint what it says changed (``busy``: more batches
        are waiting, see MessageLog.rows_added)."""
        self._last_ingest_at = time.monotonic()
        applied = getattr(source, "applied", None)
        if applied is not None:  # a recording reads ahead only as far as this (client/sources.py)
            applied(len(frames))
        model = self.model
        try:
            log = self.log_widget
        except NoMatches:
            # Frames can arrive before the main screen is mounted (or after it is gone): the
            # model is updated, and the log renders from it when it mounts.
            model.ingest(source.key, frames)
            return
        selected = log.selected_item()
        changes = model.ingest(source.key, frames)
        if changes.new or changes.old_changed or changes.markers_changed or (log.unshown and not busy):
            if selected is not None and log.cursor is not None:
                pos = log.row_of_item(selected)
                if pos != log.cursor:
                    log.set_reactive(MessageLog.cursor, pos)
            log.rows_added(changes.added_rows, changes.old_changed, busy)
        if changes.old_changed:
            self.body_search.note_changed(changes.old_changed)
            rec = log.selected_record()
            if rec is not None and rec.index in set(changes.old_changed):
                self.detail.show(rec)
        if changes.markers_changed and log.selected_marker() is not None:
            self.detail.show(log.selected_marker())  # a restart that finished: its row says how
        if changes.sessions_changed:
            self._sessions_dirty = True
            self._status_dirty = True
        self.steer_after_ingest()  # held / paused / intercept shown at once, not at the next tick

    def _freeze_records(self, n: int) -> None:
        """Move everything alive (mostly records: the store is append-only, records are never
        freed) out of the cyclic collector's reach, so full collections stop re-traversing the
        whole store: at 100k records they were ~15% of ingest time. Garbage is collected first
        so it is not kept forever: a full collection, as a closed dialog (or the detail pane's
        last documents) is garbage in cycles among the old objects, which the young collections
        do not reach, and full collections otherwise wait for a quiet moment (tui/gc_pacing.py):
        a freeze in between kept them for good. With the rest frozen, what it traverses is what
        came since the last freeze (~1 ms).

        Often (every :data:`GC_FREEZE_EVERY` records): what a full collection traverses is what
        arrived since the last freeze, and with 20,000 records between freezes one took up to
        100 ms during a burst, a key that came then waited for it. Not while a dialog is open:
        a dialog is freed by the cyclic collector when it closes, and a frozen one never would
        be. Nor while Stats is: the screen is kept for good (see action_stats), but what its
        table shows is replaced as the numbers change, ~5,000 objects kept for good each
        2,000 records. Nor while a toast is shown."""
        if n - self._gc_frozen_at < GC_FREEZE_EVERY or len(self.screen_stack) > 1:
            return
        if len(self._notifications) and not self._disable_notifications:
            return  # a toast shown is as a dialog: freed when it goes, unless frozen (textual is pinned)
        self.full_collections.note_frozen(n - self._gc_frozen_at)
        self._gc_frozen_at = n
        gc.collect()
        gc.freeze()

    def _freeze_startup(self) -> None:
        """Freeze what start-up made (modules, classes, the main screen's widgets: ~50,000
        objects), as :meth:`_freeze_records` does for records: each full collection traversed
        them all, ~15 ms."""
        gc.collect()
        gc.freeze()

    # ---- periodic refresh ----------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        quiet = not self._inbox and self._key_hold is None and now - self._last_key_at >= QUIET_AFTER_KEY
        # a thaw (everything traversed once) waits for longer: not right after a burst ends,
        # when keys often follow
        idle = quiet and now - self._last_key_at >= IDLE_AFTER and now - self._last_ingest_at >= IDLE_AFTER / 2
        self.full_collections.tick(quiet, idle)
        # The timer can fire while the main screen is not (or no longer) mounted: at start-up and
        # during shutdown the default screen is current and the widgets are not there.
        try:
            if self._sessions_dirty:
                self._refresh_sessions()
            self._refresh_status()
            self._refresh_header()
        except NoMatches:
            return

    def _refresh_sessions(self) -> None:
        self._sessions_dirty = False
        widget = self.query_one(SessionList)
        infos = list(self.sessions.values())
        show_session = len(infos) > 1
        log = self.log_widget
        if log.show_session != show_session:
            log.show_session = show_session
        self._refresh_header()
        prompts = [_session_prompt(i, i.label == self.session_scope) for i in infos]
        ids = [widget.get_option_at_index(n).id for n in range(widget.option_count)]
        if ids != [i.label for i in infos]:
            highlighted = widget.highlighted
            widget.clear_options()
            widget.add_options([Option(p, id=i.label) for p, i in zip(prompts, infos)])
            if highlighted is not None and highlighted < len(prompts):
                widget.highlighted = highlighted
        if widget.highlighted is None and widget.option_count:
            widget.highlighted = 0  # so Enter works on the first press
        else:
            for n, prompt in enumerate(prompts):
                widget.replace_option_prompt_at_index(n, prompt)

    def _method_need(self) -> int:
        """Cells the log's method column would like: the longest method (with its target)."""
        model = self.model
        key = (len(model.methods_seen), len(model.tools_seen))
        if key != self._need_key:
            self._need_key = key
            tool = max(map(len, model.tools_seen), default=0)
            need = 0
            for m in model.methods_seen:
                n = len(m)
                if tool and (m == "tools/call" or m == "prompts/get" or m.startswith("resources/")):
                    n += 1 + tool
                need = max(need, n)
            self._need = max(need, 6)
        return self._need

    def _refresh_header(self) -> None:
        log = self.log_widget
        width = log.scrollable_content_region.width
        if width <= 0:
            return
        text = header_text(max(width, 40), log.show_session, self._method_need())
        if text != self._header:
            self._header = text
            self.query_one("#log-header", Static).update(text)

    def _refresh_status(self) -> None:
        self._status_dirty = False
        infos = list(self.sessions.values())
        live = sum(1 for i in infos if i.state == "live")
        ended = sum(1 for i in infos if i.state == "ended")
        other = len(infos) - live - ended
        log = self.log_widget
        text = Text()
        if not infos:
            text.append(" no proxies " + ("(watching)" if self.discover else ""), style="dim")
        else:
            text.append(f" ● {live} live", style="bold green" if live else "dim")
            if ended:
                text.append(f"  ■ {ended} ended", style="bold red")
            if other:
                states = ", ".join(sorted({i.state for i in infos if i.state not in ("live", "ended")}))
                text.append(f"  ○ {other} {states}", style="yellow")
        text.append(" │ ", style="dim")
        shown = len(self.view.indices)
        total = len(self.store)
        text.append(f"{total:,} msgs" if shown == total else f"{shown:,}/{total:,} msgs")
        if live:
            text.append(f" │ {self.model.message_rate():.1f}/s")
        pending = self.model.pending_count
        if pending:
            text.append(f" │ {pending} pending", style="bold yellow")
        text.append_text(self.steer_status())  # paused / intercept / held + bytes, per session
        lost = self.model.lost_count
        if lost:
            text.append(f" │ {lost} lost", style="bold red")
        text.append(" │ ", style="dim")
        if log.follow:
            text.append("following", style="bold green")
        else:
            text.append("not following", style="bold yellow")
            if log.new_count:
                text.append(f" ▼ {log.new_count:,} new (End)", style="bold reverse")
        if self.session_scope:
            text.append(f" │ session {self.session_scope}", style="bold cyan")
        if self.filter_text:
            text.append(" │ filter ", style="dim")
            text.append(self.filter_text, style="bold cyan")
        searching = self.body_search.status()
        if searching:
            text.append(f" │ {searching} (Esc: cancel)", style="bold yellow")
        if not infos:
            empty = EMPTY_TEXT
        elif total == 0:
            problems = [f"{i.label}: {i.detail}" for i in infos if i.state == "loaded" and i.detail]
            if problems:  # an empty log from a bad file must not look like one still waiting
                empty = "Nothing to show. " + "; ".join(problems)
            elif all(i.state == "loaded" for i in infos):
                empty = "The recording holds no messages."
            else:
                empty = "No messages yet."
        elif self.filter_text or self.session_scope:
            empty = "No message matches the filter  (\\ clears it)."
        else:
            empty = ""
        if log.empty_text != empty:
            log.empty_text = empty
            log.refresh()
        if text != self._last_status:
            self._last_status = text
            self.query_one("#status", Static).update(text, layout=False)  # height 1: never resizes
        subtitle = f"▼ {log.new_count:,} new · End to follow" if (not log.follow and log.new_count) else ""
        if log.border_subtitle != subtitle:
            log.border_subtitle = subtitle

    # ---- log events ----------------------------------------------------------------------

    @on(MessageLog.CursorMoved)
    def _cursor_moved(self, event: MessageLog.CursorMoved) -> None:
        # Leading-edge debounce: a lone move (a jump, a click, one key) shows its record at
        # once, in the screen update right after the log's (the pane's new content changes its
        # height, so it costs a layout of the whole screen: done with the log's rows, a key
        # waited for both); moves that follow within 30 ms (a key held down) only restart the
        # timer, and the pane is rendered once, when they stop.
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = self.set_timer(0.03, self._show_detail)
            return
        self.call_after_refresh(self._paint_detail)
        self._detail_timer = self.set_timer(0.03, self._detail_quiet)

    def _detail_quiet(self) -> None:
        self._detail_timer = None

    def _show_detail(self) -> None:
        self._detail_timer = None
        self._paint_detail()

    def _paint_detail(self) -> None:
        if not self.is_running:
            return
        detail = self.query_one_optional("#detail", DetailPane)
        log = self.query_one_optional("#log", MessageLog)
        if detail is not None and log is not None:
            detail.show(log.selected_item())

    @on(MessageLog.FollowChanged)
    def _follow_changed(self, event: MessageLog.FollowChanged) -> None:
        try:  # can arrive while the main screen is being torn down (as in _tick)
            self._refresh_status()
        except NoMatches:
            return

    def forget_session(self, label: str) -> None:
        session = self.model.forget(label)
        if session is None:
            return
        if session.source is not None:
            session.source.close()
        self._sessions_dirty = True
        self._refiltered()
        self._refresh_sessions()
        self.notify(f"Forgot session {label} (its messages are hidden).")

    @on(OptionList.OptionSelected, "#sessions")
    def _session_selected(self, event: OptionList.OptionSelected) -> None:
        # by position: the option's id is the label it had when the list was last refreshed, and
        # a hello may have renamed the session since
        infos = list(self.model.sessions.values())
        if 0 <= event.option_index < len(infos):
            label = infos[event.option_index].label
            self.scope_session(None if self.session_scope == label else label)

    # ---- filtering -----------------------------------------------------------------------

    def apply_filter(self, expression: str) -> bool:
        try:
            self.model.set_filter(expression)
        except FilterError as exc:
            self.notify(str(exc), title="Bad filter", severity="error")
            return False
        self._refiltered()
        return True

    def scope_session(self, label: str | None) -> None:
        self.model.scope(label)
        self._sessions_dirty = True
        self._refiltered()
        self._refresh_sessions()

    def _refiltered(self) -> None:
        self.log_widget.reset()
        self._refresh_status()

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        if event.live:
            if event.expression != self.filter_text:
                self.apply_filter(event.expression)
            return
        if self.apply_filter(event.expression):
            self.log_widget.focus()
            if not event.expression:
                self.filter_bar.display = False

    @on(FilterBar.Closed)
    def _filter_closed(self, event: FilterBar.Closed) -> None:
        # Esc: back to the filter that was applied before the bar opened (typing applied others)
        self.filter_bar.display = False
        if self.filter_text != self._filter_before:
            self.apply_filter(self._filter_before)
        self.log_widget.focus()

    @on(FilterBar.SaveRequested)
    def _filter_save_requested(self, event: FilterBar.SaveRequested) -> None:
        self._save_filter(event.expression)

    # ---- saved filters (tui/saved_filters.py, in the config file) ---------------------------

    def action_save_filter(self) -> None:
        if not self.filter_text:
            self.notify("No filter to save: apply one with / first (Ctrl+S there saves what you type).",
                        severity="warning")
            return
        self._save_filter(self.filter_text)

    def _save_filter(self, expression: str) -> None:
        expression = expression.strip()
        try:
            if not expression:
                raise FilterError("type a filter first")
            filters.parse(expression)
        except FilterError as exc:
            self.notify(f"Cannot save this filter: {exc}", severity="error")
            return

        def done(name: str | None) -> None:
            if not name:
                return
            try:
                self.config.save_filter(name, expression)
            except (ConfigError, ValueError) as exc:
                self.notify(f"Not saved: {exc}", severity="error", timeout=10)
                return
            self.notify(f"Saved @{name} = {expression} in {self.config.path}", timeout=4)

        screen = SaveFilterScreen(expression, self.config.filters, str(self.config.path))
        self.push_screen(screen, done)
        self.type_into(screen.input)

    def action_saved_filters(self) -> None:
        def done(expression: str | None) -> None:
            if expression:
                self.apply_filter(expression)

        self.push_screen(SavedFiltersScreen(self.config.filters, self.delete_saved_filter, str(self.config.path)), done)

    def delete_saved_filter(self, name: str) -> bool:
        try:
            deleted = self.config.delete_filter(name)
        except ConfigError as exc:
            self.notify(f"Not deleted: {exc}", severity="error", timeout=10)
            return False
        if deleted:
            self.notify(f"Deleted saved filter @{name}.", timeout=3)
        return deleted

    @on(FilterBar.HelpRequested)
    def _filter_help(self, event: FilterBar.HelpRequested) -> None:
        self.action_help()

    # ---- actions -------------------------------------------------------------------------

    def action_filter(self) -> None:
        self._filter_before = self.filter_text
        self.filter_bar.open(self.filter_text)
        self.type_into(self.filter_bar.input)

    def action_clear_filter(self) -> None:
        self.filter_bar.input.value = ""
        self.filter_bar.display = False
        self.apply_filter("")
        if self.session_scope:
            self.scope_session(None)

    def action_all_sessions(self) -> None:
        self.scope_session(None)

    def action_follow(self) -> None:
        self.log_widget.action_follow()
        self.log_widget.focus()

    def action_pair(self) -> None:
        rec = self.log_widget.selected_record()
        if rec is None:
            return
        if rec.pair is None:
            self.notify("This message has no paired request/response.", severity="warning")
            return
        if not self.log_widget.select_index(rec.pair):
            self.notify("The paired message is hidden by the filter.", severity="warning")

    def _jump(self, predicate: Callable[[Any], bool], step: int, what: str) -> None:
        """Select the next (``step`` 1) or previous (-1) message matching ``predicate``; marker
        rows are not messages and are skipped."""
        log = self.log_widget
        rows = self.view.indices
        if log.cursor is None:
            start = len(rows) if step < 0 else -1
        else:
            start = self.model.rows.view_row(log.cursor)
            if log.selected_marker() is not None and step > 0:
                start -= 1  # on a marker: the message after it is the next one
        pos = start + step
        while 0 <= pos < len(rows):
            if predicate(self.store[rows[pos]]):
                log.follow = False
                log.move_cursor(self.model.rows.row_of(pos))
                return
            pos += step
        self.notify(f"No {what} {'below' if step > 0 else 'above'}.", severity="information")

    def action_next_error(self) -> None:
        self._jump(_is_error, 1, "error")

    def action_prev_error(self) -> None:
        self._jump(_is_error, -1, "error")

    def action_next_pending(self) -> None:
        self._jump(lambda r: r.pending, 1, "pending request")

    def action_time_mode(self) -> None:
        mode = self.log_widget.cycle_time_mode()
        self.notify({"wall": "Time column: wall clock", "relative": "Time column: since the session's first message",
                     "delta": "Time column: since the row above"}[mode], timeout=2)

    def action_clear_log(self) -> None:
        self.model.clear_log()
        self._refiltered()
        self.notify("Log cleared: new messages still show; stats and pairing keep everything.", timeout=3)

    def _nothing_selected(self) -> None:
        if self.log_widget.selected_marker() is not None:
            self.notify("Nothing selected: this row is not a message (a gap or a restart).", severity="warning")
        else:
            self.notify("Nothing selected.", severity="warning")

    def action_mark(self) -> None:
        log = self.log_widget
        rec = log.selected_record()
        if rec is None:
            self._nothing_selected()
            return
        changed = self.store.toggle_mark(rec.index)
        before = len(self.view.indices)
        self.view.on_added(changed)  # ~marked may now show or hide it
        if len(self.view.indices) != before:
            log.reset()
        else:
            log.rows_added(0, changed)

    def action_jump(self) -> None:
        screen = JumpScreen()
        self.push_screen(screen, self._jump_to)
        self.type_into(screen.input)

    def _jump_to(self, text: str | None) -> None:
        if not text:
            return
        store = self.store
        selected = self.log_widget.selected_record()
        if text.lower().startswith("id "):
            wanted = text[3:].strip()
            found = next((r.index for r in store if r.id is not None and id_text(r.id) == wanted
                          and r.kind in ("request", "batch")), None)
            found = found if found is not None else next(
                (r.index for r in store if r.id is not None and id_text(r.id) == wanted), None)
            what = f"id {wanted}"
        else:
            try:
                seq = int(text)
            except ValueError:
                self.notify(f"Not a seq or 'id X': {text}", severity="error")
                return
            # the selected (or scoped) session first: seqs are per proxy
            order = [self.session_scope, selected.session if selected else None, *self.sessions_by_label]
            found = None
            for label in dict.fromkeys(x for x in order if x):
                found = store.find_seq(label, seq)
                if found is not None:
                    break
            what = f"seq {seq}"
        if found is None:
            self.notify(f"No message with {what}.", severity="warning")
        elif not self.log_widget.select_index(found):
            self.notify(f"The message with {what} is hidden by the filter (\\ clears it).", severity="warning")

    def action_toggle_raw(self) -> None:
        self.detail.toggle_raw()

    def action_copy(self) -> None:
        rec = self.log_widget.selected_record()
        if rec is None:
            self._nothing_selected()
            return
        problem = clipboard.osc52_problem(rec.size)
        if problem is None:
            self.copy_to_clipboard(rec.raw)
            self.notify(f"Copied {len(rec.raw):,} characters (raw line) to the clipboard.")
            return
        tool = clipboard.clipboard_tool()
        if tool is None:
            self.notify(f"Cannot copy: {problem}, and no clipboard tool (wl-copy, xclip, xsel, pbcopy) "
                        "is installed. Press W to save this message to a file.", severity="warning", timeout=10)
            return
        self._copy_with_tool(tool, rec.raw, problem)

    @work(thread=True, exclusive=True, group="copy")
    def _copy_with_tool(self, tool: list[str], text: str, why: str) -> None:
        # in a thread: a 20 MB message must not stall the UI
        try:
            clipboard.copy_with(tool, text)
        except Exception as exc:  # noqa: BLE001 - any failure of the tool is reported, not raised
            self.call_from_thread(self.notify, f"Copy failed: {exc}. Press W to save this message to a file.",
                                  severity="error")
            return
        self.call_from_thread(self.notify, f"Copied {len(text):,} characters with {tool[0]} ({why}).")

    def action_save_message(self) -> None:
        rec = self.log_widget.selected_record()
        if rec is None:
            self._nothing_selected()
            return
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(rec.session)) or "session"
        path = Path.cwd() / f"omproxy-message-{safe}-{rec.seq}.json"
        self._save_message(rec.raw, path)

    @work(thread=True, exclusive=True, group="save")
    def _save_message(self, text: str, path: Path) -> None:
        try:
            with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
                fh.write(text)
        except OSError as exc:
            self.call_from_thread(self.notify, f"Save failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"Saved the message ({len(text):,} characters) to {path}")

    def action_toggle_detail(self) -> None:
        self.detail.display = not self.detail.display

    def action_detail_search(self) -> None:
        self.detail.display = True
        self.type_into(self.detail.open_search())

    def action_toggle_sessions(self) -> None:
        widget = self.query_one(SessionList)
        widget.display = not widget.display
        self._sessions_user_set = True

    def on_resize(self, event: events.Resize) -> None:
        # narrow terminals give the log the width, unless the user chose otherwise with `v`
        if not self._sessions_user_set:
            self.query_one(SessionList).display = event.size.width >= 120
        # short terminals: the filter bar is one row (no border)
        self.screen.set_class(event.size.height <= 30, "-short")
        self.call_after_refresh(self._refresh_header)

    def action_zoom(self) -> None:
        focused = self.focused
        target = self.detail if focused is None or focused is self.query_one(SessionList) else focused
        if self.detail in target.ancestors:  # the detail pane's view or search bar
            target = self.detail
        if isinstance(target, (MessageLog, DetailPane)):
            if self.screen.maximized is not None:
                self.screen.minimize()
            else:
                self.screen.maximize(target)

    def action_restore(self) -> None:
        if self.body_search.current is not None:
            # Esc while a raw-text filter searches spooled bodies: stop it, keep what is shown
            self.body_search.revert()
            self.notify("Search cancelled: the previous filter stays.", title="Filter")
            return
        if self.screen.maximized is not None:
            self.screen.minimize()

    def action_stats(self) -> None:
        def done(expression: str | None) -> None:
            if expression:
                self.apply_filter(expression)

        # One Stats screen, kept installed: opening it again shows it as it was left (sort
        # order, cursor) at the cost of a repaint, not of building the table anew (~50 ms)
        screen = self._stats_screen
        if screen is None:
            screen = self._stats_screen = StatsScreen(self.model)
            self.install_screen(screen, name="stats")
        else:
            screen.refresh_stats()  # the numbers of now in the first frame that shows it
        self.push_screen("stats", done)

    #: app actions that still make sense on top of another screen (the others act on the log)
    _ANYWHERE = frozenset({"help", "quit", "command_palette", "pop_screen", "toggle_dark", "screenshot"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # On the stats and server log screens, hide (and disable) what only works on the log,
        # so their footers list only what works there.
        if len(self.screen_stack) > 1 and not isinstance(self.screen, ModalScreen) and action not in self._ANYWHERE:
            if any(spec.action.split("(", 1)[0] == action for spec in actions.ACTIONS):  # steer_pause('c2s')
                return False  # False hides it from the footer (None would show it greyed out)
        return True

    def action_server_log(self) -> None:
        rec = self.log_widget.selected_record()
        initial = str(rec.session) if rec is not None else self.session_scope
        self.push_screen(ServerLogScreen(self.model, initial))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_restart_server(self) -> None:
        """Hot restart of the selected message's session (or the scoped one, or the only live one);
        the proxy's lifecycle frames then tell how it went (see _restart_news)."""
        rec = self.log_widget.selected_record()
        label = str(rec.session) if rec is not None else self.session_scope
        live = [i for i in self.model.sessions.values() if i.source is not None and i.source.can_send and not i.ended]
        info = self.model.by_label.get(label) if label else (live[0] if len(live) == 1 else None)
        if info is None or info.source is None or not info.source.can_send or info.ended:
            self.notify("Select a message of a live session to restart its server.", severity="warning")
            return
        try:
            reply = await info.source.request({"cmd": "restart"})
        except Exception as exc:  # noqa: BLE001 - not connected, timed out
            self.notify(f"Restart failed: {exc}", severity="error")
            return
        if not reply.get("ok"):
            self.notify(str(reply.get("error")), title="Restart", severity="error")
        else:
            self.notify(f"Restarting the server of {info.label}…", title="Restart")

    def _restart_news(self, label: str, frames: list[dict[str, Any]]) -> None:
        for f in frames:
            if f.get("type") != "lifecycle" or f.get("event") not in ("restart", "restart_failed"):
                continue
            if time.time() - float(f.get("wall") or 0) > 30:
                continue  # replayed from the backlog on attach: old news
            if f["event"] == "restart_failed":
                self.notify(f"{label}: restart failed: {f.get('error')}", title="Restart", severity="error")
                continue
            changed = "; ".join(f"{kind} +{len(d.get('added', []))} -{len(d.get('removed', []))} "
                                f"~{len(d.get('changed', []))}" for kind, d in (f.get("changed") or {}).items())
            self.notify(f"{label}: server restarted ({f.get('cause')}), generation {f.get('generation')}, "
                        f"{f.get('downtime_ms', 0):.0f} ms" + (f"; {changed}" if changed else ""), title="Restart")

    def action_export(self) -> None:
        records = [self.store[i] for i in self.view.indices]

        def done(path: str | None) -> None:
            if not path:
                return
            if ExportScreen.endpoint(path):
                self.notify(f"Sending {len(records):,} messages to {path} as OTLP spans…")
                self._export_otlp(records, path)
                return
            self._export(records, path)

        screen = ExportScreen(default_export_name(self.clock()), len(records))
        self.push_screen(screen, done)
        self.type_into(screen.input)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, records: list[Any], path: str) -> None:
        try:
            target = Path(path).expanduser()
            export_jsonl(records, target)
        except OSError as exc:
            self.call_from_thread(self.notify, f"Export failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"Exported {len(records):,} messages to {target}")

    @work(thread=True, exclusive=True, group="export")
    def _export_otlp(self, records: list[Any], endpoint: str) -> None:
        """Off the UI thread: the flush waits for the receiver (at most 10 s a session)."""
        from omproxy_tui.otel.replay import send_records

        try:
            ok, text = send_records(records, endpoint)
        except Exception as exc:  # noqa: BLE001 - a failed export is a message, not a crash
            ok, text = False, f"OTLP export to {endpoint} failed: {type(exc).__name__}: {exc}"
        self.call_from_thread(self.notify, text, title="OTLP export", severity="information" if ok else "error")

    async def action_quit(self) -> None:
        holding = self.holding_infos()
        if holding:
            # The proxy fails open when its last inspector leaves, but another TUI may still be
            # attached (then holds would stay): ask.
            held = sum(len(i.held) for i in holding)
            names = ", ".join(i.label for i in holding)

            async def done(choice: str | None) -> None:
                if choice == "release":
                    await self.stop_holding(holding)
                if choice in ("release", "keep"):
                    self._quit_now()

            self.push_screen(ChoiceScreen(
                "Quit while holding traffic?",
                f"{held} message(s) held, and holding is on in {names}. Release everything and stop holding "
                "first? (If no other inspector is attached, the proxy releases it all anyway.)",
                [("Release and quit", "release"), ("Quit, leave as is", "keep"), ("Cancel", "cancel")]), done)
            return
        self._quit_now()

    def _quit_now(self) -> None:
        for info in self.sessions.values():
            info.source.close()
        for source in self._followers:
            source.close()
        self.exit()

    # ---- commands to a proxy ---------------------------------------------------------------

    async def send(self, session_label: str, cmd: dict[str, Any]) -> Any:
        info = self.sessions_by_label[session_label]
        return await info.source.send(cmd)


def build_app(
    *,
    sockets: Iterable[str] = (),
    recordings: Iterable[str] = (),
    discover: bool = False,
    discover_dir: str | None = None,
    clock: Callable[[], float] = time.time,
    demo: Any = None,
) -> OmproxyApp:
    sources: list[Source] = [SocketSource(p, reattach=True) for p in sockets]
    sources += [RecordingSource(p) for p in recordings]
    return OmproxyApp(sources, discover=discover, discover_dir=discover_dir, clock=clock, demo=demo)
