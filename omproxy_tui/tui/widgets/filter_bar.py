"""Filter bar: an Input validated by ``filters.parse``, with suggestions and history."""

from __future__ import annotations

import re
from typing import Callable, Iterable

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label

from omproxy_tui.tui.model import FilterError, filters

OPERATORS_WITH_ARG = {"~m", "~tool", "~b", "~id", "~sid", "~slow", "~p", "~t", "~status", "~size", "~kind"}


def operator_codes() -> list[str]:
    codes = []
    for code, _help in filters.HELP:
        head = code.split()[0]
        if head.startswith("~"):
            codes.append(head)
    return codes


class FilterValidator(Validator):
    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            filters.parse(value)
        except FilterError as exc:
            return self.failure(str(exc))
        except ValueError as exc:  # pragma: no cover - defensive
            return self.failure(str(exc))
        return self.success()


class FilterSuggester(Suggester):
    """Completes the last word: operators after ``~``, methods/tools seen otherwise."""

    def __init__(self, methods: Callable[[], Iterable[str]], tools: Callable[[], Iterable[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.methods = methods
        self.tools = tools

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(" "):
            return None
        match = re.search(r"(\S+)$", value)
        if not match:
            return None
        word = match.group(1).lstrip("!(")
        if not word:
            return None
        before = value[: match.start(1)].split()
        prev = before[-1] if before else ""
        if word.startswith("~"):
            candidates: Iterable[str] = operator_codes()
        elif prev == "~tool":
            candidates = self.tools()
        else:
            candidates = list(self.methods()) + (list(self.tools()) if prev != "~m" else [])
        for cand in sorted(set(candidates)):
            if cand.startswith(word) and cand != word:
                return value + cand[len(word):]
        return None


class FilterBar(Vertical):
    """``/`` opens it; Enter applies; Esc closes; ↑/↓ walk the history."""

    BINDINGS = [
        Binding("escape", "close", "Close", show=False),
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
    ]

    class Applied(Message):
        def __init__(self, expression: str) -> None:
            super().__init__()
            self.expression = expression

    class Closed(Message):
        pass

    def __init__(self, methods: Callable[[], Iterable[str]], tools: Callable[[], Iterable[str]], id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[str] = []
        self._pos = 0
        self._methods = methods
        self._tools = tools

    def compose(self):
        yield Input(
            placeholder="filter: ~m tools/call & ~e  ·  ~tool search  ·  !~n  ·  word   (Enter applies, Esc closes, ? help)",
            validators=[FilterValidator()],
            validate_on=["changed", "submitted"],
            suggester=FilterSuggester(self._methods, self._tools),
            id="filter-input",
        )
        yield Label("", id="filter-error")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self, value: str | None = None) -> None:
        self.display = True
        if value is not None:
            self.input.value = value
        self._pos = len(self.history)
        self.input.focus()

    def action_close(self) -> None:
        self.post_message(self.Closed())

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + step))
        self.input.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.input.cursor_position = len(self.input.value)

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        label = self.query_one("#filter-error", Label)
        result = event.validation_result
        if result is not None and not result.is_valid:
            label.update("✗ " + "; ".join(result.failure_descriptions))
            self.add_class("-invalid")
        else:
            label.update("")
            self.remove_class("-invalid")

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if event.validation_result is not None and not event.validation_result.is_valid:
            return
        if value and (not self.history or self.history[-1] != value):
            self.history.append(value)
        self._pos = len(self.history)
        self.post_message(self.Applied(value))
