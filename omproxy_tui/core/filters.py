"""Filter expressions over :class:`~omproxy_tui.core.records.Record`, in the style of mitmproxy's
``flowfilter``: one small class per operator (with ``code`` and ``help``), combined with
``!``, ``&`` and ``|``, compiled to a callable. The same expression language drives the TUI's
view filter and the proxy's intercept rule, so it is stdlib-only and cheap to evaluate.

Syntax
======
::

    ~m tools/call                 method (regex, case-insensitive)
    ~q & ~tool "^(read|write)_"   requests for tools named read_* or write_*
    ~r ~slow 500                  responses slower than 500 ms (juxtaposition = AND)
    ~e | ~pending                 errors or unanswered requests
    !~m ^notifications/           everything but notifications
    timeout                       bare word: case-insensitive regex over the raw line

Precedence, tightest first: ``!``, then ``&`` (or just writing two expressions next to each
other), then ``|``; parentheses group. An argument is either quoted (``"..."`` or ``'...'``;
inside, ``\\"``, ``\\'`` and ``\\\\`` are escapes, any other backslash is kept so regexes need
no doubling) or a run of non-blank characters, in which ``& | !`` are literal and parentheses
must balance (so ``~m tools/(call|list)`` works and ``(~m ping)`` too). An unquoted argument
cannot start with ``~ & | !``. Bare words follow the same rules and cannot start with ``(``.

Matching inside batches: ``~q ~r ~n ~e ~m ~tool ~id`` look at every element of a batch, so an
intercept rule for ``~m tools/call`` also holds a batch that smuggles a tools/call.

Note for intercept rules: a regex is evaluated on every relayed line; a pathological regex
(catastrophic backtracking) would stall the relay. Keep them simple.
"""

from __future__ import annotations

import difflib
import operator
import re
import warnings
from collections.abc import Sequence
from itertools import compress, filterfalse, repeat
from typing import Any, ClassVar

from omproxy_tui.core import spool as _spool
from omproxy_tui.core.records import Record, id_text
from omproxy_tui.core.table import KIND, NC, TOOL_ERROR, RecordTable

__all__ = [
    "quote",
    "HELP",
    "OPERATORS",
    "Filter",
    "FilterError",
    "FSessionIs",
    "parse",
    "suggest",
]

#: How deeply ``(`` and ``!`` may nest; deeper expressions are refused rather than overflow
#: Python's stack (the parser is recursive).
MAX_DEPTH = 64


class FilterError(ValueError):
    """An invalid filter expression. ``column`` is 1-based (None when not about one spot)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


# --------------------------------------------------------------------------------------------
# base classes


class Filter:
    """A compiled filter: call it on a :class:`Record`. ``pattern`` is the source expression
    (set on the root returned by :func:`parse`); ``str()`` is a normalised, re-parseable form."""

    code: ClassVar[str] = ""
    help: ClassVar[str] = ""
    #: Metavariable of the argument shown in HELP (None: the operator takes no argument).
    arg: ClassVar[str | None] = None
    pattern: str = ""

    #: Rough relative cost per record, so ``&`` / ``|`` evaluate cheap operands first (and
    #: the expensive ones, raw-line searches, only on what is left).
    cost: ClassVar[int] = 1

    def __call__(self, rec: Record) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        """The ``rows`` (ascending indices into ``records``) whose record matches, in order.

        The same answer as ``[i for i in rows if self(records[i])]``, computed a column at a
        time where the operator allows it (C-level ``map`` over an attribute, a table per
        distinct value), which is what makes re-filtering 100k records take milliseconds.
        """
        return list(compress(rows, map(self, _recs(records, rows))))

    def __str__(self) -> str:
        return "~" + self.code

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


class _Unary(Filter):
    """Operator without argument."""


class _Rex(Filter):
    """Operator with a regular-expression argument, compiled at parse time."""

    arg = "RE"
    flags: ClassVar[int] = re.IGNORECASE

    def __init__(self, expr: str) -> None:
        self.expr = expr
        try:
            with warnings.catch_warnings():  # e.g. FutureWarning "possible nested set"
                warnings.simplefilter("ignore")
                self.re = re.compile(expr, self.flags)
        except re.error as exc:
            raise FilterError(f"{self._label()}: invalid regular expression {expr!r}: {exc.msg}") from None
        except (OverflowError, RecursionError, ValueError) as exc:
            raise FilterError(f"{self._label()}: invalid regular expression {expr!r}: {exc}") from None
        self.search = self.re.search
        # Memo of results per distinct string: methods, tools, sessions and statuses are a
        # small set, so a dict hit replaces a regex search (re-filtering 100k records by
        # method is then mostly dict lookups).
        self.memo: dict[str, bool] = {}

    def _label(self) -> str:
        return "~" + self.code

    def learn(self, value: str) -> bool:
        """Search ``value`` and remember the answer (the memo is bounded)."""
        memo = self.memo
        if len(memo) >= 4096:
            memo.clear()
        r = memo[value] = self.search(value) is not None
        return r

    def _truth(self, value: Any) -> bool:
        """Whether a (non-None) attribute value matches; None is left to the caller."""
        if value is None:
            return False
        r = self.memo.get(value)
        return self.learn(value) if r is None else r

    def __str__(self) -> str:
        return f"~{self.code} {_quote(self.expr)}"


# --------------------------------------------------------------------------------------------
# column helpers for Filter.select


def _recs(records: list[Record], rows: Sequence[int]) -> Sequence[Record]:
    """The records at ``rows``, cheaply: a slice for a range, the list itself for all."""
    if type(rows) is range and rows.step == 1:
        if rows.start == 0 and rows.stop == len(records):
            return records
        return records[rows.start : rows.stop]
    return list(map(records.__getitem__, rows))


_get_kind = operator.attrgetter("kind")
_get_method = operator.attrgetter("method")
_get_tool = operator.attrgetter("tool")
_get_session = operator.attrgetter("session")
_get_status = operator.attrgetter("status")
_get_dir = operator.attrgetter("dir")
_get_raw = operator.attrgetter("raw")
_get_error = operator.attrgetter("error")
_get_tool_error = operator.attrgetter("tool_error")
_get_latency = operator.attrgetter("latency")
_get_size = operator.attrgetter("size")
_get_parts = operator.attrgetter("parts")
_get_pending = operator.attrgetter("pending")
_get_held = operator.attrgetter("held")
_get_injected = operator.attrgetter("injected")
_get_changed = operator.attrgetter("changed")
_get_marked = operator.attrgetter("marked")


_NO_ODD = object()


def _by_value(
    filt: Filter, records: list[Record], rows: Sequence[int], getter: Any, truth: Any, odd: Any = _NO_ODD
) -> list[int]:
    """Select by one attribute: ``truth(value)`` is computed once per distinct value.

    ``odd`` is a value (e.g. None, "batch") whose records need the full per-record check
    (``filt(rec)``), because the answer depends on more than that attribute.
    """
    recs = _recs(records, rows)
    vals = list(map(getter, recs))
    table = {v: bool(truth(v)) for v in set(vals)}
    if odd is _NO_ODD or odd not in table:
        return list(compress(rows, map(table.__getitem__, vals)))
    table[odd] = True  # candidates, re-checked one by one below
    cand = list(compress(rows, map(table.__getitem__, vals)))
    return [i for i in cand if getter(records[i]) != odd or filt(records[i])]


def _cost(f: Filter) -> int:
    return f.cost


def _merge(a: list[int], b: list[int]) -> list[int]:
    """Sorted union of two ascending index lists."""
    if not a:
        return b
    if not b:
        return a
    out = set(a)
    out.update(b)
    return sorted(out)


# --------------------------------------------------------------------------------------------
# operators without argument


def _parts_have(rec: Record, kinds: tuple[str, ...]) -> bool:
    parts = rec.parts
    return parts is not None and any(p[0] in kinds for p in parts)


class FReq(_Unary):
    code = "q"
    help = "requests (a batch with at least one request too)"

    def __call__(self, rec: Record) -> bool:
        k = rec.kind
        return k == "request" or (k == "batch" and _parts_have(rec, ("request",)))

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_kind, lambda k: k == "request", "batch")


class FResp(_Unary):
    code = "r"
    help = "responses: results and errors"

    def __call__(self, rec: Record) -> bool:
        k = rec.kind
        return k == "response" or k == "error" or (k == "batch" and _parts_have(rec, ("response", "error")))

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_kind, lambda k: k == "response" or k == "error", "batch")


class FNotif(_Unary):
    code = "n"
    help = "notifications"

    def __call__(self, rec: Record) -> bool:
        k = rec.kind
        return k == "notification" or (k == "batch" and _parts_have(rec, ("notification",)))

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_kind, lambda k: k == "notification", "batch")


class FErr(_Unary):
    code = "e"
    help = "errors: JSON-RPC error responses, tool results with isError, invalid or malformed lines, batches with one of those"

    def __call__(self, rec: Record) -> bool:
        return rec.is_error  # the one definition, shared with stats, the log and n/N

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        if isinstance(records, RecordTable) and type(rows) is range and rows.step == 1:
            return _errors_of_table(records, rows.start, min(rows.stop, len(records)))
        # one pass touching each record once beats three attribute columns (memory-bound);
        # the common cases inline, the rest (batches) through Record.is_error
        return [
            i
            for i, r in zip(rows, _recs(records, rows))
            if r.error is not None or r.tool_error or r.kind == "error" or (r.parts is not None and r.is_error)
        ]


#: flag byte -> 1 when its TOOL_ERROR bit is set (``bytes.translate`` table)
_TOOL_ERROR_BYTE = bytes(1 if b & TOOL_ERROR else 0 for b in range(256))


def _errors_of_table(table: RecordTable, start: int, stop: int) -> list[int]:
    """:attr:`Record.is_error` over rows ``start:stop`` of a store's table, from its columns:
    the ``error`` side dict, the TOOL_ERROR flag bit, the kind code of "error", and batches
    (through ``is_error``) -- no record is read otherwise (each attribute read is a call)."""
    if start >= stop:
        return []
    rows = range(start, stop)
    hits = set(compress(rows, table.flags[start:stop].translate(_TOOL_ERROR_BYTE)))
    code = table.kind.index.get("error")
    if code is not None:
        hits.update(compress(rows, map(code.__eq__, table.codes[start * NC + KIND : stop * NC : NC])))
    hits.update(i for i in table.error if start <= i < stop)
    hits.update(i for i in table.parts if start <= i < stop and table[i].is_error)
    return sorted(hits)


class FC2S(_Unary):
    code = "c2s"
    help = "client to server (same as ~d c2s)"

    def __call__(self, rec: Record) -> bool:
        return rec.dir == "c2s"

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(operator.eq, map(_get_dir, _recs(records, rows)), repeat("c2s"))))


class FS2C(_Unary):
    code = "s2c"
    help = "server to client (same as ~d s2c)"

    def __call__(self, rec: Record) -> bool:
        return rec.dir == "s2c"

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(operator.eq, map(_get_dir, _recs(records, rows)), repeat("s2c"))))


class FPending(_Unary):
    code = "pending"
    help = "requests still waiting for their answer"

    def __call__(self, rec: Record) -> bool:
        return rec.pending

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(_get_pending, _recs(records, rows))))


class FHeld(_Unary):
    code = "held"
    help = "messages currently held by the proxy"

    def __call__(self, rec: Record) -> bool:
        return rec.held

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(_get_held, _recs(records, rows))))


class FInjected(_Unary):
    code = "injected"
    help = "messages injected by an inspector"

    def __call__(self, rec: Record) -> bool:
        return rec.injected

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(_get_injected, _recs(records, rows))))


class FMarked(_Unary):
    code = "marked"
    help = "messages you marked (m in omproxy-tui)"

    def __call__(self, rec: Record) -> bool:
        return rec.marked

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(_get_marked, _recs(records, rows))))


class FChanged(_Unary):
    code = "changed"
    help = "messages replaced or dropped by a hook or an inspector"

    def __call__(self, rec: Record) -> bool:
        return rec.changed

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(_get_changed, _recs(records, rows))))


class FAll(_Unary):
    code = "all"
    help = "everything"

    def __call__(self, rec: Record) -> bool:
        return True

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(rows)


# --------------------------------------------------------------------------------------------
# operators with an argument


class FMethod(_Rex):
    code = "m"
    help = "method matches RE (responses carry their request's method)"

    def __call__(self, rec: Record) -> bool:
        m = rec.method
        if m is not None:
            r = self.memo.get(m)
            return self.learn(m) if r is None else r
        parts = rec.parts
        if parts is not None:
            search = self.search
            return any(p[1] is not None and search(p[1]) for p in parts)
        return False

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_method, self._truth, None)


class FTool(_Rex):
    code = "tool"
    help = "target matches RE: tool name (tools/call), prompt name, resource uri"

    def __call__(self, rec: Record) -> bool:
        t = rec.tool
        if t is not None:
            r = self.memo.get(t)
            return self.learn(t) if r is None else r
        parts = rec.parts
        if parts is not None:
            search = self.search
            return any(p[3] is not None and search(p[3]) for p in parts)
        return False

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_tool, self._truth, None)


class FSession(_Rex):
    code = "s"
    help = "session (proxy) name matches RE"

    def __call__(self, rec: Record) -> bool:
        v = rec.session
        r = self.memo.get(v)
        return self.learn(v) if r is None else r

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_session, self._truth)


class FSessionIs(Filter):
    """Records of exactly one session (the TUI's session scope; not an expression operator)."""

    def __init__(self, session: str) -> None:
        self.session = session

    def __call__(self, rec: Record) -> bool:
        return rec.session == self.session

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(operator.eq, map(_get_session, _recs(records, rows)), repeat(self.session))))

    def __str__(self) -> str:
        return f"<session {self.session}>"


class FBody(_Rex):
    code = "b"
    cost = 20
    help = "raw line matches RE (case-sensitive; a bare word is the case-insensitive form)"
    flags = 0

    def __init__(self, expr: str) -> None:
        super().__init__(expr)
        # A pattern without regex syntax is searched as a plain substring: ``in`` is several
        # times faster than the regex engine on kilobyte lines.
        self.literal = expr if expr and re.escape(expr) == expr else None
        self.cost = 10 if self.literal is not None else 40

    def __call__(self, rec: Record) -> bool:
        if self.literal is not None:
            return self.literal in rec.raw
        return self.search(rec.raw) is not None

    def _test(self, raw: str) -> bool:
        if self.literal is not None:
            return self.literal in raw
        return self.search(raw) is not None

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        # bodies in the spool file are searched there, a block at a time (core/spool.py)
        lit = self.literal if self.literal is not None else _spool.required_literal(self.expr, self.flags)
        spooled = _spool.search(records, rows, self._test, lit, caseless=False)
        if spooled is not None:
            return spooled
        raws = map(_get_raw, _recs(records, rows))
        if self.literal is not None:
            return list(compress(rows, map(operator.contains, raws, repeat(self.literal))))
        return list(compress(rows, map(self.search, raws)))


class FStatus(_Rex):
    code = "status"
    help = "proxy status matches RE: relayed, held, dropped, injected, blocked, edited"

    def __call__(self, rec: Record) -> bool:
        v = rec.status
        r = self.memo.get(v)
        return self.learn(v) if r is None else r

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_status, self._truth)


class FKind(_Rex):
    code = "kind"
    help = "kind matches RE: request, notification, response, error, batch, invalid"

    def __call__(self, rec: Record) -> bool:
        v = rec.kind
        r = self.memo.get(v)
        return self.learn(v) if r is None else r

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return _by_value(self, records, rows, _get_kind, self._truth)


class FId(Filter):
    code = "id"
    help = "JSON-RPC id equals VALUE (as text: ~id 7 matches 7 and \"7\"; also the request a cancel names)"
    arg = "VALUE"
    cost = 3

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, rec: Record) -> bool:
        v = self.value
        k = rec.kind
        if k == "request" or k == "response" or k == "error":
            if _id_str(rec.id) == v:
                return True
        if rec.ref_id is not None and _id_str(rec.ref_id) == v:
            return True
        if rec.parts is not None:
            return any(p[2] is not None and _id_str(p[2]) == v for p in rec.parts)
        return False

    def __str__(self) -> str:
        return f"~id {_quote(self.value)}"


def _id_str(id: Any) -> str:
    t = type(id)
    if t is str:
        return id
    if t is int:
        return str(id)
    return id_text(id)


class FSlow(Filter):
    code = "slow"
    help = "request/response pairs whose latency is over MS milliseconds"
    arg = "MS"

    def __init__(self, value: str) -> None:
        try:
            ms = float(value)
        except ValueError:
            raise FilterError(f"~slow: expects a number of milliseconds, got {value!r}") from None
        if ms != ms or ms < 0:
            raise FilterError(f"~slow: expects a number of milliseconds, got {value!r}")
        self.ms = ms
        self.value = value
        self.seconds = ms / 1000.0

    def __call__(self, rec: Record) -> bool:
        lat = rec.latency
        return lat is not None and lat > self.seconds

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        s = self.seconds
        return [i for i, lat in zip(rows, map(_get_latency, _recs(records, rows))) if lat is not None and lat > s]

    def __str__(self) -> str:
        return f"~slow {_quote(self.value)}"


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


class FSize(Filter):
    code = "size"
    help = "lines of at least BYTES bytes (suffixes k, m, g: ~size 100k)"
    arg = "BYTES"

    def __init__(self, value: str) -> None:
        m = _SIZE_RE.fullmatch(value)
        unit = _SIZE_UNITS.get(m.group(2).lower()) if m else None
        if unit is None:
            raise FilterError(f"~size: expects a size in bytes like 2048 or 100k, got {value!r}")
        self.value = value
        self.bytes = int(float(m.group(1)) * unit)

    def __call__(self, rec: Record) -> bool:
        return rec.size >= self.bytes

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(operator.ge, map(_get_size, _recs(records, rows)), repeat(self.bytes))))

    def __str__(self) -> str:
        return f"~size {_quote(self.value)}"


class FDir(Filter):
    code = "d"
    help = "direction DIR: c2s (client to server) or s2c"
    arg = "DIR"

    def __init__(self, value: str) -> None:
        v = value.lower()
        if v not in ("c2s", "s2c"):
            raise FilterError(f"~d: expects c2s or s2c, got {value!r}")
        self.value = v

    def __call__(self, rec: Record) -> bool:
        return rec.dir == self.value

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        return list(compress(rows, map(operator.eq, map(_get_dir, _recs(records, rows)), repeat(self.value))))

    def __str__(self) -> str:
        return f"~d {self.value}"


class FBare(FBody):
    """A bare word or quoted string without operator: case-insensitive search of the raw line."""

    code = "b"
    cost = 30
    flags = re.IGNORECASE

    def __init__(self, expr: str) -> None:
        super().__init__(expr)
        if self.literal is not None:
            if self.literal.isascii():
                self.literal = self.literal.lower()
            else:  # str.lower and re.IGNORECASE disagree on some non-ASCII letters
                self.literal = None
        #: Longest run of the (ASCII) literal that has no letters, so no case: it must occur
        #: verbatim in any line the literal matches. Used only when long enough to narrow.
        self.anchor = ""
        if self.literal is not None:
            runs = re.findall(r"[^A-Za-z]+", self.literal)
            best = max(runs, key=len) if runs else ""
            if len(best) >= 2 and best.strip():
                self.anchor = best
        # literal with an anchor < caseless literal < case-insensitive regex (for & and |)
        self.cost = 30 if self.literal is None else (15 if self.anchor else 25)

    def __call__(self, rec: Record) -> bool:
        if self.literal is not None:
            return self.literal in rec.raw.lower()
        return self.search(rec.raw) is not None

    def _test(self, raw: str) -> bool:
        if self.literal is not None:
            return self.literal in raw.lower()
        return self.search(raw) is not None

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        lit = self.literal
        spooled = _spool.search(records, rows, self._test,
                                lit if lit is not None else _spool.required_literal(self.expr, self.flags), caseless=True)
        if spooled is not None:
            return spooled
        if lit is None:
            return list(compress(rows, map(self.search, map(_get_raw, _recs(records, rows)))))
        anchor = self.anchor
        if anchor == lit:  # no letters at all: case does not matter
            return list(compress(rows, map(operator.contains, map(_get_raw, _recs(records, rows)), repeat(lit))))
        if anchor:
            # Narrow first with a case-sensitive ``in`` on the literal's longest run without
            # letters (it must appear verbatim), then lowercase only the candidates.
            rows = list(compress(rows, map(operator.contains, map(_get_raw, _recs(records, rows)), repeat(anchor))))
        raws = map(str.lower, map(_get_raw, _recs(records, rows)))
        return list(compress(rows, map(operator.contains, raws, repeat(lit))))

    def _label(self) -> str:
        return "bare word"

    def __str__(self) -> str:
        return _quote(self.expr, bare=True)


# --------------------------------------------------------------------------------------------
# combinators


class FNot(Filter):
    def __init__(self, inner: Filter) -> None:
        self.inner = inner

    def __call__(self, rec: Record) -> bool:
        return not self.inner(rec)

    @property
    def cost(self) -> int:  # type: ignore[override]
        return self.inner.cost

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        hit = set(self.inner.select(records, rows))
        return list(filterfalse(hit.__contains__, rows))

    def __str__(self) -> str:
        s = str(self.inner)
        return "!" + (f"({s})" if isinstance(self.inner, (FAnd, FOr)) else s)


class FAnd(Filter):
    def __init__(self, items: list[Filter]) -> None:
        flat: list[Filter] = []
        for f in items:
            flat.extend(f.items if type(f) is FAnd else (f,))
        self.items = flat
        self._fns = tuple(flat)

    def __call__(self, rec: Record) -> bool:
        for f in self._fns:
            if not f(rec):
                return False
        return True

    @property
    def cost(self) -> int:  # type: ignore[override]
        return sum(f.cost for f in self.items)

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        # cheapest first; each operand only sees what the previous ones kept
        for f in sorted(self.items, key=_cost):
            rows = f.select(records, rows)
            if not rows:
                return []
        return list(rows)

    def __str__(self) -> str:
        return " & ".join(f"({f})" if isinstance(f, FOr) else str(f) for f in self.items)


class FOr(Filter):
    def __init__(self, items: list[Filter]) -> None:
        flat: list[Filter] = []
        for f in items:
            flat.extend(f.items if type(f) is FOr else (f,))
        self.items = flat
        self._fns = tuple(flat)

    def __call__(self, rec: Record) -> bool:
        for f in self._fns:
            if f(rec):
                return True
        return False

    @property
    def cost(self) -> int:  # type: ignore[override]
        return sum(f.cost for f in self.items)

    def select(self, records: list[Record], rows: Sequence[int]) -> list[int]:
        # cheapest first; each operand only sees what the previous ones did not match
        out: list[int] = []
        for f in sorted(self.items, key=_cost):
            if not rows:
                break
            hit = f.select(records, rows)
            if hit:
                out = _merge(out, hit)
                found = set(hit)
                rows = list(filterfalse(found.__contains__, rows))
        return out

    def __str__(self) -> str:
        return " | ".join(str(f) for f in self.items)


# --------------------------------------------------------------------------------------------
# registry and help

#: Every operator class, in help order. ``parse`` and ``HELP`` are both generated from this.
OPERATORS: list[type[Filter]] = [
    FMethod,
    FReq,
    FResp,
    FNotif,
    FErr,
    FC2S,
    FS2C,
    FDir,
    FTool,
    FSession,
    FId,
    FBody,
    FSlow,
    FPending,
    FHeld,
    FInjected,
    FChanged,
    FMarked,
    FStatus,
    FKind,
    FSize,
    FAll,
]

_BY_CODE: dict[str, type[Filter]] = {cls.code: cls for cls in OPERATORS}
_KNOWN = ", ".join("~" + cls.code for cls in OPERATORS)


def _help_table() -> list[tuple[str, str]]:
    rows = [(f"~{c.code} {c.arg}" if c.arg else f"~{c.code}", c.help) for c in OPERATORS]
    rows += [
        ("WORD", "bare word or quoted string: case-insensitive regex search of the raw line"),
        ("!", "not"),
        ("&", "and (also: two expressions side by side)"),
        ("|", "or"),
        ("( )", "grouping"),
        ('"..."', "quote an argument that has spaces or starts with ~ & | !"),
    ]
    return rows


#: ``(syntax, description)`` rows for the help screen and the README, generated from OPERATORS.
HELP: list[tuple[str, str]] = _help_table()


# --------------------------------------------------------------------------------------------
# parser

_PUNCT = "()!&|"
_NO_WORD_START = "()!&|~\"'"
_NO_ARG_START = "~&|!"


def _read_word(s: str, i: int) -> int:
    """End of the unquoted word starting at ``i``: stops at blank, or at a ``)`` that closes
    nothing inside the word (so regex groups survive and ``(~m x)`` still closes)."""
    return _scan_word(s, i)[0]


def _scan_word(s: str, i: int) -> tuple[int, int]:
    """``(end, open_parens_left)`` of the unquoted word starting at ``i``."""
    depth = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            break
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                break
            depth -= 1
        elif c == "\\" and i + 1 < n and not s[i + 1].isspace():
            i += 1  # an escaped paren does not count
        i += 1
    return i, depth


def _quote(s: str, bare: bool = False) -> str:
    """``s`` as an argument (or bare word) that parses back to exactly ``s``."""
    forbidden = _NO_WORD_START if bare else _NO_ARG_START + "\"'"
    # Unquoted only if it reads back as exactly one word with balanced parentheses and no
    # trailing backslash: either would swallow the ")" of a group written right after it.
    if s and s[0] not in forbidden and s[-1] != "\\" and _scan_word(s, 0) == (len(s), 0):
        return s
    out = ['"']
    n = len(s)
    for i, c in enumerate(s):
        if c == '"':
            out.append('\\"')
        elif c == "\\" and (i + 1 == n or s[i + 1] in "\\\"'"):
            out.append("\\\\")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def quote(argument: str) -> str:
    """``argument`` written so that it parses back to exactly itself as an operator's argument
    (``f"~m {quote(x)}"``); quoted only when it has to be."""
    return _quote(argument)


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.depth = 0

    # -- lexing helpers
    def skip(self) -> None:
        s, i, n = self.s, self.i, self.n
        while i < n and s[i].isspace():
            i += 1
        self.i = i

    def peek(self) -> str:
        self.skip()
        return self.s[self.i] if self.i < self.n else ""

    def error(self, message: str, at: int | None = None) -> FilterError:
        col = (self.i if at is None else at) + 1
        return FilterError(f"{message} (at column {col})", col)

    def quoted(self) -> str:
        s, n = self.s, self.n
        q = s[self.i]
        start = self.i
        i = self.i + 1
        out: list[str] = []
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and s[i + 1] in "\\\"'":
                out.append(s[i + 1])
                i += 2
                continue
            if c == q:
                self.i = i + 1
                return "".join(out)
            out.append(c)
            i += 1
        raise self.error("unterminated quoted string", start)

    def argument(self, op: str) -> tuple[str, int]:
        self.skip()
        at = self.i
        c = self.s[at] if at < self.n else ""
        if c == '"' or c == "'":
            return self.quoted(), at
        if not c or c == ")" or c in _NO_ARG_START:
            raise self.error(f"~{op}: expects an argument")
        end = _read_word(self.s, at)
        self.i = end
        return self.s[at:end], at

    # -- grammar
    def parse(self) -> Filter:
        if not self.s.strip():
            raise FilterError("empty filter expression", 1)
        f = self.or_()
        if self.peek():
            if self.peek() == ")":
                raise self.error("unbalanced parenthesis: unexpected ')'")
            raise self.error(f"unexpected {self.peek()!r}")  # pragma: no cover - defensive
        return f

    def or_(self) -> Filter:
        items = [self.and_()]
        while self.peek() == "|":
            self.i += 1
            nxt = self.peek()
            if not nxt or nxt in ")|&":
                raise self.error("'|' needs an expression on its right")
            items.append(self.and_())
        return items[0] if len(items) == 1 else FOr(items)

    def and_(self) -> Filter:
        items = [self.unary()]
        while True:
            c = self.peek()
            if c == "&":
                self.i += 1
                nxt = self.peek()
                if not nxt or nxt in ")|&":
                    raise self.error("'&' needs an expression on its right")
                items.append(self.unary())
            elif c and c not in ")|":
                items.append(self.unary())  # juxtaposition = AND, as in mitmproxy
            else:
                break
        return items[0] if len(items) == 1 else FAnd(items)

    def nest(self, at: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested too deeply (more than {MAX_DEPTH} levels)", at)

    def unary(self) -> Filter:
        c = self.peek()
        at = self.i
        if c == "!":
            self.i += 1
            nxt = self.peek()
            if not nxt or nxt in ")|&":
                raise self.error("'!' needs an expression after it")
            self.nest(at)
            inner = self.unary()
            self.depth -= 1
            return FNot(inner)
        if c == "(":
            self.i += 1
            if self.peek() == ")":
                raise self.error("empty parentheses")
            if not self.peek():
                raise FilterError(
                    f"unbalanced parenthesis: '(' at column {at + 1} is never closed", at + 1
                )
            self.nest(at)
            inner = self.or_()
            self.depth -= 1
            if self.peek() != ")":
                raise FilterError(
                    f"unbalanced parenthesis: '(' at column {at + 1} is never closed", at + 1
                )
            self.i += 1
            return inner
        if c == "~":
            return self.operator()
        if c == '"' or c == "'":
            return self.bare(self.quoted(), at)
        if c == ")":
            raise self.error("unbalanced parenthesis: unexpected ')'")
        if c == "&" or c == "|":
            raise self.error(f"'{c}' needs an expression on its left")
        if not c:  # pragma: no cover - callers check first
            raise self.error("expected an expression")
        end = _read_word(self.s, at)
        self.i = end
        return self.bare(self.s[at:end], at)

    def bare(self, word: str, at: int) -> Filter:
        try:
            return FBare(word)
        except FilterError as exc:
            raise self.error(exc.message, at) from None

    def operator(self) -> Filter:
        s = self.s
        at = self.i
        i = at + 1
        while i < self.n and (s[i].isalnum() or s[i] == "_"):
            i += 1
        name = s[at + 1 : i]
        if not name:
            raise self.error("expected an operator name after '~'", at)
        cls = _BY_CODE.get(name)
        if cls is None:
            close = difflib.get_close_matches(name, list(_BY_CODE), n=1)
            hint = f"; did you mean ~{close[0]}?" if close else ""
            raise FilterError(f"unknown operator ~{name} at column {at + 1}{hint} (known: {_KNOWN})", at + 1)
        self.i = i
        if cls.arg is None:
            if i < self.n and not s[i].isspace() and s[i] not in _PUNCT and s[i] != "~":
                raise self.error(f"unexpected {s[i]!r} after ~{name} (it takes no argument)", i)
            return cls()
        value, vat = self.argument(name)
        try:
            return cls(value)
        except FilterError as exc:
            raise self.error(exc.message, vat) from None


def parse(expr: str) -> Filter:
    """Compile a filter expression; raises :class:`FilterError` (a ValueError) with the column.

    The empty expression is an error (the caller decides what "no filter" means; use ``~all``
    to match everything explicitly).
    """
    if not isinstance(expr, str):
        raise FilterError(f"filter expression must be a string, not {type(expr).__name__}")
    f = _Parser(expr).parse()
    f.pattern = expr
    return f


# --------------------------------------------------------------------------------------------
# completion


def suggest(prefix: str, methods: Any = (), tools: Any = (), sessions: Any = ()) -> list[str]:
    """Completions for a half-typed expression, as whole strings that start with ``prefix``.

    After ``~m`` / ``~tool`` / ``~s`` / ``~d`` the argument is completed from ``methods`` /
    ``tools`` / ``sessions`` / the two directions; a word starting with ``~`` completes to the
    operator names (with a trailing space when the operator takes an argument). Sorted, best
    (shortest) first; empty when there is nothing useful to say (bare words).
    """
    if prefix and prefix[-1].isspace():
        current = ""
        head = prefix
    else:
        cut = max(prefix.rfind(" "), prefix.rfind("\t"))
        current = prefix[cut + 1 :]
        head = prefix[: cut + 1]
    before = head.split()
    prev = before[-1] if before else ""
    # Leading "(" or "!" glued to the current word belong to the expression, not the word.
    lead = len(current) - len(current.lstrip("(!"))
    head, current = head + current[:lead], current[lead:]

    cands: list[str]
    if prev in ("~m", "~tool", "~s", "~d") and not current.startswith("~"):
        pool = {"~m": methods, "~tool": tools, "~s": sessions, "~d": ("c2s", "s2c")}[prev]
        typed = current[1:] if current[:1] in ("'", '"') else current
        low = typed.lower()
        quoted = {_quote(str(x)) for x in pool if str(x).lower().startswith(low)}
        # a candidate must extend what was typed (a quote the user has not typed cannot be
        # inserted before their text); case may differ, the caller keeps the user's prefix
        cands = sorted(c for c in quoted if c != current and c.lower().startswith(current.lower()))
        cands = [current + c[len(current):] for c in cands]
    elif current.startswith("~"):
        cands = [
            "~" + cls.code + (" " if cls.arg else "")
            for cls in OPERATORS
            if ("~" + cls.code).startswith(current)
        ]
        cands = [c for c in cands if c != current]
    else:
        return []
    cands.sort(key=lambda c: (len(c), c))
    return [head + c for c in cands]

