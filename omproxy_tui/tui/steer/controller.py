"""Steering actions of the app: pause/resume, intercept, release/drop/edit, inject, replay,
cancel. A mixin on :class:`~omproxy_tui.tui.app.OmproxyApp`, so the app module stays about
viewing. The state it renders is the session model's mirror of the proxy's ``state`` frames
(:class:`~omproxy_tui.core.sessions.Session`; helpers in :mod:`omproxy_tui.core.steering`), and
every change goes to the proxy as a command (:mod:`omproxy_tui.protocol.frames`): nothing here
changes that state on its own, the proxy's next ``state``/``message`` frames do, so several TUIs
on one proxy stay in agreement.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from rich.text import Text

from omproxy_tui.core import steering as cmds
from omproxy_tui.core.compose import captured_list
from omproxy_tui.core.steering import (DIR_WORDS, Steering, held_everywhere, holding, json_diff, status_parts,
                                       steer_refusal, totals)
from omproxy_tui.tui.steer.compose import ComposeContext, ComposeScreen
from omproxy_tui.tui.steer.dialogs import ChoiceScreen, HeldScreen, InterceptScreen
from omproxy_tui.tui.steer.editor import EditorScreen

if TYPE_CHECKING:
    from omproxy_tui.tui.model import Record
    from omproxy_tui.core.sessions import Session as SessionInfo

#: seconds to wait for the proxy's reply to a command
REPLY_TIMEOUT = 10.0

#: shown when ``omproxy-tui --demo`` starts: the demo's slow calls are there to be held
DEMO_HINT = ("i, then ~q & ~tool slow: the demo's slow calls stop at the proxy (H). e edits one (try "
             "\"seconds\": 0.1), a releases it, X drops it. C composes a call to deploy from the server's "
             "own schema. ? explains it all.")

#: the help screen's walkthrough (the keys are the defaults; the key table shows remaps)
STEERING_HELP = [
    ("which session", "the selected message's (or the one shown with Enter in the sessions list, or the only live "
                      "one); ended sessions and --open files cannot be steered"),
    ("hold", "i: intercept a filter (~q & ~tool slow), I clears it · P pauses both directions, > and < one"),
    ("see what is held", "H flag in the log · ~held filter · h next held · H list of all held, oldest first · the "
                         "status bar: ⏸ paused, ⚑ intercept, N held + bytes, per session"),
    ("let it go", "a releases the selected one · A releases all (session or everywhere) · X drops it (a dropped "
                  "request is answered with an error)"),
    ("change it", "e opens the JSON editor (checked as you type, diff below); Ctrl+S releases the edit"),
    ("send your own", "C composes: pick the direction and method; tools/call, prompts/get and resources/read get a "
                      "form from the server's own list (F2: raw JSON); Ctrl+S injects it"),
    ("again", "r replays the selected request · R edits it first · X on an injected request in flight cancels it"),
    ("leave", "q asks whether to release what is held first (the proxy does when its last inspector leaves)"),
]


class SteeringMixin:
    """``action_*`` methods for the steering keys (see ``actions.py``), plus the helpers the app's
    ingest and status bar call. Expects the app's ``sessions``, ``store``, ``log_widget``…"""

    steering: Steering
    _steer_sig: Any = None
    #: (session, list method, indices of its answers) -> the items they list (see action_steer_compose)
    _captured_lists: dict[tuple, Any] | None = None

    # ---- rendering the model ------------------------------------------------------------

    def steer_after_ingest(self) -> None:
        """After each batch: repaint the status line at once when what is held, paused or
        intercepted changed (the periodic tick would show it up to half a second late)."""
        app: Any = self
        sig = tuple((s.label, len(s.held), s.held_bytes, s.intercept, tuple(sorted((s.paused or {}).items())))
                    for s in app.sessions.values())
        if sig != self._steer_sig:
            self._steer_sig = sig
            self._steer_repaint()

    def _steer_repaint(self) -> None:
        from textual.css.query import NoMatches

        try:
            self._refresh_status()  # type: ignore[attr-defined]
        except NoMatches:  # the main screen is not mounted (start-up, shutdown)
            pass

    def steer_status(self) -> Text:
        """Per session, in colour: paused directions, the intercept filter, held count + bytes."""
        app: Any = self
        text = Text()
        for session in app.sessions.values():
            parts = status_parts(session)
            if parts:
                text.append(" │ ", style="dim")
                for piece, style in parts:
                    text.append(piece, style=style)
        return text

    # ---- targets --------------------------------------------------------------------------

    def _steer_info(self, rec: Record | None = None) -> SessionInfo | None:
        """The session steering acts on: the selected message's, else the one shown, else the
        only live one; None (with a message saying why) when there is none or it cannot be steered."""
        app: Any = self
        info = None
        if rec is None:
            rec = app.log_widget.selected_record()
        if rec is not None:
            info = app.sessions_by_label.get(str(rec.session))
        if info is None and app.session_scope:
            info = app.sessions_by_label.get(app.session_scope)
        if info is None:
            live = [i for i in app.sessions.values() if i.state == "live"]
            if len(live) == 1:
                info = live[0]
        if info is None:
            app.notify("Select a message of the session to steer (or show one session with Enter in the list).",
                       severity="warning")
            return None
        refusal = steer_refusal(info.state, info.source.can_send, info.proxy.get("transport"))
        if refusal:
            app.notify(f"Steering is off for {info.label}: {refusal}.", title="Cannot steer", severity="warning")
            return None
        return info

    def _held_selected(self, verb: str) -> tuple[SessionInfo, Record] | None:
        app: Any = self
        rec = app.log_widget.selected_record()
        if rec is None or not rec.held:
            app.notify(f"Select a held message to {verb} (h jumps to the next one, H lists them all).",
                       severity="warning")
            return None
        info = self._steer_info(rec)
        return None if info is None else (info, rec)

    # ---- sending --------------------------------------------------------------------------

    async def steer_request(self, info: SessionInfo, cmd: dict[str, Any], *, quiet: bool = False) -> dict | str:
        """Send one command; returns the proxy's ok reply, or the error as a string (also shown
        as a notification unless ``quiet``)."""
        app: Any = self
        source: Any = info.source
        try:
            reply = await source.request(cmd, timeout=REPLY_TIMEOUT)
        except asyncio.TimeoutError:
            error = f"no reply from the proxy within {REPLY_TIMEOUT:.0f} s"
        except (RuntimeError, OSError, ConnectionError) as exc:
            error = str(exc) or type(exc).__name__
        else:
            if reply.get("ok"):
                return reply
            error = str(reply.get("error") or "refused")
        if not quiet:
            app.notify(f"{info.label}: {error}", title=f"{cmd.get('cmd')} refused", severity="error")
        return error

    def _send(self, info: SessionInfo, cmd: dict[str, Any], done: str | None = None) -> None:
        async def run() -> None:
            reply = await self.steer_request(info, cmd)
            if isinstance(reply, dict) and done:
                self.notify(done.format(**reply))  # type: ignore[attr-defined]

        self.run_worker(run(), group="steer")  # type: ignore[attr-defined]

    # ---- pause / intercept ---------------------------------------------------------------

    def action_steer_pause(self, direction: str = "both") -> None:
        info = self._steer_info()
        if info is None:
            return
        paused = info.paused or {}
        on = not (paused.get("c2s") and paused.get("s2c")) if direction == "both" else not paused.get(direction)
        word = "Paused" if on else "Resumed"
        self._send(info, cmds.cmd_pause(direction, on),
                   f"{word} {DIR_WORDS[direction]} for {info.label}" + ("" if on else " ({released} released)"))

    def action_steer_intercept(self) -> None:
        info = self._steer_info()
        if info is None:
            return
        app: Any = self
        current = info.intercept

        def done(expression: str | None) -> None:
            if expression is None:
                return
            self.steering.remember_intercept(expression)
            self._send(info, cmds.cmd_intercept(expression or None),
                       f"Intercepting {expression} in {info.label}" if expression else f"Intercept cleared for {info.label}")

        app.push_screen(InterceptScreen(info.label, current, self.steering.intercept_history,
                                        lambda: app.methods_seen, lambda: app.tools_seen), done)

    def action_steer_clear_intercept(self) -> None:
        info = self._steer_info()
        if info is None:
            return
        if not info.intercept:
            self.notify(f"{info.label} has no intercept filter.", severity="information")  # type: ignore[attr-defined]
            return
        self._send(info, cmds.cmd_intercept(None), f"Intercept cleared for {info.label}")

    # ---- held messages ------------------------------------------------------------------

    def action_steer_release(self) -> None:
        picked = self._held_selected("release")
        if picked is not None:
            info, rec = picked
            self._send(info, cmds.cmd_release(rec.seq), f"Released #{rec.seq}")

    def action_steer_release_all(self) -> None:
        info = self._steer_info()
        if info is None:
            return
        here = len(info.held)
        total, _ = totals(self.sessions.values())  # type: ignore[attr-defined]
        if total > here:
            def done(choice: str | None) -> None:
                if choice == "session":
                    self._release_all([info])
                elif choice == "everywhere":
                    self._release_everywhere()

            self.push_screen(ChoiceScreen(  # type: ignore[attr-defined]
                "Release held messages",
                f"{here} held in {info.label}, {total} held in all sessions.",
                [(f"Release {info.label}'s {here}", "session"), (f"Release all {total}", "everywhere"),
                 ("Cancel", "cancel")]), done)
            return
        self._release_all([info])

    def _release_everywhere(self) -> None:
        app: Any = self
        infos = [s for s in app.sessions.values() if s.held and s.source is not None]
        self._release_all([i for i in infos if not steer_refusal(i.state, i.source.can_send)])

    def _release_all(self, infos: list[SessionInfo]) -> None:
        for info in infos:
            self._send(info, cmds.cmd_release_all(), f"Released {{released}} held message(s) in {info.label}")

    def action_steer_drop(self) -> None:
        app: Any = self
        rec = app.log_widget.selected_record()
        if rec is not None and not rec.held and rec.injected and rec.kind == "request":
            session = app.sessions_by_label.get(str(rec.session))
            inj = next((i for i in (session.injections.values() if session else ()) if i.seq == rec.seq), None)
            if inj is not None and inj.inject_id:
                if inj.state(rec) != "pending":
                    app.notify(f"Injected request {inj.inject_id} is {inj.state(rec)}: nothing to cancel.",
                               severity="information")
                    return
                self._cancel(rec, inj)
                return
        picked = self._held_selected("drop (or an injected request still in flight, to cancel it)")
        if picked is None:
            return
        info, rec = picked
        if rec.kind == "request" and rec.dir == "c2s":
            def done(choice: str | None) -> None:
                if choice == "drop":
                    self._send(info, cmds.cmd_drop(rec.seq), f"Dropped #{rec.seq}; the client got an error answer")

            app.push_screen(ChoiceScreen(
                f"Drop request {rec.method or ''} #{rec.seq}?",
                "It never reaches the server. The client will get a JSON-RPC error answer "
                "(\"Request dropped by the omproxy inspector\") so it does not wait forever.",
                [("Drop it", "drop"), ("Keep it held", "cancel")], danger=True), done)
            return
        self._send(info, cmds.cmd_drop(rec.seq), f"Dropped #{rec.seq}")

    def _cancel(self, rec: Record, inj: Any) -> None:
        info = self._steer_info(rec)
        if info is None:
            return

        async def run() -> None:
            reply = await self.steer_request(info, cmds.cmd_cancel(inj.inject_id))
            if isinstance(reply, dict):
                inj.cancelled = True
                self.notify(f"Cancelled injected request {inj.inject_id} (notifications/cancelled sent)")  # type: ignore[attr-defined]

        self.run_worker(run(), group="steer")  # type: ignore[attr-defined]

    def action_steer_edit(self) -> None:
        picked = self._held_selected("edit")
        if picked is None:
            return
        info, rec = picked
        original = rec.raw

        def done(edited: str | None) -> None:
            if edited is None:
                return
            if not json_diff(original, edited):
                self._send(info, cmds.cmd_release(rec.seq), f"No changes: released #{rec.seq} as it was")
            else:
                self._send(info, cmds.cmd_release(rec.seq, edited), f"Released #{rec.seq} edited")

        self.push_screen(EditorScreen(f"Edit held #{rec.seq} {rec.method or rec.kind} ({info.label})", original),  # type: ignore[attr-defined]
                         done)

    def action_next_held(self) -> None:
        self._jump(lambda r: r.held, 1, "held message")  # type: ignore[attr-defined]

    def action_held_list(self) -> None:
        app: Any = self
        store = app.store

        def record_of(session: Any, seq: Any) -> Record | None:
            idx = store.find_seq(session.label, seq) if isinstance(seq, int) else None
            return None if idx is None else store[idx]

        def wall_of(session: Any, seq: Any) -> float | None:
            rec = record_of(session, seq)
            return None if rec is None else rec.wall

        rows = [(session.label, held, record_of(session, held.get("seq")))
                for session, held in held_everywhere(app.sessions.values(), wall_of)]

        def done(result: tuple[str, Any] | None) -> None:
            if result is None:
                return
            what, row = result
            if what == "release_everywhere":
                self._release_everywhere()
                return
            label, held, rec = row
            if rec is None:
                app.notify("That message has not reached this TUI yet.", severity="warning")
                return
            if not app.log_widget.select_index(rec.index):
                app.notify("That message is hidden by the filter (\\ clears it).", severity="warning")
                return
            if what == "release":
                self.action_steer_release()
            elif what == "drop":
                self.action_steer_drop()
            elif what == "edit":
                self.action_steer_edit()

        app.push_screen(HeldScreen(rows, app.clock()), done)

    # ---- inject / replay -----------------------------------------------------------------

    async def steer_inject(self, info: SessionInfo, to: str, message: dict[str, Any]) -> str | None:
        """Inject ``message`` toward ``to``; None when the proxy took it, else its refusal."""
        reply = await self.steer_request(info, cmds.cmd_inject(to, message), quiet=True)
        if isinstance(reply, str):
            return reply
        inj = self.steering.note_injected(info, reply, str(message.get("method") or "response"), to)
        what = f"{message.get('method') or 'response'} → {to}"
        self.notify(f"Injected {what}" + (f" (inject id {inj.inject_id}; X cancels it while in flight)"  # type: ignore[attr-defined]
                                          if inj.inject_id else ""))
        return None

    def action_steer_compose(self) -> None:
        info = self._steer_info()
        if info is None:
            return
        app: Any = self
        store = app.store
        label = info.label

        def captured(list_method: str) -> list[dict[str, Any]] | None:
            # the answers are parsed once per set of answers, not each time the composer opens
            # (a 200-tool tools/list is ~10 ms of json.loads)
            answers = [r for r in store.messages(label) if r.kind == "response" and r.method == list_method]
            key = (label, list_method, tuple(r.index for r in answers))
            if self._captured_lists is None:
                self._captured_lists = {}
            cache = self._captured_lists
            if key not in cache:
                if len(cache) > 16:
                    cache.clear()
                cache[key] = captured_list(answers, list_method)
            return cache[key]

        seen = sorted({(r.dir, r.method) for r in store.messages(label)
                       if r.kind in ("request", "notification") and r.method})
        ctx = ComposeContext(label, info.protocol_version, seen, captured,
                             lambda to, message: self.steer_inject(info, to, message))
        app.push_screen(ComposeScreen(ctx))

    def _replayable(self) -> tuple[SessionInfo, Record] | None:
        app: Any = self
        rec = app.log_widget.selected_record()
        if rec is None or rec.kind not in ("request", "notification"):
            app.notify("Select a request or notification to replay.", severity="warning")
            return None
        info = self._steer_info(rec)
        return None if info is None else (info, rec)

    def action_steer_replay(self) -> None:
        picked = self._replayable()
        if picked is None:
            return
        info, rec = picked

        async def run() -> None:
            reply = await self.steer_request(info, cmds.cmd_replay(rec.seq))
            if isinstance(reply, dict):
                inj = self.steering.note_injected(info, reply, rec.method or "?",
                                                  "server" if rec.dir == "c2s" else "client")
                self.notify(f"Replayed #{rec.seq} {rec.method}"  # type: ignore[attr-defined]
                            + (f" as {inj.inject_id}" if inj.inject_id else ""))

        self.run_worker(run(), group="steer")  # type: ignore[attr-defined]

    def action_steer_replay_edited(self) -> None:
        picked = self._replayable()
        if picked is None:
            return
        info, rec = picked
        to = "server" if rec.dir == "c2s" else "client"

        def done(edited: str | None) -> None:
            if edited is None:
                return

            async def run() -> None:
                await self.steer_inject(info, to, json.loads(edited))

            self.run_worker(run(), group="steer")  # type: ignore[attr-defined]

        self.push_screen(EditorScreen(f"Replay #{rec.seq} {rec.method} to the {to}, edited", rec.raw,  # type: ignore[attr-defined]
                                      verb="Inject"), done)

    # ---- quitting ------------------------------------------------------------------------

    def holding_infos(self) -> list[SessionInfo]:
        app: Any = self
        return [s for s in app.sessions.values() if s.state == "live" and s.source is not None and holding(s)]

    async def stop_holding(self, infos: list[SessionInfo]) -> None:
        """Release everything and stop holding (resume both directions, clear the intercept)."""
        for info in infos:
            if info.intercept:
                await self.steer_request(info, cmds.cmd_intercept(None), quiet=True)
            await self.steer_request(info, cmds.cmd_pause("both", False), quiet=True)
            await self.steer_request(info, cmds.cmd_release_all(), quiet=True)
