"""One numbering for everything a proxy relays or reports, handed to ordered observers in order.

Every line is numbered (``seq``) and timestamped *before* it is forwarded: a reply cannot exist
before its request was forwarded, so numbering first is what makes a reply's seq always higher
than its request's. Hooks and inspectors see the same number.

Two relay threads and the event loop number concurrently and then each finishes its work in its
own time, so an observer that needs seq order (the inspector: frames, backlog, recording) cannot
simply be called by whoever finishes first. Numbering therefore reserves a *slot* under a short
lock; when a line's fate is known -- queued for writing, held, dropped; known before any write
that may block -- :meth:`Sequencer.fill` puts it in its slot, and the filled slots at the head are
handed on, in order, under the same lock. A write that blocks never stalls the stream: the line
was handed on when it was queued (a later failure is reported as a new event).

Observers get either a :class:`~omproxy_tui.proxy.line.Line` (status as known when it was queued)
or an event tuple ``(kind, seq, t, wall, fields)``; they run under the lock, so they must be quick
and must not call back into the sequencer.

Rule for code that numbers lines (:meth:`Proxy.make_line`): every numbered line must be filled
(the proxy does it in ``relay_line``, ``inject`` and ``_observe``), else the observers' stream
stops at that number. :meth:`number_gap` numbers something no observer needs to see.
"""

from __future__ import annotations

import threading
from collections import deque
from time import monotonic as _monotonic
from time import time as _time
from typing import Any, Callable

_EMPTY = object()  # a reserved slot whose line is not ready yet


class Sequencer:
    def __init__(self, report: Callable[[str], None] | None = None) -> None:
        self.lock = threading.Lock()
        self._n = 0
        self._slots: deque[Any] = deque()  # items for seq _base, _base + 1, ...
        self._base = 1
        self.observers: list[Callable[[Any], None]] = []
        self._report = report

    def add_observer(self, fn: Callable[[Any], None]) -> None:
        """Receive every item numbered from now on, in seq order (add before traffic flows)."""
        with self.lock:
            if not self.observers:
                self._slots.clear()
                self._base = self._n + 1
            self.observers.append(fn)

    @property
    def last(self) -> int:
        """The highest seq handed out so far."""
        return self._n

    def number(self) -> tuple[int, float, float]:
        """A new (seq, monotonic t, wall) for a line; its slot waits for :meth:`fill`."""
        with self.lock:
            self._n += 1
            if self.observers:
                self._slots.append(_EMPTY)
            return self._n, _monotonic(), _time()

    def number_gap(self) -> int:
        """A seq that observers will never see (nothing to wait for)."""
        with self.lock:
            self._n += 1
            if self.observers:
                self._slots.append(None)
                self._deliver_locked()
            return self._n

    def fill(self, seq: int, item: Any) -> None:
        """The item for a numbered slot is ready (None: nothing to hand on). A slot is filled once;
        later calls for it are ignored."""
        with self.lock:
            i = seq - self._base
            if i < 0 or i >= len(self._slots) or self._slots[i] is not _EMPTY:
                return
            self._slots[i] = item
            if i == 0:
                self._deliver_locked()

    def event(self, kind: str, fields: dict) -> int:
        """Number an event (stderr, lifecycle, resolved...) and hand it on when its turn comes."""
        with self.lock:
            self._n += 1
            seq = self._n
            if self.observers:
                self._slots.append((kind, seq, _monotonic(), _time(), fields))
                self._deliver_locked()
            return seq

    def _deliver_locked(self) -> None:
        slots = self._slots
        while slots and slots[0] is not _EMPTY:
            item = slots.popleft()
            self._base += 1
            if item is None:
                continue
            for fn in self.observers:
                try:
                    fn(item)
                except Exception as exc:  # noqa: BLE001 - an observer must never stop the numbering
                    if self._report is not None:
                        self._report(f"ordered observer {getattr(fn, '__qualname__', fn)} failed: "
                                     f"{type(exc).__name__}: {exc}")
