"""view.py (incremental == full re-filter), stats.py (counts, percentiles, rate), export.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omproxy_tui.core.export import export_jsonl, frame_of, iter_jsonl, load_jsonl
from omproxy_tui.core.filters import parse
from omproxy_tui.core.records import Record, record_from_frame, record_from_line
from omproxy_tui.core.stats import Stats, percentile
from omproxy_tui.core.store import Store
from omproxy_tui.core.view import FilteredView

ROOT = Path(__file__).resolve().parents[2]


def msg(kind: str, id=None, method="tools/call", tool="t", **extra) -> str:
    if kind == "req":
        o = {"jsonrpc": "2.0", "id": id, "method": method, "params": {"name": tool}}
    elif kind == "res":
        o = {"jsonrpc": "2.0", "id": id, "result": extra.get("result", {})}
    elif kind == "err":
        o = {"jsonrpc": "2.0", "id": id, "error": {"code": -1, "message": "bad"}}
    elif kind == "cancel":
        o = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}
    else:
        o = {"jsonrpc": "2.0", "method": method}
    return json.dumps(o)


# ---- FilteredView -----------------------------------------------------------------------------

# A random MCP-ish conversation: (direction, kind, id, dt)
events = st.lists(
    st.tuples(
        st.sampled_from(["c2s", "s2c"]),
        st.sampled_from(["req", "res", "err", "cancel", "note"]),
        st.integers(0, 4),
        st.sampled_from([0.0005, 0.01, 0.3, 1.2]),
        st.sampled_from(["a", "b"]),
    ),
    max_size=40,
)
FILTERS = ["~pending", "~slow 250", "~m tools/call & !~pending", "~r | ~e", "~q ~s b", "!~slow 5", "~all", "~id 2 | ~n"]


@settings(max_examples=200, deadline=None)
@given(events, st.sampled_from(FILTERS + [None]), st.lists(st.integers(1, 6), min_size=1, max_size=10))
def test_incremental_view_equals_full_refilter(evs, expr, chunks):
    store = Store()
    view = FilteredView(store, parse(expr) if expr else None)
    t = 0.0
    pos = 0
    ci = 0
    while pos < len(evs):
        size = chunks[ci % len(chunks)]
        ci += 1
        changed: list[int] = []
        for dir, kind, id, dt, session in evs[pos : pos + size]:
            t += dt
            rec = record_from_line(msg(kind, id), dir, session=session, t=t)
            changed += store.add(rec)
        pos += size
        view.on_added(changed)
        full = FilteredView(store, view.filter)
        assert view.indices == full.indices


def test_view_basics():
    store = Store()
    view = FilteredView(store, parse("~pending"))
    ch = store.add(record_from_line(msg("req", 1), "c2s", t=0.0))
    assert view.on_added(ch) is True and view.indices == [0]
    ch = store.add(record_from_line(msg("note"), "s2c", t=0.1))
    assert view.on_added(ch) is False and view.indices == [0]
    ch = store.add(record_from_line(msg("res", 1), "s2c", t=0.2))
    assert ch == [2, 0]
    assert view.on_added(ch) is True and view.indices == []  # the request stopped being pending
    assert len(view) == 0
    view.set_filter(None)
    assert view.indices == [0, 1, 2] and view[1].kind == "notification"
    view.set_filter(parse("~r | ~q"))
    assert view.indices == [0, 2]
    assert view.position(2) == 1 and view.position(1) is None
    assert view.nearest(1) == 0 and view.nearest(2) == 1
    # records added without on_added() calls are picked up by the next call
    store.add(record_from_line(msg("req", 5), "c2s", t=1.0))
    store.add(record_from_line(msg("note"), "c2s", t=1.1))
    view.on_added([])
    assert view.indices == [0, 2, 3]


def test_view_accepts_plain_callables():
    store = Store()
    for i in range(6):
        store.add(record_from_line(msg("req", i), "c2s", session="a" if i % 2 else "b"))
    view = FilteredView(store, lambda r: r.session == "a")
    assert view.indices == [1, 3, 5]


# ---- Stats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, p, expected",
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([7.0], 99, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 75, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 76, 4.0),
        (list(map(float, range(1, 101))), 95, 95.0),
        (list(map(float, range(1, 101))), 99, 99.0),
        (list(map(float, range(1, 101))), 100, 100.0),
        (list(map(float, range(1, 11))), 0, 1.0),
    ],
)
def test_percentile_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected


def feed_all(store: Store, stats: Stats, items, only_new: bool = False):
    for dir, raw, t in items:
        rec = record_from_line(raw, dir, t=t, wall=1000.0 + t)
        changed = store.add(rec)
        for i in [changed[0]] if only_new else changed:
            stats.update(store[i])


@pytest.mark.parametrize("only_new", [False, True])
def test_stats_counts_latency_inflight_bytes(only_new):
    store, stats = Store(), Stats()
    items = []
    t = 0.0
    # 10 echo calls with latencies 10..100 ms, 1 failing "boom" call, 1 pending "slow" call
    for i in range(10):
        items.append(("c2s", msg("req", i, tool="echo"), t))
        items.append(("s2c", msg("res", i), t + (i + 1) * 0.01))
        t += 1
    items.append(("c2s", msg("req", 50, tool="boom"), t))
    items.append(("s2c", json.dumps({"jsonrpc": "2.0", "id": 50, "result": {"content": [], "isError": True}}), t + 0.5))
    items.append(("c2s", msg("req", 60, tool="slow"), t + 1))
    items.append(("s2c", msg("note", method="notifications/message"), t + 2))
    items.append(("s2c", msg("res", 999), t + 3))  # orphan
    items.append(("s2c", "garbage", t + 4))
    feed_all(store, stats, items, only_new)
    # feeding everything twice must not double count
    for rec in store:
        stats.update(rec)

    rows = {r.key: r for r in stats.rows()}
    call = rows["tools/call"]
    assert (call.count, call.errors, call.in_flight, call.responses) == (12, 1, 1, 11)
    echo = rows["tools/call:echo"]
    assert (echo.count, echo.errors, echo.in_flight, echo.responses) == (10, 0, 0, 10)
    assert echo.p50 == pytest.approx(50.0)
    assert echo.p95 == pytest.approx(100.0) and echo.p99 == pytest.approx(100.0)
    assert echo.max == pytest.approx(100.0)
    assert echo.bytes_in == sum(len(msg("req", i, tool="echo")) for i in range(10))
    assert echo.bytes_out == sum(len(msg("res", i)) for i in range(10))
    boom = rows["tools/call:boom"]
    assert (boom.count, boom.errors, boom.p50) == (1, 1, pytest.approx(500.0))
    slow = rows["tools/call:slow"]
    assert (slow.count, slow.in_flight, slow.p50, slow.max) == (1, 1, None, None)
    assert rows["notifications/message"].count == 1
    assert rows["(unpaired)"].count == 0 and rows["(unpaired)"].bytes_out == len(msg("res", 999))
    assert rows["(invalid)"].count == 1 and rows["(invalid)"].errors == 1
    assert stats.messages == len(store) and stats.errors == 2

    # sorting: by count desc with ties by key; None latencies last in both directions
    keys = [r.key for r in stats.rows("count")]
    assert keys[:2] == ["tools/call", "tools/call:echo"]
    by_p50 = [r.key for r in stats.rows("p50", reverse=True)]
    assert by_p50[:3] == ["tools/call:boom", "tools/call", "tools/call:echo"]  # 500, 60, 50 ms
    assert call.p50 == pytest.approx(60.0)
    assert all(stats.row(k).p50 is None for k in by_p50[3:]) and len(by_p50) == len(rows)
    asc = [r.key for r in stats.rows("p50", reverse=False)]
    assert asc[:3] == ["tools/call:echo", "tools/call", "tools/call:boom"] and stats.row(asc[-1]).p50 is None
    assert [r.key for r in stats.rows("key", reverse=False)] == sorted(rows)


def test_stats_cancel_leaves_in_flight():
    store, stats = Store(), Stats()
    feed_all(store, stats, [("c2s", msg("req", 1), 0.0), ("c2s", msg("cancel", 1), 1.0)])
    assert stats.row("tools/call").in_flight == 0


def test_rate_series():
    stats = Stats()
    for i, wall in enumerate([100.05, 100.5, 101.2, 101.3, 101.9, 105.0, 40.0]):
        stats.update(Record(i, "s", i, 0.0, wall, "c2s", "{}", 2, "notification", "x"))
    series = stats.rate_series(now_wall=105.95, buckets=6, width_s=1.0)
    # buckets end at now: [100.0,101.0) [101.0,102.0) ... [105.0,106.0)
    assert series == [2, 3, 0, 0, 0, 1]
    assert stats.rate_series(now_wall=105.95, buckets=3, width_s=2.0) == [5, 0, 1]
    # buckets are aligned on now: [99.3, 100.3) [100.3, 101.3); 101.3 is not in the past yet
    assert stats.rate_series(now_wall=101.25, buckets=2, width_s=1.0) == [1, 2]
    assert stats.rate_series(now_wall=105.95, buckets=60, width_s=1.0)[-6:] == [2, 3, 0, 0, 0, 1]
    assert sum(stats.rate_series(now_wall=200.0, buckets=60)) == 0


# ---- export -------------------------------------------------------------------------------------


def test_export_round_trip(tmp_path):
    store = Store()
    base = {"type": "message", "error": None, "held": False, "changed": None, "injected": None, "to_inspector": False}
    frames = [
        dict(base, seq=1, t=1.0, wall=10.0, dir="c2s", raw=msg("req", 1), size=len(msg("req", 1)), status="relayed"),
        dict(base, seq=2, t=1.5, wall=10.5, dir="s2c", raw=msg("res", 1), size=len(msg("res", 1)), status="relayed"),
        dict(base, seq=3, t=2.0, wall=11.0, dir="s2c", raw="banner", size=6, status="blocked", error="not JSON"),
        dict(base, seq=4, t=2.1, wall=11.1, dir="c2s", raw=msg("req", 2), size=10, status="held", held=True),
        dict(base, seq=5, t=2.2, wall=11.2, dir="c2s", raw=msg("req", 3), size=10, status="relayed",
             changed={"by": "hook", "action": "replaced", "original": "{}"}),
        {"type": "message", "seq": 6, "t": 2.3, "wall": 11.3, "dir": "s2c", "raw_b64": "/w==", "size": 1,
         "error": "line is not valid UTF-8", "held": False, "status": "relayed", "changed": None, "injected": None,
         "to_inspector": False},
    ]
    for f in frames:
        store.add_frame(f, "one")
    store.add_frame(dict(frames[0], seq=1), "two")
    path = tmp_path / "rec.jsonl"
    assert export_jsonl(store, path) == 7
    lines = path.read_text().splitlines()
    assert len(lines) == 7
    written = [json.loads(x) for x in lines]
    for orig, got in zip(frames, written):
        assert got["type"] == "message"
        for key, value in orig.items():
            assert got[key] == value, key
        assert got["session"] == "one"
    assert written[6]["session"] == "two"
    assert list(iter_jsonl(path)) == written

    again = Store()
    assert load_jsonl(path, again) == 7
    assert again.sessions == {"one", "two"}
    for a, b in zip(store, again):
        assert (a.kind, a.method, a.id, a.pair, a.latency, a.pending, a.status, a.held, a.changed, a.raw, a.size) == (
            b.kind, b.method, b.id, b.pair, b.latency, b.pending, b.status, b.held, b.changed, b.raw, b.size
        )  # fmt: skip
    assert frame_of(again[3]) == dict(frames[3], session="one")
    assert not list(tmp_path.glob("*.tmp-*"))


def test_export_from_records_without_frames(tmp_path):
    recs = [record_from_line(msg("req", 1), "c2s", session="s", seq=1), record_from_line(msg("err", 1), "s2c", seq=2)]
    path = tmp_path / "x.jsonl"
    export_jsonl(recs, path)
    got = [json.loads(x) for x in path.read_text().splitlines()]
    assert got[1]["error"] is None  # a JSON-RPC error response is a valid message
    assert [record_from_frame(f, "s", i).kind for i, f in enumerate(got)] == ["request", "error"]


# ---- import hygiene -----------------------------------------------------------------------------


def test_core_imports_only_the_standard_library():
    code = (
        "import sys, omproxy_tui.core.records, omproxy_tui.core.store, omproxy_tui.core.filters, "
        "omproxy_tui.core.view, omproxy_tui.core.stats, omproxy_tui.core.export\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'textual','rich','pydantic','mcp','anyio'})\n"
        "print(','.join(bad))\n"
        "own = sorted(m for m in sys.modules if m.startswith('omproxy_tui'))\n"
        "print(','.join(own))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    bad, own = out.splitlines()
    assert bad == ""
    # core builds on protocol/ (standard library only) and nothing else of ours
    assert {m for m in own.split(",") if not m.startswith("omproxy_tui.protocol")} <= {
        "omproxy_tui", "omproxy_tui.core", "omproxy_tui.core.records", "omproxy_tui.core.store",
        "omproxy_tui.core.filters", "omproxy_tui.core.view", "omproxy_tui.core.stats", "omproxy_tui.core.export",
        "omproxy_tui.core.spool", "omproxy_tui.core.table",
    }  # fmt: skip
