"""store.py: append-only store and request/response pairing edge cases."""

from __future__ import annotations

import json

import pytest

from omproxy_tui.core.records import record_from_line
from omproxy_tui.core.store import Store


class Feed:
    """Tiny helper: feed JSON-RPC objects into a store with increasing proxy times."""

    def __init__(self) -> None:
        self.store = Store()
        self.t = 0.0
        self.seq = 0

    def __call__(self, dir: str, obj, *, session: str = "s", dt: float = 0.1):
        self.t += dt
        self.seq += 1
        raw = obj if isinstance(obj, str) else json.dumps(obj)
        rec = record_from_line(raw, dir, session=session, seq=self.seq, t=self.t, wall=1000 + self.t)
        changed = self.store.add(rec)
        return rec.index, changed


def req(id, method="tools/call", **params):
    o = {"jsonrpc": "2.0", "id": id, "method": method}
    if params:
        o["params"] = params
    return o


def res(id, result=None):
    return {"jsonrpc": "2.0", "id": id, "result": result if result is not None else {}}


def err(id, message="boom"):
    return {"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": message}}


def note(method, **params):
    return {"jsonrpc": "2.0", "method": method, "params": params}


@pytest.fixture
def feed():
    return Feed()


def test_simple_pair(feed):
    q, ch = feed("c2s", req(1, name="echo"), dt=1.0)
    assert ch == [q]
    a, ch = feed("s2c", res(1), dt=0.25)
    assert ch == [a, q]
    s = feed.store
    assert s[q].pair == a and s[a].pair == q
    assert s[a].method == "tools/call" and s[a].tool == "echo"
    assert s[a].latency == pytest.approx(0.25) and s[q].latency == pytest.approx(0.25)
    assert s[q].pending is False and s.pending_count == 0
    assert len(s) == 2 and s[1].index == 1


def test_out_of_order_answers(feed):
    q1, _ = feed("c2s", req(1, method="a"))
    q2, _ = feed("c2s", req(2, method="b"))
    q3, _ = feed("c2s", req(3, method="c"))
    assert feed.store.pending_count == 3
    a3, _ = feed("s2c", res(3))
    a1, _ = feed("s2c", err(1))
    s = feed.store
    assert (s[a3].method, s[a3].pair, s[a1].method, s[a1].pair) == ("c", q3, "a", q1)
    assert s[q2].pending and s.pending_count == 1
    assert [r.index for r in s.pending_records()] == [q2]


def test_id_types_never_cross_pair(feed):
    q_int, _ = feed("c2s", req(1, method="int"))
    q_str, _ = feed("c2s", req("1", method="str"))
    q_flt, _ = feed("c2s", req(1.0, method="float"))
    a_str, _ = feed("s2c", res("1"))
    a_flt, _ = feed("s2c", res(1.0))
    a_int, _ = feed("s2c", res(1))
    s = feed.store
    assert (s[a_str].pair, s[a_flt].pair, s[a_int].pair) == (q_str, q_flt, q_int)
    assert (s[a_str].method, s[a_flt].method, s[a_int].method) == ("str", "float", "int")


def test_direction_matters(feed):
    # a response travelling the same direction as the request does not answer it
    q, _ = feed("c2s", req(1))
    wrong, _ = feed("c2s", res(1))
    assert feed.store[wrong].pair is None and feed.store[q].pending


def test_server_initiated_requests(feed):
    # both sides use id 0 at the same time: per-direction namespaces keep them apart
    cq, _ = feed("c2s", req(0, method="tools/call", name="slow"))
    sq, _ = feed("s2c", req(0, method="sampling/createMessage", messages=[]))
    ping, _ = feed("s2c", req(1, method="ping"))
    ca, _ = feed("c2s", res(0, {"role": "assistant", "content": {"type": "text", "text": "hi"}}))
    pa, _ = feed("c2s", res(1))
    sa, _ = feed("s2c", res(0, {"content": []}))
    s = feed.store
    assert (s[ca].pair, s[ca].method) == (sq, "sampling/createMessage")
    assert (s[pa].pair, s[pa].method) == (ping, "ping")
    assert (s[sa].pair, s[sa].method, s[sa].tool) == (cq, "tools/call", "slow")
    assert s.pending_count == 0


def test_cancellation(feed):
    q, _ = feed("c2s", req(5, name="long"))
    c, ch = feed("c2s", note("notifications/cancelled", requestId=5, reason="user"))
    s = feed.store
    assert ch == [c, q]
    assert s[q].cancelled and not s[q].pending and s.pending_count == 0
    assert s[c].pair == q and s[c].tool == "long"
    # a late answer (the cancel raced it) still pairs
    a, ch = feed("s2c", res(5))
    assert s[a].pair == q and s[a].method == "tools/call" and ch == [a, q]
    assert s[q].cancelled and s.pending_count == 0


def test_cancel_from_wrong_direction_or_unknown_id_is_ignored(feed):
    q, _ = feed("c2s", req(5))
    c1, ch1 = feed("s2c", note("notifications/cancelled", requestId=5))
    c2, ch2 = feed("c2s", note("notifications/cancelled", requestId=6))
    s = feed.store
    assert ch1 == [c1] and ch2 == [c2]
    assert not s[q].cancelled and s[q].pending
    assert s[c1].pair is None and s[c2].pair is None


def test_duplicate_ids_newer_gets_the_pair(feed):
    old, _ = feed("c2s", req(1, method="first"))
    new, _ = feed("c2s", req(1, method="second"))
    a, _ = feed("s2c", res(1))
    s = feed.store
    assert s[a].pair == new and s[a].method == "second"
    assert s[old].pending and s[old].pair is None  # pending-orphaned
    assert s.pending_count == 1
    # a second response with the same id finds nothing any more
    a2, _ = feed("s2c", res(1))
    assert s[a2].pair is None and s[a2].method is None


def test_edited_resend_supersedes_the_held_original(feed):
    s = feed.store
    held = record_from_line(json.dumps(req(3, name="x")), "c2s", session="s", seq=10, t=1.0)
    held.held, held.status = True, "held"
    s.add(held)
    assert s.pending_count == 1
    assert s.resolve("s", 10, "edited") == [held.index]
    assert s[held.index].status == "edited" and not s[held.index].held and not s[held.index].pending
    edited = record_from_line(json.dumps(req(3, name="y")), "c2s", session="s", seq=11, t=2.0)
    edited.changed = True
    s.add(edited)
    a, _ = feed("s2c", res(3))
    assert s[a].pair == edited.index and s[a].tool == "y"
    assert s.pending_count == 0


def test_changed_duplicate_supersedes_even_without_resolved(feed):
    s = feed.store
    old, _ = feed("c2s", req(3))
    edited = record_from_line(json.dumps(req(3)), "c2s", session="s", seq=99, t=5.0)
    edited.changed = True
    assert s.add(edited) == [edited.index, old]
    assert not s[old].pending and s.pending_count == 1


def test_orphans_and_null_ids(feed):
    a, ch = feed("s2c", res(42))
    e, _ = feed("s2c", err(None, "Parse error"))
    nq, _ = feed("c2s", req(None, method="ping"))
    s = feed.store
    assert ch == [a]
    assert (s[a].method, s[a].pair) == (None, None)
    assert (s[e].kind, s[e].pair, s[e].error) == ("error", None, "Parse error")
    assert s[nq].pending is False and s.pending_count == 0
    # a null-id error never pairs with a null-id request
    e2, _ = feed("s2c", err(None))
    assert s[e2].pair is None and s[nq].pair is None


def test_sessions_are_separate(feed):
    qa, _ = feed("c2s", req(1, method="a"), session="A")
    qb, _ = feed("c2s", req(1, method="b"), session="B")
    ab, _ = feed("s2c", res(1), session="B")
    aa, _ = feed("s2c", res(1), session="A")
    s = feed.store
    assert (s[ab].pair, s[ab].method, s[aa].pair, s[aa].method) == (qb, "b", qa, "a")
    assert s.sessions == {"A", "B"}
    assert list(s.indices_for("A")) == [qa, aa]
    assert [r.index for r in s.messages("B")] == [qb, ab]
    assert s.messages() == list(s)
    assert list(s.indices_for("nope")) == []
    assert s.last_seq("A") == s[aa].seq and s.last_seq("zzz") == 0


def test_progress_links_to_its_request(feed):
    q, _ = feed("c2s", req(1, name="build", _meta={"progressToken": "tok"}))
    p, ch = feed("s2c", note("notifications/progress", progressToken="tok", progress=1, total=2))
    s = feed.store
    assert ch == [p]
    assert s[p].pair == q and s[p].tool == "build"
    assert s[q].pair is None  # the request's pair stays for its response
    feed("s2c", res(1))
    late, _ = feed("s2c", note("notifications/progress", progressToken="tok", progress=2, total=2))
    assert s[late].pair is None  # token released when the request was answered


def test_batches_pair_per_element(feed):
    b, ch = feed("c2s", [req(1, method="tools/call", name="e"), req(2, method="ping"), note("notifications/initialized")])
    s = feed.store
    assert ch == [b]
    assert s[b].pending and s.pending_count == 1
    a1, ch = feed("s2c", res(1))
    assert ch == [a1, b]
    assert (s[a1].pair, s[a1].method, s[a1].tool) == (b, "tools/call", "e")
    assert s[b].pending and s[b].pair == a1
    ab, ch = feed("s2c", [res(2)])  # answered by a batch of one
    assert ch == [ab, b]
    assert s[ab].pair == b and s[ab].method is None  # a batch record has no single method
    assert not s[b].pending and s.pending_count == 0
    assert s[b].latency == pytest.approx(s[ab].t - s[b].t)


def test_batch_of_answers_to_single_requests(feed):
    q1, _ = feed("c2s", req(1))
    q2, _ = feed("c2s", req(2))
    ab, ch = feed("s2c", [res(2), err(1), res(99)])
    s = feed.store
    assert ch == [ab, q2, q1]
    assert s[q1].pair == ab and s[q2].pair == ab and s[ab].pair == q2
    assert s.pending_count == 0


def test_batch_cancel_element(feed):
    q, _ = feed("c2s", req(7))
    c, ch = feed("c2s", [note("notifications/cancelled", requestId=7)])
    assert ch == [c, q] and feed.store[q].cancelled


def test_resolve_dropped_and_released(feed):
    s = feed.store
    r1 = record_from_line(json.dumps(req(1)), "c2s", session="s", seq=50, t=1.0)
    r1.held = True
    r1.status = "held"
    s.add(r1)
    r2 = record_from_line(json.dumps(req(2)), "c2s", session="s", seq=51, t=1.0)
    r2.held = True
    r2.status = "held"
    s.add(r2)
    assert s.add_frame({"type": "resolved", "seq": 52, "of": 50, "action": "released", "by": 1}, "s") == [r1.index]
    # (the store copies what it is given: its own records follow the changes)
    r1 = s[r1.index]
    assert (r1.held, r1.status, r1.pending) == (False, "relayed", True)
    assert s.add_frame({"type": "resolved", "seq": 53, "of": 51, "action": "dropped", "by": 1}, "s") == [r2.index]
    r2 = s[r2.index]
    assert (r2.held, r2.status, r2.pending) == (False, "dropped", False)
    # the proxy's synthetic error for the dropped request still pairs with it
    e, _ = feed("s2c", err(2, "dropped by inspector"))
    assert s[e].pair == r2.index
    assert s.add_frame({"type": "resolved", "of": 999, "action": "released"}, "s") == []
    assert s.add_frame({"type": "stderr", "line": "x"}, "s") == []


def test_add_frame_message(feed):
    s = Store()
    f = {"type": "message", "seq": 1, "t": 1.0, "wall": 5.0, "dir": "c2s", "raw": json.dumps(req(1)), "size": 10,
         "error": None, "held": False, "status": "relayed", "changed": None, "injected": None, "to_inspector": False}
    assert s.add_frame(f, "x") == [0]
    g = dict(f, seq=2, t=1.5, dir="s2c", raw=json.dumps(res(1)))
    assert s.add_frame(g, "x") == [1, 0]
    assert s[1].latency == pytest.approx(0.5) and s.find_seq("x", 2) == 1 and s.find_seq("x", 3) is None


def test_injected_request_pairs_with_reply_to_inspector(feed):
    s = Store()
    base = {"type": "message", "t": 1.0, "wall": 1.0, "error": None, "held": False, "changed": None}
    s.add_frame(dict(base, seq=1, dir="c2s", raw=json.dumps(req("omproxy-9-1", method="tools/list")), size=1,
                     status="injected", injected={"by": 3, "id": "omproxy-9-1"}, to_inspector=False), "p")
    s.add_frame(dict(base, seq=2, t=1.2, dir="s2c", raw=json.dumps(res("omproxy-9-1", {"tools": []})), size=1,
                     status="relayed", injected={"by": 3, "id": "omproxy-9-1"}, to_inspector=True), "p")
    assert s[0].injected and s[1].to_inspector
    assert s[1].pair == 0 and s[1].method == "tools/list" and s.pending_count == 0


# ---- a response recorded before its own request (issue 10.1) ---------------------------------


def test_response_before_its_request_pairs_when_the_request_arrives(feed):
    from omproxy_tui.core.stats import Stats

    stats = Stats()
    a, ch = feed("s2c", res(7, {"content": []}), dt=0.5)
    stats.update(feed.store[a])
    assert feed.store[a].pair is None
    q, ch = feed("c2s", req(7, name="echo"), dt=0.0001)
    s = feed.store
    assert sorted(ch) == sorted([q, a])
    for i in ch:
        stats.update(s[i])
    assert s[q].pair == a and s[a].pair == q
    assert not s[q].pending and s.pending_count == 0 and s.pending_records() == []
    assert s[a].method == "tools/call" and s[a].tool == "echo"
    assert s[a].latency == s[q].latency == 0.0  # the order is wrong, the latency is unknown: never negative
    row = {r.key: r for r in stats.rows()}["tools/call"]
    assert row.count == 1 and row.in_flight == 0
    assert "(unpaired)" not in {r.key for r in stats.rows() if r.count or r.bytes_in or r.bytes_out}


def test_an_old_orphan_response_does_not_pair_with_a_much_later_request(feed):
    a, _ = feed("s2c", res(1), dt=0.1)
    q, _ = feed("c2s", req(1), dt=30.0)
    s = feed.store
    assert s[a].pair is None and s[q].pending


def test_early_response_only_pairs_in_its_session_and_direction(feed):
    a, _ = feed("s2c", res(3), session="x")
    q1, _ = feed("c2s", req(3), session="y", dt=0.0001)
    q2, _ = feed("s2c", req(3), session="x", dt=0.0001)  # same session, but a server request
    s = feed.store
    assert s[a].pair is None and s[q1].pending and s[q2].pending
