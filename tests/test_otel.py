"""OpenTelemetry export (`--otlp`, `omproxy export --otlp`) against a real OTLP/HTTP receiver (the
`oteltest` package's HttpSink), with a real SDK Client -> `omproxy stdio --otlp` -> SDK MCPServer.

Span names and attributes are checked against the GenAI semantic conventions' mcp.md."""

import json
import os
import subprocess
import sys

import anyio
import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("oteltest")

from mcp import Client, MCPError, StdioServerParameters  # noqa: E402
from mcp import types  # noqa: E402

from helpers import RAW_SERVER, ROOT, free_port, omproxy_cmd, run_proxy  # noqa: E402
from otel_sink import Receiver  # noqa: E402

CLIENT = 3  # SPAN_KIND_CLIENT in OTLP
ERROR = 2  # STATUS_CODE_ERROR
SDK_SERVER = [sys.executable, "-m", "tests.servers.sdk_server"]
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


async def sdk_session(params: StdioServerParameters) -> dict:
    seen: dict = {"progress": []}

    async def sampling(context, p):
        return types.CreateMessageResult(role="assistant", model="m",
                                         content=types.TextContent(type="text", text="sampled!"))

    async def elicitation(context, p):
        return types.ElicitResult(action="accept", content={"ok": True})

    async def on_progress(progress, total, message):
        seen["progress"].append(progress)

    with anyio.fail_after(60):
        async with Client(params, mode="legacy", sampling_callback=sampling, elicitation_callback=elicitation,
                          logging_callback=lambda p: anyio.sleep(0), log_level="info") as client:
            await client.list_tools()
            assert (await client.call_tool("echo", {"text": "hi"})).content[0].text == "hi"
            assert (await client.call_tool("fail", {"reason": "on purpose"})).is_error
            with pytest.raises(MCPError):  # dropped by the Guard hook: a JSON-RPC error answer
                await client.call_tool("delete_everything", {})
            await client.read_resource("test://greeting")
            await client.get_prompt("review", {"code": "x = 1"})
            await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
            await client.call_tool("ask_llm", {"prompt": "hi"})
            await client.call_tool("echo", {"text": "traced"},
                                   meta={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
    return seen


def proxied(*args: str, env: dict | None = None) -> StdioServerParameters:
    cmd = omproxy_cmd(*args)
    return StdioServerParameters(command=cmd[0], args=cmd[1:], cwd=str(ROOT), env=env)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One real session through `omproxy stdio --otlp --record` (with a hook that drops one call)."""
    rec = str(tmp_path_factory.mktemp("otel") / "session.jsonl")
    with Receiver() as receiver:
        params = proxied("stdio", "--hooks", "omproxy_tui.examples.redact_and_block:Guard", "--otlp", receiver.url,
                         "--record", rec, "--name", "otel-test", "--", *SDK_SERVER)
        seen = anyio.run(sdk_session, params)
        # the proxy flushes when the session ends; 12 calls + 2 server->client requests + notifications
        spans = receiver.collector.wait_spans(
            lambda s: sum(1 for x in s if x["name"] == "tools/call echo") == 2 and any(
                x["name"] == "tools/call ask_llm" for x in s))
        receiver.collector.wait_spans(lambda s: receiver.collector.metrics, 30)
        metrics = list(receiver.collector.metrics)
    return {"spans": spans, "metrics": metrics, "record": rec, "seen": seen}


def named(spans: list[dict], name: str) -> list[dict]:
    return [s for s in spans if s["name"] == name]


def one(spans: list[dict], name: str) -> dict:
    found = named(spans, name)
    assert len(found) == 1, (name, [s["name"] for s in spans])
    return found[0]


def test_initialize_span_and_resource(live):
    span = one(live["spans"], "initialize")
    a = span["attributes"]
    assert span["kind"] == CLIENT
    assert a["mcp.method.name"] == "initialize"
    assert a["jsonrpc.request.id"] == "0" or a["jsonrpc.request.id"].isdigit()
    assert a["network.transport"] == "pipe"
    assert a["mcp.protocol.version"]
    assert "error.type" not in a and span["status"] != ERROR
    assert span["end"] > span["start"]
    assert not any("mcp.session.id" in s["attributes"] for s in live["spans"])  # stdio has no session id
    res = span["resource"]
    assert res["omproxy.session.name"] == "otel-test" and res["service.name"] == "otel-test"
    assert res["mcp.server.name"] == "omproxy-test-server"
    assert res["omproxy.transport"] == "stdio" and res["omproxy.version"]
    assert res["mcp.protocol.version"] == a["mcp.protocol.version"]


def test_tool_calls_success_tool_error_and_jsonrpc_error(live):
    spans = live["spans"]
    ok = next(s for s in named(spans, "tools/call echo") if s["parent"] is None)
    a = ok["attributes"]
    assert a["mcp.method.name"] == "tools/call" and a["gen_ai.tool.name"] == "echo"
    assert a["gen_ai.operation.name"] == "execute_tool" and a["jsonrpc.request.id"]
    assert "error.type" not in a and ok["status"] != ERROR

    failed = one(spans, "tools/call fail")
    assert failed["attributes"]["error.type"] == "tool_error"
    assert failed["status"] == ERROR and "on purpose" in failed["status_message"]

    dropped = one(spans, "tools/call delete_everything")
    a = dropped["attributes"]
    assert a["error.type"] == "-32010" and a["rpc.response.status_code"] == "-32010"
    assert dropped["status"] == ERROR and "dropped by omproxy" in dropped["status_message"]
    assert a["omproxy.status"] == "dropped" and a["omproxy.changed.action"] == "dropped"
    assert a["omproxy.changed.by"].startswith("Guard.")
    assert a["omproxy.response.status"] == "injected" and a["omproxy.response.injected"] is True


def test_resource_read_and_prompt_get(live):
    read = one(live["spans"], "resources/read")  # the uri is an attribute, never in the name
    assert read["attributes"]["mcp.resource.uri"] == "test://greeting"
    prompt = one(live["spans"], "prompts/get review")
    assert prompt["attributes"]["gen_ai.prompt.name"] == "review"
    assert "gen_ai.operation.name" not in prompt["attributes"]


def test_notifications_progress_and_log_attach_to_their_request(live):
    spans = live["spans"]
    initialized = one(spans, "notifications/initialized")
    assert initialized["start"] == initialized["end"]  # a zero-length span
    assert initialized["attributes"]["mcp.method.name"] == "notifications/initialized"
    assert "jsonrpc.request.id" not in initialized["attributes"]
    call = one(spans, "tools/call progress")
    events = call["events"]
    progress = [e for e in events if e[0] == "notifications/progress"]
    assert [e[1]["mcp.progress.progress"] for e in progress] == [1, 2, 3]
    assert all(e[1]["mcp.progress.total"] == 3 for e in progress)
    assert all(call["start"] <= e[2] <= call["end"] for e in events)
    logs = [e for e in events if e[0] == "notifications/message"]
    assert logs and logs[0][1]["mcp.log.level"] == "info"
    assert not named(spans, "notifications/progress")  # none left unattached


def test_server_to_client_request_is_a_child_span(live):
    spans = live["spans"]
    call = one(spans, "tools/call ask_llm")
    sampling = one(spans, "sampling/createMessage")
    assert sampling["attributes"]["mcp.method.name"] == "sampling/createMessage"
    assert sampling["attributes"]["omproxy.direction"] == "s2c"
    assert sampling["trace_id"] == call["trace_id"] and sampling["parent"] == call["span_id"]
    assert call["start"] <= sampling["start"] <= sampling["end"] <= call["end"]


def test_client_traceparent_is_honoured_as_parent(live):
    traced = [s for s in named(live["spans"], "tools/call echo") if s["parent"] is not None]
    assert len(traced) == 1
    assert traced[0]["trace_id"] == CLIENT_TRACE and traced[0]["parent"] == CLIENT_SPAN


def test_both_metrics(live):
    by_name = {m["name"]: m for m in live["metrics"]}
    op = by_name["mcp.client.operation.duration"]
    assert op["unit"] == "s"
    methods = {p["attributes"].get("mcp.method.name") for m in live["metrics"] if m["name"] == op["name"]
               for p in m["points"]}
    assert {"initialize", "tools/call", "resources/read", "prompts/get"} <= methods
    tool_errors = [p for m in live["metrics"] if m["name"] == op["name"] for p in m["points"]
                   if p["attributes"].get("error.type") == "tool_error"]
    assert tool_errors and tool_errors[0]["attributes"]["gen_ai.tool.name"] == "fail"
    session = by_name["mcp.client.session.duration"]
    assert session["points"][0]["count"] == 1 and session["points"][0]["sum"] > 0
    assert session["points"][0]["attributes"]["network.transport"] == "pipe"


def test_export_of_the_recording_gives_the_same_spans(live):
    with Receiver() as receiver:
        r = subprocess.run(omproxy_cmd("export", "--otlp", receiver.url, live["record"]), capture_output=True,
                           timeout=60, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        n = len(live["spans"])
        spans = receiver.collector.wait_spans(lambda s: len(s) >= n)

    def key(s):
        a = {k: v for k, v in s["attributes"].items()}
        return (s["name"], s["start"], s["end"], json.dumps(a, sort_keys=True), s["status"],
                tuple((e[0], e[2]) for e in s["events"]), s["parent"] is None)

    assert sorted(map(key, spans)) == sorted(map(key, live["spans"]))
    assert spans[0]["resource"]["mcp.server.name"] == "omproxy-test-server"
    assert spans[0]["resource"]["omproxy.session.name"] == "otel-test"


def requests(*lines: dict) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def test_unanswered_request_ends_at_shutdown(tmp_path):
    with Receiver() as receiver:
        r = run_proxy(["stdio", "--otlp", receiver.url], [*RAW_SERVER, "die", "0"],
                      requests({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "slow"}}))
        assert r.returncode == 0, r.stderr
        span = one(receiver.collector.wait_spans(lambda s: len(s) >= 1), "tools/call slow")
    assert span["attributes"]["error.type"] == "unanswered" and span["status"] == ERROR
    assert span["attributes"]["jsonrpc.request.id"] == "7"


@pytest.mark.parametrize("propagate", [True, False])
def test_propagate_writes_traceparent_and_keeps_the_clients_trace(tmp_path, propagate):
    out, rec = tmp_path / "out", tmp_path / "rec"
    out.write_bytes(b"")
    sent = requests(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "b", "_meta": {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    with Receiver() as receiver:
        args = ["stdio", "--otlp", receiver.url] + (["--otlp-propagate"] if propagate else [])
        r = run_proxy(args, [*RAW_SERVER, "script", str(out), str(rec)], sent)
        assert r.returncode == 0, r.stderr
        spans = receiver.collector.wait_spans(lambda s: len(s) >= 3)
    got = [json.loads(x) for x in rec.read_bytes().splitlines()]
    a, b = one(spans, "tools/call a"), one(spans, "tools/call b")
    assert b["trace_id"] == CLIENT_TRACE and b["parent"] == CLIENT_SPAN  # honoured either way
    assert a["parent"] is None
    if not propagate:
        assert rec.read_bytes() == sent  # byte-exact without the flag
        return
    tp_a = got[0]["params"]["_meta"]["traceparent"]
    tp_b = got[1]["params"]["_meta"]["traceparent"]
    assert tp_a == f"00-{a['trace_id']}-{a['span_id']}-01"
    assert tp_b == f"00-{CLIENT_TRACE}-{b['span_id']}-01" and b["span_id"] != CLIENT_SPAN
    assert got[2] == {"jsonrpc": "2.0", "method": "notifications/initialized"}  # notifications untouched
    assert "omproxy.changed.by" not in a["attributes"]  # our own traceparent is not flagged as an edit


def test_receiver_down_costs_the_relay_nothing(tmp_path):
    """Nothing listens at the endpoint: the whole SDK session still completes, the proxy exits
    within its bounded flush, the drop count is reported on stderr and as a lifecycle event."""
    dead = f"http://127.0.0.1:{free_port()}"
    rec = str(tmp_path / "rec.jsonl")
    stderr = tmp_path / "stderr"
    env = dict(os.environ, OMPROXY_OTLP_FLUSH_TIMEOUT="2", OTEL_BSP_SCHEDULE_DELAY="100")
    cmd = omproxy_cmd("stdio", "--hooks", "omproxy_tui.examples.redact_and_block:Guard", "--otlp", dead,
                      "--record", rec, "--", *SDK_SERVER)
    wrapper = [sys.executable, "-c",
               "import subprocess,sys; sys.exit(subprocess.call(sys.argv[2:], stderr=open(sys.argv[1],'wb')))",
               str(stderr), *cmd]
    params = StdioServerParameters(command=wrapper[0], args=wrapper[1:], cwd=str(ROOT), env=env)
    anyio.run(sdk_session, params)
    text = stderr.read_text()
    line = next(x for x in text.splitlines() if "spans were dropped" in x)
    assert int(line.split("otlp: ")[1].split()[0]) > 0
    frames = [json.loads(x) for x in open(rec)]
    otlp = [f for f in frames if f.get("type") == "lifecycle" and f.get("event") == "otlp"]
    assert otlp and otlp[-1]["dropped"] > 0 and otlp[-1]["exported"] == 0


def test_plain_relay_never_imports_opentelemetry():
    """`-X importtime` lists every module the proxy imported: none from OpenTelemetry, with or
    without --otlp (the SDK runs in the exporter process)."""
    line = requests({"jsonrpc": "2.0", "id": 1, "method": "m"})

    def imported(*extra: str) -> str:
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "omproxy_tui", "stdio", *extra, "--",
                            *RAW_SERVER, "echo"], input=line, capture_output=True, timeout=60, cwd=ROOT)
        assert json.loads(r.stdout)["id"] == 1
        return r.stderr.decode()

    plain = imported()
    assert "omproxy_tui.proxy.stdio" in plain  # the listing is real
    assert "opentelemetry" not in plain
    assert "opentelemetry" not in imported("--inspect-socket", "/tmp/omproxy-otel-test-%d.sock" % os.getpid())
    # with --otlp the SDK lives in the exporter process: the proxy's own process still never loads it
    with_otlp = imported("--otlp", f"http://127.0.0.1:{free_port()}")
    assert "omproxy_tui.otel.sink" in with_otlp and "opentelemetry" not in with_otlp


def test_bad_endpoint_is_a_clear_error():
    r = run_proxy(["stdio", "--otlp", "localhost:4318"], [*RAW_SERVER, "echo"])
    assert r.returncode == 2 and b"is not an http(s) URL" in r.stderr
    r = run_proxy(["stdio", "--otlp-content"], [*RAW_SERVER, "echo"])
    assert r.returncode == 2 and b"needs --otlp" in r.stderr


def test_streamable_http_spans_name_the_remote_server(http_server):
    """`omproxy http --otlp`: network.transport tcp and server.address/port of the server behind
    the proxy (the conventions ask for the server behind intermediaries), resource transport http."""
    url = http_server("http")
    port = int(url.split(":")[2].split("/")[0])

    seen = {}

    async def session(params):
        with anyio.fail_after(60):
            async with Client(params, mode="legacy") as client:
                assert (await client.call_tool("echo", {"text": "hi"})).content[0].text == "hi"
                # the Mcp-Session-Id header the server received from the proxy's transport
                seen["sid"] = (await client.call_tool("header", {"name": "mcp-session-id"})).content[0].text

    with Receiver() as receiver:
        anyio.run(session, proxied("http", "--url", url, "--otlp", receiver.url))
        spans = receiver.collector.wait_spans(lambda s: any(x["name"] == "tools/call header" for x in s))
    call = one(spans, "tools/call echo")
    a = call["attributes"]
    assert a["network.transport"] == "tcp" and a["network.protocol.name"] == "http"
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == port
    assert call["resource"]["omproxy.transport"] == "http"
    assert call["resource"]["mcp.server.name"] == "omproxy-test-server"
    # mcp.session.id: the Mcp-Session-Id, on every span of the session, the handshake's included
    assert seen["sid"] not in ("", "<unset>")
    assert {s["attributes"].get("mcp.session.id") for s in spans} == {seen["sid"]}


def test_sse_session_id_comes_from_the_endpoint(http_server):
    """`omproxy sse --otlp`: mcp.session.id is the session id the server put in its POST endpoint
    (the SDK's SSE server: `?session_id=<32 hex digits>`), the same on every span."""
    import re

    url = http_server("sse")

    async def session(params):
        with anyio.fail_after(60):
            async with Client(params, mode="legacy") as client:
                assert (await client.call_tool("echo", {"text": "hi"})).content[0].text == "hi"

    with Receiver() as receiver:
        anyio.run(session, proxied("sse", "--url", url, "--otlp", receiver.url))
        spans = receiver.collector.wait_spans(lambda s: any(x["name"] == "tools/call echo" for x in s))
    ids = {s["attributes"].get("mcp.session.id") for s in spans}
    assert len(ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", ids.pop() or "")


def test_held_released_edited_and_dropped_requests_are_marked(tmp_path):
    """An inspector holds three requests and releases one, edits one, drops one: each span says so."""
    from helpers import Inspector, Session, short_tmpdir

    sock = os.path.join(short_tmpdir(), "i.sock")
    with Receiver() as receiver:
        s = Session(["stdio", "--inspect-socket", sock, "--otlp", receiver.url], [*RAW_SERVER, "echo"])
        insp = Inspector(sock)
        insp.read()
        assert insp.send("pause", dir="c2s")["ok"]
        for i in (1, 2, 3):
            s.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": f"t{i}"}})
        held = [insp.message(lambda f, m, i=i: m.get("id") == i and f["dir"] == "c2s") for i in (1, 2, 3)]
        edited = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "t2", "x": 1}}
        assert insp.send("release", seq=held[1]["seq"], raw=json.dumps(edited))["ok"]
        assert insp.send("drop", seq=held[2]["seq"])["ok"]
        assert insp.send("release", seq=held[0]["seq"])["ok"]
        assert {s.recv()["id"] for _ in range(3)} == {1, 2, 3}
        assert s.close() == 0
        spans = receiver.collector.wait_spans(lambda x: len(x) >= 3)
    by = {sp["name"]: sp for sp in spans}
    for name, action in (("tools/call t1", "released"), ("tools/call t2", "edited"), ("tools/call t3", "dropped")):
        a = by[name]["attributes"]
        assert a["omproxy.status"] == "held" and a["omproxy.resolved"] == action, (name, a)
        assert [e[0] for e in by[name]["events"]] == [f"omproxy.{action}"]
    assert by["tools/call t2"]["attributes"]["omproxy.changed.by"] == "inspector"
    assert by["tools/call t3"]["attributes"]["error.type"] == "-32010"
    assert "error.type" not in by["tools/call t1"]["attributes"]


def test_export_of_a_tui_export_with_two_sessions(tmp_path):
    """A TUI export: `message` frames with a `session` key and no hello. Each session gets its own
    resource; spans keep the frames' timestamps."""
    path = tmp_path / "export.jsonl"
    frames = []
    for n, (session, d, msg, wall) in enumerate([
            ("alpha", "c2s", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}}, 100.0),
            ("beta", "c2s", {"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": "p"}}, 100.5),
            ("alpha", "s2c", {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": True}}, 101.0),
            ("beta", "s2c", {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "no such prompt"}}, 102.0),
    ], 1):
        frames.append({"type": "message", "seq": n, "t": wall, "wall": wall, "dir": d, "raw": json.dumps(msg),
                       "size": 0, "error": None, "held": False, "status": "relayed", "changed": None,
                       "injected": None, "to_inspector": False, "session": session})
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    with Receiver() as receiver:
        r = subprocess.run(omproxy_cmd("export", "--otlp", receiver.url, str(path)), capture_output=True,
                           timeout=60, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        spans = receiver.collector.wait_spans(lambda s: len(s) >= 2)
    x, p = one(spans, "tools/call x"), one(spans, "prompts/get p")
    assert x["resource"]["omproxy.session.name"] == "alpha" and p["resource"]["omproxy.session.name"] == "beta"
    assert (x["start"], x["end"]) == (100_000_000_000, 101_000_000_000)
    assert x["attributes"]["error.type"] == "tool_error"
    assert p["attributes"]["error.type"] == "-32602" and p["status_message"] == "no such prompt"


def test_modern_era_session_names_the_server_from_discover():
    """A default 2.x Client() opens with server/discover (2026-07-28, no initialize)."""
    async def session(params):
        with anyio.fail_after(60):
            async with Client(params) as client:
                assert (await client.call_tool("echo", {"text": "hi"})).content[0].text == "hi"

    with Receiver() as receiver:
        anyio.run(session, proxied("stdio", "--otlp", receiver.url, "--", *SDK_SERVER))
        spans = receiver.collector.wait_spans(lambda s: any(x["name"] == "tools/call echo" for x in s))
    call = one(spans, "tools/call echo")
    assert call["attributes"]["mcp.protocol.version"] == "2026-07-28"
    assert "initialize" not in {s["name"] for s in spans}
    assert call["resource"]["mcp.protocol.version"] == "2026-07-28"
    assert call["resource"]["mcp.server.name"] == "omproxy-test-server"


def _exporter_of(pid: int, timeout: float = 20.0) -> int:
    """The pid of the proxy's exporter process, once it has started."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid and b"omproxy_tui.otel.exporter" in cmd:
                return int(entry)
        time.sleep(0.05)
    raise AssertionError("no exporter process")


def test_exporter_that_stops_reading_never_blocks_the_relay_or_the_exit():
    """The exporter process is frozen (SIGSTOP) mid-session: every request is still answered,
    spans pile up until they are dropped, and the proxy exits within its flush bound, reports
    the drops, and leaves no exporter behind."""
    import signal

    from helpers import Session, pid_alive, wait_dead

    with Receiver() as receiver:
        s = Session(["stdio", "--otlp", receiver.url], [*RAW_SERVER, "echo"],
                    env=dict(os.environ, OMPROXY_OTLP_FLUSH_TIMEOUT="2"))
        s.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
        assert s.recv()["id"] == 0
        exporter = _exporter_of(s.proc.pid)
        os.kill(exporter, signal.SIGSTOP)
        try:
            name = "t" * 500  # ~1 KB of JSON per span: far more than a pipe holds
            for i in range(1, 3001):
                s.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name}})
                assert s.recv()["id"] == i
            assert s.close(timeout=30) == 0
        finally:
            if pid_alive(exporter):
                os.kill(exporter, signal.SIGCONT)
    text = s.stderr.decode()
    line = next(x for x in text.splitlines() if "spans were dropped" in x)
    assert int(line.split("otlp: ")[1].split()[0]) > 0
    wait_dead(exporter)  # killed as the proxy exits; the kernel finishes that asynchronously


def test_encoder_keeps_value_types_and_odd_values():
    """omproxy_tui/otel/encode.py caches attribute sets by value *and* type (True, 1 and 1.0 are
    equal in Python, not in OTLP); a JSON number past int64 and a lone surrogate still encode."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from omproxy_tui.otel.encode import Encoder

    enc = Encoder({"service.name": "t"}, "omproxy", "1")
    values = [True, 1, 1.0, 1 << 70, "\ud800x"]
    data = enc.encode([("span", f"s{i}", i + 1, i + 1, None, 1, 2, {"a": v, "jsonrpc.request.id": "\udfffy"}, [], None)
                       for i, v in enumerate(values)])
    got = ExportTraceServiceRequest.FromString(data).resource_spans[0].scope_spans[0].spans
    a = [{kv.key: kv.value for kv in s.attributes} for s in got]
    assert [x["a"].WhichOneof("value") for x in a] == ["bool_value", "int_value", "double_value", "string_value",
                                                      "string_value"]
    assert a[3]["a"].string_value == str(1 << 70) and a[4]["a"].string_value.endswith("x")
    assert all(x["jsonrpc.request.id"].string_value.endswith("y") for x in a)


def test_encoder_and_the_sdks_own_encoder_send_the_same_spans():
    """The exporter's encoder (omproxy_tui/otel/encode.py) against the SDK's (the fallback for an
    SDK whose exporter internals differ): the same spans reach a real receiver either way."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from omproxy_tui.otel.encode import Encoder
    from omproxy_tui.otel.sdk import _ProtoSpanExporter, resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    spans = [
        ("span", "tools/call x", 11, 12, None, 100, 200, {"mcp.method.name": "tools/call", "jsonrpc.request.id": "1",
                                                          "gen_ai.tool.name": "x", "server.port": 80},
         [("notifications/progress", 150, {"mcp.progress.progress": 1.5})], None),
        ("span", "prompts/get p", int(CLIENT_TRACE, 16), 13, (int(CLIENT_TRACE, 16), int(CLIENT_SPAN, 16), 1, True),
         300, 400, {"error.type": "-32602", "omproxy.injected": True}, [], "no such prompt"),
    ]
    got = []
    for fallback in (False, True):
        with Receiver() as receiver:
            res = resource({"omproxy.session.name": "enc"}, {})
            scope = InstrumentationScope("omproxy", "1")
            exp = _ProtoSpanExporter(OTLPSpanExporter(endpoint=receiver.url + "/v1/traces"),
                                     Encoder(dict(res.attributes), "omproxy", "1"), res, scope)
            if fallback:
                exp.post = None
            assert exp.export(spans).name == "SUCCESS"
            got.append(sorted(receiver.collector.wait_spans(lambda s: len(s) == 2), key=lambda s: s["name"]))
    assert got[0] == got[1]
    p = got[0][0]
    assert p["parent"] == CLIENT_SPAN and p["status"] == ERROR and p["status_message"] == "no such prompt"


def test_duration_histogram_buckets_cumulative_and_delta():
    """omproxy_tui/otel/sdk.py aggregates the duration histograms itself: OTLP's explicit buckets
    (upper bounds inclusive), count/sum/min/max per attribute set; cumulative keeps counting, delta
    starts over after each export."""
    from omproxy_tui.otel.sdk import DURATION_BUCKETS, METRIC_KEYS, Durations

    h = Durations("d", "", METRIC_KEYS)
    for v in (0.01, 0.015, 400.0):
        h.record(v, {"mcp.method.name": "tools/call", "jsonrpc.request.id": "1"})
    h.record(0.3, {"mcp.method.name": "ping"})
    points = {p.attributes["mcp.method.name"]: p for p in h.point_list(10, delta=False)}
    call = points["tools/call"]
    assert "jsonrpc.request.id" not in call.attributes  # only the conventions' metric attributes
    assert (call.count, call.min, call.max) == (3, 0.01, 400.0) and abs(call.sum - 400.025) < 1e-9
    assert call.bucket_counts[0] == 1 and call.bucket_counts[1] == 1 and call.bucket_counts[-1] == 1
    assert len(call.bucket_counts) == len(DURATION_BUCKETS) + 1
    assert h.point_list(20, delta=False)[0].count == 3  # cumulative
    assert sum(p.count for p in h.point_list(30, delta=True)) == 4
    assert h.point_list(40, delta=True) == []  # delta: started over
