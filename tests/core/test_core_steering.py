"""The textual-free steering model, JSON checking/diff, and the compose catalog (checked against
the SDK's own method table)."""

from __future__ import annotations

from omproxy_tui.core import compose
from omproxy_tui.core.records import record_from_line
from omproxy_tui.core.sessions import SessionModel
from omproxy_tui.core.steering import (Steering, check_json, check_message, held_everywhere, holding, json_diff,
                                       status_parts, steer_refusal, totals)


def session(label, held=(), paused=(False, False), intercept=None, held_bytes=0):
    """A session as the model keeps it, from one ``state`` frame."""
    model = SessionModel(clock=lambda: 0.0)
    sess = model.attach(label, label)
    model.ingest(label, [{"type": "state", "paused": {"c2s": paused[0], "s2c": paused[1]}, "intercept": intercept,
                          "held": [{"seq": s, "dir": d, "reason": r} for s, d, r in held],
                          "held_bytes": held_bytes, "inspectors": 1, "pending_injections": 0}])
    return sess


def test_state_and_status():
    a = session("a", [(5, "c2s", "intercept"), (7, "c2s", "behind")], intercept="~tool slow", held_bytes=2048)
    b = session("b", [(3, "s2c", "paused")], paused=(False, True), held_bytes=10)
    assert totals([a, b]) == (3, 2058)
    assert holding(a) and holding(b) and not holding(session("c"))
    assert "".join(t for t, _ in status_parts(a)) == "a: ⚑ ~tool slow 2 held 2.0 KB"
    assert "".join(t for t, _ in status_parts(b)) == "b: ⏸← 1 held 10 B"
    assert status_parts(session("c")) == []
    # oldest first across sessions, by the messages' wall time
    walls = {("a", 5): 100.0, ("a", 7): 102.0, ("b", 3): 101.0}
    order = held_everywhere([a, b], lambda s, seq: walls.get((s.label, seq)))
    assert [(s.label, h["seq"]) for s, h in order] == [("a", 5), ("b", 3), ("a", 7)]


def test_injection_state_from_the_store():
    sess = session("a")
    st = Steering()
    inj = st.note_injected(sess, {"ok": True, "inject_id": "omproxy-1-1", "original_id": 1, "seq": 9}, "tools/call", "server")
    assert sess.injections["omproxy-1-1"] is inj
    req = record_from_line('{"jsonrpc":"2.0","id":"omproxy-1-1","method":"tools/call"}', "c2s")
    assert inj.state(None) == "pending" and inj.state(req) == "pending"
    req.pair = 3
    assert inj.state(req) == "answered"
    req.pair, req.cancelled = None, True
    assert inj.state(req) == "cancelled"
    note = st.note_injected(sess, {"ok": True, "seq": 12}, "notifications/message", "client")
    assert note.state(None) == "sent" and note.inject_id is None
    st.remember_intercept("~tool x")
    st.remember_intercept("~tool x")
    assert st.intercept_history == ["~tool x"]


def test_refusals():
    assert steer_refusal("live", True) is None
    assert "file" in steer_refusal("loaded", False)
    assert "ended" in steer_refusal("ended", True)


def test_check_json_position():
    res = check_json('{\n  "a": 1,\n  "b": \n}')
    assert not res.ok and (res.line, res.column) == (4, 1)
    assert res.describe() == "Expecting value (line 4, column 1)"
    assert check_message('{"jsonrpc":"2.0","id":1,"method":"ping"}').ok
    assert check_message('{"id":1,"method":"ping"}').error == 'missing "jsonrpc": "2.0"'
    assert check_message('[1]').ok  # a batch is relayed as is
    assert not check_message('{"jsonrpc":"2.0","id":1}').ok


def test_json_diff_ignores_formatting():
    a = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":5}}}'
    b = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow", "arguments": {"seconds": 0.1}}}'
    assert json_diff(a, a.replace(",", ", ")) == []
    diff = json_diff(a, b)
    assert '-      "seconds": 5' in diff and '+      "seconds": 0.1' in diff


def test_catalog_matches_the_sdk():
    import mcp_types.methods as m

    tables = [m.CLIENT_REQUESTS, m.CLIENT_NOTIFICATIONS, m.SERVER_REQUESTS, m.SERVER_NOTIFICATIONS]
    for version in m.KNOWN_PROTOCOL_VERSIONS:
        for i, table in enumerate(tables):
            expected = sorted(meth for meth, v in table if v == version)
            assert sorted(compose.METHODS[version][i]) == expected, (version, i)


def test_methods_for_and_skeletons():
    seen = [("c2s", "x/custom"), ("s2c", "notifications/message"), ("s2c", "y/server-only")]
    to_server = compose.methods_for("2026-07-28", "server", seen)
    assert "initialize" not in to_server and "server/discover" in to_server and to_server[-1] == "x/custom"
    to_client = compose.methods_for("2025-11-25", "client", seen)
    assert to_client[:4] == ["elicitation/create", "ping", "roots/list", "sampling/createMessage"]
    assert "notifications/tools/list_changed" in to_client and to_client[-1] == "y/server-only"
    for method in to_server + to_client:
        obj = compose.skeleton(method)
        assert check_message(__import__("json").dumps(obj)).ok
        assert ("id" in obj) != method.startswith("notifications/")


def test_captured_list_merges_pages():
    recs = []
    for raw in ['{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","v":1},{"name":"b"}],"nextCursor":"x"}}',
                '{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a","v":2},{"name":"c"}]}}']:
        r = record_from_line(raw, "s2c")
        r.method = "tools/list"
        recs.append(r)
    tools = compose.captured_list(recs, "tools/list")
    assert [(t["name"], t.get("v")) for t in tools] == [("a", 2), ("b", None), ("c", None)]
    assert compose.captured_list(recs, "prompts/list") is None
