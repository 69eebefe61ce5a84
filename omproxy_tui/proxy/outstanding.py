"""Which of the client's requests the server has not answered yet (stdio leg).

Used at shutdown: when the client closes its stdin with a slow reply still outstanding (stdin from
a file, a long tool call), the server is given time to answer before it is stopped, and any
request it never answered is reported instead of vanishing silently.

Lines are parsed off the relay path (see Outstanding). A line up to 64 KiB is parsed; a longer
one is only peeked at (its first and last 4 KiB), so a 50 MB message costs nothing here -- for
those the id is the top-level one found in those edges (see peek_id: not a tool argument named
"id", wherever the SDK writes the id); it is missed only when neither edge holds it.

Hot restart (proxy/restart.py) learns what it needs from the same parse -- the client's handshake,
its list requests and their answers, which requests the server has not answered -- through a
*listener*, so it adds nothing to the relay path either.
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


def id_key(value: Any) -> str | None:
    """A hashable, comparable form of a JSON-RPC id (ints and strings; 1 and 1.0 are one id)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return repr(float(value)) if value == value else None
    if isinstance(value, str):
        return "s:" + value
    return None  # arrays/objects are not valid ids: nothing will answer them by that id anyway


_STRUCT = re.compile(rb'[][{}"]')


def _string_end(b: bytes, i: int) -> int:
    """The index after the string whose opening quote is at i - 1 (-1: cut off)."""
    while True:
        j = b.find(b'"', i)
        if j < 0:
            return -1
        k = j
        while b[k - 1] == 0x5C:  # a backslash: escaped if there is an odd number of them
            k -= 1
        if (j - k) % 2 == 0:
            return j + 1
        i = j + 1


def _brackets(b: bytes, pos: int, want_id: bool, level: int = 1) -> Any:
    """Walk b from pos (outside any string). want_id: the match of an "id" key at depth `level` (None
    if there is none before the part is cut off); else the net count of brackets (opened minus
    closed) up to the end. Strings are jumped over with find(), never backtracked through."""
    depth = 0
    search = _STRUCT.search
    while True:
        m = search(b, pos)
        if m is None:
            return None if want_id else depth
        i = m.start()
        c = b[i]
        if c == 0x22:
            end = _string_end(b, i + 1)
            if end < 0:
                return None if want_id else depth
            if want_id and depth == level and end - i == 4 and b[i:end] == b'"id"':
                v = _ID.match(b, i)
                if v:
                    return v
            pos = end
        else:
            depth += 1 if c in b"{[" else -1
            pos = i + 1


def peek_id(raw: bytes) -> Any:
    """The id of a long line, found by pattern in its first or last 4 KiB (None if not found):
    the message's own, at the top level -- not a nested one such as a tool argument named "id".
    SDKs differ in where they write it: the Python SDK's id comes first, the TypeScript SDK's
    last, after params. (In a batch, an element's own id.)"""
    level = 2 if raw[:64].lstrip()[:1] == b"[" else 1
    tail = raw[-PEEK:]
    # From the end: the top-level key is the one after which one more bracket closes than opens.
    for m in reversed(list(_ID.finditer(tail))):
        if _brackets(tail, m.end(), False) == -level:
            return parse_json(m.group(1))[0]
    # From the start: exact (the walk knows where strings are).
    m = _brackets(raw[:PEEK], 0, True, level)
    return None if m is None else parse_json(m.group(1))[0]


class Outstanding:
    """Requests sent to the server and not yet answered, by id.

    The relay threads only append the lines to two queues (``sent`` before the line is forwarded,
    so a request is always queued before its answer can be; ``answered`` after); the parsing
    happens in :meth:`settle`, which the supervising thread calls twice a second and at
    shutdown. So tracking adds ~0.1 us to a message instead of a parse on the relay path. A line
    longer than 64 KiB is reduced to its peeked id at once rather than kept alive in a queue.
    """

    def __init__(self) -> None:
        self._ids: dict[str, tuple[Any, str]] = {}  # key -> (the id, as the client wrote it for reports)
        self._sent: collections.deque = collections.deque()
        self._answered: collections.deque = collections.deque()
        self._lock = threading.Lock()
        #: told, in :meth:`settle` (under its lock; it must be quick and not call back), of every
        #: client message ``client_message(key, obj)`` (key None for a notification) and every answer
        #: to a pending request ``server_answer(key, obj)`` (obj None for a line only peeked at)
        self.listener: Any = None

    def sent(self, raw: bytes) -> None:
        """A line the client sends to the server (call before forwarding it). Several complete
        lines in one bytes object (up to 64 KiB) are fine: they are split when parsed."""
        self._sent.append(raw if len(raw) <= FULL_PARSE_MAX else _Peeked(raw, b'"method"'))

    def answered(self, raw: bytes) -> None:
        """A line the server sent to the client."""
        self._answered.append(raw if len(raw) <= FULL_PARSE_MAX else _Peeked(raw, None))

    def settle(self) -> None:
        """Match what was queued (every request queued so far first, then the answers)."""
        with self._lock:
            sent, answered, ids, listener = self._sent, self._answered, self._ids, self.listener
            while sent:
                item = sent.popleft()
                if listener is None or isinstance(item, _Peeked):
                    for key, value in _requests(item):
                        ids[key] = (value, repr(value))
                    continue
                for obj in _objects(item):
                    key = None
                    if isinstance(obj, dict) and "method" in obj and "id" in obj:
                        key = id_key(obj["id"])
                        if key is not None:
                            ids[key] = (obj["id"], repr(obj["id"]))
                    if isinstance(obj, dict):
                        listener.client_message(key, obj)
            while answered:
                item = answered.popleft()
                for key, obj in _answers(item):
                    if ids.pop(key, None) is not None and listener is not None:
                        listener.server_answer(key, obj)

    def __bool__(self) -> bool:
        self.settle()
        return bool(self._ids)

    def ids(self) -> list[str]:
        self.settle()
        with self._lock:
            return [shown for _, shown in self._ids.values()]

    def pending(self) -> dict[str, Any]:
        """The unanswered requests as {key: id} (call :meth:`settle` first)."""
        with self._lock:
            return {key: value for key, (value, _) in self._ids.items()}


class _Peeked:
    __slots__ = ("id", "found")

    def __init__(self, raw: bytes, must: bytes | None) -> None:
        self.found = must is None or must in raw[:PEEK] or must in raw[-PEEK:]
        self.id = peek_id(raw) if self.found else None


def _objects(raw: bytes) -> list:
    """The messages in one line, or in several complete lines (the relay's one-write blocks)."""
    end = len(raw) - 1 if raw.endswith(b"\n") else len(raw)
    if raw.find(b"\n", 0, end) >= 0:
        return [obj for line in raw.split(b"\n") if line.strip() for obj in _objects(line)]
    value, err = parse_json(raw)
    if err is not None:
        return []
    return value if isinstance(value, list) else [value]


def _requests(item: Any) -> list[tuple[str, Any]]:
    """(key, id) of each request in a client line (or block of lines)."""
    if isinstance(item, _Peeked):
        key = id_key(item.id) if item.found else None
        return [] if key is None else [(key, item.id)]
    out = []
    for obj in _objects(item):
        if isinstance(obj, dict) and "method" in obj and "id" in obj:
            key = id_key(obj["id"])
            if key is not None:
                out.append((key, obj["id"]))
    return out


def requests_in(raw: bytes) -> list[tuple[str, Any]]:
    """(key, id) of each request in bytes on their way to the server (lines, newline included)."""
    return _requests(raw if len(raw) <= FULL_PARSE_MAX else _Peeked(raw, b'"method"'))


def _answers(item: Any) -> list[tuple[str, Any]]:
    """(key, message) of each answer in a server line (message None when only peeked at)."""
    if isinstance(item, _Peeked):
        key = id_key(item.id)
        return [] if key is None else [(key, None)]
    out = []
    for obj in _objects(item):
        if isinstance(obj, dict) and "method" not in obj and ("result" in obj or "error" in obj):
            key = id_key(obj.get("id"))
            if key is not None:
                out.append((key, obj))
    return out
