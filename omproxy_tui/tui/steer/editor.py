"""The JSON editor used to edit a held message before releasing it, and to edit a request before
replaying or injecting it: validated as you type (the exact error and where), with a diff against
the original below."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static, TextArea

from omproxy_tui.core.steering import check_message, compact, json_diff, pretty_json

#: past this many characters the live diff is skipped (difflib is quadratic in the worst case)
DIFF_LIMIT = 200_000


def json_text_area(text: str, id: str | None = None) -> TextArea:
    """Textual's code editor with JSON highlighting (tree-sitter), plain when that is missing."""
    try:
        return TextArea.code_editor(text, language="json", id=id, soft_wrap=True)
    except Exception:  # noqa: BLE001 - no tree-sitter grammar: an editor without colours still edits
        return TextArea.code_editor(text, id=id, soft_wrap=True)


def diff_text(lines: list[str]) -> Text:
    out = Text()
    for line in lines:
        style = ("green" if line.startswith("+") and not line.startswith("+++") else
                 "red" if line.startswith("-") and not line.startswith("---") else
                 "cyan" if line.startswith("@@") else "dim")
        out.append(line + "\n", style=style)
    return out


class EditorScreen(ModalScreen[str | None]):
    """Dismisses with the edited message as one compact JSON line (None when cancelled).
    Ctrl+S sends only a valid JSON-RPC message; ``original`` is what the diff compares with."""

    BINDINGS = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    def __init__(self, title: str, original: str, *, verb: str = "Release edited", start: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.original = original
        self.start_text = pretty_json(start if start is not None else original)
        self.verb = verb

    def compose(self) -> ComposeResult:
        with Vertical(id="editor-box", classes="steer-box"):
            yield Static(Text.assemble((self.title_text, "bold"), ("   Ctrl+S: " + self.verb.lower() + " · Esc: cancel",
                                                                    "dim")), id="editor-title")
            yield json_text_area(self.start_text, id="editor-text")
            yield Static("", id="editor-status")
            with VerticalScroll(id="editor-diff-box"):
                yield Static("", id="editor-diff")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#editor-diff-box").border_title = "Changes against the original"
        area = self.query_one(TextArea)
        area.focus()
        self._check(area.text)

    @property
    def text(self) -> str:
        return self.query_one(TextArea).text

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        self._check(event.text_area.text)

    def _check(self, text: str) -> bool:
        res = check_message(text)
        status = self.query_one("#editor-status", Static)
        if res.ok:
            status.update(Text("✓ valid JSON-RPC message", style="bold green"))
            self.remove_class("-invalid")
        else:
            status.update(Text("✗ " + res.describe(), style="bold red"))
            self.add_class("-invalid")
        diff = self.query_one("#editor-diff", Static)
        if not res.ok:
            diff.update(Text("(fix the JSON to see the changes)", style="dim italic"))
        elif len(text) + len(self.original) > DIFF_LIMIT:
            diff.update(Text(f"(message too large for a live diff: {len(text):,} characters)", style="dim italic"))
        else:
            lines = json_diff(self.original, text)
            diff.update(diff_text(lines) if lines else Text("no changes: it will be sent as the original",
                                                            style="dim italic"))
        return res.ok

    def action_send(self) -> None:
        text = self.text
        res = check_message(text)
        if not res.ok:
            self.notify(res.describe(), title="Not sent: the message is not valid", severity="error")
            return
        self.dismiss(compact(res.value))

    def action_cancel(self) -> None:
        self.dismiss(None)
