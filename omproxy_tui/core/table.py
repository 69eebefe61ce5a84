"""The store's records as columns: what lets a long session's index fit in memory.

Why columns: a :class:`~omproxy_tui.core.records.Record` object with its 28 slots, its floats and
ints cost ~560 bytes a message beside the body (a million messages: ~560 MB). Kept as columns --
``array('d')`` for times and latency, ``array('q')`` for seq, size, id and pair, one byte of flag
bits, a small code per row for the few distinct strings of kind, direction, session, method,
target and status, and dicts holding the rare fields (error, batch parts, frame extras, summaries
built so far) -- the same index costs ~90 bytes.

What the rest of the code sees is unchanged: the table is the list of the store's records, and
a record (a :class:`StoredRecord`) reads and writes these columns, attribute for attribute what a
``Record`` offers, so holding one across changes of the store always shows the current state.

A :class:`StoredRecord` is an ``int`` subclass (its own index) with no fields of its own: 48
bytes, the cheapest object that can carry properties. It is always true (row 0 too) and compares
and hashes as its index.

Values a column cannot hold (an int seq beyond 64 bits, a float id, ``t`` given as an int) are
kept exactly in the column's side dict, so nothing is coerced: reads return what was stored.

Standard library only: no textual.
"""

from __future__ import annotations

from array import array
from typing import Any

from omproxy_tui.core.records import Record, _summarize

__all__ = ["RecordTable", "StoredRecord", "SPOOL_SHIFT"]

#: A spooled body is an int in the ``raw`` column: ``spool number << SPOOL_SHIFT | token``.
SPOOL_SHIFT = 80
_TOKEN_MASK = (1 << SPOOL_SHIFT) - 1

#: In an ``array('q')`` column: "see the side dict" (absent there: None).
_ODD = -(2**63)
_QMIN = -(2**63) + 1
_QMAX = 2**63 - 1
_NAN = float("nan")

# flag bits of the ``flags`` column
HELD, INJECTED, CHANGED, TO_INSPECTOR, PENDING, CANCELLED, TOOL_ERROR, MARKED = 1, 2, 4, 8, 16, 32, 64, 128
_FLAGS = {
    "held": HELD, "injected": INJECTED, "changed": CHANGED, "to_inspector": TO_INSPECTOR,
    "pending": PENDING, "cancelled": CANCELLED, "tool_error": TOOL_ERROR, "marked": MARKED,
}  # fmt: skip


class _Names:
    """A column of few distinct values (kind, method, session...): one small code per row."""

    __slots__ = ("codes", "values", "index")

    def __init__(self) -> None:
        self.codes = array("B")
        self.values: list[Any] = [None]
        self.index: dict[Any, int] = {None: 0}

    def code(self, value: Any) -> int:
        c = self.index.get(value)
        if c is None:
            c = len(self.values)
            self.values.append(value)
            self.index[value] = c
            tc = self.codes.typecode
            if (tc == "B" and c >= 0x100) or (tc == "H" and c >= 0x10000):
                self.codes = array("H" if c < 0x10000 else "I", self.codes)
        return c

    def get(self, i: int) -> Any:
        return self.values[self.codes[i]]

    def set(self, i: int, value: Any) -> None:
        c = self.code(value)
        self.codes[i] = c


class RecordTable(list):
    """All records of a :class:`~omproxy_tui.core.store.Store`, column-wise (see the module doc).

    It is the list of the store's records (:class:`StoredRecord` objects, one per row, made
    when the row is appended): indexing, slicing and iterating are plain list operations, at C
    speed, as filters need. Read-only for everyone but the store.
    """

    def __init__(self) -> None:
        super().__init__()
        self.session = _Names()
        self.dir = _Names()
        self.kind = _Names()
        self.method = _Names()
        self.tool = _Names()
        self.status = _Names()
        self.seq = array("q")
        self.size = array("q")
        self.id = array("q")
        self.pair = array("q")
        self.t = array("d")
        self.wall = array("d")
        self.latency = array("d")
        self.flags = bytearray()
        #: bodies: the str in memory, or an int (``spool number << SPOOL_SHIFT | token``)
        self.raw: list[Any] = []
        #: spools by number (see ``raw``); set by the store
        self.spools: list[Any] = []
        # side dicts: values the arrays cannot hold, and the rare fields
        self.x_seq: dict[int, Any] = {}
        self.x_size: dict[int, Any] = {}
        self.x_id: dict[int, Any] = {}
        self.x_t: dict[int, Any] = {}
        self.x_wall: dict[int, Any] = {}
        self.error: dict[int, str] = {}
        self.progress_token: dict[int, Any] = {}
        self.ref_id: dict[int, Any] = {}
        self.parts: dict[int, tuple] = {}
        self.extra: dict[int, dict] = {}
        self.summary: dict[int, str] = {}
        self.cls: type[StoredRecord] = _record_class(self)

    # ---- sequence: the list of records itself -----------------------------------------------

    def __repr__(self) -> str:
        return f"<RecordTable of {len(self)} records>"

    # ---- append ---------------------------------------------------------------------------

    def add(self, r: Record) -> int:
        """Copy a standalone record into the columns; returns its index."""
        i = len(self)
        v = r.seq
        if type(v) is int and _QMIN <= v <= _QMAX:
            self.seq.append(v)
        else:
            self.seq.append(_ODD)
            self.x_seq[i] = v
        v = r.size
        if type(v) is int and _QMIN <= v <= _QMAX:
            self.size.append(v)
        else:
            self.size.append(_ODD)
            self.x_size[i] = v
        v = r.id
        if type(v) is int and _QMIN <= v <= _QMAX:
            self.id.append(v)
        else:
            self.id.append(_ODD)
            if v is not None:
                self.x_id[i] = v
        v = r.t
        if type(v) is float and v == v:
            self.t.append(v)
        else:
            self.t.append(_NAN)
            self.x_t[i] = v
        v = r.wall
        if type(v) is float and v == v:
            self.wall.append(v)
        else:
            self.wall.append(_NAN)
            self.x_wall[i] = v
        v = r.pair
        self.pair.append(-1 if v is None else v)
        v = r.latency
        self.latency.append(_NAN if v is None else v)
        for col, v in ((self.session, r.session), (self.dir, r.dir), (self.kind, r.kind),
                       (self.method, r.method), (self.tool, r.tool), (self.status, r.status)):
            c = col.index.get(v)
            col.codes.append(col.code(v) if c is None else c)
        f = 0
        if r.pending:
            f = PENDING
        if r.held:
            f |= HELD
        if r.injected:
            f |= INJECTED
        if r.changed:
            f |= CHANGED
        if r.to_inspector:
            f |= TO_INSPECTOR
        if r.cancelled:
            f |= CANCELLED
        if r.tool_error:
            f |= TOOL_ERROR
        if r.marked:
            f |= MARKED
        self.flags.append(f)
        self.raw.append(Record.raw.__get__(r))
        if r.error is not None:
            self.error[i] = r.error
        if r.progress_token is not None:
            self.progress_token[i] = r.progress_token
        if r.ref_id is not None:
            self.ref_id[i] = r.ref_id
        if r.parts is not None:
            self.parts[i] = r.parts
        if r.extra is not None:
            self.extra[i] = r.extra
        s = r._summary
        if s is not None:
            self.summary[i] = s
        list.append(self, self.cls(i))
        return i

    def truncate(self, n: int) -> None:
        """Drop rows from ``n`` on (undoes an :meth:`append` that failed half-way)."""
        n = min(n, len(self.seq))
        for col in (self.seq, self.size, self.id, self.pair, self.t, self.wall, self.latency, self.flags, self.raw,
                    self.session.codes, self.dir.codes, self.kind.codes, self.method.codes, self.tool.codes,
                    self.status.codes):
            del col[n:]
        for d in (self.x_seq, self.x_size, self.x_id, self.x_t, self.x_wall, self.error, self.progress_token,
                  self.ref_id, self.parts, self.extra, self.summary):
            for k in [k for k in d if k >= n]:
                del d[k]
        del self[n:]

    # ---- column reads the store's hot paths use -------------------------------------------

    def t_of(self, i: int) -> Any:
        v = self.t[i]
        return self.x_t.get(i, v) if v != v else v

    def seq_of(self, i: int) -> Any:
        v = self.seq[i]
        return self.x_seq.get(i) if v == _ODD else v

    def id_of(self, i: int) -> Any:
        v = self.id[i]
        return self.x_id.get(i) if v == _ODD else v

    def is_spooled(self, i: int) -> bool:
        return type(self.raw[i]) is int

    def spool_of(self, i: int) -> Any:
        """The spool holding record ``i``'s body (None: the body is in memory)."""
        v = self.raw[i]
        return self.spools[v >> SPOOL_SHIFT] if type(v) is int else None

    def token_of(self, i: int) -> int | None:
        """Where record ``i``'s body is in its spool (``offset << 32 | length``), or None."""
        v = self.raw[i]
        return v & _TOKEN_MASK if type(v) is int else None

    def body(self, v: int) -> str:
        return self.spools[v >> SPOOL_SHIFT].body(v & _TOKEN_MASK)


class StoredRecord(int):
    """A row of a :class:`RecordTable`, read and written like a
    :class:`~omproxy_tui.core.records.Record` (see the module doc). Each table has its own
    subclass whose properties are bound to its columns."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"StoredRecord(index={int(self)}, kind={self.kind!r}, method={self.method!r})"

    __str__ = __repr__

    @property
    def index(self) -> int:
        return int(self)

    @property
    def is_error(self) -> bool:
        """See :attr:`Record.is_error <omproxy_tui.core.records.Record.is_error>`."""
        if self.kind == "error" or self.tool_error or self.error is not None:
            return True
        parts = self.parts
        if parts is not None:
            for p in parts:
                k = p[0]
                if k == "error" or k == "invalid":
                    return True
        return False


def _record_class(tb: RecordTable) -> type[StoredRecord]:
    """The :class:`StoredRecord` subclass of ``tb``: properties closing over its columns (an
    attribute read is then one Python call and two C-level indexings)."""
    ns: dict[str, Any] = {"__slots__": (), "__module__": __name__, "table": tb}

    def names(col: _Names) -> property:
        def get(self: int) -> Any:
            return col.values[col.codes[self]]

        def put(self: int, value: Any) -> None:
            col.set(self, value)

        return property(get, put)

    for name in ("session", "dir", "kind", "method", "tool", "status"):
        ns[name] = names(getattr(tb, name))

    def ints(arr: array, odd: dict) -> property:
        def get(self: int) -> Any:
            v = arr[self]
            return odd.get(self) if v == _ODD else v

        def put(self: int, value: Any) -> None:
            odd.pop(self, None)
            if type(value) is int and _QMIN <= value <= _QMAX:
                arr[self] = value
            else:
                arr[self] = _ODD
                if value is not None:
                    odd[self] = value

        return property(get, put)

    ns["seq"] = ints(tb.seq, tb.x_seq)
    ns["size"] = ints(tb.size, tb.x_size)
    ns["id"] = ints(tb.id, tb.x_id)

    def floats(arr: array, odd: dict) -> property:
        def get(self: int) -> Any:
            v = arr[self]
            return odd.get(self, v) if v != v else v

        def put(self: int, value: Any) -> None:
            odd.pop(self, None)
            if type(value) is float and value == value:
                arr[self] = value
            else:
                arr[self] = _NAN
                odd[self] = value

        return property(get, put)

    ns["t"] = floats(tb.t, tb.x_t)
    ns["wall"] = floats(tb.wall, tb.x_wall)

    pair_col = tb.pair

    def get_pair(self: int) -> int | None:
        v = pair_col[self]
        return None if v < 0 else v

    def put_pair(self: int, value: int | None) -> None:
        pair_col[self] = -1 if value is None else value

    ns["pair"] = property(get_pair, put_pair)
    lat_col = tb.latency

    def get_latency(self: int) -> float | None:
        v = lat_col[self]
        return None if v != v else v

    def put_latency(self: int, value: float | None) -> None:
        lat_col[self] = _NAN if value is None else value

    ns["latency"] = property(get_latency, put_latency)
    flags = tb.flags

    def flag(bit: int) -> property:
        def get(self: int) -> bool:
            return flags[self] & bit != 0

        def put(self: int, value: Any) -> None:
            if value:
                flags[self] |= bit
            else:
                flags[self] &= ~bit & 0xFF

        return property(get, put)

    for name, bit in _FLAGS.items():
        ns[name] = flag(bit)

    def sparse(d: dict) -> property:
        def get(self: int) -> Any:
            return d.get(self)

        def put(self: int, value: Any) -> None:
            if value is None:
                d.pop(self, None)
            else:
                d[int(self)] = value

        return property(get, put)

    for name in ("error", "progress_token", "ref_id", "parts", "extra"):
        ns[name] = sparse(getattr(tb, name))

    raw_col = tb.raw
    body = tb.body

    def get_raw(self: int) -> str:
        v = raw_col[self]
        return v if type(v) is str else body(v)

    def put_raw(self: int, value: str) -> None:
        raw_col[self] = value

    ns["raw"] = property(get_raw, put_raw)
    sums = tb.summary

    def get_summary(self: int) -> str:
        """Short one-line description, built from the body on first read and then kept."""
        s = sums.get(self)
        if s is None:
            s = sums[int(self)] = _summarize(self)  # type: ignore[arg-type]
        return s

    def put_summary(self: int, value: str | None) -> None:
        if value is None:
            sums.pop(self, None)
        else:
            sums[int(self)] = value

    ns["summary"] = property(get_summary, put_summary)
    ns["_summary"] = property(lambda self: sums.get(self))
    return type("StoredRecord", (StoredRecord,), ns)
