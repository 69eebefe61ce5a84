"""The session model: every frame type handled without a UI (the app only renders it)."""

from __future__ import annotations

import pytest

import subprocess
import sys
from pathlib import Path

from omproxy_tui.core.sessions import SessionModel
from omproxy_tui.demo.canned import T0, canned_session

ROOT = Path(__file__).resolve().parents[2]


def test_canned_session_fills_the_model():
    frames = canned_session()
    model = SessionModel(lambda: T0)
    session = model.attach("/tmp/x.sock", "x")
    assert session.label == "x"
    changes = model.ingest("/tmp/x.sock", frames)
    n = sum(1 for f in frames if f["type"] == "message")
    assert changes.new == n == len(model.store) == session.messages
    # one row more than messages: the gap the canned `lost` frame leaves is a row of its own
    assert changes.added_rows == n + 1 and len(model.view) == n and len(model.rows) == n + 1
    assert session.label == "demo" and model.by_label["demo"] is session  # relabelled by hello
    assert session.server_name == "omproxy-demo" and session.server_version == "1.0.0"
    assert session.era == "initialize" and session.protocol_version == "2025-11-25"
    assert session.c2s + session.s2c == n
    assert session.lost == 3 and [(m.kind, m.n) for m in model.markers] == [("lost", 3)]
    assert len(session.stderr) == 5 and session.lifecycle[0][1] == "spawned"
    assert session.paused == {"c2s": False, "s2c": False} and session.held == []
    assert session.errors == sum(1 for r in model.store if r.kind == "error" or r.error or r.tool_error)
    assert "tools/call" in model.methods_seen and "echo" in model.tools_seen
    assert model.pending_count == model.store.pending_count > 0
    assert session.missing_before == 0


def test_labels_stay_unique_and_relabel_only_once():
    model = SessionModel(lambda: T0)
    a = model.attach("a", "demo")
    b = model.attach("b", "demo")
    assert (a.label, b.label) == ("demo", "demo#2")
    assert model.attach("a", "other") is a
    model.ingest("b", [{"type": "hello", "proxy": {"name": "beta"}}])
    assert b.label == "beta" and set(model.by_label) == {"demo", "beta"}
    model.ingest("b", [{"type": "hello", "proxy": {"name": "gamma"}}])  # a reconnect's hello
    assert b.label == "beta"


def test_state_connection_and_filter():
    model = SessionModel(lambda: T0)
    s = model.attach("k", "p")
    model.ingest("k", [{"type": "state", "paused": {"c2s": True, "s2c": False}, "intercept": "~m x",
                        "held": [{"seq": 3, "dir": "c2s", "reason": "paused"}], "pending_injections": 2,
                        "inspectors": 1}])
    assert s.paused["c2s"] and s.intercept == "~m x" and model.held_count == 1 and s.pending_injections == 2
    model.ingest("k", [{"type": "connection", "state": "ended", "detail": "gone", "code": 3}])
    assert s.state_text == "ended (3)" and s.held == [] and s.ended
    model.ingest("k", canned_session()[2:])
    model.set_filter("~m ^initialize$")
    assert len(model.view) == 2
    model.scope("nope")
    assert len(model.view) == 0
    model.scope(None)
    model.set_filter("")
    assert len(model.view) == len(model.store)


def test_a_malformed_frame_is_skipped():
    model = SessionModel(lambda: T0)
    model.attach("k", "p")
    frames = canned_session()[:8]
    frames.insert(3, {"type": "message", "seq": "x", "dir": 5})
    model.ingest("k", frames)
    assert len(model.store) >= 1


def test_sessions_module_is_textual_free():
    code = "import sys, omproxy_tui.core.sessions; bad=[m for m in sys.modules if m.split('.')[0] in ('textual','rich','mcp','pydantic')]; assert not bad, bad"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_loaded_recording_leaves_nothing_pending():
    model = SessionModel(lambda: T0)
    s = model.attach("k", "p")
    model.ingest("k", canned_session())
    held_or_slow = [r.index for r in model.store if r.pending]
    assert held_or_slow
    changes = model.ingest("k", [{"type": "connection", "state": "loaded", "detail": ""}])
    assert changes.old_changed == held_or_slow
    assert model.pending_count == 0 and model.store.unanswered == set(held_or_slow)
    assert all(r.in_flight == 0 for r in model.stats.rows())
    assert s.ended


@pytest.mark.parametrize("key", ["evicted", "missing"])
def test_hello_evicted_marks_the_gap_after_a_kept_handshake(key):
    from omproxy_tui.protocol.builder import FrameBuilder

    b = FrameBuilder()
    b.message("c2s", {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
    b.message("s2c", {"jsonrpc": "2.0", "id": 0, "result": {"serverInfo": {"name": "s", "version": "1"}}})
    b.seq += 500  # evicted from the backlog
    b.message("c2s", {"jsonrpc": "2.0", "method": "notifications/x"})
    model = SessionModel(lambda: T0)
    s = model.attach("k", "p")
    model.ingest("k", [{"type": "hello", "proxy": {"name": "p", "transport": "stdio"}, "backlog": 3, key: 500}]
                 + b.frames)
    assert s.missing_before == 500
    assert [(m.kind, m.at, m.n, m.session) for m in model.markers] == [("missing", 2, 500, "p")]
    assert s.server_name == "s"
    # a recording (an export of chosen messages) is not a backlog: no gap marked
    r = model.attach("r", "rec")
    model.ingest("r", [{"type": "hello", "proxy": {"name": "rec", "transport": "recording"}}] + b.frames[2:])
    assert r.missing_before == 0


def test_a_forgotten_session_leaves_the_list_and_the_view():
    model = SessionModel(lambda: T0)
    model.attach("a", "a")
    model.attach("b", "b")
    model.ingest("a", canned_session(name="alpha"))
    model.ingest("b", canned_session(name="beta", rounds=1))
    n_alpha = sum(1 for r in model.store if r.session == "alpha")
    model.set_filter("~q")
    assert model.forget("beta") is not None
    assert set(model.by_label) == {"alpha"} and list(model.sessions) == ["a"]
    assert {model.store[i].session for i in model.view.indices} == {"alpha"}
    model.set_filter("")
    assert len(model.view) == n_alpha
    assert model.forget("nope") is None
    # a new session of the same name gets a new label (the forgotten records keep theirs, hidden)
    c = model.attach("c", "beta")
    assert c.label == "beta#2" and c.label not in model.hidden


def test_clearing_the_log_keeps_stats_and_shows_only_newer_messages():
    model = SessionModel(lambda: T0)
    model.attach("k", "p")
    frames = canned_session()
    model.ingest("k", frames[:40])
    count_before = model.stats.messages
    n = len(model.store)
    model.clear_log()
    assert len(model.view) == 0 and model.stats.messages == count_before
    model.ingest("k", frames[40:])
    assert model.view.indices and min(model.view.indices) >= n
    model.set_filter("~all")
    assert min(model.view.indices) >= n
    model.set_filter("")
    assert len(model.view) == len(model.store) - n
