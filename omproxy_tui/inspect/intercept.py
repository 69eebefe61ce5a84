"""Intercept rules: the view's filter language, evaluated by the proxy on one line at a time.

An intercept rule must mean what the same expression means in the TUI's view filter, never
something that silently differs. The view evaluates a record in a store that knows the session,
pairs answers with requests and knows what happened to each message later; the proxy decides
before the message moves. So:

- ``~s`` gets the session name (the proxy's ``--name``).
- ``~m`` and ``~tool`` on a response or error mean its request's method and target, as in the
  view: the proxy remembers the method and target of requests it relayed (both directions,
  bounded), from before the rule was set too.
- Operators that depend on what happened after the line moved, or on the store, cannot be
  evaluated on one line and are refused with an error naming them: ``~pending``, ``~slow``,
  ``~held``, ``~status``, ``~changed`` (hooks change traffic after the rule is checked) and
  ``~injected`` (injected messages are never held) and ``~marked`` (marks live in the TUI).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Any

from ..proxy.line import C2S, S2C, Line, parse_json
from .backlog import request_key
from .commands import CommandError

#: operator -> why the proxy cannot evaluate it on the line it is about to hold
REFUSED = {
    "pending": "whether a request is still unanswered is only known later",
    "slow": "latency is only known when the answer arrives",
    "held": "whether a message is held is what the rule decides",
    "status": "a message's status is only known after the rule decided",
    "changed": "hooks change traffic after the rule is checked",
    "injected": "injected messages are never held",
    "marked": "marks live in omproxy-tui, the proxy never sees them",
}
#: requests remembered for pairing (oldest forgotten first)
MAX_REMEMBERED = 10_000
#: requests larger than this are not remembered (rare, and costly to parse)
MAX_PARSE = 256 << 10
#: bytes of requests kept before they are parsed (a rule parses them when it first needs them)
MAX_UNREAD_BYTES = 16 << 20


def _operators(f: Any) -> set[str]:
    """The operator codes used anywhere in a compiled filter."""
    found = {f.code} if getattr(f, "code", "") else set()
    inner = getattr(f, "inner", None)
    if inner is not None:
        found |= _operators(inner)
    for item in getattr(f, "items", ()) or ():
        found |= _operators(item)
    return found


def compile_rule(expr: str) -> Any:
    """A filter for intercept, or CommandError saying which operator cannot be used and why."""
    from ..core.filters import FilterError, parse  # only once a rule is set: ~50 ms of imports

    try:
        f = parse(expr)
    except FilterError as exc:
        raise CommandError(f"bad filter: {exc}") from None
    refused = sorted(_operators(f) & REFUSED.keys())
    if refused:
        op = refused[0]
        raise CommandError(f"~{op} cannot be used in an intercept rule: {REFUSED[op]} "
                           "(the proxy decides on each line before it moves); use it in the view filter")
    return f


def _target(method: str, params: Any) -> str | None:
    """A request's target as core.records computes it (tool or prompt name, resource uri),
    without importing it on the relay path."""
    if not isinstance(params, dict):
        return None
    if method in ("tools/call", "prompts/get"):
        value = params.get("name")
    elif method.startswith("resources/"):
        value = params.get("uri")
    else:
        return None
    return value if type(value) is str else None


class Pairing:
    """Method and target of the requests relayed in each direction, so a response can be
    matched by its request's method and tool. Fed on the relay threads before forwarding (a
    reply can only arrive after its request was fed). Feeding only keeps the line (bounded by
    count and bytes); requests are parsed when a rule first needs them, so a proxy with no
    intercept rule pays next to nothing."""

    def __init__(self) -> None:
        self._requests: OrderedDict[tuple, tuple[str, str | None]] = OrderedDict()
        self._unread: deque[tuple[str, bytes]] = deque()  # (direction, raw) not parsed yet
        self._unread_bytes = 0
        self._lock = threading.Lock()  # both relay threads feed it (servers send requests too)

    def feed(self, line: Line) -> None:
        raw = line.raw
        if len(raw) > MAX_PARSE or b'"method"' not in raw:
            return
        with self._lock:
            self._unread.append((line.direction, raw))
            self._unread_bytes += len(raw)
            while len(self._unread) > MAX_REMEMBERED or self._unread_bytes > MAX_UNREAD_BYTES:
                self._unread_bytes -= len(self._unread.popleft()[1])

    def _index_locked(self) -> None:
        requests = self._requests
        while self._unread:
            direction, raw = self._unread.popleft()
            self._unread_bytes -= len(raw)
            obj, _ = parse_json(raw)
            if not (isinstance(obj, dict) and "id" in obj and isinstance(obj.get("method"), str)):
                continue
            key = (direction, request_key(obj["id"]))
            requests[key] = (obj["method"], _target(obj["method"], obj.get("params")))
            requests.move_to_end(key)
        while len(requests) > MAX_REMEMBERED:
            requests.popitem(last=False)

    def lookup(self, direction: str, mid: Any) -> tuple[str, str | None] | None:
        """(method, target) of the request with id `mid` sent in `direction`, if remembered."""
        with self._lock:
            self._index_locked()
            return self._requests.get((direction, request_key(mid)))

    def record(self, line: Line, session: str) -> Any:
        """The line as the view would see it: session name, and a response's method and tool."""
        from ..core.records import record_from_line

        rec = record_from_line(line.text, line.direction, session=session)
        if rec.kind in ("response", "error") and rec.method is None:
            known = self.lookup(C2S if line.direction == S2C else S2C, rec.id)
            if known is not None:
                rec.method, rec.tool = known
        return rec
