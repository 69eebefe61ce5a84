"""Steering state as an inspector sees it: what each proxy holds, pauses and intercepts, and the
requests this inspector injected. Standard library only (the TUI renders it; scripts can use it).

Where the data comes from (protocol: :mod:`omproxy_tui.protocol.frames`):

* ``state`` frames (sent by the proxy after ``hello`` and on every change, to *every* attached
  inspector) say what is paused, the intercept filter, which messages are held and how many
  bytes. Several inspectors on one proxy therefore see each other's holds: this model is just
  the latest ``state`` per session, never a guess of its own.
* ``reply`` frames to ``inject``/``replay`` give the private inject id; the injected message and
  its routed answer arrive as ``message`` frames (the store pairs them by that id).
* ``inject_timeout`` frames end an injection that got no answer.

Besides the model: the command builders (one dict per inspector command), JSON checking with
the exact error position, and a line diff for "what changed".
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DIR_ARROW",
    "Injection",
    "JsonCheck",
    "SessionSteering",
    "Steering",
    "check_json",
    "check_message",
    "json_diff",
    "pretty_json",
    "steer_refusal",
]

DIR_ARROW = {"c2s": "→", "s2c": "←"}
DIR_WORDS = {"c2s": "client → server", "s2c": "server → client", "both": "both directions"}


@dataclass
class SessionSteering:
    """The latest ``state`` frame of one proxy session."""

    paused: dict[str, bool] = field(default_factory=lambda: {"c2s": False, "s2c": False})
    intercept: str | None = None
    #: ``[{"seq", "dir", "reason"}]`` in the proxy's order (per direction, oldest first)
    held: list[dict[str, Any]] = field(default_factory=list)
    held_bytes: int = 0
    inspectors: int = 0
    pending_injections: int = 0

    @property
    def holding(self) -> bool:
        """True when something is held or would be (paused, or an intercept filter is set)."""
        return bool(self.held) or any(self.paused.values()) or self.intercept is not None

    def held_seqs(self) -> set[int]:
        return {h["seq"] for h in self.held if isinstance(h.get("seq"), int)}


@dataclass
class Injection:
    """A request (or notification) this inspector injected, and what became of it."""

    inject_id: str | None  # None for notifications (nothing to answer)
    session: str
    method: str
    to: str  # "server" | "client"
    original_id: Any = None
    seq: int | None = None  # the injected message's seq (its record in the store)
    state: str = "pending"  # pending | answered | timeout | cancelled | sent (notifications)
    error: str | None = None


class Steering:
    """Steering state across sessions (keyed by the TUI's session label)."""

    def __init__(self) -> None:
        self.sessions: dict[str, SessionSteering] = {}
        self.injections: dict[str, Injection] = {}
        #: intercept expressions applied, oldest first (the intercept bar's history)
        self.intercept_history: list[str] = []
        self._early_answers: set[str] = set()
        #: bumped on every change, so a UI can cheaply tell whether to redraw
        self.version = 0

    def session(self, label: str) -> SessionSteering:
        st = self.sessions.get(label)
        if st is None:
            st = self.sessions[label] = SessionSteering()
        return st

    # ---- frames ---------------------------------------------------------------------------

    def on_state(self, label: str, frame: dict[str, Any]) -> None:
        st = self.session(label)
        paused = frame.get("paused") or {}
        st.paused = {"c2s": bool(paused.get("c2s")), "s2c": bool(paused.get("s2c"))}
        st.intercept = frame.get("intercept") or None
        st.held = [h for h in (frame.get("held") or []) if isinstance(h, dict)]
        st.held_bytes = int(frame.get("held_bytes") or 0)
        st.inspectors = int(frame.get("inspectors") or 0)
        st.pending_injections = int(frame.get("pending_injections") or 0)
        self.version += 1

    def on_ended(self, label: str) -> None:
        """The proxy is gone: nothing is held any more, no injection will be answered."""
        self.sessions[label] = SessionSteering()
        for inj in self.injections.values():
            if inj.session == label and inj.state == "pending":
                inj.state = "ended"
        self.version += 1

    def relabel(self, old: str, new: str) -> None:
        if old in self.sessions:
            self.sessions[new] = self.sessions.pop(old)
        for inj in self.injections.values():
            if inj.session == old:
                inj.session = new

    def on_inject_timeout(self, frame: dict[str, Any]) -> None:
        inj = self.injections.get(str(frame.get("inject_id")))
        if inj is not None and inj.state == "pending":
            inj.state = "timeout"
            self.version += 1

    def on_answer(self, inject_id: str) -> None:
        """The routed answer to an injected request arrived (a ``message`` frame)."""
        inj = self.injections.get(inject_id)
        if inj is None:
            # The answer can overtake the reply to our inject command (they travel on one
            # socket, but the reply is handled by the task that sent the command).
            self._early_answers.add(inject_id)
        elif inj.state == "pending":
            inj.state = "answered"
            self.version += 1

    def note_injected(self, label: str, reply: dict[str, Any], method: str, to: str) -> Injection:
        """Record the proxy's ``ok`` reply to an ``inject`` or ``replay``."""
        iid = reply.get("inject_id")
        inj = Injection(iid, label, method, to, reply.get("original_id"), reply.get("seq"),
                        "pending" if iid else "sent")
        if iid:
            self.injections[iid] = inj
            if iid in self._early_answers:
                self._early_answers.discard(iid)
                inj.state = "answered"
        self.version += 1
        return inj

    def note_cancelled(self, inject_id: str) -> None:
        inj = self.injections.get(inject_id)
        if inj is not None:
            inj.state = "cancelled"
            self.version += 1

    # ---- queries --------------------------------------------------------------------------

    def totals(self) -> tuple[int, int]:
        """(messages held, bytes held) over every session."""
        return (sum(len(s.held) for s in self.sessions.values()),
                sum(s.held_bytes for s in self.sessions.values()))

    def holding_sessions(self) -> list[str]:
        return [label for label, s in self.sessions.items() if s.holding]

    def pending_injection_for_seq(self, label: str, seq: int) -> Injection | None:
        for inj in self.injections.values():
            if inj.session == label and inj.seq == seq and inj.state == "pending":
                return inj
        return None

    def held_everywhere(self, wall_of: Any = None) -> list[tuple[str, dict[str, Any]]]:
        """Every held message across sessions, oldest first: ``[(label, held entry)]``.

        ``wall_of(label, seq)`` gives a message's wall time when known (the TUI looks it up in
        its store); messages it does not know sort by session and seq after the known ones."""
        out = []
        for label, st in self.sessions.items():
            for h in st.held:
                wall = wall_of(label, h.get("seq")) if wall_of is not None else None
                out.append((wall is None, wall or 0.0, label, h.get("seq") or 0, h))
        out.sort(key=lambda x: x[:4])
        return [(label, h) for _, _, label, _, h in out]

    def status_parts(self, label: str) -> list[tuple[str, str]]:
        """A session's steering state as ``(text, style)`` pieces for a status line (empty when
        it neither holds nor pauses nor intercepts). Styles are Rich style strings."""
        st = self.sessions.get(label)
        if st is None or not st.holding:
            return []
        parts: list[tuple[str, str]] = [(f"{label}:", "bold")]
        paused = [d for d in ("c2s", "s2c") if st.paused.get(d)]
        if paused:
            parts.append((" ⏸" + "".join(DIR_ARROW[d] for d in paused), "bold black on yellow"))
        if st.intercept:
            parts.append((" ⚑ " + _clip(st.intercept, 30), "bold black on cyan"))
        if st.held:
            parts.append((f" {len(st.held)} held {fmt_bytes(st.held_bytes)}", "bold white on magenta"))
        return parts


def fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def steer_refusal(state: str, can_send: bool, transport: str | None = None) -> str | None:
    """Why steering is not possible for a session (None when it is). ``state`` is the source's
    connection state (``live``, ``ended``, ``loaded``…)."""
    if state == "loaded" or transport == "recording" or not can_send:
        return "this session was opened from a file: steering needs a live proxy"
    if state == "ended":
        return "this session has ended: there is nothing left to steer"
    if state != "live":
        return f"this session is {state}: steering needs a live connection"
    return None


# ---- commands ------------------------------------------------------------------------------


def cmd_pause(direction: str, on: bool) -> dict[str, Any]:
    return {"cmd": "pause" if on else "resume", "dir": direction}


def cmd_intercept(expression: str | None) -> dict[str, Any]:
    return {"cmd": "intercept", "filter": expression or None}


def cmd_release(seq: int, raw: str | None = None) -> dict[str, Any]:
    cmd: dict[str, Any] = {"cmd": "release", "seq": seq}
    if raw is not None:
        cmd["raw"] = raw
    return cmd


def cmd_drop(seq: int) -> dict[str, Any]:
    return {"cmd": "drop", "seq": seq}


def cmd_release_all(direction: str = "both") -> dict[str, Any]:
    return {"cmd": "release_all", "dir": direction}


def cmd_inject(to: str, message: dict[str, Any] | str, timeout: float = 60.0) -> dict[str, Any]:
    key = "raw" if isinstance(message, str) else "message"
    return {"cmd": "inject", "to": to, key: message, "timeout": timeout}


def cmd_replay(seq: int) -> dict[str, Any]:
    return {"cmd": "replay", "seq": seq}


def cmd_cancel(inject_id: str) -> dict[str, Any]:
    return {"cmd": "cancel", "inject_id": inject_id}


# ---- JSON editing ------------------------------------------------------------------------


@dataclass
class JsonCheck:
    value: Any = None
    error: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.ok:
            return "valid JSON"
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.error}{where}"


def check_json(text: str) -> JsonCheck:
    """Parse ``text``; on failure say exactly what is wrong and where."""
    try:
        return JsonCheck(json.loads(text))
    except json.JSONDecodeError as exc:
        return JsonCheck(None, exc.msg, exc.lineno, exc.colno)
    except ValueError as exc:  # e.g. a lone surrogate
        return JsonCheck(None, str(exc))


def check_message(text: str, *, allow_response: bool = True) -> JsonCheck:
    """:func:`check_json` plus the shape an MCP message must have (the proxy refuses others)."""
    res = check_json(text)
    if not res.ok:
        return res
    obj = res.value
    if isinstance(obj, list):
        return res  # a batch: the proxy relays it as is
    if not isinstance(obj, dict):
        return JsonCheck(obj, f"a JSON-RPC message must be an object, not {type(obj).__name__}")
    if obj.get("jsonrpc") != "2.0":
        return JsonCheck(obj, 'missing "jsonrpc": "2.0"')
    if "method" in obj:
        if not isinstance(obj["method"], str) or not obj["method"]:
            return JsonCheck(obj, '"method" must be a non-empty string')
    elif not allow_response or not ("result" in obj or "error" in obj):
        return JsonCheck(obj, 'needs "method" (a request or notification)'
                         + ("" if not allow_response else ' or "result"/"error" (a response)'))
    return res


def pretty_json(text_or_obj: Any) -> str:
    """Indented JSON for editing (text that is not JSON comes back unchanged)."""
    obj = text_or_obj
    if isinstance(text_or_obj, str):
        res = check_json(text_or_obj)
        if not res.ok:
            return text_or_obj
        obj = res.value
    return json.dumps(obj, indent=2, ensure_ascii=False)


def json_diff(before: str, after: str, context: int = 2) -> list[str]:
    """A unified diff of two messages, both pretty-printed first so a one-field change shows as
    one line however the lines were formatted. Empty when they are the same JSON value."""
    a, b = pretty_json(before), pretty_json(after)
    if a == b:
        return []
    return list(difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="", n=context))


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
