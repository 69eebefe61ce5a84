"""The OpenTelemetry SDK objects of the exporter process (:mod:`.exporter`): the only module that
imports ``opentelemetry``; the proxy's own process never does.

Why the SDK and not a hand-written OTLP encoder: the batch processor, the OTLP/HTTP protobuf
exporters, the standard ``OTEL_*`` environment variables (endpoint, headers, timeout, batch sizes,
sampler, resource attributes) and the histogram aggregation are all well kept there.

Spans go through a ``BatchSpanProcessor`` (a bounded queue, ``OTEL_BSP_MAX_QUEUE_SIZE``, default
2048; encoding and HTTP on its own thread). A backend that is down or slow makes exports fail or
wait on that thread only; a full queue drops its oldest spans. Both are counted on the sink.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import __version__
from .sink import signal_url
from .tracker import SpanData

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
            result = SpanExportResult.FAILURE
            self.sink._failed(n, f"{type(exc).__name__}: {exc}")
            return result
        if result is SpanExportResult.SUCCESS:
            self.sink._exported(n)
        else:
            self.sink._failed(n, "the receiver refused or could not be reached")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _CountingProcessor(BatchSpanProcessor):
    """The SDK's batch processor, counting the spans its bounded queue drops when full."""

    def __init__(self, exporter: _CountingExporter, sink: "Any"):
        super().__init__(exporter)
        self.sink = sink
        self.capacity = self._batch_processor._max_queue_size

    def on_end(self, span: Any) -> None:
        if not span.context.trace_flags.sampled:
            return
        sink = self.sink
        with sink.lock:
            sink.queued += 1
            if sink.queued > self.capacity:  # the queue drops its oldest span to take this one
                sink.queued -= 1
                sink.dropped += 1
                first = not sink.reported
                sink.reported = True
            else:
                first = False
        if first:
            sink.report(f"OTLP export is falling behind; spans are being dropped (queue of {self.capacity} full)")
        super().on_end(span)


class Backend:
    """The SDK objects of one :class:`~.sink.OtlpSink`, made on the sink's thread once the
    resource is complete. ``sink`` keeps the counters and the endpoint."""

    def __init__(self, sink: Any):
        self.sink = sink
        self.resource = resource(sink.base_attributes, sink.server)
        self.scope = InstrumentationScope("omproxy", __version__)
        exporter = _CountingExporter(OTLPSpanExporter(endpoint=signal_url(sink.endpoint, "traces")), sink)
        self.processor = _CountingProcessor(exporter, sink)
        self.meters: MeterProvider | None = None
        self.op_hist: Any = None
        self.session_hist: Any = None
        if sink.want_metrics:
            reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=signal_url(sink.endpoint, "metrics")))
            self.meters = MeterProvider(resource=self.resource, metric_readers=[reader])
            meter = self.meters.get_meter("omproxy", __version__)
            self.op_hist = meter.create_histogram(
                "mcp.client.operation.duration", unit="s",
                description="Duration of an MCP request as relayed by omproxy, from the request to its response.",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
            self.session_hist = meter.create_histogram(
                "mcp.client.session.duration", unit="s", description="Duration of the MCP session relayed by omproxy.",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS)

    def span(self, data: SpanData) -> None:
        """Hand a finished span to the batch processor. The span is built as the SDK's
        ``ReadableSpan`` directly rather than through ``Tracer.start_span``: it already happened
        (ids, timestamps and attributes are known; a replayed recording's are hours old), and the
        tracer's bookkeeping would cost ~50 µs per span against ~3 µs. Sampling follows the
        parent: a span whose remote parent is not sampled is not exported; all others are."""
        flags = 1
        parent = None
        if data.parent is not None:
            ptrace, pspan, pflags, remote = data.parent
            flags = pflags & 1
            if not flags:
                return
            parent = SpanContext(ptrace, pspan, is_remote=remote, trace_flags=TraceFlags(pflags & 0xFF))
        status = _UNSET if data.error is None else Status(StatusCode.ERROR, data.error)
        events = [Event(name, attrs, ts) for name, ts, attrs in data.events] if data.events else ()
        self.processor.on_end(ReadableSpan(
            data.name, context=SpanContext(data.trace_id, data.span_id, is_remote=False, trace_flags=_SAMPLED),
            parent=parent, resource=self.resource, attributes=data.attributes, events=events,
            kind=SpanKind.CLIENT, status=status, start_time=data.start, end_time=data.end,
            instrumentation_scope=self.scope))

    def operation(self, seconds: float, attributes: dict) -> None:
        if self.op_hist is not None:
            self.op_hist.record(seconds, {k: attributes[k] for k in METRIC_KEYS if k in attributes})

    def session(self, seconds: float, attributes: dict) -> None:
        if self.session_hist is not None:
            self.session_hist.record(seconds, attributes)

    def shutdown(self, timeout: float) -> None:
        self.processor.shutdown()
        if self.meters is not None:
            self.meters.shutdown(timeout_millis=timeout * 1000)


def resource(base: dict, server: dict) -> Resource:
    attrs = {"service.name": base.get("omproxy.session.name") or "omproxy", **base, **server}
    # The OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME variables win over our defaults.
    return Resource.create(attrs).merge(OTELResourceDetector().detect())
