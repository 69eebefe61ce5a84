"""Steering: holding traffic and letting it go -- pause/resume per direction, intercept rules,
release (optionally edited), drop, release_all, and fail-open when the last inspector leaves.

Holding is a gate on *delivery* only (see ``Direction`` in proxy/base.py): the readers keep
reading, and replies to injected requests are routed before the gate. Nothing here waits for a
write: held messages are handed to their direction's writer in order and the command answers at
once, even while that side is not reading.
"""

from __future__ import annotations

import json
from typing import Any

from ..proxy.base import DROPPED_CODE, Hold
from ..proxy.line import C2S, S2C, Line
from .channel import Subscriber
from .commands import Command, CommandError
from .intercept import compile_rule

COMMANDS = frozenset({"pause", "resume", "intercept", "release_all", "release", "drop"})


class Steering:
    """Holding and releasing for :class:`~omproxy_tui.inspect.server.InspectorAddon` (a mixin)."""

    async def _steer(self, sub: Any, cmd: Command) -> dict | None:
        if cmd.name == "pause":
            for d in cmd.dirs:
                self.paused[d] = True
                self.proxy.directions[d].paused = True
            self._update_gates()
            self._send_state()
            return None
        if cmd.name == "resume":
            return await self._do_resume(cmd.dirs, who=sub.id)
        if cmd.name == "intercept":
            if cmd.filter is None:
                self.intercept = None
                self.intercept_text = None
            else:
                self.intercept = compile_rule(cmd.filter)
                self.intercept_text = cmd.filter
            self._update_gates()
            self._send_state()
            return None
        if cmd.name == "release_all":
            n = 0
            for d in cmd.dirs:
                for h in self.proxy.directions[d].flush(True, wait=False):
                    self._resolved(h, "released", sub.id)
                    n += 1
            self._send_state()
            return {"released": n}
        if cmd.name in ("release", "drop"):
            return await self._release_or_drop(sub, cmd)
        raise CommandError(f"unhandled command {cmd.name}")  # pragma: no cover

    def _state(self) -> dict:
        held = []
        held_bytes = 0
        for d in self.proxy.directions.values():
            with d.lock:
                held += [{"seq": h.line.seq if h.line else None, "dir": d.name, "reason": h.reason} for h in d.held]
                held_bytes += d.held_bytes
        return {"type": "state", "paused": dict(self.paused), "intercept": self.intercept_text, "held": held,
                "held_bytes": held_bytes, "inspectors": len(self.subscribers),
                "pending_injections": len(self.injections)}

    def _send_state(self) -> None:
        self._broadcast(self.redactor(json.dumps(self._state()).encode() + b"\n"))

    async def _fail_open(self) -> None:
        """The last inspector left: nobody can release what is held, so release it all, in order."""
        held = sum(len(d.held) for d in self.proxy.directions.values())
        if not (held or any(self.paused.values()) or self.intercept is not None):
            return
        self.paused = {C2S: False, S2C: False}
        self.intercept = None
        self.intercept_text = None
        self._update_gates()
        released = 0
        for d in self.proxy.directions.values():
            out = d.flush(True, wait=False)
            released += len(out)
            for h in out:
                self._resolved(h, "released", "fail-open")
        self.proxy.report(f"last inspector left: released {released} held message(s) and stopped holding")
        self.proxy.sequencer.event("lifecycle", {"event": "fail_open", "released": released})

    def _update_gates(self) -> None:
        # Always on: the gate also remembers requests (see intercept.Pairing), so that a rule set
        # later can match their answers by method and tool, as the view filter does.
        for d in (C2S, S2C):
            self.proxy.set_gate(d, self._gate, self)

    def _gate(self, line: Line) -> Any:
        """Relay thread, before forwarding: route injected replies, hold what must be held."""
        self.pairing.feed(line)  # before it moves: its answer can only come after this
        if self._routing:
            obj = line.json
            if isinstance(obj, dict):
                mid = obj.get("id")
                if isinstance(mid, str) and mid.startswith(self.prefix) and "method" not in obj:
                    return self._route(line, mid, True)
                if obj.get("method") == "notifications/progress":
                    token = (obj.get("params") or {}).get("progressToken")
                    if isinstance(token, str) and token.startswith(self.prefix):
                        return self._route(line, token.rsplit("-p", 1)[0], False)
        d = line.direction
        if self.paused[d]:
            return Hold("paused")
        f = self.intercept
        if f is not None:
            try:
                if f(self.pairing.record(line, self.identity["name"])):
                    return Hold("intercept")
            except Exception:  # noqa: BLE001 - a filter must never break the relay
                return None
        return None

    def may_stream(self, direction: str) -> bool:
        """Relay thread: a line starting now may be streamed through (proxy.may_stream) -- this
        gate would not hold or route it. A pause or rule set while it streams applies from the
        next line on."""
        return not (self.paused[direction] or self.intercept is not None or (self._routing and self.injections))

    async def _do_resume(self, dirs, who: Any) -> dict:
        n = 0
        for d in dirs:
            self.paused[d] = False
            self.proxy.directions[d].paused = False
        self._update_gates()
        for d in dirs:
            for h in self.proxy.directions[d].flush(False, wait=False):
                self._resolved(h, "released", who)
                n += 1
        self._send_state()
        return {"released": n}

    async def _release_or_drop(self, sub: Subscriber, cmd: Command) -> dict:
        # On the loop, never waiting for the write: the held message (edited or not) and what
        # was queued behind it are handed to the direction's writer in one step, in order.
        drop = cmd.name == "drop"
        data = None if cmd.raw is None else cmd.raw + b"\n"
        for d in self.proxy.directions.values():
            item, after = d.release(lambda h: h.line is not None and h.line.seq == cmd.seq, data, drop)
            if item is not None:
                break
        else:
            raise CommandError(f"message #{cmd.seq} is not held (released already, or never held)")
        if drop:
            self._resolved(item, "dropped", sub.id)
            obj = item.line.json
            if d.name == C2S and isinstance(obj, dict) and "method" in obj and "id" in obj:
                # A dropped request would leave the client waiting forever: answer it.
                reply = {"jsonrpc": "2.0", "id": obj["id"],
                         "error": {"code": DROPPED_CODE, "message": "Request dropped by the omproxy inspector"}}
                await self._in_thread(self.proxy.inject, S2C, reply, None,
                                      {"by": "inspector", "action": "answered-drop", "original": None}, False)
        elif cmd.raw is not None:
            self._resolved(item, "edited", sub.id)
            edited = self.proxy.make_line(cmd.raw, d.name)
            edited.changed = {"by": "inspector", "action": "replaced", "original": item.line.text}
            self.proxy.announce(edited)
        else:
            self._resolved(item, "released", sub.id)
        for h in after:
            self._resolved(h, "released", sub.id)
        self._send_state()
        return {"seq": cmd.seq}

    def _resolved(self, held, action: str, by: Any) -> None:
        if held.line is None:
            return
        self.proxy.sequencer.event("resolved", {"of": held.line.seq, "action": action, "by": by})
