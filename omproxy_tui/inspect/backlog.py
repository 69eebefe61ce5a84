"""The backlog: event frames kept to replay to each inspector that attaches.

Bounded twice, oldest evicted first: by count (``--inspect-backlog``) and by bytes
(``--inspect-backlog-bytes``), because MCP results of megabytes are common and a proxy that runs
all day must not keep them all. The session's handshake (the ``initialize`` or
``server/discover`` requests and their answers, ``notifications/initialized``) is kept even after
it left the ring: without it an inspector cannot tell the protocol era, the server's name or its
capabilities. ``evicted`` counts the earlier frames an attaching inspector does not get.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..protocol.ids import id_key as request_key  # re-exported: the intercept pairs with it too
from ..proxy.line import C2S, Line

#: what an entry costs besides its line's bytes (the tuple, the ints, the floats)
ENTRY_OVERHEAD = 200
#: at most this many handshake frames are kept (re-initialisations beyond it are not)
MAX_PINNED = 16
#: handshake messages are small; a larger line is not parsed to find out whether it is one
HANDSHAKE_MAX = 1 << 20
HANDSHAKE_METHODS = ("initialize", "server/discover")


class Backlog:
    """Entries are ``(seq, item)``; ``item`` is what the channel encodes into a frame."""

    def __init__(self, max_count: int = 10000, max_bytes: int = 64 << 20) -> None:
        self.max_count = max(max_count, 0)
        self.max_bytes = max(max_bytes, 0)
        self.enabled = self.max_count > 0 and self.max_bytes > 0
        self._ring: deque[tuple[tuple, int]] = deque()
        self._bytes = 0
        self._pinned: list[tuple] = []
        self._handshake_ids: set[tuple] = set()
        self._pinning = True  # room left for handshake entries
        self.seen = 0  # entries offered since the start
        self.freed = 0  # bytes evicted since the allocator was last asked to give memory back

    def __len__(self) -> int:
        return len(self._ring)

    def __iter__(self):
        """The entries in the ring, oldest first."""
        return (e for e, _ in self._ring)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def add(self, entry: tuple, line: Line | None = None, size: int = 0) -> None:
        """Keep one entry (``line``: the relayed line it shows, to recognise the handshake;
        ``size``: its payload bytes)."""
        self.seen += 1
        if line is not None and self._pinning and self._is_handshake(line):
            self._pinned.append(entry)
            self._pinning = len(self._pinned) < MAX_PINNED
        if self.enabled:
            cost = size + ENTRY_OVERHEAD
            self._ring.append((entry, cost))
            self._bytes += cost
            if self._bytes > self.max_bytes:
                self._evict()
            elif len(self._ring) > self.max_count:  # the common steady state: one in, one out
                cost = self._ring.popleft()[1]
                self._bytes -= cost
                self.freed += cost

    def _evict(self) -> None:
        ring = self._ring
        while ring and (len(ring) > self.max_count or self._bytes > self.max_bytes):
            cost = ring.popleft()[1]
            self._bytes -= cost
            self.freed += cost

    def replay(self) -> tuple[list[tuple], int]:
        """(the entries to replay, in seq order; how many earlier entries are not among them)."""
        ring = [e for e, _ in self._ring]
        first = ring[0][0] if ring else None
        pinned = [e for e in self._pinned if first is None or e[0] < first]  # the rest is in the ring
        entries = pinned + ring
        return entries, self.seen - len(entries)

    def find(self, seq: int) -> Any:
        """The item with this seq, or None."""
        for e, _ in self._ring:
            if e[0] == seq:
                return e[1]
        for e in self._pinned:
            if e[0] == seq:
                return e[1]
        return None

    def _is_handshake(self, line: Line) -> bool:
        raw = line.raw
        if len(raw) > HANDSHAKE_MAX:
            return False
        if line.direction == C2S:
            if b"notifications/initialized" in raw:
                obj = line.json
                return isinstance(obj, dict) and obj.get("method") == "notifications/initialized"
            if b'"initialize"' in raw or b'"server/discover"' in raw:
                obj = line.json
                if isinstance(obj, dict) and obj.get("method") in HANDSHAKE_METHODS and "id" in obj:
                    self._handshake_ids.add(request_key(obj["id"]))
                    return True
            return False
        if not self._handshake_ids:
            return False
        obj = line.json
        if isinstance(obj, dict) and "method" not in obj and "id" in obj:
            k = request_key(obj["id"])
            if k in self._handshake_ids:
                self._handshake_ids.discard(k)
                return True
        return False
