"""Secondary screens: help, stats, server log (stderr + lifecycle), export prompt."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Label, Log, Sparkline, Static, TabbedContent, TabPane

from omproxy_tui.core.sessions import SessionModel
from omproxy_tui.tui.actions import ACTIONS
from omproxy_tui.tui.steer.controller import STEERING_HELP
from omproxy_tui.tui.model import filters
from omproxy_tui.tui.widgets.message_log import fmt_size, fmt_time
from omproxy_tui.tui.widgets.steady_footer import SteadyFooter


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self._keys(), id="help-keys")
            yield Static(self._two_columns("Steering, step by step", "Step", "How", STEERING_HELP), id="help-steering")
            yield Static(self._filters(), id="help-filters")
            yield Static(self._columns(), id="help-columns")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "omproxy-tui help · Esc closes"

    def _keys(self) -> Table:
        from omproxy_tui.tui.actions import display_keys

        app_keys = {k: display_keys(v) for k, v in getattr(self.app, "keymap_overrides", {}).items()}
        table = Table(title="Keys", title_justify="left", expand=True, show_edge=False)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Action")
        table.add_column("Group", style="dim")
        for spec in ACTIONS:
            table.add_row(app_keys.get(spec.id, spec.key_display), spec.help, spec.group)
        for key, text in NAV_KEYS:
            table.add_row(key, text, "Log")
        table.add_row("Ctrl+P", "Command palette: every action, sessions, filter by method", "App")
        return table

    @staticmethod
    def _two_columns(title: str, left: str, right: str, rows) -> Table:
        table = Table(title=title, title_justify="left", expand=True, show_edge=False)
        table.add_column(left, style="bold", no_wrap=True)
        table.add_column(right)
        for left, text in rows:
            table.add_row(left, text)
        return table

    @classmethod
    def _filters(cls) -> Table:
        return cls._two_columns("Filter language (/)", "Expression", "Matches", filters.HELP)

    @classmethod
    def _columns(cls) -> Table:
        return cls._two_columns("Log columns and marks", "Column", "Meaning", COLUMN_HELP)


NAV_KEYS = [
    ("↑/↓, j/k", "Move the cursor (moving up stops following)"),
    ("PgUp/PgDn, Home/g", "Page, first message"),
    ("Tab", "Next pane (sessions, log, detail, filter)"),
    ("Enter (sessions)", "Show only that session's messages"),
]

COLUMN_HELP = [
    ("time", "wall-clock time the proxy saw the line"),
    ("session", "which proxy session"),
    ("→ / ←", "client → server, server → client"),
    ("H M I D B", "held, modified by a hook, injected, dropped, blocked (not JSON)"),
    ("kind", "req, note (notification), resp, ERR, batch, inv (invalid)"),
    ("method", "the request's method; responses show their request's method and target"),
    ("latency", "time between request and response; … = still awaiting one; no resp = the session ended first"),
    ("── ✂ … ──", "a row, not a message: N earlier frames not in the proxy's backlog, N frames lost (the inspector "
                  "fell behind) or missed across a reconnect; select it for details"),
    ("── ⟳ … ──", "a row, not a message: a hot restart of the server with its cause, downtime and list changes, "
                  "or why it failed; rows stay visible under a filter, n/N/p/export skip them"),
]


STATS_COLUMNS = [
    ("method / tool", "key", 34),
    ("count", "count", 7),
    ("errors", "errors", 7),
    ("in-flight", "in_flight", 9),
    ("p50 ms", "p50", 9),
    ("p95 ms", "p95", 9),
    ("p99 ms", "p99", 9),
    ("max ms", "max", 9),
    ("bytes in", "bytes_in", 10),
    ("bytes out", "bytes_out", 10),
]


def row_filter(key: str) -> str:
    """The filter expression showing the messages a stats row counts."""
    if key == "(invalid)":
        return "~kind ^invalid$"
    if key == "(unpaired)":
        return "~r & !~m ."
    method, _, tool = key.partition(":")
    expr = f"~m {filters.quote('^' + re.escape(method) + '$')}"
    if tool:
        expr += f" & ~tool {filters.quote('^' + re.escape(tool) + '$')}"
    return expr


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


class StatsScreen(Screen[str | None]):
    """Per-method and per-tool numbers; Enter on a row filters the log to that method or tool."""

    BINDINGS = [
        Binding("escape,q,s", "app.pop_screen", "Close"),
        Binding("enter", "filter_row", "Filter log", priority=True),
        Binding("o", "cycle_sort", "Sort column"),
        Binding("R", "reverse", "Reverse"),
    ]

    def __init__(self, model: SessionModel) -> None:
        super().__init__()
        self.model = model
        self.sort_index = 1
        self.reverse = True
        #: what the table shows: row keys in order, and each row's cells
        self._shown_keys: list[str] = []
        self._shown_cells: list[tuple] = []
        self._timer: Timer | None = None
        self._styled_at: int | None = None  # the app's CSS update count when styles were applied

    def compose(self) -> ComposeResult:
        with Vertical(id="stats-body"):
            yield Label("", id="stats-rate-label")
            yield Sparkline([0.0], id="stats-rate")
            yield DataTable(id="stats-table", cursor_type="row", zebra_stripes=True)
        yield SteadyFooter()  # the same keys each time it is shown: not rebuilt each time

    def on_mount(self) -> None:
        self.query_one("#stats-body").border_title = (
            "Statistics · Enter: filter the log to the row · o: sort column · R: reverse · Esc closes")
        self.refresh_stats()
        self._timer = self.set_interval(1.0, self.refresh_stats)

    # The app keeps this screen installed (opened again, it is shown as it was left): the
    # numbers are brought up to date when it is shown, and not computed while it is hidden.
    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # (Textual calls one handler per class, the private one first: this one, then Screen's
        # with the same event; so everything for a resume is here, and no super() call)
        # Textual applies the CSS to every widget of a screen again each time it is pushed
        # (10-20 ms of the key that opens Stats); this one is kept, and its styles stay right
        # until the app's CSS changes (a theme switch counts one more update, see
        # App._invalidate_css), so they are applied again only then (textual is pinned)
        count = self.app._css_update_count
        if self._styled_at == count:
            event.refresh_styles = False
        self._styled_at = count
        if self._timer is not None:  # (None: shown for the first time; the app refreshes it)
            self._timer.resume()

    def on_screen_suspend(self) -> None:
        # not under a dialog (help, the command palette): it is still in sight, dimmed
        if self._timer is not None and not self.is_current:
            self._timer.pause()

    def refresh_stats(self) -> None:
        model = self.model
        now = model.clock()
        series = model.stats.rate_series(now, 60, 1.0)
        spark = self.query_one(Sparkline)
        spark.data = list(series) or [0.0]
        peak = max(series) if series else 0
        last = series[-1] if series else 0
        self.query_one("#stats-rate-label", Label).update(
            f"message rate, last 60 s (1 s buckets): now {last:.0f}/s · peak {peak:.0f}/s · "
            f"{len(model.store):,} messages · {model.pending_count} pending"
        )
        key = STATS_COLUMNS[self.sort_index][1]
        rows = self._grouped(model.stats.rows(key, self.reverse))
        table = self.query_one(DataTable)
        cells = [(row.key, self._cells(row)) for row in rows]
        keys = [k for k, _ in cells]
        if not self._headers(table) and keys == self._shown_keys:
            # Same rows in the same order (the common case, once a second during a burst): only
            # the cells whose text changed are updated, the table is not rebuilt.
            for (row_key, new), old in zip(cells, self._shown_cells):
                if new != old:
                    for (_title, column, _width), a, b in zip(STATS_COLUMNS, new, old):
                        if a != b:
                            table.update_cell(row_key, column, a)
        else:
            cursor = table.cursor_row
            table.clear()
            for row_key, values in cells:
                table.add_row(*values, key=row_key)
            if rows and cursor < len(rows):
                table.move_cursor(row=cursor, animate=False)
        self._shown_keys = keys
        self._shown_cells = [values for _, values in cells]

    @staticmethod
    def _cells(row) -> tuple:
        tool = getattr(row, "tool", None)
        name = f"  └ {tool}" if tool else str(getattr(row, "key", None) or getattr(row, "method", ""))
        errors = row.errors
        return (
            Text(name, style="" if tool else "bold"),
            f"{row.count:,}",
            Text(f"{errors:,}", style="bold red" if errors else "dim"),
            f"{row.in_flight:,}",
            _ms(row.p50),
            _ms(row.p95),
            _ms(row.p99),
            _ms(row.max),
            fmt_size(row.bytes_in),
            fmt_size(row.bytes_out),
        )

    def _headers(self, table: DataTable) -> bool:
        """Column titles, the sorted one marked with its direction (▼ descending). True when
        the columns were (re)made, and so the rows are gone."""
        titles = [title + (" " + ("▼" if self.reverse else "▲") if n == self.sort_index else "")
                  for n, (title, _key, _width) in enumerate(STATS_COLUMNS)]
        if [str(c.label) for c in table.columns.values()] == titles:
            return False
        table.clear(columns=True)
        for title, (_t, key, width) in zip(titles, STATS_COLUMNS):
            table.add_column(title, key=key, width=width)
        return True

    def action_filter_row(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.dismiss(row_filter(str(key)))

    @staticmethod
    def _grouped(rows: list) -> list:
        """Keep per-tool rows right under their method's row, each group in the sort order."""
        children: dict[str, list] = {}
        top = []
        for row in rows:
            if getattr(row, "tool", None):
                children.setdefault(row.method, []).append(row)
            else:
                top.append(row)
        out = []
        for row in top:
            out.append(row)
            out.extend(children.pop(getattr(row, "method", row.key), []))
        for rest in children.values():
            out.extend(rest)
        return out

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(STATS_COLUMNS)
        self.refresh_stats()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.refresh_stats()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        keys = [c[1] for c in STATS_COLUMNS]
        idx = keys.index(str(event.column_key.value))
        if idx == self.sort_index:
            self.reverse = not self.reverse
        else:
            self.sort_index, self.reverse = idx, idx != 0
        self.refresh_stats()


class ServerLogScreen(Screen[None]):
    """Per-session tabs: server stderr and lifecycle events, live; ``/`` searches them."""

    BINDINGS = [
        Binding("escape", "close_or_clear", "Close"),
        Binding("q,l", "app.pop_screen", "Close", show=False),
        Binding("slash", "search", "Search"),
    ]
    #: keys that open an input here: what is typed right after them is kept for it (app.type_into)
    INPUT_KEYS = frozenset({"slash"})

    def __init__(self, model: SessionModel, initial: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.initial = initial
        self._shown: dict[str, tuple[int, int]] = {}
        self.query_text = ""

    def compose(self) -> ComposeResult:
        sessions = list(self.model.sessions.values())
        search = Input(placeholder="search stderr and events (case-insensitive) · Enter keeps it · Esc clears",
                       id="serverlog-search")
        search.display = False
        search.can_focus = False  # not even by the screen's auto-focus, until "/" opens it
        yield search
        with TabbedContent(id="serverlog-tabs"):
            if not sessions:
                with TabPane("no sessions"):
                    yield Static("No proxy attached yet.")
            for n, info in enumerate(sessions):
                with TabPane(info.label, id=f"tab-{n}"):
                    yield Static("", classes="serverlog-head", id=f"head-{n}")
                    yield Log(id=f"log-{n}", highlight=False, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        labels = [i.label for i in self.model.sessions.values()]
        if self.initial in labels:
            self.query_one(TabbedContent).active = f"tab-{labels.index(self.initial)}"
        self.refresh_logs()
        self.set_interval(0.5, self.refresh_logs)

    def refresh_logs(self) -> None:
        for n, info in enumerate(self.model.sessions.values()):
            try:
                log = self.query_one(f"#log-{n}", Log)
                head = self.query_one(f"#head-{n}", Static)
            except Exception:
                continue
            target = info.proxy.get("target")
            target_text = " ".join(target) if isinstance(target, list) else str(target or "")
            head.update(
                Text.assemble(
                    (f"{info.label}", "bold"),
                    f"  {info.transport} · {info.state_text} · pid {info.proxy.get('pid', '?')} · ",
                    (target_text, "italic"),
                    f"\n{len(info.stderr)} stderr lines · {len(info.lifecycle)} lifecycle events",
                )
            )
            done_err, done_life = self._shown.get(info.label, (0, 0))
            needle = self.query_text.lower()
            # merge new stderr and lifecycle entries by time
            new = [(w, f"{fmt_time(w)}  {line}") for w, line in info.stderr[done_err:]]
            new += [
                (w, f"{fmt_time(w)}  ● {event}" + (" " + " ".join(f"{k}={v}" for k, v in det.items()) if det else ""))
                for w, event, det in info.lifecycle[done_life:]
            ]
            new.sort(key=lambda x: x[0])
            if needle:
                new = [x for x in new if needle in x[1].lower()]
            if new:
                log.write_lines([line for _, line in new])
            self._shown[info.label] = (len(info.stderr), len(info.lifecycle))


    def action_search(self) -> None:
        search = self.query_one("#serverlog-search", Input)
        search.display = True
        search.can_focus = True
        search.focus()
        self.app.type_into(search)  # type: ignore[attr-defined]

    def action_close_or_clear(self) -> None:
        search = self.query_one("#serverlog-search", Input)
        if search.display:
            search.value = ""
            search.display = False
            search.can_focus = False
            self._search("")
        else:
            self.app.pop_screen()

    @on(Input.Changed, "#serverlog-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    @on(Input.Submitted, "#serverlog-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(TabbedContent).focus()

    def _search(self, text: str) -> None:
        """Show only the lines containing ``text`` (rewritten from the model)."""
        if text == self.query_text:
            return
        self.query_text = text
        self._shown.clear()
        for log in self.query(Log):
            log.clear()
        self.refresh_logs()


class JumpScreen(ModalScreen[str | None]):
    """Ask where to jump: a seq number, or ``id`` and a JSON-RPC id."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self) -> None:
        super().__init__()
        self.input = Input(placeholder="seq (42) or JSON-RPC id (id abc)", id="jump-to")

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-box"):
            yield self.input
            yield Label("Enter jumps (the filter stays) · Esc cancels", classes="dim")

    def on_mount(self) -> None:
        self.query_one("#jump-box").border_title = "Jump to"

    @on(Input.Submitted, "#jump-to")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)


class ExportScreen(ModalScreen[str | None]):
    """Ask where to export: the full path it will write is always shown; an empty name is
    refused; an existing file is only overwritten after a second Enter. Dismisses with the
    absolute path, or None. An ``http(s)://`` URL instead of a name is an OTLP endpoint: the
    messages are sent there as spans (``omproxy export --otlp``); dismisses with the URL."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, default: str, count: int, directory: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.directory = Path(directory) if directory is not None else Path.cwd()
        self.count = count
        self._confirm: Path | None = None  # the existing file a second Enter overwrites
        # made here, not in compose, so the app can send keys typed before it mounts
        self.input = Input(default, id="export-path", select_on_focus=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label(f"Export {self.count:,} filtered messages as JSONL (reopen with omproxy-tui --open).")
            yield Label(f"File name, relative to {self.directory}; or an OTLP/HTTP endpoint (http://host:4318) "
                        "to send them as OpenTelemetry spans:", classes="dim")
            yield self.input
            yield Static("", id="export-target")
            yield Label("Enter exports · Esc cancels", classes="dim")

    def on_mount(self) -> None:
        self.query_one("#export-box").border_title = "Export"
        self._show_target()

    def target(self, value: str | None = None) -> Path | None:
        """The absolute path ``value`` names (``.jsonl`` added when it has no extension)."""
        name = (self.input.value if value is None else value).strip()
        if not name:
            return None
        path = Path(name).expanduser()
        if not path.suffix:
            path = path.with_name(path.name + ".jsonl")
        if not path.is_absolute():
            path = self.directory / path
        return Path(os.path.abspath(path))

    @staticmethod
    def endpoint(value: str) -> str | None:
        value = value.strip()
        return value if value.startswith(("http://", "https://")) else None

    def _show_target(self, problem: str = "") -> None:
        text = Text()
        url = self.endpoint(self.input.value)
        if url is not None:
            text.append("Will send them as OTLP spans to ", style="dim")
            text.append(url, style="bold")
            text.append(" (as omproxy export --otlp does)", style="dim")
            self.query_one("#export-target", Static).update(text)
            return
        target = self.target()
        if target is None:
            text.append("Type a file name.", style="bold yellow")
        else:
            text.append("Will write ", style="dim")
            text.append(str(target), style="bold")
            if target.name.startswith("."):
                text.append("  (a hidden file)", style="yellow")
        if problem:
            text.append("\n" + problem, style="bold red")
        self.query_one("#export-target", Static).update(text)

    @on(Input.Changed, "#export-path")
    def _changed(self, event: Input.Changed) -> None:
        self._confirm = None
        self._show_target()

    @on(Input.Submitted, "#export-path")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        url = self.endpoint(event.value)
        if url is not None:
            self.dismiss(url)
            return
        target = self.target(event.value)
        if target is None:
            self._show_target("A file name is needed.")
            return
        if target.is_dir():
            self._show_target("That is a directory: add a file name.")
            return
        if not target.parent.is_dir():
            self._show_target(f"No such directory: {target.parent}")
            return
        if target.exists() and self._confirm != target:
            self._confirm = target
            self._show_target("This file exists already: Enter again to overwrite it, or change the name.")
            return
        self.dismiss(str(target))


def default_export_name(now: float | None = None) -> str:
    return time.strftime("omproxy-export-%Y%m%d-%H%M%S.jsonl", time.localtime(now or time.time()))
