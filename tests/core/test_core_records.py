"""records.py: classification, record extraction, frames, ids, summaries."""

from __future__ import annotations

import base64
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omproxy_tui.core import records as R
from omproxy_tui.core.records import (
    Record,
    classify,
    id_key,
    id_text,
    record_from_frame,
    record_from_line,
)


def line(**obj) -> str:
    return json.dumps({"jsonrpc": "2.0", **obj})


# ---- classify ---------------------------------------------------------------------------------

CLASSIFY = [
    ({"jsonrpc": "2.0", "id": 1, "method": "ping"}, ("request", "ping", 1, None)),
    ({"jsonrpc": "2.0", "id": "a", "method": "tools/list", "params": {}}, ("request", "tools/list", "a", None)),
    ({"jsonrpc": "2.0", "id": 1.0, "method": "ping"}, ("request", "ping", 1.0, None)),
    ({"jsonrpc": "2.0", "id": None, "method": "ping"}, ("request", "ping", None, "request id is null")),
    (
        {"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"},
        ("request", "ping", {"x": 1}, "request id must be a string or a number, not object"),
    ),
    ({"jsonrpc": "2.0", "method": "notifications/initialized"}, ("notification", "notifications/initialized", None, None)),
    ({"jsonrpc": "2.0", "id": 3, "result": {}}, ("response", None, 3, None)),
    ({"jsonrpc": "2.0", "id": 3, "result": None}, ("response", None, 3, None)),
    ({"jsonrpc": "2.0", "result": {}}, ("response", None, None, "response has no id")),
    (
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "Method not found"}},
        ("error", None, 3, "Method not found"),
    ),
    ({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}, ("error", None, None, "Parse error")),
    ({"jsonrpc": "2.0", "id": 3, "error": {"code": -1}}, ("error", None, 3, "error -1")),
    ({"jsonrpc": "2.0", "id": 3, "error": "boom"}, ("error", None, 3, "boom")),
    ({"jsonrpc": "2.0", "id": 3, "result": {}, "error": {}}, ("invalid", None, 3, "response has both result and error")),
    ({"jsonrpc": "2.0", "id": 3, "method": 7}, ("invalid", None, 3, "method must be a string")),
    ({"jsonrpc": "2.0", "id": 3}, ("invalid", None, 3, "not a JSON-RPC message (no method, result or error)")),
    ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], ("batch", None, None, None)),
    ([], ("invalid", None, None, "empty batch")),
    ("hello", ("invalid", None, None, "not a JSON-RPC message (a JSON string)")),
    (42, ("invalid", None, None, "not a JSON-RPC message (a JSON number)")),
    (None, ("invalid", None, None, "not a JSON-RPC message (a JSON null)")),
]


@pytest.mark.parametrize("obj, expected", CLASSIFY)
def test_classify(obj, expected):
    assert classify(obj) == expected


# ---- ids --------------------------------------------------------------------------------------


def test_id_key_keeps_json_types_apart():
    keys = {id_key(1), id_key("1"), id_key(1.0), id_key(None), id_key(True)}
    assert len(keys) == 5
    assert id_key(1) == id_key(1)
    assert id_key("x") == id_key("x")
    nan = float("nan")
    assert id_key(nan) == id_key(float("nan"))  # repr makes NaN usable as a key


@pytest.mark.parametrize("value, text", [(1, "1"), ("1", "1"), (1.0, "1.0"), (None, "null"), ("a b", "a b")])
def test_id_text(value, text):
    assert id_text(value) == text


# ---- record_from_line ---------------------------------------------------------------------------


def test_request_tools_call():
    raw = line(id=7, method="tools/call", params={"name": "echo", "arguments": {"text": "hi"}, "_meta": {"progressToken": "p1"}})
    r = record_from_line(raw, "c2s", session="s", seq=3, t=1.5, wall=100.0, index=9)
    assert (r.kind, r.method, r.id, r.tool, r.error) == ("request", "tools/call", 7, "echo", None)
    assert (r.session, r.seq, r.t, r.wall, r.index, r.dir) == ("s", 3, 1.5, 100.0, 9, "c2s")
    assert r.raw == raw and r.size == len(raw)
    assert r.pending is True and r.pair is None and r.latency is None
    assert r.progress_token == "p1"
    assert r.summary == 'echo {"text":"hi"}'
    assert r.status == "relayed" and not (r.held or r.injected or r.changed or r.to_inspector)


@pytest.mark.parametrize(
    "method, params, target, summary",
    [
        ("prompts/get", {"name": "greet", "arguments": {"who": "x"}}, "greet", 'greet {"who":"x"}'),
        ("resources/read", {"uri": "file:///etc/hosts"}, "file:///etc/hosts", "file:///etc/hosts"),
        ("resources/subscribe", {"uri": "mem://a"}, "mem://a", "mem://a"),
        ("tools/list", {}, None, ""),
        ("tools/call", {"name": 5}, None, '{"name":5}'),
        (
            "initialize",
            {"protocolVersion": "2025-06-18", "clientInfo": {"name": "cc", "version": "1.2"}, "capabilities": {}},
            None,
            "cc 1.2 (2025-06-18)",
        ),
        ("elicitation/create", {"message": "Your name?", "requestedSchema": {}}, None, "Your name?"),
        (
            "sampling/createMessage",
            {"messages": [{"role": "user", "content": {"type": "text", "text": "hello model"}}]},
            None,
            "hello model",
        ),
    ],
)
def test_request_targets_and_summaries(method, params, target, summary):
    r = record_from_line(line(id=1, method=method, params=params), "c2s")
    assert r.tool == target
    assert r.summary == summary


@pytest.mark.parametrize(
    "params, summary",
    [
        ({"progressToken": "t", "progress": 3, "total": 10, "message": "scanning"}, "progress 3/10 scanning"),
        ({"progressToken": "t", "progress": 0.5}, "progress 0.5"),
        ({"progressToken": "t", "progress": 2.0, "total": 4.0}, "progress 2/4"),
    ],
)
def test_progress_notification(params, summary):
    r = record_from_line(line(method="notifications/progress", params=params), "s2c")
    assert (r.kind, r.method, r.id, r.progress_token) == ("notification", "notifications/progress", None, "t")
    assert r.pending is False
    assert r.summary == summary


def test_log_and_cancel_notifications():
    r = record_from_line(line(method="notifications/message", params={"level": "warning", "logger": "db", "data": "slow\nquery"}), "s2c")
    assert r.summary == "[warning] db: slow query"
    c = record_from_line(line(method="notifications/cancelled", params={"requestId": "7", "reason": "timeout"}), "c2s")
    assert (c.kind, c.ref_id, c.id) == ("notification", "7", None)
    assert c.summary == "cancel 7 timeout"


@pytest.mark.parametrize(
    "result, summary, tool_error",
    [
        ({"content": [{"type": "text", "text": "hello"}]}, "hello", False),
        ({"content": [{"type": "text", "text": "bad path"}], "isError": True}, "isError: bad path", True),
        ({"content": [{"type": "image", "data": "..", "mimeType": "image/png"}]}, "[image]", False),
        ({"content": [], "structuredContent": {"n": 1}}, '{"n":1}', False),
        ({"tools": [{"name": "a"}, {"name": "b"}]}, "2 tools: a, b", False),
        ({"serverInfo": {"name": "srv", "version": "0.1"}, "protocolVersion": "2025-06-18"}, "srv 0.1 (2025-06-18)", False),
        ({"contents": [{"uri": "mem://a", "text": "body"}]}, "1 contents body", False),
        ({}, "ok", False),
        ({"isError": "true"}, '{"isError":"true"}', False),  # only the JSON boolean counts
    ],
)
def test_responses(result, summary, tool_error):
    r = record_from_line(line(id=4, result=result), "s2c")
    assert (r.kind, r.id, r.method) == ("response", 4, None)
    assert r.summary == summary
    assert r.tool_error is tool_error
    assert r.error is None


def test_error_response_and_null_id():
    r = record_from_line(line(id=None, error={"code": -32700, "message": "Parse error", "data": "at 1"}), "s2c")
    assert (r.kind, r.id, r.error) == ("error", None, "Parse error")
    assert r.summary == 'error -32700: Parse error at 1'


@pytest.mark.parametrize("id", [1, "1", 1.0, -5, "", "omproxy-1-2"])
def test_odd_ids_are_kept_as_json_values(id):
    r = record_from_line(line(id=id, method="ping"), "c2s")
    assert r.id == id and type(r.id) is type(id)
    assert r.pending is True
    resp = record_from_line(line(id=id, result={}), "s2c")
    assert resp.id == id and type(resp.id) is type(id)


def test_null_id_request_is_flagged_and_never_pending():
    r = record_from_line(line(id=None, method="ping"), "c2s")
    assert (r.kind, r.id, r.error, r.pending) == ("request", None, "request id is null", False)


def test_batch():
    raw = json.dumps(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}},
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}},
            {"jsonrpc": "2.0", "id": 2, "result": {}},
            "junk",
        ]
    )
    r = record_from_line(raw, "c2s")
    assert (r.kind, r.method, r.id, r.error, r.pending) == ("batch", None, None, None, False)
    assert r.parts == (
        ("request", "tools/call", 1, "echo"),
        ("notification", "notifications/cancelled", 9, None),
        ("response", None, 2, None),
        ("invalid", None, None, None),
    )
    assert r.summary == "batch[4]: tools/call(echo), notifications/cancelled, response 2, invalid"


@pytest.mark.parametrize(
    "raw, error_start",
    [
        ("{bad", "invalid JSON: Expecting property name"),
        ("", "invalid JSON: Expecting value"),
        ('{"a":1} x', "invalid JSON: Extra data"),
        ("[" * 100_000, "invalid JSON"),
    ],
)
def test_invalid_json(raw, error_start):
    r = record_from_line(raw, "s2c")
    assert r.kind == "invalid"
    assert r.error.startswith(error_start)
    assert r.summary.startswith(error_start[:12])
    assert len(r.summary) <= R.SUMMARY_MAX


def test_whitespace_around_json_is_fine():
    r = record_from_line('  {"jsonrpc":"2.0","id":1,"method":"ping"}  ', "c2s")
    assert (r.kind, r.method) == ("request", "ping")


def test_size_is_utf8_bytes():
    raw = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"é"}}'
    r = record_from_line(raw, "c2s")
    assert r.tool == "é"
    assert r.size == len(raw.encode()) and r.size == len(raw) + 1


def test_summary_is_short_single_line_and_bounded_work():
    huge = "x\n" * 5_000_000
    raw = line(id=1, method="tools/call", params={"name": "w", "arguments": {"data": huge, "n": list(range(100_000))}})
    r = record_from_line(raw, "c2s")
    t0 = time.perf_counter()
    s = r.summary
    assert time.perf_counter() - t0 < 1.0  # parse dominates; the summary walk is bounded
    assert len(s) <= R.SUMMARY_MAX and "\n" not in s
    assert s.startswith('w {"data":"x x x') and s.endswith("…")


def test_summary_is_cached_and_settable():
    r = record_from_line(line(id=1, method="ping"), "c2s")
    assert r.summary == ""
    r.summary = "custom"
    assert r.summary == "custom"
    r2 = Record(0, "s", 1, 0.0, 0.0, "c2s", "{}", 2, "invalid", summary="given")
    assert r2.summary == "given"


def test_dataclass_helpers_work():
    import dataclasses

    r = record_from_line(line(id=1, method="tools/call", params={"name": "x"}), "c2s")
    r2 = dataclasses.replace(r, session="other")
    assert (r2.session, r2.method, r2.tool, r2.summary) == ("other", "tools/call", "x", "x")
    assert dataclasses.asdict(r)["method"] == "tools/call"
    assert "summary" not in repr(r) or "_summary" not in repr(r)


def test_record_is_small():
    r = record_from_line(line(id=1, method="ping"), "c2s")
    assert not hasattr(r, "__dict__")  # slots: no per-record dict
    # no parsed object kept on the record, only raw text and primitives
    for name in Record.__slots__:
        assert not isinstance(getattr(r, name), (dict, list)) or name in ("extra", "parts")


# ---- the hot path agrees with classify/_parse_element ----------------------------------------

json_ids = st.one_of(st.integers(-5, 5), st.sampled_from(["1", "a", ""]), st.just(1.0), st.none(), st.booleans())
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=5))
json_any = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=8)
methods = st.sampled_from(
    ["ping", "tools/call", "prompts/get", "resources/read", "notifications/progress", "notifications/cancelled", "x"]
)


@st.composite
def jsonrpc_objects(draw):
    obj = {"jsonrpc": "2.0"}
    if draw(st.booleans()):
        obj["method"] = draw(st.one_of(methods, st.integers()))
    if draw(st.booleans()):
        obj["id"] = draw(json_ids)
    if draw(st.booleans()):
        obj["params"] = draw(
            st.one_of(
                json_any,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": st.one_of(st.text(max_size=4), st.integers()),
                        "uri": st.text(max_size=4),
                        "_meta": st.one_of(json_any, st.fixed_dictionaries({"progressToken": json_ids})),
                        "progressToken": json_ids,
                        "requestId": json_ids,
                    },
                ),
            )
        )
    if draw(st.booleans()):
        obj["result"] = draw(st.one_of(json_any, st.fixed_dictionaries({"isError": st.booleans()})))
    if draw(st.booleans()):
        obj["error"] = draw(json_any)
    return obj


@settings(max_examples=400, deadline=None)
@given(jsonrpc_objects())
def test_fast_path_agrees_with_classify(obj):
    rec = record_from_line(json.dumps(obj), "c2s")
    kind, method, id, error, tool, token, ref, tool_error = R._parse_element(obj)
    assert (rec.kind, rec.method, rec.error, rec.tool, rec.progress_token, rec.ref_id, rec.tool_error) == (
        kind,
        method,
        error,
        tool,
        token,
        ref,
        tool_error,
    )
    assert rec.id == id and type(rec.id) is type(id)
    assert rec.pending == (kind == "request" and error is None)
    assert isinstance(rec.summary, str) and len(rec.summary) <= R.SUMMARY_MAX


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_record_from_line_never_raises(text):
    r = record_from_line(text, "s2c")
    assert r.kind in R.KINDS
    assert isinstance(r.summary, str)


# ---- record_from_frame --------------------------------------------------------------------------


def frame(**kw):
    f = {
        "type": "message",
        "seq": 5,
        "t": 2.0,
        "wall": 1000.0,
        "dir": "c2s",
        "raw": line(id=1, method="ping"),
        "size": 40,
        "error": None,
        "held": False,
        "status": "relayed",
        "changed": None,
        "injected": None,
        "to_inspector": False,
    }
    f.update(kw)
    return f


def test_frame_plain():
    r = record_from_frame(frame(), "sess", 3)
    assert (r.index, r.session, r.seq, r.t, r.wall, r.dir, r.size) == (3, "sess", 5, 2.0, 1000.0, "c2s", 40)
    assert (r.kind, r.method, r.status, r.held, r.extra) == ("request", "ping", "relayed", False, None)


def test_frame_held_injected_changed():
    r = record_from_frame(frame(held=True, status="held"), "s", 0)
    assert r.held and r.status == "held"
    changed = {"by": "inspector", "action": "replaced", "original": "{}"}
    r = record_from_frame(frame(changed=changed), "s", 0)
    assert r.changed and r.extra == {"changed": changed}
    inj = {"by": 2, "id": "omproxy-1-1"}
    r = record_from_frame(frame(status="injected", injected=inj), "s", 0)
    assert r.injected and r.status == "injected" and r.extra["injected"] == inj
    r = record_from_frame(frame(dir="s2c", raw=line(id="omproxy-1-1", result={}), to_inspector=True), "s", 0)
    assert r.to_inspector and r.kind == "response"


def test_frame_blocked_banner_and_frame_error():
    r = record_from_frame(frame(dir="s2c", raw="Server starting...", status="blocked", error="not JSON"), "s", 0)
    assert r.kind == "invalid" and r.status == "blocked"
    assert r.error.startswith("invalid JSON")  # our own reason wins
    assert r.extra == {"frame_error": "not JSON"}
    r = record_from_frame(frame(raw='{"jsonrpc":"1.0","id":1,"method":"ping"}', error="jsonrpc must be 2.0"), "s", 0)
    assert r.error == "jsonrpc must be 2.0" and r.pending is False


def test_frame_raw_b64():
    data = b'{"a":"\xff"}'
    f = frame(raw=None, raw_b64=base64.b64encode(data).decode(), size=len(data), error="line is not valid UTF-8")
    del f["raw"]
    r = record_from_frame(f, "s", 0)
    assert r.kind == "invalid" and r.size == len(data) and r.error == "line is not valid UTF-8"
    assert "\ufffd" in r.raw and r.extra["raw_b64"] == f["raw_b64"]


def test_frame_with_missing_keys_uses_defaults():
    r = record_from_frame({"type": "message", "dir": "s2c", "raw": line(id=1, result={})}, "s", 0)
    assert (r.seq, r.t, r.wall, r.kind, r.status) == (0, 0.0, 0.0, "response", "relayed")
    assert r.size == len(line(id=1, result={}))


@pytest.mark.parametrize("obj", [
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "shot", "arguments": {"data": "x" * 9000}}},
    {"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "file:///" + "y" * 9000}},
    {"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "image", "data": "z" * 9000}]}},
    {"jsonrpc": "2.0", "id": 4, "result": {"content": [{"type": "text", "text": "t\n" * 5000}], "isError": True}},
    {"jsonrpc": "2.0", "id": 5, "error": {"code": -1, "message": "m", "data": "d" * 9000}},
    {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "n" * 9000}},
    [{"jsonrpc": "2.0", "id": 6, "method": "a", "params": {"p": "b" * 9000}}],
    {"jsonrpc": "2.0", "note": "q" * 9000},
])
def test_big_lines_get_their_summary_from_the_same_parse(obj):
    """Lines of SUMMARY_EAGER bytes and more carry their summary from the start (their body may
    leave memory); it is exactly the one the lazy path builds by re-parsing the body."""
    raw = json.dumps(obj)
    rec = record_from_line(raw, "c2s")
    assert len(raw) >= R.SUMMARY_EAGER
    if rec.kind not in ("batch", "invalid"):
        assert rec._summary is not None
    assert rec.summary == R._summarize(rec)
