"""Saved filters: the dialog that names one, and the list to pick or delete one.

They live in the TUI's config file (:mod:`omproxy_tui.tui.config`); in the filter bar ``@name``
stands for a saved filter (suggested as you type, applied on Enter).
"""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from omproxy_tui.tui.config import check_name


class SaveFilterScreen(ModalScreen[str | None]):
    """Ask a name for ``expression``; dismisses with the name, or None. A name already saved is
    only replaced after a second Enter."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, expression: str, existing: dict[str, str], path: str) -> None:
        super().__init__()
        self.expression = expression
        self.existing = existing
        self.path = path
        self._confirm: str | None = None
        # made here, not in compose, so the app can send keys typed before it mounts
        self.input = Input(placeholder="a name, e.g. slow-tools", id="save-filter-name")

    def compose(self) -> ComposeResult:
        with Vertical(id="save-filter-box"):
            yield Label(Text.assemble(("Save the filter ", "dim"), (self.expression, "bold cyan")))
            yield self.input
            yield Static("", id="save-filter-note")
            yield Label(f"Enter saves to {self.path} · then @name in the filter bar or F picks it · Esc cancels",
                        classes="dim")

    def on_mount(self) -> None:
        self.query_one("#save-filter-box").border_title = "Save filter"

    def _note(self, text: str, style: str = "bold red") -> None:
        self.query_one("#save-filter-note", Static).update(Text(text, style=style))

    @on(Input.Changed, "#save-filter-name")
    def _changed(self, event: Input.Changed) -> None:
        self._confirm = None
        self._note("")

    @on(Input.Submitted, "#save-filter-name")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            name = check_name(event.value)
        except ValueError as exc:
            self._note(str(exc).capitalize() + ".")
            return
        old = self.existing.get(name)
        if old is not None and old != self.expression and self._confirm != name:
            self._confirm = name
            self._note(f"{name} is saved already ({old}): Enter again to replace it, or change the name.", "bold yellow")
            return
        self.dismiss(name)


class SavedFiltersScreen(ModalScreen[str | None]):
    """The saved filters: Enter applies one (dismisses with its expression), ``x`` deletes one."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("x,delete", "delete", "Delete"),
    ]

    def __init__(self, filters: dict[str, str], delete: Callable[[str], bool], path: str) -> None:
        super().__init__()
        self.filters = dict(filters)
        self.delete = delete
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="saved-filters-box"):
            yield OptionList(id="saved-filters")
            yield Label(f"Enter applies · x deletes · Esc closes · saved in {self.path}", classes="dim")

    def on_mount(self) -> None:
        self.query_one("#saved-filters-box").border_title = "Saved filters"
        self._fill()

    def _fill(self) -> None:
        options = self.query_one("#saved-filters", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        if not self.filters:
            options.add_option(Option(Text("No saved filters: Ctrl+S saves the current one (in the log or the filter bar).",
                                           style="dim"), id="", disabled=True))
            return
        for name, expression in sorted(self.filters.items()):
            prompt = Text.assemble((f"@{name}", "bold"), "  ", (expression, "cyan"))
            options.add_option(Option(prompt, id=name))
        options.highlighted = min(highlighted or 0, len(self.filters) - 1)
        options.focus()

    @on(OptionList.OptionSelected, "#saved-filters")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        name = event.option.id
        if name:
            self.dismiss(self.filters[name])

    def action_delete(self) -> None:
        options = self.query_one("#saved-filters", OptionList)
        if options.highlighted is None or not self.filters:
            return
        name = options.get_option_at_index(options.highlighted).id
        if name and self.delete(name):
            del self.filters[name]
            self._fill()
