"""A filtered, ordered view over a :class:`~omproxy_tui.core.store.Store`: just a sorted list of
store indices. The TUI's log widget renders ``view.indices[row]`` for the rows on screen.

Why a plain list of ints: re-filtering 100k records is a few C-level passes (``Filter.select``
works a column at a time: ``map`` over an attribute, one answer per distinct value) and
appending live records is ``list.extend``; a list of ints is the cheapest thing a virtual list
can index into.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from itertools import compress

from omproxy_tui.core.records import Record
from omproxy_tui.core.store import Store

__all__ = ["FilteredView"]

Predicate = Callable[[Record], bool]


class FilteredView:
    """Indices of the store's records that match ``filter`` (all records when it is None),
    in store order."""

    __slots__ = ("store", "filter", "indices", "_seen", "start", "version")

    def __init__(self, store: Store, filter: Predicate | None = None) -> None:
        self.store = store
        self.filter: Predicate | None = None
        self.indices: list[int] = []
        # store length already considered: indices >= _seen are new to this view
        self._seen = 0
        #: records before this index are not shown ("clear the log": the store keeps them)
        self.start = 0
        #: bumped whenever rows are replaced, inserted or removed (not by appends): what a
        #: structure placed by row (the log's markers, core/markers.py) re-places on
        self.version = 0
        self.set_filter(filter)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, row: int) -> Record:
        """The record shown at ``row``."""
        return self.store.records[self.indices[row]]

    def set_filter(self, filter: Predicate | None) -> None:
        """Replace the filter and recompute the whole view (a few ms per 100k records for most filters)."""
        self.filter = filter
        self.version += 1
        records = self.store.records
        n = len(records)
        if filter is None:
            self.indices = list(range(self.start, n))
        else:
            self.indices = _select(filter, records, range(self.start, n))
        self._seen = n

    def clear(self) -> None:
        """Show only records added from now on (the store, and so stats and pairing, keep all)."""
        self.start = len(self.store.records)
        self.indices = []
        self.version += 1
        self._seen = self.start

    def on_added(self, indices: Iterable[int]) -> bool:
        """Bring the view up to date after :meth:`Store.add` calls.

        ``indices`` are the changed indices the store returned (new records and earlier ones a
        new record updated, e.g. a request that just got its response and may now match
        ``~slow`` or stop matching ``~pending``). New records are appended; changed older
        ones are re-checked and inserted/removed with bisect. Records added to the store but
        not passed here are picked up too, so calling with ``[]`` after a burst is enough for
        the appends. Returns True when ``indices`` changed.
        """
        records = self.store.records
        f = self.filter
        out = self.indices
        before = len(out)
        changed = False
        seen = self._seen
        n = len(records)
        start = self.start
        for i in indices:
            if i >= seen or i < start:
                continue  # new ones: the append pass below, in order; cleared ones: never
            # An older record whose pairing state changed: re-check its membership.
            pos = bisect_left(out, i)
            present = pos < len(out) and out[pos] == i
            match = f is None or f(records[i])
            if match and not present:
                out.insert(pos, i)
                changed = True
            elif present and not match:
                del out[pos]
                changed = True
        if changed:
            self.version += 1
        if n > seen:
            if f is None:
                out.extend(range(seen, n))
            else:
                out.extend(_select(f, records, range(seen, n)))
            self._seen = n
        return changed or len(out) != before

    def position(self, index: int) -> int | None:
        """Row showing store index ``index``, or None when it is filtered out."""
        pos = bisect_left(self.indices, index)
        if pos < len(self.indices) and self.indices[pos] == index:
            return pos
        return None

    def nearest(self, index: int) -> int | None:
        """Row of ``index`` or, if hidden, of the closest visible record before it (else after).
        Keeps the cursor near the same place across a re-filter. None when the view is empty."""
        if not self.indices:
            return None
        pos = bisect_left(self.indices, index)
        if pos < len(self.indices) and self.indices[pos] == index:
            return pos
        return max(pos - 1, 0)


def _select(f: Predicate, records: list[Record], rows: range) -> list[int]:
    """Rows matching ``f``: a compiled :class:`~omproxy_tui.core.filters.Filter` evaluates a
    column at a time (``Filter.select``); any other predicate once per record."""
    select = getattr(f, "select", None)
    if select is not None:
        return select(records, rows)
    return list(compress(rows, map(f, records[rows.start : rows.stop])))
