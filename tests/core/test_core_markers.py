"""Marker rows (gaps, restarts) interleaved with a view's records: core/markers.py via the model."""

from __future__ import annotations

from omproxy_tui.core.markers import Marker
from omproxy_tui.core.sessions import SessionModel
from omproxy_tui.demo.canned import T0
from omproxy_tui.protocol.builder import FrameBuilder


def _rows(model: SessionModel) -> list:
    """The log's rows as store indices and marker kinds."""
    out = []
    for row in range(len(model.rows)):
        item = model.rows.at(row)
        out.append(item.kind if isinstance(item, Marker) else item)
    return out


def _ping(b: FrameBuilder, i: int, method: str = "ping") -> None:
    b.message("c2s", {"jsonrpc": "2.0", "id": i, "method": method})
    b.message("s2c", {"jsonrpc": "2.0", "id": i, "result": {}})


def test_markers_are_rows_between_messages_and_stay_under_a_filter():
    model = SessionModel(lambda: T0)
    model.attach("k", "p")
    b = FrameBuilder()
    _ping(b, 1)
    model.ingest("k", b.frames)
    model.ingest("k", [{"type": "lost", "n": 2}])
    b.frames.clear()
    _ping(b, 2, "tools/list")
    model.ingest("k", b.frames)
    assert _rows(model) == [0, 1, "lost", 2, 3]
    rows = model.rows
    assert rows.row_of(2) == 3 and rows.row_of_index(2) == 3 and rows.view_row(2) == 2
    # a filter keeps the marker, before the next record that matches
    model.set_filter("~m tools/list")
    assert _rows(model) == ["lost", 2, 3]
    model.set_filter("~m ping")
    assert _rows(model) == [0, 1, "lost"]
    model.set_filter("")
    # another session selected hides it, like that session's messages
    model.scope("other")
    assert _rows(model) == []
    model.scope(None)
    assert _rows(model) == [0, 1, "lost", 2, 3]
    # clearing the log clears the markers up to now
    model.clear_log()
    assert _rows(model) == []


def test_rows_stay_right_when_records_are_appended_inserted_or_removed():
    model = SessionModel(lambda: T0)
    model.attach("k", "p")
    b = FrameBuilder()
    b.message("c2s", {"jsonrpc": "2.0", "id": 1, "method": "slow"})
    model.ingest("k", b.frames)
    model.set_filter("~pending")
    model.ingest("k", [{"type": "lost", "n": 1}])
    assert _rows(model) == [0, "lost"]
    b.frames.clear()
    b.message("c2s", {"jsonrpc": "2.0", "id": 2, "method": "slow"})
    model.ingest("k", b.frames)
    assert _rows(model) == [0, "lost", 1]  # appended after the marker
    b.frames.clear()
    b.message("s2c", {"jsonrpc": "2.0", "id": 1, "result": {}})  # 0 stops being pending
    model.ingest("k", b.frames)
    assert _rows(model) == ["lost", 1]


def test_a_restart_is_one_row_from_restarting_to_its_outcome():
    model = SessionModel(lambda: T0)
    model.attach("k", "p")
    b = FrameBuilder()
    _ping(b, 1)
    model.ingest("k", b.frames)
    changes = model.ingest("k", [{"type": "lifecycle", "event": "restarting", "cause": "watch", "generation": 2,
                                  "files": ["server.py"], "seq": 3}])
    assert changes.markers_changed and changes.added_rows == 1
    [m] = model.markers
    assert m.kind == "restart" and "restarting" in m.text and "file changed" in m.text
    rev = m.rev
    changes = model.ingest("k", [{"type": "lifecycle", "event": "restart", "cause": "watch", "generation": 2,
                                  "downtime_ms": 420.0, "changed": {"tools": {"added": ["new_tool"]}}, "seq": 4}])
    assert changes.markers_changed and changes.added_rows == 0 and list(model.markers) == [m] and m.rev > rev
    assert m.text == "⟳ server restarted #2 (file changed) · 0.42 s down · tools +new_tool"
    assert model.sessions["k"].generation == 2 and not model.sessions["k"].restart_failed
    assert any("server.py" in line for line in m.explain())
    # a failed one, whose start was not seen (replayed from a backlog that lost it)
    model.ingest("k", [{"type": "lifecycle", "event": "restart_failed", "cause": "command", "generation": 3,
                        "error": "cannot start 'x'", "stderr": ["boom"], "downtime_ms": 5}])
    failed = model.markers.items[-1]
    assert model.sessions["k"].generation == 2 and model.sessions["k"].restart_failed
    assert failed.failed and "FAILED" in failed.text and "cannot start 'x'" in failed.text
    assert any("boom" in line for line in failed.explain())
    assert _rows(model) == [0, 1, "restart", "restart"]
    assert len(model.view) == 2 and model.stats.messages == 2  # not messages


def test_consecutive_lost_frames_make_one_row_and_a_reconnect_gap_says_so():
    model = SessionModel(lambda: T0)
    s = model.attach("k", "p")
    model.ingest("k", [{"type": "lost", "n": 2}, {"type": "lost", "n": 3}])
    model.ingest("k", [{"type": "lost", "n": 4, "reconnect": True}])
    assert [(m.kind, m.n, bool(m.details.get("reconnect"))) for m in model.markers] == [
        ("lost", 5, False), ("lost", 4, True)]
    assert "reconnecting" in model.markers.items[1].text and s.lost == 9


class _View:
    """What LogRows reads from a FilteredView: sorted ``indices``, ``version``, ``position``."""

    def __init__(self) -> None:
        self.indices: list[int] = []
        self.version = 0

    def position(self, index: int):
        return self.indices.index(index) if index in self.indices else None


def _brute(view: _View, markers, visible) -> list:
    """Each visible marker before the first shown record that arrived after it."""
    out: list = []
    vis = [m for m in markers if visible(m)]
    k = 0
    for index in view.indices:
        while k < len(vis) and vis[k].at <= index:
            out.append(vis[k])
            k += 1
        out.append(index)
    return out + vis[k:]


def test_log_rows_match_a_plain_interleave_whatever_happens():
    from hypothesis import given, settings, strategies as st

    from omproxy_tui.core.markers import LogRows, Markers

    ops = st.lists(st.tuples(st.sampled_from(["record", "hidden record", "marker", "other marker", "remove",
                                              "insert", "refilter"]), st.integers(0, 1000)), max_size=60)

    @settings(max_examples=300, deadline=None)
    @given(ops)
    def check(steps):
        view, markers = _View(), Markers()
        hidden: set = set()
        rows = LogRows(view, markers, lambda m: m.session not in hidden)
        store = 0
        for op, x in steps:
            if op in ("record", "hidden record"):
                if op == "record":
                    view.indices.append(store)
                store += 1
            elif op in ("marker", "other marker"):
                markers.add(store, "a" if op == "marker" else "b", "restart", 0.0, details={"generation": x})
            elif op == "remove" and view.indices:
                del view.indices[x % len(view.indices)]
                view.version += 1
            elif op == "insert" and store:
                missing = sorted(set(range(store)) - set(view.indices))
                if missing:
                    view.indices = sorted([*view.indices, missing[x % len(missing)]])
                    view.version += 1
            elif op == "refilter":
                hidden ^= {"b"}
                view.version += 1
            want = _brute(view, markers, lambda m: m.session not in hidden)
            assert [rows.at(r) for r in range(len(rows))] == want
            for vrow, index in enumerate(view.indices):
                assert rows.row_of(vrow) == want.index(index) and rows.row_of_index(index) == want.index(index)
            for r, item in enumerate(want):
                if not isinstance(item, int):
                    assert rows.row_of_marker(item) == r

    check()


def test_a_reconnect_gap_is_one_lost_row_not_also_a_backlog_gap():
    """After a reconnect the hello's ``evicted`` counts everything the proxy ever dropped from its
    backlog: the gap since our last frame is the source's ``lost`` frame, not a second row."""
    model = SessionModel(lambda: T0)
    s = model.attach("k", "p")
    b = FrameBuilder()
    _ping(b, 1)
    model.ingest("k", [{"type": "hello", "proxy": {"name": "p", "transport": "stdio"}, "backlog": 2}] + b.frames)
    b.frames.clear()
    b.seq += 7
    b.message("c2s", {"jsonrpc": "2.0", "method": "notifications/after"})
    model.ingest("k", [{"type": "connection", "state": "reconnecting"},
                       {"type": "hello", "proxy": {"name": "p", "transport": "stdio"}, "backlog": 1, "evicted": 40},
                       {"type": "lost", "n": 7, "reconnect": True}, *b.frames])
    assert [(m.kind, m.n) for m in model.markers] == [("lost", 7)]
    assert s.missing_before == 0 and _rows(model) == [0, 1, "lost", 2]
