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
