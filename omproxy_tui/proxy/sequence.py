"""One numbering for everything a proxy relays or reports, handed to ordered observers in order.

Every line is numbered (``seq``) and timestamped *before* it is forwarded: a reply cannot exist
before its request was forwarded, so numbering first is what makes a reply's seq always higher
than its request's. Hooks and inspectors see the same number.

Two relay threads and the event loop number concurrently and then each finishes its work in its
own time, so an observer that needs seq order (the inspector: frames, backlog, recording) cannot
simply be called by whoever finishes first. Numbering therefore reserves a *slot*; when a line's
fate is known -- queued for writing, held, dropped; known before any write that may block --
:meth:`Sequencer.fill` puts it in its slot, and the filled slots from the next seq to hand on are
handed on, in order, by one thread at a time. A write that blocks never stalls the stream: the line
was handed on when it was queued (a later failure is reported as a new event).

Observers get either a :class:`~omproxy_tui.proxy.line.Line` (status as known when it was queued)
or an event tuple ``(kind, seq, t, wall, fields)``; they run under the lock, so they must be quick
and must not call back into the sequencer.

Rule for code that numbers lines (:meth:`Proxy.make_line`): every numbered line must be filled
(the proxy does it in ``relay_line``, ``inject`` and ``_observe``), else the observers' stream
stops at that number. :meth:`number_gap` numbers something no observer needs to see.
"""

from __future__ import annotations

import itertools
import threading
from time import monotonic as _monotonic
from time import time as _time
from typing import Any, Callable

_EMPTY = object()  # a reserved slot whose line is not ready yet
_MISSING = object()


class Sequencer:
    """Numbers are taken without a lock (``itertools.count`` is atomic under the GIL); slots live
    in a dict keyed by seq, so reserving needs no ordering either. Handing on is done by one
    thread at a time: whoever fills a slot tries to take the hand-off lock without waiting; if
    another thread has it, that thread hands on what we filled too. So the relay threads almost
    never wait for each other here."""

    def __init__(self, report: Callable[[str], None] | None = None) -> None:
        self.lock = threading.Lock()  # the hand-off lock: observers run under it
        self._counter = itertools.count(1)
        self._n = 0
        self._slots: dict[int, Any] = {}
        self._base = 1  # the next seq to hand on
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
        seq = self._n = next(self._counter)
        if self.observers:
            self._slots[seq] = _EMPTY
        return seq, _monotonic(), _time()

    def number_gap(self) -> int:
        """A seq that observers will never see (nothing to wait for)."""
        seq = self._n = next(self._counter)
        if self.observers:
            self._slots[seq] = None
            self._hand_on()
        return seq

    def fill(self, seq: int, item: Any) -> None:
        """The item for a numbered slot is ready (None: nothing to hand on). A slot is filled once;
        later calls for it are ignored."""
        if seq < self._base or self._slots.get(seq, _MISSING) is not _EMPTY:
            return  # handed on already, or filled, or not ours
        self._slots[seq] = item
        self._hand_on()

    def event(self, kind: str, fields: dict) -> int:
        """Number an event (stderr, lifecycle, resolved...) and hand it on when its turn comes."""
        seq = self._n = next(self._counter)
        if self.observers:
            self._slots[seq] = (kind, seq, _monotonic(), _time(), fields)
            self._hand_on()
        return seq

    def _ready(self) -> bool:
        item = self._slots.get(self._base, _EMPTY)
        return item is not _EMPTY

    def _hand_on(self) -> None:
        slots = self._slots
        while self._ready():
            if not self.lock.acquire(blocking=False):
                return  # the holder hands on ours too (it re-checks after releasing)
            try:
                while True:
                    item = slots.get(self._base, _EMPTY)
                    if item is _EMPTY:
                        break
                    del slots[self._base]
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
            finally:
                self.lock.release()
