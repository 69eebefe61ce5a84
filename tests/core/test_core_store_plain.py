"""core/store.py: ``add_frame``'s direct path (plain frames parsed straight into the columns, no
Record in between) stores and pairs exactly what the general path -- ``add(record_from_frame())``
-- does, for every frame shape, line shape and order of arrival."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omproxy_tui.core import store as store_mod
from omproxy_tui.core.records import record_from_frame
from omproxy_tui.core.store import Store
from omproxy_tui.protocol.builder import message_frame

FIELDS = ("session", "dir", "kind", "method", "tool", "status", "seq", "size", "id", "t", "wall", "pair",
          "latency", "pending", "held", "injected", "changed", "to_inspector", "cancelled", "tool_error",
          "marked", "error", "progress_token", "ref_id", "parts", "extra", "raw", "summary", "is_error")


def state(store: Store) -> tuple:
    """Everything a store holds, values with their types (NaN compares equal to NaN)."""
    rows = [tuple((type(v).__name__, repr(v)) for v in map(r.__getattribute__, FIELDS)) for r in store]
    return (rows, store._pending, store._tokens, store._early, store._npending, store._held, store._batch_open,
            store.unanswered, {k: list(v) for k, v in store._by_session.items()}, store.body_bytes,
            store.pending_count)


def both(frames: list[tuple[dict, str]]) -> tuple[Store, Store]:
    direct, general = Store(), Store()
    for frame, session in frames:
        got = want = None
        try:
            got = direct.add_frame(dict(frame), session)
        except TypeError as exc:
            got = type(exc)
        try:
            want = general.add(record_from_frame(dict(frame), session, len(general)))
        except TypeError as exc:
            want = type(exc)
        assert got == want, frame
    return direct, general


ids = st.one_of(st.integers(0, 3), st.sampled_from(["1", "a"]), st.just(1.0), st.none(), st.booleans(),
                st.just(2**70), st.just({"o": 1}))
tokens = st.one_of(st.sampled_from(["p1", "p2"]), st.integers(0, 2), st.none(), st.just([1]))
methods = st.sampled_from(["tools/call", "prompts/get", "resources/read", "ping", "notifications/progress",
                           "notifications/cancelled", "notifications/message"])


@st.composite
def lines(draw) -> str:
    shape = draw(st.sampled_from(["request", "request", "response", "response", "notification", "error",
                                  "odd", "batch", "invalid"]))
    obj: dict = {"jsonrpc": "2.0"}
    if shape == "request":
        obj.update(id=draw(ids), method=draw(methods))
        params = draw(st.fixed_dictionaries({}, optional={
            "name": st.one_of(st.sampled_from(["echo", "add"]), st.integers()), "uri": st.just("file:///x"),
            "_meta": st.one_of(st.fixed_dictionaries({"progressToken": tokens}), st.just([]))}))
        if draw(st.booleans()):
            obj["params"] = params
    elif shape == "response":
        obj.update(id=draw(ids), result=draw(st.one_of(st.just({}), st.just({"isError": True}), st.none(),
                                                       st.just([1]), st.just({"isError": 1}))))
        if draw(st.integers(0, 9)) == 0:
            obj["error"] = {"code": 1}
    elif shape == "notification":
        obj["method"] = draw(methods)
        if draw(st.integers(0, 4)):
            obj["params"] = draw(st.one_of(st.fixed_dictionaries({"progressToken": tokens}),
                                           st.fixed_dictionaries({"requestId": ids}), st.just("x")))
    elif shape == "error":
        obj.update(id=draw(ids), error={"code": -1, "message": "bad"})
    elif shape == "odd":
        obj.update(method=draw(st.integers(0, 3)), id=1)
    elif shape == "batch":
        return json.dumps([{"jsonrpc": "2.0", "id": draw(ids), "method": "a"}, {"jsonrpc": "2.0", "id": 1, "result": {}}])
    else:
        return draw(st.sampled_from(["not json", " {}", "{} ", "[]", "3", '{"jsonrpc":"2.0","id":1,"method":"a"']))
    if draw(st.integers(0, 9)) == 0:
        obj["filler"] = "x" * 5000  # a big body (summary built with the record)
    return json.dumps(obj, separators=(",", ":"))


@st.composite
def frames(draw) -> list[tuple[dict, str]]:
    out = []
    t = 1.0
    for seq in range(1, draw(st.integers(1, 25)) + 1):
        t += draw(st.sampled_from([0.0, 0.001, 0.5, 2.0]))
        raw = draw(lines())
        d = draw(st.sampled_from(["c2s", "s2c"]))
        status = draw(st.sampled_from(["relayed"] * 8 + ["held", "dropped"]))
        f = message_frame(seq, t, 1.7e9 + t, d, raw, status=status)
        variant = draw(st.integers(0, 12))
        if variant == 0:  # the 7 required keys only
            f = {k: f[k] for k in ("type", "seq", "t", "wall", "dir", "raw", "size", "status")}
        elif variant == 1:
            f["changed"] = {"by": "x"}
        elif variant == 2:
            f["error"] = "proxy says no"
        elif variant == 3:
            f["t"] = draw(st.sampled_from([float("nan"), 3, None, float("inf")]))
        elif variant == 4:
            f["seq"] = draw(st.sampled_from([2**64, -(2**63), "7", 1.5]))
        elif variant == 5:
            f["size"] = draw(st.sampled_from([None, -1, 4096, 4095, "3"]))
        elif variant == 6:
            f["to_inspector"] = True
        elif variant == 7:
            del f["wall"]
        session = draw(st.sampled_from(["a", "a", "a", "b"]))
        out.append((f, session))
    return out


@settings(max_examples=400, deadline=None)
@given(frames())
def test_direct_path_stores_and_pairs_what_the_general_path_does(fs):
    direct, general = both(fs)
    assert state(direct) == state(general)


def proxy_frames(n: int) -> list[tuple[dict, str]]:
    """A realistic session: requests with progress tokens, progress, log lines, results, a cancel,
    an orphan answered before its request, a duplicate id, string ids, two sessions."""
    out = []
    t = 0.0
    for i in range(n):
        t += 0.01
        s = "a" if i % 5 else "b"
        msgs = [
            ("c2s", {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                     "params": {"name": f"t{i % 3}", "arguments": {}, "_meta": {"progressToken": f"p{i}"}}}),
            ("s2c", {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": f"p{i}"}}),
            ("s2c", {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "x"}}),
            ("s2c", {"jsonrpc": "2.0", "id": i, "result": {"content": [], "isError": i % 4 == 0}}),
            ("s2c", {"jsonrpc": "2.0", "id": f"s{i}", "method": "roots/list"}),
            ("c2s", {"jsonrpc": "2.0", "id": f"s{i}", "result": {"roots": []}}),
        ]
        if i % 7 == 3:
            msgs.insert(1, ("c2s", {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                    "params": {"requestId": i}}))
        if i % 11 == 5:
            msgs.reverse()  # answers before their requests
        if i % 13 == 6:
            msgs.append(msgs[0])  # a duplicate id
        for d, m in msgs:
            t += 0.001
            out.append((message_frame(len(out) + 1, t, 1.7e9 + t, d, m), s))
    return out


def test_direct_path_agrees_on_a_realistic_session_and_is_the_one_taken(monkeypatch):
    fs = proxy_frames(300)
    direct, general = both(fs)
    assert state(direct) == state(general)
    assert general.pending_count and general._early  # (the session has both)

    def boom(*a, **k):
        raise AssertionError("general path taken")

    monkeypatch.setattr(store_mod, "record_from_frame", boom)
    again = Store()
    for f, s in fs:
        again.add_frame(dict(f), s)
    assert state(again) == state(general)


def test_direct_path_with_an_unhashable_session_leaves_the_store_as_it_was():
    store = Store()
    store.add_frame(message_frame(1, 1.0, 1.0, "c2s", {"jsonrpc": "2.0", "id": 1, "method": "a"}), "s")
    with pytest.raises(TypeError):
        store.add_frame(message_frame(2, 1.0, 1.0, "c2s", {"jsonrpc": "2.0", "id": 2**70, "method": "a"}), ["s"])
    assert len(store) == 1 and not store.records.x_id and len(store.records.raw) == 1
    store.add_frame(message_frame(3, 2.0, 2.0, "s2c", {"jsonrpc": "2.0", "id": 1, "result": {}}), "s")
    assert store[1].pair == 0 and store[0].latency == 1.0
