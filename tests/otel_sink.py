"""A real OTLP/HTTP receiver for tests: the `oteltest` package's HttpSink (from the OpenTelemetry
Python project), on a free port on this machine, collecting what it receives as plain dicts."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from oteltest.sink import HttpSink
from oteltest.sink.handler import RequestHandler


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict:
    return {kv.key: _value(kv.value) for kv in kvs}


class Collector(RequestHandler):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[dict] = []
        self.metrics: list[dict] = []
        self.trace_requests = 0

    def handle_logs(self, request: Any, headers: Any) -> None:
        pass

    def handle_metrics(self, request: Any, headers: Any) -> None:
        out = []
        for rm in request.resource_metrics:
            res = _attrs(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    points = [{"attributes": _attrs(p.attributes), "count": p.count, "sum": p.sum}
                              for p in m.histogram.data_points]
                    out.append({"name": m.name, "unit": m.unit, "points": points, "resource": res})
        with self.lock:
            self.metrics.extend(out)

    def handle_trace(self, request: Any, headers: Any) -> None:
        out = []
        for rs in request.resource_spans:
            res = _attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append({
                        "name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                        "parent": s.parent_span_id.hex() or None, "kind": s.kind,
                        "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                        "attributes": _attrs(s.attributes),
                        "events": [(e.name, _attrs(e.attributes), e.time_unix_nano) for e in s.events],
                        "status": s.status.code, "status_message": s.status.message,
                        "resource": res, "scope": ss.scope.name,
                    })
        with self.lock:
            self.trace_requests += 1
            self.spans.extend(out)

    def wait_spans(self, pred, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = list(self.spans)
            if pred(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"receiver did not get the expected spans in {timeout}s; got {[s['name'] for s in got]}")


class Receiver:
    """``with Receiver() as r: r.url`` -- a live OTLP/HTTP endpoint."""

    def __init__(self) -> None:
        self.collector = Collector()
        self.sink = HttpSink(self.collector, logging.getLogger("otel-sink"), port=0)

    def __enter__(self) -> "Receiver":
        self.sink.start()
        deadline = time.monotonic() + 10
        while self.sink.httpd is None and time.monotonic() < deadline:
            time.sleep(0.01)
        self.port = self.sink.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sink.stop()
