"""Secondary screens: help, stats, server log (stderr + lifecycle), export prompt."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Log, Sparkline, Static, TabbedContent, TabPane

from omproxy_tui.core.sessions import SessionModel
from omproxy_tui.tui.actions import ACTIONS
from omproxy_tui.tui.steer.controller import STEERING_HELP
from omproxy_tui.tui.model import filters
from omproxy_tui.tui.widgets.message_log import fmt_size, fmt_time


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
    ("latency", "responses: time since the request; … = still awaiting a response"),
    ("✂ N lost", "the inspector fell behind and N frames were skipped here"),
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


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


class StatsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,s", "app.pop_screen", "Close"),
        Binding("o", "cycle_sort", "Sort column"),
        Binding("R", "reverse", "Reverse"),
    ]

    def __init__(self, model: SessionModel) -> None:
        super().__init__()
        self.model = model
        self.sort_index = 1
        self.reverse = True

    def compose(self) -> ComposeResult:
        with Vertical(id="stats-body"):
            yield Label("", id="stats-rate-label")
            yield Sparkline([0.0], id="stats-rate")
            yield DataTable(id="stats-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stats-body").border_title = "Statistics · o: sort column · R: reverse · click a header to sort · Esc closes"
        table = self.query_one(DataTable)
        for title, key, width in STATS_COLUMNS:
            table.add_column(title, key=key, width=width)
        self.refresh_stats()
        self.set_interval(1.0, self.refresh_stats)

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
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            tool = getattr(row, "tool", None)
            name = f"  └ {tool}" if tool else str(getattr(row, "key", None) or getattr(row, "method", ""))
            errors = row.errors
            table.add_row(
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
        if rows and cursor < len(rows):
            table.move_cursor(row=cursor, animate=False)

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
    """Per-session tabs: server stderr and lifecycle events, live."""

    BINDINGS = [Binding("escape,q,l", "app.pop_screen", "Close")]

    def __init__(self, model: SessionModel, initial: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.initial = initial
        self._shown: dict[str, tuple[int, int]] = {}

    def compose(self) -> ComposeResult:
        sessions = list(self.model.sessions.values())
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
            # merge new stderr and lifecycle entries by time
            new = [(w, f"{fmt_time(w)}  {line}") for w, line in info.stderr[done_err:]]
            new += [
                (w, f"{fmt_time(w)}  ● {event}" + (" " + " ".join(f"{k}={v}" for k, v in det.items()) if det else ""))
                for w, event, det in info.lifecycle[done_life:]
            ]
            new.sort(key=lambda x: x[0])
            if new:
                log.write_lines([line for _, line in new])
            self._shown[info.label] = (len(info.stderr), len(info.lifecycle))


class ExportScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, default: str, count: int) -> None:
        super().__init__()
        self.default = default
        self.count = count

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label(f"Export {self.count:,} filtered messages as JSONL to:")
            yield Input(self.default, id="export-path")
            yield Label("Enter exports · Esc cancels", classes="dim")

    def on_mount(self) -> None:
        self.query_one("#export-box").border_title = "Export"

    @on(Input.Submitted, "#export-path")
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


def default_export_name(now: float | None = None) -> str:
    return time.strftime("omproxy-export-%Y%m%d-%H%M%S.jsonl", time.localtime(now or time.time()))
