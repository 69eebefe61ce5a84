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
