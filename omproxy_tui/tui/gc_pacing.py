"""When the cyclic garbage collector does its full collections: at a quiet moment.

A full collection traverses every object the collector tracks and that is not frozen (the
store's records are frozen, see ``OmproxyApp._freeze_records``): Textual's rendered strips and
their caches, the detail pane's documents, the widgets. Those grow while one scrolls through a
big log, and Python ran a full collection every few seconds of key presses, 10-90 ms each on a
busy machine: they were the slowest keys. Here Python's own rule (one is due after ten
collections of the middle generation) only says that one is due; :meth:`FullCollections.tick`
runs it when the app is quiet (no key for a second, nothing waiting to be ingested), and after
:data:`FORCE_AFTER` seconds of waiting at the latest, so garbage in cycles is still freed within
that time whatever the user does. The young generations are collected as before.

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

    def start(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], _NEVER)

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    @property
    def due(self) -> bool:
        return gc.get_count()[2] >= DUE_AFTER

    def tick(self, quiet: bool) -> bool:
        """Run a full collection if one is due and the app is ``quiet`` (or it has waited
        :data:`FORCE_AFTER` seconds). True when one ran."""
        if not self.due:
            self._due_since = None
            return False
        now = self.clock()
        if self._due_since is None:
            self._due_since = now
        forced = now - self._due_since >= FORCE_AFTER
        if not (quiet or forced):
            return False
        gc.collect()
        self._due_since = None
        self.runs += 1
        self.last_reason = "quiet" if quiet else "forced"
        return True
