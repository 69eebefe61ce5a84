"""The OpenTelemetry objects of the exporter process (:mod:`.exporter`): the only modules that
import ``opentelemetry`` are this one and :mod:`.encode`; the proxy's own process never does.

What comes from the OpenTelemetry libraries and why: the SDK's ``BatchSpanProcessor`` (a bounded
queue, ``OTEL_BSP_MAX_QUEUE_SIZE``, default 2048; batches on its own thread, ``OTEL_BSP_*``), the
SDK's ``Resource`` (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), the OTLP/HTTP exporters
for the HTTP side (``OTEL_EXPORTER_OTLP_*``: endpoint, headers, timeout, TLS, compression,
retries), and ``opentelemetry-proto``'s generated classes for the request bodies.

Two things are done here rather than by the SDK, because they were most of ``--otlp``'s CPU per
request: the protobuf encoding of spans (:mod:`.encode`, ~5 µs a span instead of the SDK
encoder's ~30 µs) and the two duration histograms (:class:`Durations`: a bisect and a few adds per
request instead of the SDK instrument's ~5 µs; exported as the SDK's ``MetricsData`` through its
OTLP metric exporter, every ``OTEL_METRIC_EXPORT_INTERVAL`` and at the end).

A backend that is down or slow makes exports fail or wait on the processor's thread only; a full
queue drops its oldest spans. Both are counted (see :class:`~.exporter.Counts`).
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import threading
import time
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import __version__
from .encode import Encoder
from .sink import signal_url

#: Bucket boundaries the conventions give for both MCP duration histograms (seconds).
DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
#: Attributes of a span that also go on the operation-duration metric (the conventions' list).
METRIC_KEYS = ("mcp.method.name", "error.type", "gen_ai.prompt.name", "gen_ai.tool.name",
               "rpc.response.status_code", "gen_ai.operation.name", "mcp.protocol.version",
               "network.transport", "network.protocol.name", "server.address", "server.port")

_SAMPLED = TraceFlags(1)
_UNSET = Status(StatusCode.UNSET)

# The exporters log every failed attempt; omproxy reports failures itself, once, in one line.
logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)


class _ProtoSpanExporter(SpanExporter):
    """The SDK's OTLP/HTTP span exporter with :mod:`.encode`'s encoder in front of its HTTP
    client. Batches are the sink's span tuples (see :meth:`Backend.span`). An SDK whose exporter
    has no such client (its internals changed) gets them as ``ReadableSpan``s: slower, the same
    OTLP."""

    def __init__(self, otlp: OTLPSpanExporter, encoder: Encoder, resource: Resource, scope: InstrumentationScope):
        self.otlp = otlp
        self.encoder = encoder
        self.resource = resource
        self.scope = scope
        client = getattr(otlp, "_client", None)
        self.post = getattr(client, "export", None)
        self.why: str | None = None  # why the last export failed

    def export(self, spans: Any) -> SpanExportResult:
        if self.post is None:
            return self.otlp.export([readable(s, self.resource, self.scope) for s in spans])
        result = self.post(self.encoder.encode(spans))
        if getattr(result, "success", False):
            return SpanExportResult.SUCCESS
        error = getattr(result, "error", None)
        code = getattr(result, "status_code", None)
        self.why = f"HTTP {code}" if code else (_short(error) if error else None)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.otlp.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _short(error: BaseException) -> str:
    """An HTTP library's error in a few words: the system's reason when there is one (urllib3
    nests it in several layers of repr), else the first 160 characters."""
    text = str(error)
    m = re.findall(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if m:
        return m[-1].strip()
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 160 else text[:159] + "…"


def readable(msg: tuple, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    """A span tuple as the SDK's ``ReadableSpan`` (built directly rather than through
    ``Tracer.start_span``: it already happened, and a replayed recording's is hours old)."""
    _, name, trace_id, span_id, parent, start, end, attributes, events, error = msg
    context = None
    if parent is not None:
        context = SpanContext(parent[0], parent[1], is_remote=parent[3], trace_flags=TraceFlags(parent[2] & 0xFF))
    return ReadableSpan(
        name, context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED),
        parent=context, resource=resource, attributes=attributes,
        events=[Event(n, a, ts) for n, ts, a in events] if events else (),
        kind=SpanKind.CLIENT, status=_UNSET if error is None else Status(StatusCode.ERROR, error),
        start_time=start, end_time=end, instrumentation_scope=scope)


class _CountingExporter(SpanExporter):
    """Counts what reached the backend; reports the first failure at once."""

    def __init__(self, inner: SpanExporter, sink: "Any"):
        self.inner = inner
        self.sink = sink

    def export(self, spans: Any) -> SpanExportResult:
        n = len(spans)
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not kill the worker
            self.sink._failed(n, f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.sink._exported(n)
        else:
            why = getattr(self.inner, "why", None)
            self.sink._failed(n, f"the receiver refused or could not be reached: {why}" if why else
                              "the receiver refused or could not be reached")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _CountingProcessor(BatchSpanProcessor):
    """The SDK's batch processor (bounded queue, batches, its worker thread, the ``OTEL_BSP_*``
    settings), fed the sink's span tuples as they are -- sampling was decided by
    :meth:`Backend.span`, and making a ``ReadableSpan`` of each cost ~3 µs for nothing -- and
    counting the spans its bounded queue drops when full."""

    def __init__(self, exporter: _CountingExporter, sink: "Any"):
        super().__init__(exporter)
        self.sink = sink
        self.emit = self._batch_processor.emit
        self.capacity = self._batch_processor._max_queue_size

    #: Until when (monotonic) a full queue is waited for rather than dropped from (see :meth:`on_end`).
    patient_until = 0.0

    def on_end(self, span: Any) -> None:
        sink = self.sink
        # A frame from the proxy brings up to 100 ms of spans at once; handed over in one loop they
        # can fill the queue faster than the worker (sharing the GIL) drains it, though the
        # backend keeps up. So a full queue is first waited for, up to the frame's deadline (this
        # process is off the relay's path: the wait only slows its reading of the pipe); a backend
        # that is down or slow still makes spans drop, and the proxy never waits.
        while sink.queued >= self.capacity and time.monotonic() < self.patient_until:
            time.sleep(0.002)
        with sink.lock:
            sink.queued += 1
            full = sink.queued > self.capacity
            if full:  # the queue drops its oldest span to take this one
                sink.queued -= 1
                sink.dropped += 1
        if full:
            sink.tell(f"OTLP export is falling behind; spans are being dropped (queue of {self.capacity} full)")
        self.emit(span)


class Durations:
    """One explicit-bucket histogram (seconds), aggregated here: a record is a bisect and a few
    adds under a lock. Attribute sets are kept as tuples in ``keys`` order, so the key of a point
    is built without sorting. :meth:`point_list` gives the SDK's ``HistogramDataPoint``s."""

    def __init__(self, name: str, description: str, keys: tuple[str, ...] | None = None):
        self.name = name
        self.description = description
        self.keys = keys
        self.lock = threading.Lock()
        self.points: dict[tuple, list] = {}
        self.start = time.time_ns()

    def record(self, seconds: float, attributes: dict) -> None:
        key = tuple(map(attributes.get, self.keys)) if self.keys else tuple(attributes.items())
        slot = bisect.bisect_left(DURATION_BUCKETS, seconds)  # upper bounds are inclusive in OTLP
        with self.lock:
            p = self.points.get(key)
            if p is None:
                p = self.points[key] = [0, 0.0, seconds, seconds, [0] * (len(DURATION_BUCKETS) + 1)]
            p[0] += 1
            p[1] += seconds
            if seconds < p[2]:
                p[2] = seconds
            if seconds > p[3]:
                p[3] = seconds
            p[4][slot] += 1

    def point_list(self, now: int, delta: bool) -> list:
        from opentelemetry.sdk.metrics.export import HistogramDataPoint

        with self.lock:
            points, start = self.points, self.start
            if delta:
                self.points, self.start = {}, now
            else:
                points = {k: [v[0], v[1], v[2], v[3], list(v[4])] for k, v in points.items()}
        out = []
        for key, (count, total, low, high, buckets) in points.items():
            attrs = ({k: v for k, v in zip(self.keys, key) if v is not None} if self.keys else dict(key))
            out.append(HistogramDataPoint(attributes=attrs, start_time_unix_nano=start, time_unix_nano=now,
                                          count=count, sum=total, bucket_counts=buckets,
                                          explicit_bounds=DURATION_BUCKETS, min=low, max=high))
        return out


class _Metrics:
    """The two MCP duration histograms, sent through the SDK's OTLP/HTTP metric exporter every
    ``OTEL_METRIC_EXPORT_INTERVAL`` ms (default 60000) and at the end. Cumulative, as the SDK's
    OTLP default; delta when ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` asks for it
    (``delta`` or ``lowmemory``, which both make histograms delta). The SDK's metrics modules
    are imported at the first export (~20 ms of CPU the first requests of a session do not share)."""

    def __init__(self, endpoint: str | None, resource: Resource, scope: InstrumentationScope):
        self.endpoint = endpoint
        self.exporter: Any = None
        self.resource = resource
        self.scope = scope
        pref = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "").strip().lower()
        self.delta = pref in ("delta", "lowmemory")
        self.operation = Durations(
            "mcp.client.operation.duration",
            "Duration of an MCP request as relayed by omproxy, from the request to its response.", METRIC_KEYS)
        self.session = Durations("mcp.client.session.duration", "Duration of the MCP session relayed by omproxy.")
        self.stop = threading.Event()
        self.lock = threading.Lock()  # one export at a time
        try:
            interval = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")) / 1000
        except ValueError:
            interval = 60.0
        self.timer = threading.Thread(target=self._every, args=(max(interval, 0.05),), name="omproxy-otlp-metrics",
                                      daemon=True)
        self.timer.start()

    def _every(self, interval: float) -> None:
        while not self.stop.wait(interval):
            self.flush()

    def flush(self, timeout: float = 10.0) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import (AggregationTemporality, Histogram, Metric, MetricsData,
                                                      ResourceMetrics, ScopeMetrics)

        now = time.time_ns()
        temporality = AggregationTemporality.DELTA if self.delta else AggregationTemporality.CUMULATIVE
        metrics = []
        for hist in (self.operation, self.session):
            points = hist.point_list(now, self.delta)
            if points:
                metrics.append(Metric(name=hist.name, description=hist.description, unit="s",
                                      data=Histogram(data_points=points, aggregation_temporality=temporality)))
        if not metrics:
            return
        data = MetricsData(resource_metrics=[ResourceMetrics(
            resource=self.resource, scope_metrics=[ScopeMetrics(scope=self.scope, metrics=metrics, schema_url="")],
            schema_url="")])
        with self.lock:
            try:
                if self.exporter is None:
                    self.exporter = OTLPMetricExporter(endpoint=self.endpoint)
                self.exporter.export(data, timeout_millis=timeout * 1000)
            except Exception:  # noqa: BLE001 - a metrics failure must not stop the spans
                pass

    def shutdown(self, timeout: float) -> None:
        self.stop.set()
        self.flush(timeout)
        if self.exporter is not None:
            self.exporter.shutdown()


class Backend:
    """The OpenTelemetry objects of one exporter process. ``sink`` keeps the counters and the
    endpoint (see :class:`~.exporter.Counts`)."""

    def __init__(self, sink: Any):
        self.sink = sink
        self.resource = resource(sink.base_attributes, sink.server)
        self.scope = InstrumentationScope("omproxy", __version__)
        encoder = Encoder(dict(self.resource.attributes), self.scope.name, self.scope.version or "")
        otlp = OTLPSpanExporter(endpoint=signal_url(sink.endpoint, "traces"))
        exporter = _ProtoSpanExporter(otlp, encoder, self.resource, self.scope)
        self.processor = _CountingProcessor(_CountingExporter(exporter, sink), sink)
        self.metrics = _Metrics(signal_url(sink.endpoint, "metrics"), self.resource, self.scope) \
            if sink.want_metrics else None

    def span(self, msg: tuple) -> None:
        """One finished span as the sink sends it: ``("span", name, trace_id, span_id, parent,
        start, end, attributes, events, error)``, ``parent`` = ``(trace_id, span_id, flags,
        remote)`` or None. A request's span (it has a ``jsonrpc.request.id``) is also a point of
        the operation-duration metric. Sampling follows the parent: a span whose remote parent is
        not sampled is not exported; all others are."""
        attributes = msg[7]
        if self.metrics is not None and "jsonrpc.request.id" in attributes:
            self.metrics.operation.record((msg[6] - msg[5]) / 1e9, attributes)
        parent = msg[4]
        if parent is not None and not parent[2] & 1:
            return
        self.processor.on_end(msg)

    def frame(self, patience: float) -> None:
        """A frame of spans arrives: a full queue may be waited for ``patience`` seconds."""
        self.processor.patient_until = time.monotonic() + patience

    def session(self, seconds: float, attributes: dict) -> None:
        if self.metrics is not None:
            self.metrics.session.record(seconds, attributes)

    def shutdown(self, timeout: float) -> None:
        self.processor.shutdown()
        if self.metrics is not None:
            self.metrics.shutdown(timeout)


def resource(base: dict, server: dict) -> Resource:
    attrs = {"service.name": base.get("omproxy.session.name") or "omproxy", **base, **server}
    # The OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME variables win over our defaults.
    return Resource.create(attrs).merge(OTELResourceDetector().detect())
