"""Parsing and validating inspector commands (the inspector -> proxy half of the protocol).

Pure functions, no I/O: every frame an inspector sends goes through :func:`parse_command` first,
so a malformed frame becomes a clear error reply and never reaches the relay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DIRS = {"c2s": ("c2s",), "s2c": ("s2c",), "both": ("c2s", "s2c")}
TARGETS = {"server": "c2s", "client": "s2c"}
MAX_TIMEOUT = 24 * 3600.0


class CommandError(ValueError):
    """A command that cannot be carried out as sent; the message is sent back to the inspector."""


@dataclass
class Command:
    name: str
    id: Any = None
    dirs: tuple[str, ...] = ()
    seq: int | None = None
    raw: bytes | None = None  # an edited or injected line (validated JSON, one line)
    filter: str | None = None
    direction: str | None = None  # for inject: where the message goes ("c2s" = to the server)
    timeout: float = 60.0
    inject_id: str | None = None
    extra: dict = field(default_factory=dict)


def _dirs(obj: dict, default: str | None = None) -> tuple[str, ...]:
    d = obj.get("dir", default)
    if not isinstance(d, str) or d not in DIRS:
        raise CommandError(f"'dir' must be one of c2s, s2c, both (got {d!r})")
    return DIRS[d]


def _seq(obj: dict) -> int:
    seq = obj.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise CommandError(f"'seq' must be a positive integer (got {seq!r})")
    return seq


def validate_line(text: Any, what: str) -> bytes:
    """An edited/injected message: one line of JSON. Returns its bytes or raises CommandError."""
    if isinstance(text, (dict, list)):
        return json.dumps(text, separators=(",", ":")).encode()
    if not isinstance(text, str):
        raise CommandError(f"{what} must be a JSON object or a string holding one (got {type(text).__name__})")
    text = text.strip()
    if "\n" in text or "\r" in text:
        # A pretty-printed edit is fine: compact it (the wire framing forbids raw newlines).
        try:
            return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False).encode()
        except ValueError as exc:
            raise CommandError(f"{what} is not valid JSON: {exc}") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{what} is not valid JSON: {exc}") from None
    return text.encode()


def parse_command(obj: Any) -> Command:
    """A decoded frame -> Command, or CommandError with a message fit for the reply."""
    if not isinstance(obj, dict):
        raise CommandError(f"a command must be a JSON object, got {type(obj).__name__}")
    name = obj.get("cmd")
    if not isinstance(name, str):
        raise CommandError("missing 'cmd' (a string)")
    cid = obj.get("id")
    if name in ("pause", "resume"):
        return Command(name, cid, dirs=_dirs(obj, "both"))
    if name == "release_all":
        return Command(name, cid, dirs=_dirs(obj, "both"))
    if name == "intercept":
        f = obj.get("filter")
        if f is not None and (not isinstance(f, str) or not f.strip()):
            raise CommandError("'filter' must be a non-empty filter expression, or null to clear")
        return Command(name, cid, filter=f.strip() if f else None)
    if name == "release":
        raw = obj.get("raw")
        return Command(name, cid, seq=_seq(obj), raw=None if raw is None else validate_line(raw, "the edited message"))
    if name == "drop":
        return Command(name, cid, seq=_seq(obj))
    if name == "replay":
        return Command(name, cid, seq=_seq(obj), timeout=_timeout(obj), extra={"force": bool(obj.get("force"))})
    if name == "inject":
        to = obj.get("to")
        if not isinstance(to, str) or to not in TARGETS:
            raise CommandError(f"'to' must be 'server' or 'client' (got {to!r})")
        if "message" in obj:
            raw = validate_line(obj["message"], "'message'")
        elif "raw" in obj:
            raw = validate_line(obj["raw"], "'raw'")
        else:
            raise CommandError("inject needs 'message' (a JSON-RPC object) or 'raw' (a line)")
        msg = json.loads(raw)
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            raise CommandError("an injected message must be a JSON-RPC 2.0 object ({\"jsonrpc\":\"2.0\",...})")
        if "method" not in msg and not ("result" in msg or "error" in msg):
            raise CommandError("an injected message needs 'method' (request/notification) or 'result'/'error'")
        if "method" in msg and not isinstance(msg["method"], str):
            raise CommandError("'method' must be a string")
        return Command(name, cid, raw=raw, direction=TARGETS[to], timeout=_timeout(obj),
                       extra={"force": bool(obj.get("force"))})
    if name == "cancel":
        iid = obj.get("inject_id")
        if not isinstance(iid, str):
            raise CommandError("'inject_id' must be a string")
        return Command(name, cid, inject_id=iid)
    if name in ("ping", "restart"):
        return Command(name, cid)
    raise CommandError(f"unknown command {name!r} (known: pause, resume, intercept, release, drop, release_all, "
                       "inject, replay, cancel, restart, ping)")


def _timeout(obj: dict) -> float:
    t = obj.get("timeout", 60.0)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t <= MAX_TIMEOUT):
        raise CommandError(f"'timeout' must be a number of seconds in (0, {MAX_TIMEOUT:.0f}] (got {t!r})")
    return float(t)
