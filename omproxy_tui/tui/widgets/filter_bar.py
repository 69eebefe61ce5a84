"""Filter bar: an Input validated by ``filters.parse``, with suggestions and history.

``@name`` (the whole input) stands for a saved filter (``tui/config.py``): suggested as you type,
applied like the expression it names; Ctrl+S saves what is typed under a name.
"""

from __future__ import annotations

from typing import Callable, Iterable

from textual import events, on
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.timer import Timer
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label

from omproxy_tui.tui.model import FilterError, filters

#: seconds of typing pause before a valid expression is applied live
LIVE_DELAY = 0.3


def saved_name(value: str) -> str | None:
    """``@name`` -> ``name``; None for anything else."""
    value = value.strip()
    return value[1:] if value.startswith("@") and " " not in value else None


class FilterValidator(Validator):
    def __init__(self, saved: Callable[[], dict[str, str]] | None = None) -> None:
        super().__init__()
        self.saved = saved

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        name = saved_name(value)
        if name is not None and self.saved is not None:
            if name in self.saved():
                return self.success()
            return self.failure(f"no saved filter named {name!r} (F lists them)")
        try:
            filters.parse(value)
        except FilterError as exc:
            return self.failure(str(exc))
        except ValueError as exc:  # pragma: no cover - defensive
            return self.failure(str(exc))
        return self.success()


class FilterSuggester(Suggester):
    """Completes the last word: operators after ``~``, methods/tools seen otherwise."""

    def __init__(
        self,
        methods: Callable[[], Iterable[str]],
        tools: Callable[[], Iterable[str]],
        sessions: Callable[[], Iterable[str]] = lambda: (),
        saved: Callable[[], dict[str, str]] = dict,
    ) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.methods = methods
        self.tools = tools
        self.sessions = sessions
        self.saved = saved

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        if value.startswith("@"):
            return next((f"@{n}" for n in sorted(self.saved()) if f"@{n}".startswith(value) and f"@{n}" != value), None)
        suggest = getattr(filters, "suggest", None)
        if suggest is None:
            return None
        try:
            options = suggest(value, sorted(self.methods()), sorted(self.tools()), sorted(self.sessions()))
        except Exception:
            return None
        for option in options:
            if option.startswith(value) and option != value:
                return option
        return None


class FilterInput(Input):
    """The bar's input: ``?`` typed into an empty bar asks for help instead (inside an
    expression it is regex syntax and is typed)."""

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "?" and not self.value:
            event.stop()
            event.prevent_default()
            self.post_message(FilterBar.HelpRequested())
            return
        await super()._on_key(event)


class FilterBar(Vertical):
    """``/`` opens it; Enter applies; Esc closes; ↑/↓ walk the history."""

    BINDINGS = [
        Binding("escape", "close", "Close", show=False),
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
        Binding("ctrl+s", "save", "Save filter", show=False),
    ]

    class Applied(Message):
        """Apply this expression; ``live`` while typing (debounced), not live on Enter."""

        def __init__(self, expression: str, live: bool = False) -> None:
            super().__init__()
            self.expression = expression
            self.live = live

    class Closed(Message):
        """Esc: close, and restore the filter applied before the bar opened."""

    class SaveRequested(Message):
        """Ctrl+S: save this expression under a name."""

        def __init__(self, expression: str) -> None:
            super().__init__()
            self.expression = expression

    class HelpRequested(Message):
        """``?`` in an empty bar (in an expression, ``?`` is a regex character), or F1."""

    def __init__(
        self,
        methods: Callable[[], Iterable[str]],
        tools: Callable[[], Iterable[str]],
        sessions: Callable[[], Iterable[str]] = lambda: (),
        id: str | None = None,
        saved: Callable[[], dict[str, str]] = dict,
    ) -> None:
        super().__init__(id=id)
        #: saved filters, name -> expression (the config file's)
        self.saved = saved
        self._sessions = sessions
        self._live_timer: Timer | None = None
        self.history: list[str] = []
        self._pos = 0
        self._methods = methods
        self._tools = tools

    def compose(self):
        yield FilterInput(
            placeholder="~m tools/call & ~e · ~tool search · !~n · word · @saved   (Enter applies · Esc restores · ? help)",
            validators=[FilterValidator(self.saved)],
            validate_on=["changed", "submitted"],
            suggester=FilterSuggester(self._methods, self._tools, self._sessions, self.saved),
            id="filter-input",
        )
        error = Label("", id="filter-error")
        error.display = False
        yield error

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self, value: str | None = None) -> None:
        self.display = True
        if value is not None:
            self.input.value = value
        self._pos = len(self.history)
        self.input.focus()

    def expand(self, value: str) -> str:
        """The expression ``value`` stands for: a saved filter's for ``@name``, else itself."""
        value = value.strip()
        name = saved_name(value)
        return self.saved().get(name, value) if name is not None else value

    def action_save(self) -> None:
        self.post_message(self.SaveRequested(self.expand(self.input.value)))

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
        if self._live_timer is not None:
            self._live_timer.stop()
            self._live_timer = None
        if result is not None and not result.is_valid:
            label.update("✗ " + "; ".join(result.failure_descriptions))
            label.display = True
            self.add_class("-invalid")
        else:
            label.update("")
            label.display = False  # no empty row under the input
            self.remove_class("-invalid")
            value = self.expand(event.value)
            if self.display and self.has_focus_within:
                # live filtering while typing, debounced (a re-filter of 100k records is ~50 ms)
                self._live_timer = self.set_timer(LIVE_DELAY, lambda: self.post_message(self.Applied(value, live=True)))

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._live_timer is not None:
            self._live_timer.stop()
            self._live_timer = None
        if event.validation_result is not None and not event.validation_result.is_valid:
            return
        value = self.expand(event.value)
        if value != event.value.strip():
            self.input.value = value  # @name: show what it stands for
            self.input.cursor_position = len(value)
        if value and (not self.history or self.history[-1] != value):
            self.history.append(value)
        self._pos = len(self.history)
        self.post_message(self.Applied(value))
