"""core/table.py: the store's columns give back exactly what was stored (types included), whole
columns equal attribute reads, and a row that cannot be stored leaves the table as it was."""

from __future__ import annotations

import json
import math

import pytest

from omproxy_tui.core.records import Record, record_from_line
from omproxy_tui.core.store import Store
from omproxy_tui.core.table import RecordTable

FIELDS = ("session", "dir", "kind", "method", "tool", "status", "seq", "size", "id", "t", "wall", "pair",
          "latency", "pending", "held", "injected", "changed", "to_inspector", "cancelled", "tool_error",
          "marked", "error", "progress_token", "ref_id", "parts", "extra", "raw")


def odd_records() -> list[Record]:
    lines = [
        ({"jsonrpc": "2.0", "id": 2**70, "method": "a"}, dict(seq=2**64, t=3, wall=None)),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "b", "params": {"_meta": {"progressToken": "tok"}}}, {}),
        ({"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": {"name": "echo"}}, dict(t=float("inf"))),
        ({"jsonrpc": "2.0", "id": True, "result": {}}, dict(seq=-(2**63))),
        ({"jsonrpc": "2.0", "id": -(2**63), "result": {"isError": True}}, {}),
        ({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}, {}),
        ([{"jsonrpc": "2.0", "id": 9, "method": "c"}], {}),
        ("not json", {}),
    ]
    out = []
    for obj, kw in lines:
        raw = obj if isinstance(obj, str) else json.dumps(obj)
        rec = record_from_line(raw, "c2s", session="s", **{"seq": 1, "t": 1.0, "wall": 5.0, **kw})
        out.append(rec)
    out[0].held = True
    out[0].status = "held"
    out[1].extra = {"changed": {"x": 1}}
    out[2].marked = True
    out[2].summary = "given"
    return out


def same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def test_values_come_back_exactly_with_their_types():
    recs = odd_records()
    table = RecordTable()
    for r in recs:
        table.add(r)
    for i, r in enumerate(recs):
        got = table[i]
        assert got.index == i and bool(got)
        for name in FIELDS:
            assert same(getattr(got, name), getattr(r, name)), name
        assert got.summary == r.summary and got.is_error == r.is_error


def test_whole_columns_equal_attribute_reads():
    recs = odd_records()
    table = RecordTable()
    for r in recs:
        table.add(r)
    for name in FIELDS + ("summary",):
        for start, stop in ((0, None), (2, 5), (7, None)):
            want = [getattr(r, name) for r in table[start:stop]]
            assert all(same(a, b) for a, b in zip(table.column(name, start, stop), want)) and \
                len(table.column(name, start, stop)) == len(want), name


def test_writes_go_to_the_columns_and_every_record_of_a_row_sees_them():
    table = RecordTable()
    table.add(record_from_line('{"jsonrpc":"2.0","id":1,"method":"a"}', "c2s", session="s"))
    a, b = table[0], table[0:1][0]
    a.pair, a.latency, a.id, a.t, a.method, a.pending = 5, 0.25, "k", 7, "m", False
    assert (b.pair, b.latency, b.id, b.t, b.method, b.pending) == (5, 0.25, "k", 7, "m", False)
    assert type(b.t) is int
    a.pair = a.latency = None
    assert b.pair is None and b.latency is None


def test_many_distinct_targets_widen_the_codes():
    store = Store()
    for i in range(70_000):
        store.add(record_from_line(json.dumps({"jsonrpc": "2.0", "id": i, "method": "resources/read",
                                               "params": {"uri": f"file:///{i}"}}), "c2s", session="s"))
    assert store.records.codes.typecode == "I"
    assert [store[i].tool for i in (0, 65_535, 65_536, 69_999)] == [
        "file:///0", "file:///65535", "file:///65536", "file:///69999"]


def test_a_row_that_cannot_be_stored_leaves_the_table_as_it_was():
    store = Store()
    store.add(record_from_line('{"jsonrpc":"2.0","id":1,"method":"a"}', "c2s", session="s"))
    bad = record_from_line('{"jsonrpc":"2.0","id":2,"method":"a"}', "c2s", session="s")
    bad.session = ["unhashable"]  # type: ignore[assignment]
    with pytest.raises(TypeError):
        store.add(bad)
    assert len(store) == 1 and len(store.records.raw) == 1 and len(store.records.flags) == 1
    store.add(record_from_line('{"jsonrpc":"2.0","id":1,"result":{}}', "s2c", session="s"))
    assert store[1].pair == 0 and store[0].pair == 1
