"""Which of the client's requests the server has not answered yet (stdio leg).

Used at shutdown: when the client closes its stdin with a slow reply still outstanding (stdin from
a file, a long tool call), the server is given time to answer before it is stopped, and any
request it never answered is reported instead of vanishing silently.

Lines are parsed off the relay path (see Outstanding). A line up to 64 KiB is parsed; a longer
one is only peeked at (its first and last 4 KiB), so a 50 MB message costs nothing here -- for
those the id is found by pattern and may, rarely, be a nested one; the consequence is a report or
a wait that is off, never a lost or altered message.
"""

from __future__ import annotations

import collections
import re
import threading
from typing import Any

from .line import parse_json

FULL_PARSE_MAX = 64 << 10
PEEK = 4096
_ID = re.compile(rb'"id"\s*:\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|"(?:[^"\\]|\\.)*")')


def _key(value: Any) -> str | None:
    """A hashable, comparable form of a JSON-RPC id (ints and strings; 1 and 1.0 are one id)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return repr(float(value)) if value == value else None
    if isinstance(value, str):
        return "s:" + value
    return None  # arrays/objects are not valid ids: nothing will answer them by that id anyway


def _peek(raw: bytes) -> Any:
    """The id of a long line, found by pattern in its first or last 4 KiB (None if not found)."""
    for part in (raw[:PEEK], raw[-PEEK:]):
        m = _ID.search(part)
        if m:
            return parse_json(m.group(1))[0]
    return None


class Outstanding:
    """Requests sent to the server and not yet answered, by id.

    The relay threads only append the lines to two queues (``sent`` before the line is forwarded,
    so a request is always queued before its answer can be; ``answered`` after); the parsing
    happens in :meth:`settle`, which the supervising thread calls twice a second and at
    shutdown. So tracking adds ~0.1 us to a message instead of a parse on the relay path. A line
    longer than 64 KiB is reduced to its peeked id at once rather than kept alive in a queue.
    """

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}  # key -> the id as the client wrote it (for reports)
        self._sent: collections.deque = collections.deque()
        self._answered: collections.deque = collections.deque()
        self._lock = threading.Lock()

    def sent(self, raw: bytes) -> None:
        """A line the client sends to the server (call before forwarding it)."""
        self._sent.append(raw if len(raw) <= FULL_PARSE_MAX else _Peeked(raw, b'"method"'))

    def answered(self, raw: bytes) -> None:
        """A line the server sent to the client."""
        self._answered.append(raw if len(raw) <= FULL_PARSE_MAX else _Peeked(raw, None))

    def settle(self) -> None:
        """Match what was queued (every request queued so far first, then the answers)."""
        with self._lock:
            sent, answered, ids = self._sent, self._answered, self._ids
            while sent:
                for key, shown in _requests(sent.popleft()):
                    ids[key] = shown
            while answered:
                for key in _answers(answered.popleft()):
                    ids.pop(key, None)

    def __bool__(self) -> bool:
        self.settle()
        return bool(self._ids)

    def ids(self) -> list[str]:
        self.settle()
        with self._lock:
            return list(self._ids.values())


class _Peeked:
    __slots__ = ("id", "found")

    def __init__(self, raw: bytes, must: bytes | None) -> None:
        self.found = must is None or must in raw[:PEEK] or must in raw[-PEEK:]
        self.id = _peek(raw) if self.found else None


def _objects(raw: bytes) -> list:
    value, err = parse_json(raw)
    if err is not None:
        return []
    return value if isinstance(value, list) else [value]


def _requests(item: Any) -> list[tuple[str, str]]:
    if isinstance(item, _Peeked):
        key = _key(item.id) if item.found else None
        return [] if key is None else [(key, repr(item.id))]
    out = []
    for obj in _objects(item):
        if isinstance(obj, dict) and "method" in obj and "id" in obj:
            key = _key(obj["id"])
            if key is not None:
                out.append((key, repr(obj["id"])))
    return out


def _answers(item: Any) -> list[str]:
    if isinstance(item, _Peeked):
        key = _key(item.id)
        return [] if key is None else [key]
    out = []
    for obj in _objects(item):
        if isinstance(obj, dict) and "method" not in obj and ("result" in obj or "error" in obj):
            key = _key(obj.get("id"))
            if key is not None:
                out.append(key)
    return out
