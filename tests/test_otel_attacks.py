"""Adversarial OTLP export cases (issue 14): a real proxy, a real raw server and a real OTLP/HTTP
receiver (oteltest's HttpSink). Waits are for conditions with deadlines."""

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("oteltest")

from helpers import RAW_SERVER, run_proxy  # noqa: E402
from otel_sink import Receiver  # noqa: E402


def test_a_lone_surrogate_in_a_span_name_does_not_lose_the_batch():
    """JSON allows a lone surrogate escape (\\ud800) in any string, so a client's tool name can hold
    one, and the span name is built from it. One such span must not make the encoding of its whole
    batch fail: every span arrives (the odd character replaced)."""
    lines = [b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fine"}}',
             b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"odd\\ud800"}}',
             b'{"jsonrpc":"2.0","id":3,"method":"notifications/\\udc80x"}',
             b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"also fine"}}']
    with Receiver() as receiver:
        r = run_proxy(["stdio", "--otlp", receiver.url], [*RAW_SERVER, "echo"], b"\n".join(lines) + b"\n")
        assert r.returncode == 0, r.stderr
        spans = receiver.collector.wait_spans(lambda s: len(s) >= 4)
    names = sorted(s["name"] for s in spans)
    assert "tools/call fine" in names and "tools/call also fine" in names, names
    assert any(n.startswith("tools/call odd") for n in names), names
    assert b"could not export" not in r.stderr and b"dropped" not in r.stderr, r.stderr


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))


def test_a_frozen_exporter_and_a_flood_of_large_answers_keep_the_proxy_memory_bounded():
    """The exporter process is frozen (SIGSTOP), so the sink's thread blocks writing to it and the
    addon's backlog is not drained. The server's answers (up to 1 MiB) are parsed before they are
    forwarded; the backlog must not keep those parsed objects without counting their bytes: after
    200 MB of answers the proxy's memory stays within its bounds, every request is answered, and the
    drops are reported at exit."""
    import os
    import signal

    from helpers import Session, pid_alive, wait_dead
    from test_otel import _exporter_of

    with Receiver() as receiver:
        s = Session(["stdio", "--otlp", receiver.url], [*RAW_SERVER, "sized"],
                    env=dict(os.environ, OMPROXY_OTLP_FLUSH_TIMEOUT="2"))
        s.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
        assert s.recv()["id"] == 0
        exporter = _exporter_of(s.proc.pid)
        os.kill(exporter, signal.SIGSTOP)
        try:
            name = "t" * 500  # ~1 KB of span each: far more than the exporter's pipe holds
            for i in range(1, 2001):
                s.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name}})
                assert s.recv()["id"] == i
            before = _rss_kib(s.proc.pid)
            for i in range(2001, 2401):  # 400 answers of 500 KB each
                s.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "x", "size": 500_000}})
                assert s.recv(60)["id"] == i
            grown = _rss_kib(s.proc.pid) - before
            assert grown < 80_000, f"the proxy grew by {grown} KiB"  # the backlog's 16 MiB and change
            assert s.close(timeout=30) == 0
        finally:
            if pid_alive(exporter):
                os.kill(exporter, signal.SIGCONT)
    line = next(x for x in s.stderr.decode().splitlines() if "spans were dropped" in x)
    assert int(line.split("otlp: ")[1].split()[0]) > 0
    wait_dead(exporter)


def test_a_huge_request_written_id_last_with_an_id_argument_is_paired_by_its_own_id():
    """A request over 1 MiB is traced from its edges (sniffed). The TypeScript SDK writes the id
    last, after params: a tool argument named "id" at the start must not be taken for it -- the
    span has the request's own id and is paired with its answer."""
    line = (b'{"method":"tools/call","params":{"name":"t","arguments":{"id":"nested","x":"' + b"y" * (2 << 20)
            + b'"}},"jsonrpc":"2.0","id":7}\n')
    with Receiver() as receiver:
        r = run_proxy(["stdio", "--otlp", receiver.url], [*RAW_SERVER, "echo"], line)
        assert r.returncode == 0, r.stderr
        spans = receiver.collector.wait_spans(lambda s: len(s) >= 1)
    span = next(s for s in spans if s["name"].startswith("tools/call"))
    assert span["attributes"]["jsonrpc.request.id"] == "7", span
    assert "error.type" not in span["attributes"], span  # paired with its answer, not "unanswered"


def test_an_array_or_object_id_is_traced_without_an_error_per_message():
    """Not a valid JSON-RPC id, but a client may send one (and a server echo it back): the relay
    forwards it; tracing pairs it like any other, instead of failing on every such message (one
    stderr line each, so a client could flood stderr)."""
    lines = [b'{"jsonrpc":"2.0","id":[1],"method":"tools/call","params":{"name":"a"}}',
             b'{"jsonrpc":"2.0","id":{"k":1},"method":"tools/call","params":{"name":"b"}}',
             b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"c"}}']
    with Receiver() as receiver:
        r = run_proxy(["stdio", "--otlp", receiver.url], [*RAW_SERVER, "echo"], b"\n".join(lines) + b"\n")
        assert r.returncode == 0, r.stderr
        spans = receiver.collector.wait_spans(lambda s: len(s) >= 3)
    assert b"could not trace" not in r.stderr, r.stderr
    assert sorted(s["name"] for s in spans) == ["tools/call a", "tools/call b", "tools/call c"]
    assert not [s for s in spans if "error.type" in s["attributes"]], spans  # each paired with its answer


def test_a_request_with_endless_progress_keeps_a_bounded_number_of_events():
    """A long tool call whose server sends progress and log notifications by the thousand: each
    becomes an event on the request's span, kept in the proxy until the request ends -- they must
    be bounded (the OpenTelemetry SDK's own limit is 128 events a span), not grow with the call."""
    line = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"long","_meta":{"progressToken":"p"}}}\n'
    with Receiver() as receiver:
        r = run_proxy(["stdio", "--otlp", receiver.url, "--otlp-content"], [*RAW_SERVER, "progress", "5000"], line)
        assert r.returncode == 0, r.stderr
        spans = receiver.collector.wait_spans(lambda s: any(x["name"] == "tools/call long" for x in s))
    span = next(s for s in spans if s["name"] == "tools/call long")
    assert len(span["events"]) == 128, len(span["events"])
    assert span["attributes"]["omproxy.events.dropped"] == 10000 - 128  # the latest are kept
    assert span["events"][-1][1]["mcp.log.data"] == "4999"
