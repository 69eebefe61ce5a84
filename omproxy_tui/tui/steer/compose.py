"""Compose a message and inject it into a live session, toward the server or the client.

A method picker (the session's protocol version's methods plus every method seen); for
``tools/call``, ``prompts/get`` and ``resources/read`` a list of what the session itself listed
(its ``tools/list`` tools, ``prompts/list`` prompts, ``resources/list`` URIs) beside a form for
the highlighted one, validated before sending; for everything else (or on F2) a JSON editor
prefilled with a valid skeleton. The model work (fields, validation, skeletons) is in ``core``;
this module only lays it out.

Opening it must stay fast with hundreds of tools, so: the tools are one Line-API list (one
widget, only the visible rows are rendered); only the highlighted tool's fields are mounted, and
they are composed with the screen (no second layout pass); the JSON editor is mounted the first
time it is needed; the screen is opaque (a see-through modal re-renders the whole log behind it
on every paint); and the footer does not rebuild itself when focus moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static, TextArea

from omproxy_tui.core.compose import LIST_FOR, methods_for, skeleton
from omproxy_tui.core.schema_form import MISSING, FormField, form_fields, prompt_fields
from omproxy_tui.core.steering import check_message, pretty_json
from omproxy_tui.tui.steer.editor import json_text_area
from omproxy_tui.tui.widgets.choice import Choice
from omproxy_tui.tui.widgets.pick_list import PickList
from omproxy_tui.tui.widgets.steady_footer import SteadyFooter

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


def field_label(f: FormField, error: str | None = None) -> Text:
    """A field's heading: name, required mark, type, default, description; its error below."""
    head = Text()
    head.append(f.name, style="bold")
    if f.required:
        head.append(" *", style="bold red")
    head.append(f"  {f.type_label}", style="italic cyan")
    if f.default is not MISSING:
        head.append(f"  default {json.dumps(f.default)}", style="dim")
    if f.description:
        head.append(f"  {f.description}", style="dim")
    if f.kind == "enum" and len(f.choices) > 5:  # more than the choice line may have room for
        listed = ", ".join(label for label, _ in f.choices)
        head.append(f"  one of: {listed if len(listed) <= 100 else listed[:99] + '…'}", style="dim")
    if error:
        head.append("\n✗ " + error, style="bold red")
    return head


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
        #: the field errors shown (index -> message)
        self._errors: dict[int, str] = {}
        #: the target the list's highlight asks for; the form catches up (see _sync_target)
        self._want_target: str | None = None
        self._syncing = False
        self._resumed = False

    # ---- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        methods = methods_for(self.ctx.protocol_version, self.to, self.ctx.seen)
        if self.method is None:
            self.method = "tools/call" if self.to == "server" and "tools/call" in methods else methods[0]
        self._load_method()
        with Vertical(id="compose-box", classes="steer-box"):
            version = self.ctx.protocol_version or "protocol version not seen yet"
            yield Static(Text.assemble(("Compose & inject into ", "bold"), (self.ctx.session, "bold cyan"),
                                       (f"   ({version})", "dim")), id="compose-title")
            with Horizontal(id="compose-head"):
                yield Choice(TARGETS, value=self.to, id="compose-to")
                yield Select([(m, m) for m in methods], value=self.method, allow_blank=False, id="compose-method")
            if self._note_text():  # composed only when there is something to say (see _show_note)
                yield self._note_row()
            with Horizontal(id="compose-main"):
                yield PickList(self._target_items(), id="compose-target")
                with VerticalScroll(id="compose-form"):
                    yield from self._form_widgets()
            if self.json_mode:
                yield self._new_json_area()
            yield Static("", id="compose-status")
        yield SteadyFooter()
        # focus lands where it belongs when the screen is composed (a second focus change later
        # is another layout and paint)
        self.AUTO_FOCUS = ("#compose-json" if self.json_mode else "#field-0" if self.fields
                           else "#compose-target" if self.form_possible else "#compose-method")

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # The first resume follows the mount at once: every widget was styled as it mounted,
        # and restyling them all again cost a quarter of the time it took to open.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
        super()._on_screen_resume(event)

    def on_mount(self) -> None:
        self._show_targets(reset_options=False)
        self._show_mode(focus=False)

    # ---- what is shown --------------------------------------------------------------------

    @property
    def list_method(self) -> str | None:
        return LIST_FOR.get(self.method or "") if self.to == "server" else None

    @property
    def form_possible(self) -> bool:
        return bool(self.list_method and self.items)

    def _load_method(self) -> None:
        """The captured list, target, fields and mode for the current direction and method."""
        list_method = self.list_method
        self.items = self.ctx.captured(list_method) if list_method else None
        names = [self._ident(it) for it in self.items or []]
        if self.target not in names:
            self.target = names[0] if names else None
        self._want_target = self.target
        self.fields = self._fields()
        self._errors = {}
        self.json_mode = not self.form_possible

    async def _rebuild(self) -> None:
        """After the direction or method changed: note, target list, form or JSON editor."""
        self.target = None
        self._load_method()
        await self._show_note()
        self._show_targets(reset_options=True)
        await self._show_form()
        if self.json_mode:
            await self._set_json(skeleton(self.method or "ping"))
        self._show_mode()

    def _note_text(self) -> str:
        list_method = self.list_method
        if list_method and self.items is None:
            return f"No {list_method} answer captured in this session yet: inject one to get a form (Ctrl+L)."
        if list_method and not self.items:
            return f"The server's {list_method} answer is empty."
        return ""

    def _note_row(self) -> Horizontal:
        list_method = self.list_method
        fetch = Button(f"Inject {list_method} now", id="compose-fetch", variant="primary")
        fetch.display = bool(list_method and self.items is None)
        return Horizontal(Static(Text(self._note_text(), style="italic yellow"), id="compose-note"), fetch,
                          id="compose-note-row")

    async def _show_note(self) -> None:
        try:
            await self.query_one("#compose-note-row").remove()
        except NoMatches:
            pass
        if self._note_text():
            await self.query_one("#compose-box").mount(self._note_row(), after="#compose-head")

    def _ident(self, item: dict[str, Any]) -> str:
        return str(item.get("uri") if self.list_method == "resources/list" else item.get("name"))

    def _target_items(self) -> list[tuple[str, str, str]]:
        """``(id, name, detail)`` rows of the target list."""
        if not self.form_possible:
            return []
        return [(self._ident(it), self._ident(it), self._item_detail(it)) for it in self.items or []]

    def _item_detail(self, item: dict[str, Any]) -> str:
        detail = item.get("title") or item.get("description") or (
            item.get("name") if self.list_method == "resources/list" else "")
        return str(detail).splitlines()[0][:200] if detail and detail != self._ident(item) else ""

    def _show_targets(self, *, reset_options: bool) -> None:
        targets = self.query_one("#compose-target", PickList)
        names = [row[0] for row in targets.items]
        if reset_options:
            rows = self._target_items()
            names = [row[0] for row in rows]
            targets.set_items(rows, names.index(self.target) if self.target in names else 0)
        elif self.target in names:
            targets.cursor = names.index(self.target)
        if targets.display != self.form_possible:  # (setting it, even unchanged, asks for a layout)
            targets.display = self.form_possible
        if self.form_possible:
            targets.border_title = f"{self.list_method.split('/')[0]} ({len(self.items or [])})"  # type: ignore[union-attr]

    def _fields(self) -> list[FormField]:
        item = next((it for it in self.items or [] if self._ident(it) == self.target), None)
        if self.method == "tools/call" and item is not None:
            return form_fields(item.get("inputSchema"))
        if self.method == "prompts/get" and item is not None:
            return prompt_fields(item)
        if self.method == "resources/read" and item is not None:
            return [FormField("uri", "string", "string", str(item.get("description") or item.get("name") or ""),
                              True, default=item.get("uri"), schema={"type": "string"})]
        return []

    def _form_widgets(self) -> list[Widget]:
        """Two widgets per field: its label (with its error) and its input."""
        widgets: list[Widget] = []
        if not self.form_possible:
            return widgets
        item = next((it for it in self.items or [] if self._ident(it) == self.target), None)
        if item is not None:
            title = Text(self._ident(item), style="bold")
            detail = item.get("description") or item.get("title") or ""
            if detail and detail != self._ident(item):
                title.append(f"  {detail}", style="dim")
            widgets.append(Static(title, id="compose-form-title"))
        if not self.fields:
            widgets.append(Static(Text("No arguments.", style="dim"), classes="field-label"))
        uris = [str(it.get("uri")) for it in self.items or [] if it.get("uri")]
        for n, f in enumerate(self.fields):
            widgets.append(Static(field_label(f), id=f"field-label-{n}", classes="field-label"))
            if f.kind in ("enum", "boolean"):
                initial = f.initial_text()
                options = [(label, label) for label, _ in f.choices]
                value = initial if initial in [v for _, v in options] else Choice.NOTHING
                widgets.append(Choice(options, value, blank="not sent" if not f.required else "choose…",
                                      id=f"field-{n}", classes="field-input"))
            else:
                suggester = SuggestFromList(uris) if f.name == "uri" and uris else None
                widgets.append(Input(f.initial_text(), placeholder=f.type_label + ("" if f.required else " (optional)"),
                                     id=f"field-{n}", classes="field-input", suggester=suggester))
        return widgets

    async def _show_form(self) -> None:
        form = self.query_one("#compose-form", VerticalScroll)
        with self.app.batch_update():
            await form.remove_children()
            widgets = self._form_widgets()
            if widgets:
                await form.mount_all(widgets)

    def _show_mode(self, *, focus: bool = True) -> None:
        main = self.query_one("#compose-main")
        if main.display != (not self.json_mode):
            main.display = not self.json_mode
        try:
            area = self.query_one("#compose-json", TextArea)
        except NoMatches:
            area = None
        if area is not None:
            area.display = self.json_mode
        if not focus:
            return
        if self.json_mode and area is not None:
            area.focus()
        elif self.form_possible:
            inputs = self.query(".field-input")
            (inputs.first() if inputs else self.query_one("#compose-target")).focus()
        else:
            self.query_one("#compose-method").focus()

    def _new_json_area(self) -> TextArea:
        # composed with the screen only for methods without a form
        return json_text_area(pretty_json(skeleton(self.method or "ping")), id="compose-json")

    async def _set_json(self, obj: dict[str, Any]) -> None:
        """Show ``obj`` in the JSON editor, mounting the editor the first time."""
        try:
            self.query_one("#compose-json", TextArea).load_text(pretty_json(obj))
        except NoMatches:
            await self.query_one("#compose-box").mount(json_text_area(pretty_json(obj), id="compose-json"),
                                                      before="#compose-status")
        self._status("")

    @property
    def json_text(self) -> str:
        """The JSON editor's text ('' before it was first shown)."""
        try:
            return self.query_one("#compose-json", TextArea).text
        except NoMatches:
            return ""

    # ---- form values ----------------------------------------------------------------------

    def field_error(self, n: int) -> str:
        """The error shown under field ``n`` ('' when none)."""
        return self._errors.get(n, "")

    def _show_error(self, n: int, err: str | None) -> None:
        if (self._errors.get(n) or None) == (err or None):
            return
        if err:
            self._errors[n] = err
        else:
            self._errors.pop(n, None)
        self.query_one(f"#field-label-{n}", Static).update(field_label(self.fields[n], err))

    def _entered(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n, f in enumerate(self.fields):
            widget = self.query_one(f"#field-{n}")
            if isinstance(widget, Choice):
                out[f.name] = "" if widget.value is Choice.NOTHING else widget.value
            else:
                out[f.name] = widget.value  # type: ignore[attr-defined]
        return out

    def _validate_form(self, *, show: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
        entered = self._entered()
        args: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for n, f in enumerate(self.fields):
            value, err = f.parse(entered.get(f.name, ""))
            if show:
                self._show_error(n, err)
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
    @on(Choice.Changed, ".field-input")
    def _field_changed(self, event: Any) -> None:
        widget = event.control if hasattr(event, "control") else event.input
        n = int((widget.id or "field-0").rsplit("-", 1)[1])
        f = self.fields[n] if n < len(self.fields) else None
        if f is None:
            return
        value = widget.value
        if isinstance(widget, Choice):
            value = "" if value is Choice.NOTHING else value
        _, err = f.parse(value)
        self._show_error(n, err)

    @on(TextArea.Changed, "#compose-json")
    def _json_changed(self, event: TextArea.Changed) -> None:
        res = check_message(event.text_area.text, allow_response=True)
        self._status("" if res.ok else "✗ " + res.describe(), error=True)

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#compose-status", Static).update(Text(text, style="bold red" if error else "bold green"))

    # ---- pickers --------------------------------------------------------------------------

    @on(Choice.Changed, "#compose-to")
    async def _to_changed(self, event: Choice.Changed) -> None:
        if event.value == self.to:
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

    @on(PickList.Highlighted, "#compose-target")
    def _target_highlighted(self, event: PickList.Highlighted) -> None:
        self.pick_target(event.item_id)

    @on(PickList.Chosen, "#compose-target")
    def _target_chosen(self, event: PickList.Chosen) -> None:
        # Enter on a tool: on to its first field (once its form is there)
        self.pick_target(event.item_id)
        self.call_after_refresh(self._focus_first_field)

    def _focus_first_field(self) -> None:
        if not self.form_ready:
            self.call_after_refresh(self._focus_first_field)
            return
        inputs = self.query(".field-input")
        if inputs:
            inputs.first().focus()

    @property
    def form_ready(self) -> bool:
        """The form shown is the highlighted target's (it catches up with the list)."""
        return not self._syncing and self.target == self._want_target

    def pick_target(self, name: str | None) -> None:
        """Show the form of tool (prompt, resource) ``name``; the highlight of the list calls this."""
        if name is None or name == self._want_target:
            return
        self._want_target = name
        targets = self.query_one("#compose-target", PickList)
        index = targets.index_of(name)
        if index is not None and targets.cursor != index:
            targets.cursor = index
        if not self._syncing:
            self._syncing = True
            self.run_worker(self._sync_target(), group="compose-target")

    async def _sync_target(self) -> None:
        # One rebuild at a time, for the latest highlight: holding ↓ through 200 tools rebuilds
        # the form as fast as it can be, never once per key behind the cursor.
        try:
            while self.target != self._want_target:
                self.target = self._want_target
                self.fields = self._fields()
                self._errors = {}
                await self._show_form()
        finally:
            self._syncing = False

    # ---- actions --------------------------------------------------------------------------

    async def action_toggle_json(self) -> None:
        if self.json_mode:
            if not self.form_possible:
                self.notify("This method has no form: edit its JSON.", severity="information")
                return
            self.json_mode = False
        else:
            self.json_mode = True
            await self._set_json(self._message_from_form())
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
            res = check_message(self.json_text)
            if not res.ok:
                self._status("Not sent: " + res.describe(), error=True)
                return
            message = res.value
            if not isinstance(message, dict):
                self._status("Not sent: inject one message at a time (not a batch)", error=True)
                return
        else:
            if not self.form_ready:
                self.call_after_refresh(self.action_send)  # the form is still catching up with the list
                return
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
