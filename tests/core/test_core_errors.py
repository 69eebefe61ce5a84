"""One definition of "error" (``Record.is_error``), used by ~e, stats and the session counters."""

from __future__ import annotations

import json

from omproxy_tui.core.filters import parse
from omproxy_tui.core.records import record_from_line
from omproxy_tui.core.sessions import SessionModel
from omproxy_tui.core.stats import Stats

LINES = [
    ("c2s", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a"}}),
    ("s2c", {"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "boom"}}),
    ("c2s", {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "a"}}),
    ("s2c", {"jsonrpc": "2.0", "id": 2, "result": {"content": [], "isError": True}}),
    ("c2s", [{"jsonrpc": "2.0", "id": 3, "method": "ping"}, {"jsonrpc": "2.0", "id": 4, "method": "ping"}]),
    # a batch answer with one error element: an error by every definition
    ("s2c", [{"jsonrpc": "2.0", "id": 3, "result": {}}, {"jsonrpc": "2.0", "id": 4, "error": {"code": 1, "message": "x"}}]),
    ("s2c", [{"jsonrpc": "2.0", "id": 9, "result": {}}, 17]),  # a batch with an invalid element
    ("c2s", {"jsonrpc": "2.0", "id": None, "method": "ping"}),  # a request with a null id
    ("s2c", "not json"),
    ("c2s", {"jsonrpc": "2.0", "method": "notifications/initialized"}),
]


def frames():
    out = []
    for seq, (d, obj) in enumerate(LINES, 1):
        raw = obj if isinstance(obj, str) else json.dumps(obj)
        out.append({"type": "message", "seq": seq, "t": seq / 10, "wall": 1000 + seq, "dir": d, "raw": raw,
                    "size": len(raw), "status": "relayed"})
    return out


def test_is_error_is_the_filter_the_stats_and_the_counters():
    model = SessionModel(lambda: 0.0)
    s = model.attach("k", "k")
    model.ingest("k", frames())
    recs = list(model.store)
    fe = parse("~e")
    expected = [r.index for r in recs if fe(r)]
    assert [r.index for r in recs if r.is_error] == expected
    assert len(expected) == 6  # error, isError, batch with error, batch with invalid, null id, not json
    assert s.errors == len(expected)
    assert model.stats.errors == len(expected)
    stats = Stats()
    for r in recs:
        stats.update(r)
    assert stats.errors == len(expected)


def test_record_is_error_of_single_lines():
    assert record_from_line('{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}', "s2c").is_error
    assert not record_from_line('{"jsonrpc":"2.0","id":1,"result":{}}', "s2c").is_error
    assert record_from_line("{", "s2c").is_error
