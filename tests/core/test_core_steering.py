"""The textual-free steering model, JSON checking/diff, and the compose catalog (checked against
the SDK's own method table)."""

from __future__ import annotations

from omproxy_tui.core import compose
from omproxy_tui.core.records import record_from_line
from omproxy_tui.core.steering import Steering, check_json, check_message, json_diff, steer_refusal


def state(held=(), paused=(False, False), intercept=None, held_bytes=0):
    return {"type": "state", "paused": {"c2s": paused[0], "s2c": paused[1]}, "intercept": intercept,
            "held": [{"seq": s, "dir": d, "reason": r} for s, d, r in held], "held_bytes": held_bytes,
            "inspectors": 1, "pending_injections": 0}


def test_state_frames_and_status():
    st = Steering()
    st.on_state("a", state([(5, "c2s", "intercept"), (7, "c2s", "behind")], intercept="~tool slow", held_bytes=2048))
    st.on_state("b", state([(3, "s2c", "paused")], paused=(False, True), held_bytes=10))
    assert st.totals() == (3, 2058)
    assert sorted(st.holding_sessions()) == ["a", "b"]
    text = "".join(t for t, _ in st.status_parts("a"))
    assert text == "a: ⚑ ~tool slow 2 held 2.0 KB"
    assert "".join(t for t, _ in st.status_parts("b")) == "b: ⏸← 1 held 10 B"
    # oldest first across sessions, by the messages' wall time
    walls = {("a", 5): 100.0, ("a", 7): 102.0, ("b", 3): 101.0}
    order = st.held_everywhere(lambda label, seq: walls.get((label, seq)))
    assert [(label, h["seq"]) for label, h in order] == [("a", 5), ("b", 3), ("a", 7)]
    st.on_state("a", state())
    assert st.status_parts("a") == [] and st.totals() == (1, 10)
    st.on_ended("b")
    assert st.totals() == (0, 0)


def test_injections():
    st = Steering()
    inj = st.note_injected("a", {"ok": True, "inject_id": "omproxy-1-1", "original_id": 1, "seq": 9}, "tools/call", "server")
    assert st.pending_injection_for_seq("a", 9) is inj
    st.on_answer("omproxy-1-1")
    assert inj.state == "answered" and st.pending_injection_for_seq("a", 9) is None
    inj2 = st.note_injected("a", {"ok": True, "inject_id": "omproxy-1-2", "seq": 11}, "ping", "server")
    st.on_inject_timeout({"type": "inject_timeout", "inject_id": "omproxy-1-2"})
    assert inj2.state == "timeout"
    note = st.note_injected("a", {"ok": True, "seq": 12}, "notifications/message", "client")
    assert note.state == "sent" and note.inject_id is None


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
