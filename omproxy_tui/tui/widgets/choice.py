"""One value out of a few, changed in place with ←/→: one widget where a ``Select`` is six.

For enum and boolean fields and the compose direction; a dialog with a handful of them opens
noticeably faster than with dropdowns, and every choice stays visible on one line.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class _Blank:
    def __repr__(self) -> str:
        return "Choice.NOTHING"


_NOTHING: Any = _Blank()


class Choice(Widget, can_focus=True):
    """``options`` are ``(label, value)``; ``blank`` (when given) is the label of "no value"."""

    #: the value of "nothing chosen" (not BLANK: Widget.BLANK means "render nothing")
    NOTHING: Any = _NOTHING

    DEFAULT_CSS = """
    Choice {
        height: 3;
        width: 1fr;
        border: tall $border-blurred;
        background: $surface;
        padding: 0 1;
        &:focus {
            border: tall $border;
            background-tint: $foreground 5%;
        }
    }
    """

    BINDINGS = [
        Binding("left", "step(-1)", "Previous", show=False),
        Binding("right,space", "step(1)", "Next", show=False),
    ]

    value: reactive[Any] = reactive(None, init=False)

    class Changed(Message):
        def __init__(self, choice: Choice, value: Any) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, options: list[tuple[str, Any]], value: Any = _NOTHING, *, blank: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.blank = blank
        self.options = ([(blank, Choice.NOTHING)] if blank is not None else []) + list(options)
        values = [v for _, v in self.options]
        self.set_reactive(Choice.value, value if value in values else values[0] if values else Choice.NOTHING)

    def validate_value(self, value: Any) -> Any:
        values = [v for _, v in self.options]
        if value not in values:
            raise ValueError(f"not one of the choices: {value!r}")
        return value

    def watch_value(self, value: Any) -> None:
        self.post_message(self.Changed(self, value))

    def action_step(self, step: int) -> None:
        values = [v for _, v in self.options]
        if values:
            self.value = values[(values.index(self.value) + step) % len(values)]

    def on_click(self) -> None:
        self.action_step(1)

    def _index(self) -> int:
        for n, (_, v) in enumerate(self.options):
            if v is self.value:
                return n
        for n, (_, v) in enumerate(self.options):
            if v == self.value:
                return n
        return 0

    def render(self) -> Text:
        current = self._index()
        text = Text(no_wrap=True, overflow="ellipsis")
        hint = "   ←/→"
        if sum(len(label) + 4 for label, _ in self.options) + len(hint) <= self.content_size.width:
            for n, (label, _) in enumerate(self.options):  # all of them, the chosen one marked
                if n:
                    text.append("  ")
                text.append(f" {label} ", style="bold reverse" if n == current else "dim")
        else:  # too many to show: the chosen one and where it is in the list
            text.append(f" {self.options[current][0]} ", style="bold reverse")
            text.append(f"  {current + 1}/{len(self.options)}", style="dim")
        text.append(hint, style="dim italic")
        return text
