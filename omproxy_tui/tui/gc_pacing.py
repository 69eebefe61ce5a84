"""When the cyclic garbage collector does its full collections: at a quiet moment.

A full collection traverses every object the collector tracks and that is not frozen (the
store's records are frozen, see ``OmproxyApp._freeze_records``): Textual's rendered strips and
their caches, the detail pane's documents, the widgets. Those grow while one scrolls through a
big log, and Python ran a full collection every few seconds of key presses, 10-90 ms each on a
busy machine: they were the slowest keys. Here Python's own rule (one is due after ten
collections of the middle generation) only says that one is due; :meth:`FullCollections.tick`
runs it when the app is quiet (no key for a second, nothing waiting to be ingested), and after
:data:`FORCE_AFTER` seconds of waiting at the latest, so garbage in cycles is still freed within
that time whatever the user does. The young generations are collected as before. Now and then a
full collection also goes through the frozen objects (:meth:`FullCollections.thaw`).

Standard library only: no textual.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

#: collections of the middle generation after which a full one is due (Python's default)
DUE_AFTER = 10
#: a due full collection waits for a quiet moment at most this long (seconds)
FORCE_AFTER = 30.0
#: records frozen (see note_frozen) since the last thaw after which the next full collection
#: thaws first
THAW_AFTER = 100_000
#: never, in practice: what the third threshold is set to while the app paces full collections
_NEVER = 1 << 30


class FullCollections:
    """Takes full collections off Python's schedule (:meth:`start`) and runs them from
    :meth:`tick`; :meth:`stop` gives the schedule back."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._saved: tuple[int, int, int] | None = None
        self._due_since: float | None = None
        #: full collections run by tick(), and why the last one ran ("quiet" or "forced")
        self.runs = 0
        self.last_reason = ""
        #: thaws (see thaw) and the frozen count after the last one
        self.thaws = 0
        #: records frozen since the last thaw (the app says, see note_frozen): not
        #: gc.get_freeze_count(), which walks every frozen object (6 ms at 100k records)
        self._frozen_records = 0

    def start(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], _NEVER)

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def note_frozen(self, records: int) -> None:
        """The app froze the heap with ``records`` more records in it than at its last freeze."""
        self._frozen_records += records

    @property
    def due(self) -> bool:
        return gc.get_count()[2] >= DUE_AFTER

    def tick(self, quiet: bool, idle: bool | None = None) -> bool:
        """Run a full collection if one is due and the app is ``quiet``, or a thaw if one is due
        and the app is ``idle`` (quiet for longer: a thaw traverses everything); either after
        :data:`FORCE_AFTER` seconds of waiting. True when one ran."""
        # (a thaw is due on its own count: gc.freeze() zeroes the collection counts, and the
        # app freezes every few thousand records, so during a long stream of messages a full
        # collection is never due by Python's rule)
        thaw = self._frozen_records >= THAW_AFTER
        if not (thaw or self.due):
            self._due_since = None
            return False
        now = self.clock()
        if self._due_since is None:
            self._due_since = now
        forced = now - self._due_since >= FORCE_AFTER
        ready = (quiet if idle is None else idle) if thaw else quiet
        if not (ready or forced):
            return False
        if thaw:
            self.thaw()
        else:
            gc.collect()
        self._due_since = None
        self.runs += 1
        self.last_reason = "quiet" if quiet else "forced"
        return True

    def thaw(self) -> None:
        """Collect what was frozen too, then freeze what is left. The app freezes the heap
        (``gc.freeze``) so that collections stop traversing its records; but whatever else is
        alive at that moment is frozen with them, and what of it later dies in a reference cycle
        is never freed: Textual's strips are such cycles (a strip caches itself as its own crop),
        and a long session left ~100 bytes a message of them. A thaw traverses everything once
        (~40 ms for a million records here); it comes after :data:`THAW_AFTER` more records
        were frozen, so such garbage stays bounded."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_records = 0
        self.thaws += 1
