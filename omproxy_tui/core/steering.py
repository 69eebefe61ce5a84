"""Steering state as an inspector sees it: what each proxy holds, pauses and intercepts, and the
requests this inspector injected. Standard library only (the TUI renders it; scripts can use it).

Where the data comes from (protocol: :mod:`omproxy_tui.protocol.frames`):

* ``state`` frames (sent by the proxy after ``hello`` and on every change, to *every* attached
  inspector) say what is paused, the intercept filter, which messages are held and how many
  bytes; :class:`~omproxy_tui.core.sessions.SessionModel` mirrors the latest one on each
  session. Several inspectors on one proxy therefore see each other's holds: nothing here
  guesses on its own.
* ``reply`` frames to ``inject``/``replay`` give the private inject id; the injected message and
  its routed answer arrive as ``message`` frames (the store pairs them by that id, and marks the
  request cancelled when the proxy's ``notifications/cancelled`` for it is seen).

Besides the model: the command builders (one dict per inspector command), JSON checking with
the exact error position, and a line diff for "what changed".
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = [
    "DIR_ARROW",
    "Injection",
    "JsonCheck",
    "Steering",
    "check_json",
    "check_message",
    "held_everywhere",
    "holding",
    "json_diff",
    "pretty_json",
    "status_parts",
    "steer_refusal",
    "totals",
]

DIR_ARROW = {"c2s": "→", "s2c": "←"}
DIR_WORDS = {"c2s": "client → server", "s2c": "server → client", "both": "both directions"}


# ---- what a session holds (read from the session model's mirror of the ``state`` frame) ------
#
# ``session`` below is anything with the attributes of :class:`omproxy_tui.core.sessions.Session`
# that mirror the proxy's latest ``state`` frame: ``label``, ``held`` (``[{"seq", "dir",
# "reason"}]``), ``held_bytes``, ``paused`` (``{"c2s": bool, "s2c": bool}``) and ``intercept``.


def holding(session: Any) -> bool:
    """Something is held, or would be (a direction is paused, or an intercept filter is set)."""
    return bool(session.held) or any((session.paused or {}).values()) or bool(session.intercept)


def totals(sessions: Iterable[Any]) -> tuple[int, int]:
    """(messages held, bytes held) over ``sessions``."""
    n = b = 0
    for s in sessions:
        n += len(s.held)
        b += s.held_bytes
    return n, b


def held_everywhere(sessions: Iterable[Any], wall_of: Any = None) -> list[tuple[Any, dict[str, Any]]]:
    """Every held message across sessions, oldest first: ``[(session, held entry)]``.

    ``wall_of(session, seq)`` gives a message's wall time when known (the TUI looks it up in its
    store); messages it does not know yet sort after the known ones, by session and seq."""
    out = []
    for n, session in enumerate(sessions):
        for h in session.held:
            wall = wall_of(session, h.get("seq")) if wall_of is not None else None
            out.append((wall is None, wall or 0.0, n, h.get("seq") or 0, session, h))
    out.sort(key=lambda x: x[:4])
    return [(session, h) for *_, session, h in out]


def status_parts(session: Any) -> list[tuple[str, str]]:
    """A session's steering state as ``(text, style)`` pieces for a status line (empty when it
    neither holds nor pauses nor intercepts). Styles are Rich style strings."""
    if not holding(session):
        return []
    parts: list[tuple[str, str]] = [(f"{session.label}:", "bold")]
    paused = [d for d in ("c2s", "s2c") if (session.paused or {}).get(d)]
    if paused:
        parts.append((" ⏸" + "".join(DIR_ARROW[d] for d in paused), "bold black on yellow"))
    if session.intercept:
        parts.append((" ⚑ " + _clip(session.intercept, 30), "bold black on cyan"))
    if session.held:
        parts.append((f" {len(session.held)} held {fmt_bytes(session.held_bytes)}", "bold white on magenta"))
    return parts


@dataclass
class Injection:
    """A message this inspector injected (kept in ``Session.injections`` by inject id)."""

    inject_id: str | None  # None for notifications and responses (nothing to answer)
    method: str
    to: str  # "server" | "client"
    original_id: Any = None
    seq: int | None = None  # the injected message's seq (its record in the store)
    cancelled: bool = False

    def state(self, record: Any) -> str:
        """``pending`` / ``answered`` / ``cancelled`` / ``sent``, from the injected request's record
        in the store (None while it has not arrived): the proxy's frames decide, not guesses."""
        if self.inject_id is None:
            return "sent"
        if self.cancelled or (record is not None and record.cancelled):
            return "cancelled"
        if record is not None and record.pair is not None:
            return "answered"
        return "pending"


class Steering:
    """What one inspector remembers beyond the session model: the intercept expressions it
    applied (the intercept bar's history) and, through :meth:`note_injected`, its injections."""

    def __init__(self) -> None:
        #: intercept expressions applied, oldest first
        self.intercept_history: list[str] = []

    def remember_intercept(self, expression: str) -> None:
        if expression and (not self.intercept_history or self.intercept_history[-1] != expression):
            self.intercept_history.append(expression)

    @staticmethod
    def note_injected(session: Any, reply: dict[str, Any], method: str, to: str) -> Injection:
        """Record the proxy's ``ok`` reply to an ``inject`` or ``replay`` on ``session``."""
        iid = reply.get("inject_id")
        inj = Injection(iid, method, to, reply.get("original_id"), reply.get("seq"))
        session.injections[iid or f"sent-{reply.get('seq')}"] = inj
        return inj


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
