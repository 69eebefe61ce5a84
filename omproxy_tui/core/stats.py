"""Per-method (and per-tool) traffic statistics and a message-rate history.

Feed :meth:`Stats.update` every record the store reports as changed (new records and the
requests they paired with). Feeding the same record again is harmless: each record's counts,
bytes and latency are taken once (keyed by its store index) and only its pending state is
re-read. Feeding only *new* records also works: a paired response takes its request out of
the in-flight set.

Keys: the method (``"tools/call"``), plus ``"tools/call:<tool>"`` rows for each tool, so the
table shows the aggregate and the breakdown (don't sum the two levels). Responses count under
their request's method; orphan responses under ``"(unpaired)"``, invalid lines under
``"(invalid)"``, batches per element method without latency.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

from omproxy_tui.core.records import Record

__all__ = ["Stats", "StatsRow", "percentile"]

UNPAIRED = "(unpaired)"
INVALID = "(invalid)"

#: Resolution of the rate history: ticks per second (``rate_series`` buckets are whole ticks).
#: Multiplying (``wall * 10``) rather than dividing by 0.1 keeps ``105.0`` in tick 1050.
_TICKS_PER_S = 10


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least ``p``% of values <= it).

    Nearest-rank, not interpolation, so every reported latency is one that really happened.
    """
    n = len(sorted_values)
    if not n:
        return None
    rank = math.ceil(p / 100.0 * n)
    return sorted_values[min(max(rank, 1), n) - 1]


@dataclass(slots=True)
class StatsRow:
    """One line of the stats table. Latencies in milliseconds (None: no answered request)."""

    key: str
    method: str
    tool: str | None = None
    count: int = 0
    errors: int = 0
    in_flight: int = 0
    responses: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    bytes_in: int = 0
    bytes_out: int = 0


class _Acc:
    __slots__ = ("key", "method", "tool", "count", "errors", "pending", "lat", "sorted", "sorted_upto",
                 "bytes_in", "bytes_out")

    def __init__(self, key: str, method: str, tool: str | None) -> None:
        self.key = key
        self.method = method
        self.tool = tool
        self.count = 0
        self.errors = 0
        self.pending: set[int] = set()
        self.lat = _Latencies("d")
        self.sorted = True
        #: ``lat[:sorted_upto]`` is sorted (what the last read sorted); appends come after it
        self.sorted_upto = 0
        self.bytes_in = 0
        self.bytes_out = 0


class _Latencies(array):
    """Latencies in ms as doubles, 8 bytes each (a list of floats costs 32: 15 MB at 1M
    messages), used like the list they replace: ``sort()``, slices of the same kind."""

    __slots__ = ()

    def sort(self) -> None:
        self[:] = array("d", sorted(self))

    def __getitem__(self, i: Any) -> Any:
        v = array.__getitem__(self, i)
        return _Latencies("d", v) if type(i) is slice else v


_last = array.__getitem__


class _IndexSet:
    """A set of store indices, one byte each (a set of ints costs ~70 bytes an entry, and every
    record of a long session is in it)."""

    __slots__ = ("bits",)

    def __init__(self) -> None:
        self.bits = bytearray()

    def __contains__(self, i: int) -> bool:
        bits = self.bits
        return i < len(bits) and bits[i] != 0

    def add(self, i: int) -> None:
        bits = self.bits
        if i >= len(bits):
            bits.extend(bytes(i + 1 - len(bits) + len(bits) // 2 + 1024))
        bits[i] = 1


class Stats:
    """Aggregates fed by :meth:`update`; :meth:`rows` computes percentiles lazily."""

    def __init__(self) -> None:
        self._acc: dict[str, _Acc] = {}
        self._seen = _IndexSet()
        # responses counted under "(unpaired)": moved to their method if their request turns
        # up later (a response recorded before its request, see Store)
        self._unpaired: set[int] = set()
        self._pending_keys: dict[int, tuple[_Acc, ...]] = {}
        self._ticks: dict[int, int] = {}
        # (method, tool) -> the accumulators a record with them counts in
        self._accs_memo: dict[tuple[str, str | None], tuple[_Acc, ...]] = {}
        #: Totals over everything seen.
        self.messages = 0
        self.errors = 0
        self.bytes_in = 0
        self.bytes_out = 0

    def _accs(self, method: str, tool: str | None) -> tuple[_Acc, ...]:
        accs = self._accs_memo.get((method, tool))
        if accs is None:
            accs = self._accs_memo[(method, tool)] = self._make_accs(method, tool)
        return accs

    def _make_accs(self, method: str, tool: str | None) -> tuple[_Acc, ...]:
        acc = self._acc.get(method)
        if acc is None:
            acc = self._acc[method] = _Acc(method, method, None)
        if tool is None or method != "tools/call":
            return (acc,)
        key = f"{method}:{tool}"
        sub = self._acc.get(key)
        if sub is None:
            sub = self._acc[key] = _Acc(key, method, tool)
        return (acc, sub)

    def update(self, rec: Record) -> None:
        """Account for ``rec`` (new or changed). Idempotent per ``rec.index``."""
        idx = rec.index
        kind = rec.kind
        if idx not in self._seen:
            self._seen.add(idx)
            self._first(rec, kind)
        elif rec.method is not None and idx in self._unpaired:
            self._reattribute(rec)
        # in-flight: requests enter while pending and leave when answered or cancelled
        if kind == "request" or kind == "batch":
            accs = self._pending_keys.get(idx)
            if rec.pending:
                if accs is None:
                    accs = self._accs(rec.method, rec.tool) if kind == "request" else ()
                    self._pending_keys[idx] = accs
                    for a in accs:
                        a.pending.add(idx)
            elif accs is not None:
                del self._pending_keys[idx]
                for a in accs:
                    a.pending.discard(idx)
        elif (kind == "response" or kind == "error") and rec.pair is not None:
            accs = self._pending_keys.pop(rec.pair, None)
            if accs:
                for a in accs:
                    a.pending.discard(rec.pair)

    def update_many(self, records: list[Record]) -> None:
        """:meth:`update` for each of ``records`` (a batch of new ones, typically): the same
        result, with the common request/response/notification cases inlined."""
        seen = self._seen
        bits = seen.bits
        ticks = self._ticks
        tget = ticks.get
        accs_of = self._accs
        pending_keys = self._pending_keys
        update = self.update
        messages = errors = bytes_in = bytes_out = 0
        for rec in records:
            kind = rec.kind
            idx = rec.index
            if (idx < len(bits) and bits[idx]) or kind == "batch" or kind == "invalid":
                update(rec)
                continue
            seen.add(idx)
            messages += 1
            tick = int(rec.wall * _TICKS_PER_S)
            ticks[tick] = tget(tick, 0) + 1
            size = rec.size
            inbound = rec.dir == "c2s"
            if inbound:
                bytes_in += size
            else:
                bytes_out += size
            is_error = kind == "error" or rec.error is not None or rec.tool_error  # = rec.is_error here (no batches)
            if is_error:
                errors += 1
            method = rec.method
            counted = kind == "request" or kind == "notification"
            if method is None:
                method = UNPAIRED
                if not counted:
                    self._unpaired.add(idx)
            accs = accs_of(method, rec.tool)
            latency = rec.latency if not counted and rec.pair is not None else None
            for a in accs:
                if counted:
                    a.count += 1
                if is_error:
                    a.errors += 1
                if inbound:
                    a.bytes_in += size
                else:
                    a.bytes_out += size
                if latency is not None:
                    lat = a.lat
                    ms = latency * 1000.0
                    if lat and ms < lat[-1]:
                        a.sorted = False
                    lat.append(ms)
            # in-flight, as in update()
            if kind == "request":
                if rec.pending:
                    pending_keys[idx] = accs
                    for a in accs:
                        a.pending.add(idx)
            elif not counted and rec.pair is not None:
                paccs = pending_keys.pop(rec.pair, None)
                if paccs:
                    for a in paccs:
                        a.pending.discard(rec.pair)
        self.messages += messages
        self.errors += errors
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out

    def update_rows(self, table: Any, start: int, kinds: list, dirs: list, methods: list, tools: list) -> int:
        """:meth:`update_many` for the rows of a store's
        :class:`~omproxy_tui.core.table.RecordTable` from ``start`` on, reading whole columns
        (a record's attributes are property calls there; a column is one C-level slice).
        ``kinds``, ``dirs``, ``methods`` and ``tools`` are those rows' columns (the caller has
        them already). Returns how many of the rows are errors (:attr:`Record.is_error`)."""
        n = len(table)
        if start >= n:
            return 0
        from omproxy_tui.core.table import LATENCY, NF, NI, PAIR, PENDING, SIZE, TOOL_ERROR, WALL

        seen = self._seen
        bits = seen.bits
        if len(bits) < n:  # grown once here (as _IndexSet.add would); each new row's bit is set below
            bits.extend(bytes(n - len(bits) + len(bits) // 2 + 1024))
        memo_get = self._accs_memo.get
        ticks = self._ticks
        tget = ticks.get
        accs_of = self._accs
        pending_keys = self._pending_keys
        update = self.update
        errs = table.error
        messages = errors = bytes_in = bytes_out = 0
        new_errors = 0
        ints = table.ints
        floats = table.floats
        rows = zip(
            range(start, n), kinds, floats[start * NF + WALL : n * NF : NF], ints[start * NI + SIZE : n * NI : NI],
            dirs, methods, tools, ints[start * NI + PAIR : n * NI : NI], floats[start * NF + LATENCY : n * NF : NF],
            table.flags[start:n],
        )  # fmt: skip
        for idx, kind, wall, size, dir, method, tool, pair, latency, flags in rows:
            if bits[idx] or kind == "batch" or kind == "invalid" or wall != wall or size < 0:
                # (batches, invalid lines, and values kept in the table's side dicts)
                rec = table[idx]
                update(rec)
                if rec.is_error:
                    new_errors += 1
                continue
            bits[idx] = 1
            messages += 1
            tick = int(wall * _TICKS_PER_S)
            ticks[tick] = tget(tick, 0) + 1
            inbound = dir == "c2s"
            if inbound:
                bytes_in += size
            else:
                bytes_out += size
            # = rec.is_error here (no batches)
            is_error = kind == "error" or flags & TOOL_ERROR or (errs and idx in errs)
            if is_error:
                errors += 1
            counted = kind == "request" or kind == "notification"
            if method is None:
                method = UNPAIRED
                if not counted:
                    self._unpaired.add(idx)
            accs = memo_get((method, tool)) or accs_of(method, tool)
            if counted or pair < 0:
                latency = None
            for a in accs:
                if counted:
                    a.count += 1
                if is_error:
                    a.errors += 1
                if inbound:
                    a.bytes_in += size
                else:
                    a.bytes_out += size
                if latency is not None:
                    lat = a.lat
                    ms = latency * 1000.0
                    if lat and ms < _last(lat, -1):  # (the C getter: no slice check)
                        a.sorted = False
                    lat.append(ms)
            # in-flight, as in update()
            if kind == "request":
                if flags & PENDING:
                    pending_keys[idx] = accs
                    for a in accs:
                        a.pending.add(idx)
            elif not counted and pair >= 0:
                paccs = pending_keys.pop(pair, None)
                if paccs:
                    for a in paccs:
                        a.pending.discard(pair)
        self.messages += messages
        self.errors += errors
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        return errors + new_errors

    def _first(self, rec: Record, kind: str) -> None:
        self.messages += 1
        tick = int(rec.wall * _TICKS_PER_S)
        self._ticks[tick] = self._ticks.get(tick, 0) + 1
        size = rec.size
        inbound = rec.dir == "c2s"
        if inbound:
            self.bytes_in += size
        else:
            self.bytes_out += size
        is_error = rec.is_error
        if is_error:
            self.errors += 1
        if kind == "batch":
            # Count each element under its method; bytes and latency are not split.
            for pkind, method, _id, tool in rec.parts or ():
                if method is not None and (pkind == "request" or pkind == "notification"):
                    for a in self._accs(method, tool):
                        a.count += 1
                elif pkind == "error":
                    for a in self._accs(method or UNPAIRED, tool):
                        a.errors += 1
            return
        if kind == "invalid":
            method, tool = INVALID, None
        else:
            method, tool = rec.method or UNPAIRED, rec.tool
            if rec.method is None and kind != "request" and kind != "notification":
                self._unpaired.add(rec.index)
        accs = self._accs(method, tool)
        counted = kind == "request" or kind == "notification"
        latency = rec.latency if (kind == "response" or kind == "error") and rec.pair is not None else None
        for a in accs:
            if counted or kind == "invalid":
                a.count += 1
            if is_error:
                a.errors += 1
            if inbound:
                a.bytes_in += size
            else:
                a.bytes_out += size
            if latency is not None:
                lat = a.lat
                if lat and latency * 1000.0 < lat[-1]:
                    a.sorted = False
                lat.append(latency * 1000.0)

    def _reattribute(self, rec: Record) -> None:
        """Move a response counted as unpaired to its request's method (bytes, errors, latency)."""
        self._unpaired.discard(rec.index)
        size = rec.size
        inbound = rec.dir == "c2s"
        is_error = rec.is_error
        old = self._acc.get(UNPAIRED)
        if old is not None:
            if inbound:
                old.bytes_in -= size
            else:
                old.bytes_out -= size
            if is_error:
                old.errors -= 1
            if not (old.count or old.errors or old.bytes_in or old.bytes_out or old.pending or old.lat):
                del self._acc[UNPAIRED]
                self._accs_memo = {k: v for k, v in self._accs_memo.items() if k[0] != UNPAIRED}
        latency = rec.latency if rec.pair is not None else None
        for a in self._accs(rec.method, rec.tool):
            if is_error:
                a.errors += 1
            if inbound:
                a.bytes_in += size
            else:
                a.bytes_out += size
            if latency is not None:
                if a.lat and latency * 1000.0 < a.lat[-1]:
                    a.sorted = False
                a.lat.append(latency * 1000.0)

    # ---- reading ----------------------------------------------------------------------------

    def row(self, key: str) -> StatsRow | None:
        acc = self._acc.get(key)
        return None if acc is None else self._row(acc)

    def _row(self, a: _Acc) -> StatsRow:
        lat = a.lat
        if not a.sorted:
            # Sort only what came since the last read, then merge the two sorted runs (a sort
            # of two runs is a linear merge): the table is re-read every second during a burst,
            # and re-sorting 100k latencies each time was tens of ms of a key's wait.
            upto = a.sorted_upto
            if upto:
                tail = lat[upto:]
                tail.sort()
                lat[upto:] = tail
            lat.sort()
            a.sorted = True
        a.sorted_upto = len(lat)
        return StatsRow(
            key=a.key,
            method=a.method,
            tool=a.tool,
            count=a.count,
            errors=a.errors,
            in_flight=len(a.pending),
            responses=len(lat),
            p50=percentile(lat, 50),
            p95=percentile(lat, 95),
            p99=percentile(lat, 99),
            max=lat[-1] if lat else None,
            bytes_in=a.bytes_in,
            bytes_out=a.bytes_out,
        )

    def rows(self, sort_by: str = "count", reverse: bool = True) -> list[StatsRow]:
        """All rows sorted by a :class:`StatsRow` field; rows with no value (None latency)
        sort last in either direction, ties broken by key."""
        rows = [self._row(a) for a in self._acc.values()]
        rows.sort(key=lambda r: r.key)
        if sort_by in ("key", "method", "tool"):
            rows.sort(key=lambda r: getattr(r, sort_by) or "", reverse=reverse)
            return rows
        present = [r for r in rows if getattr(r, sort_by) is not None]
        missing = [r for r in rows if getattr(r, sort_by) is None]
        present.sort(key=lambda r: getattr(r, sort_by), reverse=reverse)
        return present + missing

    def rate_series(self, now_wall: float, buckets: int = 60, width_s: float = 1.0) -> list[int]:
        """Messages per bucket over the last ``buckets * width_s`` seconds up to ``now_wall``,
        oldest first (the last bucket ends at ``now_wall``). ``width_s`` is rounded to a
        multiple of 0.1 s."""
        per = max(1, round(width_s * _TICKS_PER_S))
        end = int(now_wall * _TICKS_PER_S) + 1  # ticks < end are in the past
        ticks = self._ticks
        out = []
        start = end - per * buckets
        if len(ticks) < per * buckets:
            counts = [0] * buckets
            for tick, n in ticks.items():
                if start <= tick < end:
                    counts[(tick - start) // per] += n
            return counts
        for b in range(buckets):
            lo = start + b * per
            out.append(sum(ticks.get(t, 0) for t in range(lo, lo + per)))
        return out
