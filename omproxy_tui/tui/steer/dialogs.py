"""Small steering dialogs: a choice/confirmation, the intercept filter bar, the held list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static

from omproxy_tui.tui.widgets.filter_bar import FilterSuggester, FilterValidator
from omproxy_tui.tui.widgets.message_log import fmt_size

if TYPE_CHECKING:
    from omproxy_tui.tui.model import Record


class ChoiceScreen(ModalScreen[str | None]):
    """A question with a few answers (buttons; the first is focused, Esc answers None)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, body: str, choices: list[tuple[str, str]], *, danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.choices = choices
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box", classes="steer-box"):
            yield Static(Text(self.title_text, style="bold"), id="choice-title")
            yield Static(self.body, id="choice-body")
            with Horizontal(id="choice-buttons"):
                for n, (label, value) in enumerate(self.choices):
                    variant = ("error" if self.danger else "primary") if n == 0 else "default"
                    yield Button(label, id=f"choice-{value}", variant=variant)
            yield Label("Tab moves · Enter chooses · Esc cancels", classes="dim")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "").removeprefix("choice-"))


class InterceptValidator(FilterValidator):
    """The view filter's validation, plus the operators the proxy cannot evaluate before a
    message moves (it refuses them: say so while typing, not after Enter)."""

    def validate(self, value: str):  # type: ignore[override]
        import re

        from omproxy_tui.inspect.intercept import REFUSED

        result = super().validate(value)
        if not result.is_valid:
            return result
        for op in re.findall(r"~([a-z0-9]+)", value):
            if op in REFUSED:
                return self.failure(f"~{op} cannot intercept: {REFUSED[op]}")
        return result


class InterceptScreen(ModalScreen[str | None]):
    """The intercept filter: the view filter's validator, suggestions and its own history.
    Enter applies (an empty expression clears), Esc cancels."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
    ]

    def __init__(self, session: str, current: str | None, history: list[str],
                 methods: Callable[[], Iterable[str]], tools: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self.session = session
        self.current = current or ""
        self.history = history
        self._pos = len(history)
        self._methods = methods
        self._tools = tools

    def compose(self) -> ComposeResult:
        with Vertical(id="intercept-box", classes="steer-box"):
            yield Static(Text.assemble(("Intercept ", "bold"), (self.session, "bold cyan"),
                                       ": the proxy holds only messages matching this filter"))
            yield Input(self.current, placeholder="~m tools/call & ~tool slow   ·   ~c2s & ~q   (empty clears)",
                        validators=[InterceptValidator()], validate_on=["changed", "submitted"],
                        suggester=FilterSuggester(self._methods, self._tools), id="intercept-input")
            yield Label("", id="intercept-error")
            yield Label("Enter applies · empty Enter clears · ↑/↓ history · Esc cancels · the view filter (/) is "
                        "separate", classes="dim")

    def on_mount(self) -> None:
        inp = self.query_one(Input)
        inp.cursor_position = len(inp.value)
        type_into = getattr(self.app, "type_into", None)
        if type_into is not None:
            type_into(inp)  # keys typed right after `i` go here, not to the log
        inp.focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        result = event.validation_result
        label = self.query_one("#intercept-error", Label)
        if result is not None and not result.is_valid:
            label.update("✗ " + "; ".join(result.failure_descriptions))
            self.add_class("-invalid")
        else:
            label.update("")
            self.remove_class("-invalid")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.validation_result is not None and not event.validation_result.is_valid:
            return
        self.dismiss(event.value.strip())

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + step))
        inp = self.query_one(Input)
        inp.value = self.history[self._pos] if self._pos < len(self.history) else ""
        inp.cursor_position = len(inp.value)


class HeldScreen(ModalScreen[tuple[str, Any] | None]):
    """Everything held, across sessions, oldest first. Enter jumps to it in the log; ``a``
    releases it; ``X`` drops it; ``A`` releases everything held everywhere."""

    BINDINGS = [
        Binding("escape,q,H", "dismiss(None)", "Close"),
        Binding("enter", "choose('jump')", "Jump to it"),
        Binding("a", "choose('release')", "Release"),
        Binding("X", "choose('drop')", "Drop"),
        Binding("e", "choose('edit')", "Edit"),
        Binding("A", "choose('release_everywhere')", "Release all everywhere"),
    ]

    def __init__(self, rows: list[tuple[str, dict[str, Any], Record | None]], now: float) -> None:
        super().__init__()
        self.rows = rows
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical(id="held-box", classes="steer-box"):
            yield Static(Text(f"Held messages: {len(self.rows)} (oldest first)", style="bold"), id="held-title")
            yield DataTable(id="held-table", cursor_type="row", zebra_stripes=True)
            if not self.rows:
                yield Label("Nothing is held. Pause (P, >, <) or intercept (i) to hold traffic.", classes="dim")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("waiting", "session", "dir", "why", "seq", "message", "size")
        rows = []
        for label, held, rec in self.rows:
            if rec is not None:
                what = " ".join(x for x in (rec.method or rec.kind, rec.tool or "") if x)
                age = f"{max(0.0, self.now - rec.wall):.1f}s"
                size = fmt_size(rec.size)
            else:
                what, age, size = "(not received yet)", "", ""
            rows.append((age, label, "→" if held.get("dir") == "c2s" else "←", held.get("reason", ""),
                         str(held.get("seq")), what, size))
        table.add_rows(rows)  # one layout for all of them
        table.focus()

    def action_choose(self, what: str) -> None:
        if what == "release_everywhere":
            self.dismiss((what, None))
            return
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None:
            return
        self.dismiss((what, self.rows[table.cursor_row]))
