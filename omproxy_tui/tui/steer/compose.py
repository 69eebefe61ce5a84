"""Compose a message and inject it into a live session, toward the server or the client.

A method picker (the session's protocol version's methods plus every method seen); for
``tools/call``, ``prompts/get`` and ``resources/read`` a form generated from what the session
itself listed (its ``tools/list`` input schemas, ``prompts/list`` arguments, ``resources/list``
URIs), validated before sending; for everything else (or on F2) a JSON editor prefilled with a
valid skeleton. The model work (fields, validation, skeletons) is in ``core``; this module only
lays it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Input, Label, Select, Static, TextArea

from omproxy_tui.core.compose import LIST_FOR, methods_for, skeleton
from omproxy_tui.core.schema_form import MISSING, FormField, form_fields, prompt_fields
from omproxy_tui.core.steering import check_message, pretty_json
from omproxy_tui.tui.steer.editor import json_text_area

TARGETS = [("→ to the server", "server"), ("← to the client", "client")]


@dataclass
class ComposeContext:
    """What the compose screen needs from the app (it never reaches into the app itself)."""

    session: str
    protocol_version: str | None
    #: ``(dir, method)`` of the session's requests and notifications
    seen: list[tuple[str, str]]
    #: list method -> captured items (None when not captured); called again after fetching
    captured: Callable[[str], list[dict[str, Any]] | None]
    #: (to, message) -> None when the proxy took it, else the proxy's refusal
    send: Callable[[str, dict[str, Any]], Awaitable[str | None]]


class ComposeScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("f2", "toggle_json", "Form/JSON", priority=True),
        Binding("ctrl+l", "fetch_list", "Inject the list", show=False),
        Binding("escape", "dismiss(None)", "Close", priority=True),
    ]

    def __init__(self, ctx: ComposeContext, *, to: str = "server", method: str | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.to = to
        self.method = method
        self.target: str | None = None
        self.fields: list[FormField] = []
        self.items: list[dict[str, Any]] | None = None
        self.json_mode = False
        self._waiting_for_list = 0

    # ---- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        methods = methods_for(self.ctx.protocol_version, self.to, self.ctx.seen)
        if self.method is None:
            self.method = "tools/call" if self.to == "server" and "tools/call" in methods else methods[0]
        with Vertical(id="compose-box", classes="steer-box"):
            version = self.ctx.protocol_version or "protocol version not seen yet"
            yield Static(Text.assemble(("Compose & inject into ", "bold"), (self.ctx.session, "bold cyan"),
                                       (f"   ({version})", "dim")), id="compose-title")
            with Horizontal(id="compose-head"):
                yield Select(TARGETS, value=self.to, allow_blank=False, id="compose-to")
                yield Select([(m, m) for m in methods], value=self.method, allow_blank=False, id="compose-method")
                yield Select([], prompt="pick one", id="compose-target")
            with Horizontal(id="compose-note-row"):
                yield Static("", id="compose-note")
                yield Button("Inject the list now", id="compose-fetch", variant="primary")
            yield VerticalScroll(id="compose-form")
            yield json_text_area("", id="compose-json")
            yield Static("", id="compose-status")
        yield Footer()

    async def on_mount(self) -> None:
        await self._rebuild()

    # ---- what is shown --------------------------------------------------------------------

    @property
    def list_method(self) -> str | None:
        return LIST_FOR.get(self.method or "") if self.to == "server" else None

    async def _rebuild(self, keep_target: bool = False) -> None:
        """Show the target picker, the form or the JSON editor for the current method."""
        target_select = self.query_one("#compose-target", Select)
        note = self.query_one("#compose-note", Static)
        fetch = self.query_one("#compose-fetch", Button)
        list_method = self.list_method
        self.items = self.ctx.captured(list_method) if list_method else None
        note_text = ""
        if list_method and self.items is None:
            note_text = f"No {list_method} answer captured in this session yet: inject one to get a form (Ctrl+L)."
        elif list_method and not self.items:
            note_text = f"The server's {list_method} answer is empty."
        note.update(Text(note_text, style="italic yellow"))
        fetch.display = bool(list_method and self.items is None)
        fetch.label = f"Inject {list_method} now" if list_method else ""
        self.query_one("#compose-note-row").display = bool(note_text)
        if list_method and self.items:
            ident = "uri" if list_method == "resources/list" else "name"
            options = [(self._item_label(it, ident), it[ident]) for it in self.items]
            names = [v for _, v in options]
            if not keep_target or self.target not in names:
                self.target = names[0]
            with self.prevent(Select.Changed):
                target_select.set_options(options)
                target_select.value = self.target
            target_select.display = True
        else:
            self.target = None
            target_select.display = False
        self.fields = self._fields()
        form_possible = bool(list_method and self.items)
        if not form_possible:
            self.json_mode = True
        elif not keep_target:
            self.json_mode = False
        await self._show_form()
        if self.json_mode:
            self._set_json(self._message_from_form() if form_possible else skeleton(self.method or "ping"))
        self._show_mode()

    @staticmethod
    def _item_label(item: dict[str, Any], ident: str) -> str:
        label = str(item.get(ident))
        desc = item.get("title") or item.get("description") or (item.get("name") if ident == "uri" else "")
        if desc and desc != label:
            label += f" — {str(desc).splitlines()[0][:60]}"
        return label

    def _fields(self) -> list[FormField]:
        item = next((it for it in self.items or [] if it.get("name", it.get("uri")) == self.target), None)
        if self.method == "tools/call" and item is not None:
            return form_fields(item.get("inputSchema"))
        if self.method == "prompts/get" and item is not None:
            return prompt_fields(item)
        if self.method == "resources/read" and item is not None:
            return [FormField("uri", "string", "string", str(item.get("description") or item.get("name") or ""),
                              True, default=item.get("uri"), schema={"type": "string"})]
        return []

    async def _show_form(self) -> None:
        form = self.query_one("#compose-form", VerticalScroll)
        await form.remove_children()
        widgets: list[Any] = []
        if not self.fields and self.list_method and self.items:
            widgets.append(Label("No arguments.", classes="dim"))
        uris = [str(it.get("uri")) for it in self.items or [] if it.get("uri")]
        for n, f in enumerate(self.fields):
            head = Text()
            head.append(f.name, style="bold")
            if f.required:
                head.append(" *", style="bold red")
            head.append(f"  {f.type_label}", style="italic cyan")
            if f.default is not MISSING:
                head.append(f"  default {json.dumps(f.default)}", style="dim")
            if f.description:
                head.append(f"  {f.description}", style="dim")
            widgets.append(Static(head, classes="field-label"))
            if f.kind in ("enum", "boolean"):
                initial = f.initial_text()
                options = [(label, label) for label, _ in f.choices]
                value = initial if initial in [v for _, v in options] else Select.NULL
                widgets.append(Select(options, value=value, allow_blank=True, prompt="(not sent)" if not f.required
                                      else "choose…", id=f"field-{n}", classes="field-input"))
            else:
                suggester = SuggestFromList(uris) if f.name == "uri" and uris else None
                widgets.append(Input(f.initial_text(), placeholder=f.type_label + ("" if f.required else " (optional)"),
                                     id=f"field-{n}", classes="field-input", suggester=suggester))
            widgets.append(Static("", id=f"field-error-{n}", classes="field-error"))
        if widgets:
            await form.mount_all(widgets)

    def _show_mode(self) -> None:
        self.query_one("#compose-form").display = not self.json_mode
        area = self.query_one("#compose-json", TextArea)
        area.display = self.json_mode
        if self.json_mode:
            area.focus()
        else:
            first = self.query(".field-input").first() if self.query(".field-input") else None
            (first or self.query_one("#compose-method")).focus()

    def _set_json(self, obj: dict[str, Any]) -> None:
        self.query_one("#compose-json", TextArea).load_text(pretty_json(obj))
        self._status("")

    # ---- form values ----------------------------------------------------------------------

    def _entered(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n, f in enumerate(self.fields):
            widget = self.query_one(f"#field-{n}")
            if isinstance(widget, Select):
                out[f.name] = "" if widget.value is Select.NULL else widget.value
            else:
                out[f.name] = widget.value  # type: ignore[attr-defined]
        return out

    def _validate_form(self) -> tuple[dict[str, Any], dict[str, str]]:
        entered = self._entered()
        args: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for n, f in enumerate(self.fields):
            value, err = f.parse(entered.get(f.name, ""))
            self.query_one(f"#field-error-{n}", Static).update(Text("✗ " + err, style="bold red") if err else "")
            if err:
                errors[f.name] = err
            elif value is not MISSING:
                args[f.name] = value
        return args, errors

    def _message_from_form(self, args: dict[str, Any] | None = None) -> dict[str, Any]:
        if args is None:
            args, _ = self._validate_form()
        obj = skeleton(self.method or "ping")
        if self.method == "tools/call":
            obj["params"] = {"name": self.target, "arguments": args}
        elif self.method == "prompts/get":
            obj["params"] = {"name": self.target, "arguments": args}
        elif self.method == "resources/read":
            obj["params"] = {"uri": args.get("uri", self.target)}
        return obj

    @on(Input.Changed, ".field-input")
    @on(Select.Changed, ".field-input")
    def _field_changed(self, event: Any) -> None:
        widget = event.control if hasattr(event, "control") else event.input
        n = int((widget.id or "field-0").rsplit("-", 1)[1])
        f = self.fields[n] if n < len(self.fields) else None
        if f is None:
            return
        value = widget.value
        if isinstance(widget, Select):
            value = "" if value is Select.NULL else value
        _, err = f.parse(value)
        self.query_one(f"#field-error-{n}", Static).update(Text("✗ " + err, style="bold red") if err else "")

    @on(TextArea.Changed, "#compose-json")
    def _json_changed(self, event: TextArea.Changed) -> None:
        res = check_message(event.text_area.text, allow_response=True)
        self._status("" if res.ok else "✗ " + res.describe(), error=True)

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#compose-status", Static).update(Text(text, style="bold red" if error else "bold green"))

    # ---- pickers --------------------------------------------------------------------------

    @on(Select.Changed, "#compose-to")
    async def _to_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.to:
            return
        self.to = str(event.value)
        methods = methods_for(self.ctx.protocol_version, self.to, self.ctx.seen)
        self.method = methods[0] if methods else "ping"
        select = self.query_one("#compose-method", Select)
        with self.prevent(Select.Changed):
            select.set_options([(m, m) for m in methods])
            select.value = self.method
        await self._rebuild()

    @on(Select.Changed, "#compose-method")
    async def _method_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.method:
            return
        self.method = str(event.value)
        await self._rebuild()

    @on(Select.Changed, "#compose-target")
    async def _target_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.target:
            return
        self.target = str(event.value)
        self.fields = self._fields()
        self.json_mode = False
        await self._show_form()
        self._show_mode()

    # ---- actions --------------------------------------------------------------------------

    def action_toggle_json(self) -> None:
        if self.json_mode:
            if not (self.list_method and self.items):
                self.notify("This method has no form: edit its JSON.", severity="information")
                return
            self.json_mode = False
        else:
            self.json_mode = True
            self._set_json(self._message_from_form())
        self._show_mode()

    @on(Button.Pressed, "#compose-fetch")
    def _fetch_pressed(self) -> None:
        self.action_fetch_list()

    def action_fetch_list(self) -> None:
        list_method = self.list_method
        if list_method and self.items is None:
            self.run_worker(self._fetch(list_method), group="compose-fetch", exclusive=True)

    async def _fetch(self, list_method: str) -> None:
        error = await self.ctx.send("server", skeleton(list_method))
        if error:
            self._status(f"The proxy refused {list_method}: {error}", error=True)
            return
        self._status(f"{list_method} injected; waiting for the answer…")
        self._waiting_for_list = 150
        self.set_timer(0.1, self._poll_list)

    async def _poll_list(self) -> None:
        list_method = self.list_method
        if list_method is None:
            return
        if self.ctx.captured(list_method) is not None:
            self._status(f"{list_method} answered: pick below.")
            await self._rebuild()
            return
        self._waiting_for_list -= 1
        if self._waiting_for_list > 0:
            self.set_timer(0.1, self._poll_list)
        else:
            self._status(f"No answer to {list_method} yet (it shows in the log when it comes).", error=True)

    def action_send(self) -> None:
        if self.json_mode:
            res = check_message(self.query_one("#compose-json", TextArea).text)
            if not res.ok:
                self._status("Not sent: " + res.describe(), error=True)
                return
            message = res.value
            if not isinstance(message, dict):
                self._status("Not sent: inject one message at a time (not a batch)", error=True)
                return
        else:
            args, errors = self._validate_form()
            if errors:
                self._status(f"Not sent: {len(errors)} field(s) need fixing: " + ", ".join(errors), error=True)
                return
            message = self._message_from_form(args)
        self.run_worker(self._send(message), group="compose-send", exclusive=True)

    async def _send(self, message: dict[str, Any]) -> None:
        error = await self.ctx.send(self.to, message)
        if error:
            self._status(f"The proxy refused it: {error}", error=True)
            return
        self.dismiss(None)
