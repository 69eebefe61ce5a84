"""The pairing state behind --otlp (omproxy_tui/otel/tracker.py, standard library only): the cases a
live session rarely produces on demand -- races between the relay threads, cancellation, ids
reused, batches, ambiguous log lines, huge lines."""

import json

from omproxy_tui.otel.addon import sniff
from omproxy_tui.otel.semconv import format_traceparent, parse_traceparent
from omproxy_tui.otel.tracker import Tracker


def tracker(**kw):
    spans = []
    ops = []
    t = Tracker(spans.append, operation=lambda s, a: ops.append((s, a)), **kw)
    return t, spans, ops


def req(i, method="tools/call", **params):
    return {"jsonrpc": "2.0", "id": i, "method": method, "params": params}


def ok(i, result=None):
    return {"jsonrpc": "2.0", "id": i, "result": result or {}}


def test_response_seen_before_its_request_still_pairs():
    """The server can answer before the c2s relay thread has observed the request it forwarded."""
    t, spans, ops = tracker()
    t.feed(ok(1), "s2c", 2_000)
    assert spans == []
    t.feed(req(1, name="echo"), "c2s", 1_000)
    assert len(spans) == 1 and spans[0].start == 1_000 and spans[0].end == 2_000
    assert ops and ops[0][0] == 1e-6


def test_ids_pair_by_value_and_type_and_direction():
    t, spans, _ = tracker()
    t.feed(req(1, name="a"), "c2s", 1)
    t.feed(req("1", "roots/list"), "s2c", 2)  # a server request with id "1": its own span
    t.feed(ok("1"), "c2s", 3)
    assert [s.name for s in spans] == ["roots/list"]
    t.feed(ok(1.0), "s2c", 4)  # 1.0 is not 1 in JSON-RPC
    assert len(spans) == 1
    t.feed(ok(1), "s2c", 5)
    assert [s.name for s in spans] == ["roots/list", "tools/call a"] and spans[1].end == 5


def test_cancelled_request_ends_at_the_cancel():
    t, spans, _ = tracker()
    t.feed(req(5, name="slow"), "c2s", 10)
    t.feed({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5, "reason": "user"}},
           "c2s", 20)
    assert len(spans) == 1
    s = spans[0]
    assert s.end == 20 and s.attributes["error.type"] == "cancelled" and s.error == "user"
    assert [e[0] for e in s.events] == ["notifications/cancelled"]
    t.feed(ok(5), "s2c", 30)  # a late answer changes nothing
    t.finish(40)
    assert len(spans) == 1


def test_reused_id_and_finish():
    t, spans, _ = tracker()
    t.feed(req(1, name="a"), "c2s", 1)
    t.feed(req(1, name="b"), "c2s", 2)
    assert spans[0].name == "tools/call a" and spans[0].attributes["error.type"] == "unanswered"
    t.finish(9)
    assert spans[1].name == "tools/call b" and spans[1].end == 9 and spans[1].attributes["error.type"] == "unanswered"


def test_log_line_goes_to_the_single_request_in_flight_only():
    t, spans, _ = tracker()
    log = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}
    t.feed(req(1, name="a"), "c2s", 1)
    t.feed(log, "s2c", 2)
    t.feed(req(2, name="b"), "c2s", 3)
    t.feed(log, "s2c", 4)  # two in flight: which one? neither -- a span of its own
    assert [s.name for s in spans] == ["notifications/message"]
    assert spans[0].start == spans[0].end == 4 and spans[0].attributes["mcp.log.level"] == "info"
    assert "mcp.log.data" not in spans[0].attributes  # content is opt-in
    t.feed(ok(1), "s2c", 5)
    assert [e[0] for e in spans[1].events] == ["notifications/message"]


def test_progress_by_token_and_unknown_token():
    t, spans, _ = tracker()
    t.feed(req(1, name="a", _meta={"progressToken": "tok"}), "c2s", 1)
    prog = {"jsonrpc": "2.0", "method": "notifications/progress",
            "params": {"progressToken": "tok", "progress": 1, "total": 2}}
    t.feed(prog, "s2c", 2)
    t.feed({**prog, "params": {**prog["params"], "progressToken": "other"}}, "s2c", 3)
    assert spans == []  # unknown token: its request may not have been observed yet
    t.feed(ok(1), "s2c", 4)
    assert spans[0].events[0][2]["mcp.progress.progress"] == 1
    t.finish(6)  # never claimed: a span of its own, at its own time
    assert spans[1].name == "notifications/progress" and spans[1].start == 3


def test_progress_seen_before_its_request_attaches_to_it():
    t, spans, _ = tracker()
    prog = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 9, "progress": 1}}
    t.feed(prog, "s2c", 2)
    t.feed(req(1, name="a", _meta={"progressToken": 9}), "c2s", 1)
    t.feed(ok(1), "s2c", 3)
    assert len(spans) == 1 and [e[0] for e in spans[0].events] == ["notifications/progress"]


def test_content_is_opt_in_redacted_and_truncated():
    masked = lambda b: b.replace(b"s3cret", b"***")  # noqa: E731
    t, spans, _ = tracker(content=True, content_max=40, redact=masked)
    t.feed(req(1, name="a", arguments={"key": "s3cret", "pad": "y" * 100}), "c2s", 1)
    t.feed(ok(1, {"content": [{"type": "text", "text": "fine"}]}), "s2c", 2)
    a = spans[0].attributes
    assert "s3cret" not in a["gen_ai.tool.call.arguments"] and '"key":"***"' in a["gen_ai.tool.call.arguments"]
    assert a["gen_ai.tool.call.arguments"].endswith("chars)") and len(a["gen_ai.tool.call.arguments"]) < 70
    assert a["gen_ai.tool.call.result"].startswith('{"content":[{"type":"text","text":"fine"')


def test_traceparent_parsing():
    tp = format_traceparent(0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7)
    assert tp == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(tp) == (0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7, 1)
    for bad in ("", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-xyz", 7, None):
        assert parse_traceparent(bad) is None


def test_sniff_reads_the_envelope_of_a_huge_line():
    big = json.dumps({"jsonrpc": "2.0", "id": 42, "result": {"content": [{"type": "text", "text": "x" * 3_000_000}],
                                                             "isError": True}}).encode()
    assert sniff(big) == {"jsonrpc": "2.0", "id": 42, "result": {"isError": True}}
    big_req = json.dumps({"jsonrpc": "2.0", "id": "r", "method": "tools/call",
                          "params": {"name": "n", "arguments": {"a": "x" * 3_000_000}}}).encode()
    assert sniff(big_req)["method"] == "tools/call" and sniff(big_req)["id"] == "r"
    err = json.dumps({"jsonrpc": "2.0", "id": 3, "error": {"code": -32000, "message": "m", "data": "x" * 3_000_000}})
    assert sniff(err.encode())["error"]["code"] == -32000


def test_server_request_seen_before_the_call_it_belongs_to_still_gets_it_as_parent():
    """The flake in test_otel's child-span test, made deterministic: the server asks for sampling
    while handling a call, and the s2c relay thread observes that request before the c2s thread has
    observed the call it already forwarded (observe hooks run after forwarding, on each direction's
    own thread). Seq (taken before forwarding) says which came first."""
    t, spans, _ = tracker()
    t.feed(req("s1", "sampling/createMessage"), "s2c", 2_000, seq=5)  # observed first...
    t.feed(req(1, name="ask_llm"), "c2s", 1_000, seq=4)  # ...though numbered after this one
    t.feed(ok("s1"), "c2s", 3_000, seq=6)
    t.feed(ok(1), "s2c", 4_000, seq=7)
    sampling, call = spans
    assert call.name == "tools/call ask_llm" and sampling.name == "sampling/createMessage"
    assert sampling.parent is not None and sampling.parent[:2] == (call.trace_id, call.span_id)
    assert sampling.trace_id == call.trace_id


def test_server_request_with_no_call_in_flight_stays_a_root():
    t, spans, _ = tracker()
    t.feed(req("s1", "roots/list"), "s2c", 2_000, seq=5)
    t.feed(req(1, name="later"), "c2s", 3_000, seq=6)  # numbered after it: not its parent
    t.feed(ok("s1"), "c2s", 4_000, seq=7)
    t.feed(ok(1), "s2c", 5_000, seq=8)
    assert spans[0].name == "roots/list" and spans[0].parent is None


def test_log_line_seen_before_the_call_it_belongs_to_attaches_to_it():
    """Same race for the server's log lines during a call (flaky test_otel progress-and-log test):
    seq decides; a log line numbered before any call stays a span of its own."""
    t, spans, _ = tracker()
    log = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}
    t.feed(log, "s2c", 500, seq=1)  # before any call: its own span, once the c2s side shows that
    t.feed(log, "s2c", 2_000, seq=5)  # observed before the call numbered 4
    assert spans == []
    t.feed(req(1, name="progress"), "c2s", 1_000, seq=4)
    assert [s.name for s in spans] == ["notifications/message"] and spans[0].start == 500
    t.feed(ok(1), "s2c", 3_000, seq=6)
    assert [e[0] for e in spans[1].events] == ["notifications/message"]
    t.feed(log, "s2c", 4_000, seq=7)  # nothing in flight: waits for the c2s side...
    t.finish(5_000)  # ...or the end
    assert [s.name for s in spans] == ["notifications/message", "tools/call progress", "notifications/message"]


def test_session_id_is_set_before_the_2026_era_only():
    """mcp.session.id (the transport's session id, known once the handshake answered) goes on
    every span of a session of the handshake eras, the initialize span included; the 2026-07-28
    era is stateless and gets none."""
    t, spans, _ = tracker()
    t.feed(req(0, "initialize", protocolVersion="2025-06-18"), "c2s", 1)
    t.feed(ok(0, {"protocolVersion": "2025-06-18"}), "s2c", 2, session_id="abc")
    t.feed(req(1, name="x"), "c2s", 3, session_id="abc")
    t.feed(ok(1), "s2c", 4, session_id="abc")
    assert [s.attributes.get("mcp.session.id") for s in spans] == ["abc", "abc"]

    t, spans, _ = tracker()
    meta = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}
    t.feed(req(1, name="x", **meta), "c2s", 3, session_id="abc")
    t.feed(ok(1), "s2c", 4, session_id="abc")
    assert "mcp.session.id" not in spans[0].attributes


def test_addon_backlog_is_bounded_by_count_and_bytes(monkeypatch):
    """The relay threads only append to the addon's backlog; if the sink's thread falls behind,
    past BACKLOG_MAX messages they are counted as dropped, and past BACKLOG_BYTES of unparsed
    lines a line waits as its JSON-RPC envelope only (so memory stays bounded)."""
    from omproxy_tui.otel import addon as addon_mod
    from omproxy_tui.otel.sink import OtlpSink
    from omproxy_tui.proxy.line import Line

    class Proxy:
        def report(self, text):
            raise AssertionError(text)

    sink = OtlpSink(None, {"omproxy.session.name": "t"})
    sink.worker = object()  # no sink thread: nothing drains the backlog until we say so
    a = addon_mod.OtelAddon(Proxy(), sink, name="t", transport="stdio", target=["x"])
    monkeypatch.setattr(addon_mod, "BACKLOG_MAX", 5)
    monkeypatch.setattr(addon_mod, "BACKLOG_BYTES", 300)  # a line is ~190 bytes
    big = json.dumps(req(1, name="tool", arguments={"x": "y" * 100})).encode()
    for i in range(7):
        a._on_mcp_client_message(Line(big.replace(b'"id": 1', b'"id": %d' % i), "c2s", seq=i + 1))
    assert len(a.backlog) == 5 and sink.dropped == 2
    kept_raw = [item for item in a.backlog if item[1] is not None]
    assert len(kept_raw) == 2  # then the byte budget was spent: envelopes only
    assert all(item[0]["method"] == "tools/call" for item in a.backlog if item[1] is None)
    a._drain()
    assert not a.backlog and a.backlog_bytes == 0
    assert sorted(a.tracker.pending["c2s"]) == [("int", i) for i in range(5)]
