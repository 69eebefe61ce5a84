"""TEMPORARY stand-in for ``omproxy_tui.core`` until it lands (same API, minimal). Delete then."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(slots=True)
class Record:
    index: int
    session: Any
    seq: int | None
    t: float
    wall: float
    dir: str
    raw: str
    size: int
    kind: str = "invalid"
    method: str | None = None
    id: Any = None
    tool: str | None = None
    summary: str = ""
    error: str | None = None
    status: str = "relayed"
    held: bool = False
    injected: Any = None
    changed: Any = None
    to_inspector: bool = False
    pair: int | None = None
    latency: float | None = None
    pending: bool = False
    cancelled: bool = False
    progress_token: Any = None
    tool_error: bool = False
    ref_id: Any = None
    parts: tuple | None = None
    extra: dict | None = None


def _classify(rec: Record) -> None:
    try:
        msg = json.loads(rec.raw)
    except ValueError as exc:
        rec.kind = "invalid"
        rec.error = rec.error or f"not JSON: {exc}"
        rec.summary = rec.raw[:80]
        return
    if isinstance(msg, list):
        rec.kind = "batch"
        rec.summary = f"batch of {len(msg)}"
        return
    if not isinstance(msg, dict):
        rec.kind = "invalid"
        return
    rec.method = msg.get("method")
    rec.id = msg.get("id")
    params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
    if rec.method is not None:
        rec.kind = "request" if "id" in msg else "notification"
        if rec.method in ("tools/call", "prompts/get"):
            rec.tool = params.get("name")
        elif rec.method.startswith("resources/"):
            rec.tool = params.get("uri")
        rec.summary = " ".join(f"{k}={json.dumps(v)[:30]}" for k, v in list(params.items())[:3])
        if rec.kind == "request":
            rec.pending = True
    elif "error" in msg:
        rec.kind = "error"
        err = msg.get("error") or {}
        rec.error = f"{err.get('code')}: {err.get('message')}"
        rec.summary = rec.error
    else:
        rec.kind = "response"
        res = msg.get("result")
        if isinstance(res, dict) and res.get("isError"):
            rec.error = "isError"
        rec.summary = json.dumps(res)[:80]


def record_from_frame(frame: dict, session: Any, index: int) -> Record:
    raw = frame.get("raw")
    if raw is None:
        raw = ""
    rec = Record(
        index=index, session=session, seq=frame.get("seq"), t=frame.get("t") or 0.0,
        wall=frame.get("wall") or time.time(), dir=frame.get("dir", "c2s"), raw=raw,
        size=frame.get("size") or len(raw.encode()), error=frame.get("error"),
        status=frame.get("status") or "relayed", held=bool(frame.get("held")),
        injected=bool(frame.get("injected")), changed=bool(frame.get("changed")),
        extra={k: frame[k] for k in ("injected", "changed") if frame.get(k)} or None,
        to_inspector=bool(frame.get("to_inspector")),
    )
    _classify(rec)
    return rec


class Store:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.sessions: list[Any] = []
        self._pending: dict[tuple, int] = {}
        self._by_seq: dict[tuple, int] = {}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Record:
        return self.records[i]

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def add(self, rec: Record) -> list[int]:
        rec.index = len(self.records)
        self.records.append(rec)
        if rec.session not in self.sessions:
            self.sessions.append(rec.session)
        if rec.seq is not None:
            self._by_seq[(rec.session, rec.seq)] = rec.index
        changed = [rec.index]
        if rec.kind == "request":
            self._pending[(rec.session, rec.dir, json.dumps(rec.id))] = rec.index
        elif rec.kind in ("response", "error"):
            other = "c2s" if rec.dir == "s2c" else "s2c"
            ri = self._pending.pop((rec.session, other, json.dumps(rec.id)), None)
            if ri is not None:
                req = self.records[ri]
                req.pair, rec.pair = rec.index, ri
                req.pending = False
                rec.latency = req.latency = max(0.0, rec.t - req.t)
                rec.method = req.method
                rec.tool = req.tool
                changed.append(ri)
        return changed

    def add_frame(self, frame: dict, session: Any) -> list[int]:
        if frame.get("type") == "resolved":
            i = self._by_seq.get((session, frame.get("of")))
            if i is None:
                return []
            r = self.records[i]
            r.held = False
            r.status = {"released": "relayed", "dropped": "dropped", "edited": "relayed"}.get(frame.get("action"), r.status)
            return [i]
        return self.add(record_from_frame(frame, session, len(self.records)))


class FilterError(ValueError):
    pass


HELP = [
    ("~m RE", "method matches RE"), ("~tool RE", "tool/prompt/uri matches RE"),
    ("~q", "requests"), ("~r", "responses"), ("~n", "notifications"), ("~e", "errors"),
    ("~c2s", "client to server"), ("~s2c", "server to client"), ("~pending", "awaiting response"),
    ("~held", "held"), ("~b RE", "raw text matches RE"), ("!", "not"), ("&", "and"), ("|", "or"),
    ("( )", "grouping"), ("WORD", "same as ~b WORD"),
]

_UNARY: dict[str, Callable[[Record], bool]] = {
    "~q": lambda r: r.kind == "request", "~r": lambda r: r.kind in ("response", "error"),
    "~n": lambda r: r.kind == "notification", "~e": lambda r: r.error is not None or r.kind == "error",
    "~c2s": lambda r: r.dir == "c2s", "~s2c": lambda r: r.dir == "s2c",
    "~pending": lambda r: r.pending, "~held": lambda r: r.held,
}
_REX = {"~m": lambda r: r.method or "", "~tool": lambda r: r.tool or "", "~b": lambda r: r.raw}


class Filter:
    def __init__(self, fn: Callable[[Record], bool], pattern: str) -> None:
        self.fn, self.pattern = fn, pattern

    def __call__(self, r: Record) -> bool:
        return self.fn(r)

    def __str__(self) -> str:
        return self.pattern


def parse(expr: str) -> Filter:
    toks = re.findall(r'\(|\)|!|&|\||"[^"]*"|[^\s()!&|]+', expr)
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def atom():
        t = peek()
        if t is None:
            raise FilterError("Invalid filter expression: unexpected end")
        take()
        if t == "!":
            a = atom()
            return lambda r: not a(r)
        if t == "(":
            e = orexp()
            if peek() != ")":
                raise FilterError("Invalid filter expression: missing )")
            take()
            return e
        if t in _UNARY:
            return _UNARY[t]
        if t in _REX or not t.startswith("~"):
            key = t if t in _REX else "~b"
            if t in _REX:
                if peek() is None:
                    raise FilterError(f"Invalid filter expression: {t} needs an argument")
                arg = take().strip('"')
            else:
                arg = t.strip('"')
            try:
                rx = re.compile(arg, re.I)
            except re.error as exc:
                raise FilterError(f"Invalid filter expression: bad regex {arg!r}: {exc}") from None
            get = _REX[key]
            return lambda r: bool(rx.search(get(r)))
        raise FilterError(f"Invalid filter expression: unknown operator {t}")

    def andexp():
        a = atom()
        while peek() not in (None, "|", ")"):
            if peek() == "&":
                take()
            b = atom()
            a = (lambda x, y: lambda r: x(r) and y(r))(a, b)
        return a

    def orexp():
        a = andexp()
        while peek() == "|":
            take()
            b = andexp()
            a = (lambda x, y: lambda r: x(r) or y(r))(a, b)
        return a

    if not toks:
        raise FilterError("Invalid filter expression: empty")
    f = orexp()
    if pos != len(toks):
        raise FilterError(f"Invalid filter expression: unexpected {toks[pos]!r}")
    return Filter(f, expr)


class FilteredView:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.filter: Filter | None = None
        self.indices: list[int] = list(range(len(store)))

    def set_filter(self, f: Filter | None) -> None:
        self.filter = f
        if f is None:
            self.indices = list(range(len(self.store)))
        else:
            recs = self.store.records
            self.indices = [i for i in range(len(recs)) if f(recs[i])]

    def on_added(self, indices: list[int]) -> list[int]:
        last = self.indices[-1] if self.indices else -1
        new = [i for i in indices if i > last and (self.filter is None or self.filter(self.store[i]))]
        new.sort()
        self.indices.extend(new)
        return new


@dataclass
class StatsRow:
    key: str
    count: int = 0
    errors: int = 0
    in_flight: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    lat: list = field(default_factory=list)


class Stats:
    def __init__(self) -> None:
        self.by: dict[str, StatsRow] = {}
        self.walls: list[float] = []

    def update(self, r: Record) -> None:
        self.walls.append(r.wall)
        if not r.method:
            return
        keys = [r.method] + ([f"{r.method} {r.tool}"] if r.tool and r.method == "tools/call" else [])
        for k in keys:
            row = self.by.setdefault(k, StatsRow(k))
            if r.kind in ("request", "notification"):
                row.count += 1
                if r.kind == "request":
                    row.in_flight += 1
            if r.dir == "c2s":
                row.bytes_out += r.size
            else:
                row.bytes_in += r.size
            if r.kind in ("response", "error") and r.pair is not None:
                row.in_flight = max(0, row.in_flight - 1)
                if r.latency is not None:
                    row.lat.append(r.latency * 1000)
            if r.error:
                row.errors += 1

    def rows(self, sort_by: str = "count", reverse: bool = True) -> list[StatsRow]:
        for row in self.by.values():
            if row.lat:
                s = sorted(row.lat)
                q = lambda p: s[min(len(s) - 1, int(p * len(s)))]  # noqa: E731
                row.p50, row.p95, row.p99, row.max = q(0.5), q(0.95), q(0.99), s[-1]
        return sorted(self.by.values(), key=lambda r: (getattr(r, sort_by) or 0) if sort_by != "key" else r.key, reverse=reverse)

    def rate_series(self, now_wall: float, buckets: int = 60, width_s: float = 1.0) -> list[float]:
        out = [0.0] * buckets
        start = now_wall - buckets * width_s
        for w in reversed(self.walls):
            if w < start:
                break
            b = int((w - start) / width_s)
            if 0 <= b < buckets:
                out[b] += 1 / width_s
        return out


def export_jsonl(records, path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({"type": "message", "seq": r.seq, "t": r.t, "wall": r.wall, "dir": r.dir,
                                 "raw": r.raw, "size": r.size, "status": r.status}) + "\n")
            n += 1
    return n
