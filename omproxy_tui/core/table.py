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
from operator import attrgetter
from struct import Struct
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
# every field of a standalone Record, in one C call (``raw`` and ``_summary`` as stored, not
# computed: a plain Record's raw is its slot)
_fields = attrgetter(
    "seq", "size", "id", "t", "wall", "pair", "latency", "session", "dir", "kind", "method", "tool", "status",
    "raw", "pending", "held", "injected", "changed", "to_inspector", "cancelled", "tool_error", "marked", "error",
    "progress_token", "ref_id", "parts", "extra", "_summary",
)

_FLAGS = {
    "held": HELD, "injected": INJECTED, "changed": CHANGED, "to_inspector": TO_INSPECTOR,
    "pending": PENDING, "cancelled": CANCELLED, "tool_error": TOOL_ERROR, "marked": MARKED,
}  # fmt: skip


class _Names:
    """The distinct values of one name column (kind, method, session...) and their codes."""

    __slots__ = ("values", "index")

    def __init__(self) -> None:
        self.values: list[Any] = [None]
        self.index: dict[Any, int] = {None: 0}

    def code(self, value: Any) -> int:
        c = self.index.get(value)
        if c is None:
            c = len(self.values)
            self.values.append(value)
            self.index[value] = c
        return c


# Row layout. Several columns share one array, a fixed number of slots per row, so that adding
# a row is a few ``extend`` calls rather than one ``append`` per field (ingest is per message).
#: ``floats``: t, wall, latency (NaN: None / see the side dict)
T, WALL, LATENCY = 0, 1, 2
NF = 3
#: ``ints``: seq, size, id, pair (``_ODD``: see the side dict / None; pair -1: None)
SEQ, SIZE, ID, PAIR = 0, 1, 2, 3
NI = 4
#: ``codes``: one code per name column, in this order
NAMES = ("session", "dir", "kind", "method", "tool", "status")
SESSION, DIR, KIND, METHOD, TOOL, STATUS = range(6)
NC = 6
_pack_ints = Struct(f"={NI}q").pack
_pack_floats = Struct(f"={NF}d").pack
_NAME_COL = {name: i for i, name in enumerate(NAMES)}
_INT_COL = {"seq": SEQ, "size": SIZE, "id": ID}
_FLOAT_COL = {"t": T, "wall": WALL}
_SPARSE = frozenset({"error", "progress_token", "ref_id", "parts", "extra"})


class RecordTable(list):
    """All records of a :class:`~omproxy_tui.core.store.Store`, column-wise (see the module doc).

    It is the list of the store's records (:class:`StoredRecord` objects, one per row, made
    when the row is appended): indexing, slicing and iterating are plain list operations, at C
    speed, as filters need. Read-only for everyone but the store.
    """

    def __init__(self) -> None:
        super().__init__()
        #: per name column (see NAMES): its distinct values
        self.names = tuple(_Names() for _ in NAMES)
        self.session, self.dir, self.kind, self.method, self.tool, self.status = self.names
        #: NC codes a row ('H'; 'I' once a column has more than 65,535 distinct values)
        self.codes = array("H")
        #: NF doubles a row, NI int64 a row
        self.floats = array("d")
        self.ints = array("q")
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
        # (session, dir, kind, method, tool, status) -> their codes
        self._combos: dict[tuple, bytes] = {}
        self._push = super().append  # (list.append, bound once: add() is per message)
        self._make = self.cls

    def __repr__(self) -> str:
        return f"<RecordTable of {len(self)} records>"

    # ---- append ---------------------------------------------------------------------------

    def add(self, r: Record) -> int:
        """Copy a standalone record into the columns; returns its index.

        Straight-line on purpose (every message of a live session comes through here): one C
        call reads all the fields, a few ``extend`` calls store them.
        """
        i = len(self)
        (seq, size, id, t, wall, pair, latency, session, dir, kind, method, tool, status, raw, pending, held,
         injected, changed, to_inspector, cancelled, tool_error, marked, error, token, ref_id, parts, extra,
         summary) = _fields(r)  # fmt: skip
        if type(seq) is not int or not _QMIN <= seq <= _QMAX:
            self.x_seq[i] = seq
            seq = _ODD
        if type(size) is not int or not _QMIN <= size <= _QMAX:
            self.x_size[i] = size
            size = _ODD
        if type(id) is not int or not _QMIN <= id <= _QMAX:
            if id is not None:
                self.x_id[i] = id
            id = _ODD
        if type(t) is not float or t != t:
            self.x_t[i] = t
            t = _NAN
        if type(wall) is not float or wall != wall:
            self.x_wall[i] = wall
            wall = _NAN
        # (frombytes of a packed row: a third of the cost of extend() with a tuple)
        self.ints.frombytes(_pack_ints(seq, size, id, -1 if pair is None else pair))
        self.floats.frombytes(_pack_floats(t, wall, _NAN if latency is None else latency))
        # the six codes of a row, looked up at once (rows repeat a few combinations), as bytes
        key = (session, dir, kind, method, tool, status)
        codes = self._combos.get(key)
        if codes is None:
            codes = self._combo(key)
        self.codes.frombytes(codes)
        f = PENDING if pending else 0
        if held or injected or changed or to_inspector or cancelled or tool_error or marked:
            f |= ((HELD if held else 0) | (INJECTED if injected else 0) | (CHANGED if changed else 0)
                  | (TO_INSPECTOR if to_inspector else 0) | (CANCELLED if cancelled else 0)
                  | (TOOL_ERROR if tool_error else 0) | (MARKED if marked else 0))
        self.flags.append(f)
        self.raw.append(raw)
        if error is not None:
            self.error[i] = error
        if token is not None:
            self.progress_token[i] = token
        if ref_id is not None:
            self.ref_id[i] = ref_id
        if parts is not None:
            self.parts[i] = parts
        if extra is not None:
            self.extra[i] = extra
        if summary is not None:
            self.summary[i] = summary
        self._push(self._make(i))
        return i

    def _combo(self, key: tuple) -> bytes:
        codes = [names.code(v) for names, v in zip(self.names, key)]
        if self.codes.typecode == "H" and max(codes) > 0xFFFF:
            self.codes = array("I", self.codes)
            self._combos.clear()
        if len(self._combos) >= 65536:  # many distinct targets (resource URIs): start over
            self._combos.clear()
        packed = self._combos[key] = array(self.codes.typecode, codes).tobytes()
        return packed

    def truncate(self, n: int) -> None:
        """Drop rows from ``n`` on (undoes an :meth:`add` that failed half-way)."""
        del self.ints[n * NI :]
        del self.floats[n * NF :]
        del self.codes[n * NC :]
        del self.flags[n:]
        del self.raw[n:]
        for d in (self.x_seq, self.x_size, self.x_id, self.x_t, self.x_wall, self.error, self.progress_token,
                  self.ref_id, self.parts, self.extra, self.summary):
            for k in [k for k in d if k >= n]:
                del d[k]
        del self[n:]

    # ---- whole columns (a batch of new rows, a pass of a filter) ----------------------------

    def column(self, name: str, start: int = 0, stop: int | None = None) -> list[Any]:
        """The values of field ``name`` for rows ``start:stop``, as a list: what
        ``[r.<name> for r in table[start:stop]]`` gives, at C speed for the columns."""
        n = len(self)
        stop = n if stop is None else min(stop, n)
        if start >= stop:
            return []
        col = _NAME_COL.get(name)
        if col is not None:
            return list(map(self.names[col].values.__getitem__, self.codes[start * NC + col : stop * NC : NC]))
        if name == "pair":
            return [None if v < 0 else v for v in self.ints[start * NI + PAIR : stop * NI : NI]]
        if name == "latency":
            return [None if v != v else v for v in self.floats[start * NF + LATENCY : stop * NF : NF]]
        k = _INT_COL.get(name)
        if k is not None:
            out = self.ints[start * NI + k : stop * NI : NI].tolist()
            if _ODD in out:
                odd = getattr(self, "x_" + name)
                out = [odd.get(i) if v == _ODD else v for i, v in enumerate(out, start)]
            return out
        k = _FLOAT_COL.get(name)
        if k is not None:
            out = self.floats[start * NF + k : stop * NF : NF].tolist()
            odd = getattr(self, "x_" + name)
            if odd:
                out = [odd.get(i, v) if v != v else v for i, v in enumerate(out, start)]
            return out
        bit = _FLAGS.get(name)
        if bit is not None:
            return [f & bit != 0 for f in self.flags[start:stop]]
        if name == "raw":
            return [self[i].raw for i in range(start, stop)]
        sparse = getattr(self, name, None) if name in _SPARSE else None
        if sparse is not None:
            if not sparse:
                return [None] * (stop - start)
            return list(map(sparse.get, range(start, stop)))
        return [getattr(r, name) for r in self[start:stop]]

    # ---- column access the store's hot paths use ------------------------------------------

    def name(self, i: int, col: int) -> Any:
        return self.names[col].values[self.codes[i * NC + col]]

    def set_name(self, i: int, col: int, value: Any) -> None:
        c = self.names[col].code(value)
        if c > 0xFFFF and self.codes.typecode == "H":
            self.codes = array("I", self.codes)
            self._combos.clear()  # packed for the old width
        self.codes[i * NC + col] = c

    def t_of(self, i: int) -> Any:
        v = self.floats[i * NF]
        return self.x_t.get(i, v) if v != v else v

    def seq_of(self, i: int) -> Any:
        v = self.ints[i * NI]
        return self.x_seq.get(i) if v == _ODD else v

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

    #: the one definition of "error", Record's own: it reads the same fields, here from the columns
    is_error = Record.is_error


def _record_class(tb: RecordTable) -> type[StoredRecord]:
    """The :class:`StoredRecord` subclass of ``tb``: properties closing over its columns (an
    attribute read is then one Python call and two C-level indexings)."""
    ns: dict[str, Any] = {"__slots__": (), "__module__": __name__, "table": tb}

    def names(col: int) -> property:
        values = tb.names[col].values

        def get(self: int) -> Any:
            return values[tb.codes[self * NC + col]]

        def put(self: int, value: Any) -> None:
            tb.set_name(self, col, value)

        return property(get, put)

    for col, name in enumerate(NAMES):
        ns[name] = names(col)
    ints = tb.ints

    def int_field(k: int, odd: dict) -> property:
        def get(self: int) -> Any:
            v = ints[self * NI + k]
            return odd.get(self) if v == _ODD else v

        def put(self: int, value: Any) -> None:
            odd.pop(self, None)
            if type(value) is int and _QMIN <= value <= _QMAX:
                ints[self * NI + k] = value
            else:
                ints[self * NI + k] = _ODD
                if value is not None:
                    odd[int(self)] = value

        return property(get, put)

    ns["seq"] = int_field(SEQ, tb.x_seq)
    ns["size"] = int_field(SIZE, tb.x_size)
    ns["id"] = int_field(ID, tb.x_id)
    floats = tb.floats

    def float_field(k: int, odd: dict) -> property:
        def get(self: int) -> Any:
            v = floats[self * NF + k]
            return odd.get(self, v) if v != v else v

        def put(self: int, value: Any) -> None:
            odd.pop(self, None)
            if type(value) is float and value == value:
                floats[self * NF + k] = value
            else:
                floats[self * NF + k] = _NAN
                odd[int(self)] = value

        return property(get, put)

    ns["t"] = float_field(T, tb.x_t)
    ns["wall"] = float_field(WALL, tb.x_wall)

    def get_pair(self: int) -> int | None:
        v = ints[self * NI + PAIR]
        return None if v < 0 else v

    def put_pair(self: int, value: int | None) -> None:
        ints[self * NI + PAIR] = -1 if value is None else value

    ns["pair"] = property(get_pair, put_pair)

    def get_latency(self: int) -> float | None:
        v = floats[self * NF + LATENCY]
        return None if v != v else v

    def put_latency(self: int, value: float | None) -> None:
        floats[self * NF + LATENCY] = _NAN if value is None else value

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
