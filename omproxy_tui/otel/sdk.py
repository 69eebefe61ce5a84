"""The OpenTelemetry SDK wiring: the only module that imports ``opentelemetry``.

Why the SDK and not a hand-written OTLP encoder: the batch processor, the OTLP/HTTP protobuf
exporters, the standard ``OTEL_*`` environment variables (endpoint, headers, timeout, batch
sizes, sampler, resource attributes) and the histogram aggregation are all well kept there.

How it stays off the relay's back:

- spans are finished by the tracker after forwarding, then handed to a ``BatchSpanProcessor``:
  appending to its bounded queue (``OTEL_BSP_MAX_QUEUE_SIZE``, default 2048) is all the relay
  thread pays; encoding and HTTP happen on the processor's own thread;
- a backend that is down or slow makes exports fail or wait on that thread only; when the queue
  is full the oldest spans are dropped. Every span that never reached the backend is counted
  (:attr:`OtlpSink.dropped`): the first failure is reported on stderr at once, the total when the
  session ends;
- the end-of-session flush is bounded (``OMPROXY_OTLP_FLUSH_TIMEOUT``, default 5 s): a proxy
  whose backend is gone still exits promptly.

The resource (session name, transport, omproxy version, and the server's name and version from
the handshake) is only complete once the server answered ``initialize``/``server/discover``, so
the tracer provider is made then; spans finished before that (rare) wait for it in a small buffer.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Any, Callable

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import __version__
from .tracker import SpanData

#: Bucket boundaries the conventions give for both MCP duration histograms (seconds).
DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
#: Attributes of a span that also go on the operation-duration metric (the conventions' list).
METRIC_KEYS = ("mcp.method.name", "error.type", "gen_ai.prompt.name", "gen_ai.tool.name",
               "rpc.response.status_code", "gen_ai.operation.name", "mcp.protocol.version",
               "network.transport", "network.protocol.name", "server.address", "server.port")
#: Spans finished before the handshake answered wait at most this many for the full resource.
EARLY_SPANS = 64
#: How often the sink's thread turns finished spans into SDK spans (seconds).
WORK_INTERVAL = 0.1
#: Finished spans waiting for the sink's thread at most; past it they are dropped (and counted).
INBOX_MAX = 20000

# The exporters log every failed attempt; omproxy reports failures itself, once, in one line.
logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)


def signal_url(endpoint: str | None, signal: str) -> str | None:
    """``--otlp ENDPOINT`` is a base URL (like ``OTEL_EXPORTER_OTLP_ENDPOINT``): ``/v1/traces``
    and ``/v1/metrics`` are appended. A URL already ending in a signal path is used for that
    signal as given. None: the exporter reads the ``OTEL_EXPORTER_OTLP_*`` variables itself."""
    if not endpoint:
        return None
    base = endpoint.rstrip("/")
    for known in ("/v1/traces", "/v1/metrics", "/v1/logs"):
        if base.endswith(known):
            base = base[: -len(known)]
    return f"{base}/v1/{signal}"


class _PresetIds(RandomIdGenerator):
    """Span ids chosen before the span exists: the propagator has already written them into the
    request's ``traceparent``, and a replayed recording keeps them. Random otherwise."""

    def __init__(self) -> None:
        self.next: tuple[int, int] | None = None

    def generate_span_id(self) -> int:
        if self.next is not None:
            return self.next[1]
        return super().generate_span_id()

    def generate_trace_id(self) -> int:
        if self.next is not None:
            return self.next[0]
        return super().generate_trace_id()


class _CountingExporter(SpanExporter):
    """Counts what reached the backend; reports the first failure at once."""

    def __init__(self, inner: SpanExporter, sink: "OtlpSink"):
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

    def __init__(self, exporter: _CountingExporter, sink: "OtlpSink"):
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


class OtlpSink:
    """Finished :class:`SpanData` in, OTLP out. ``report(text)`` writes one stderr line;
    ``notify(event, info)`` tells the inspect stream (a lifecycle event) about drops."""

    def __init__(self, endpoint: str | None, attributes: dict[str, Any], *,
                 report: Callable[[str], None] | None = None,
                 notify: Callable[[str, dict], None] | None = None,
                 metrics: bool = True):
        self.endpoint = endpoint
        self.report = report or (lambda text: None)
        self.notify = notify
        self.lock = threading.Lock()
        self.queued = 0
        self.exported = 0
        self.dropped = 0
        self.reported = False
        self.last_error: str | None = None
        self.base_attributes = dict(attributes)
        self.server: dict[str, Any] = {}
        self.ids = _PresetIds()
        self.provider: TracerProvider | None = None
        self.tracer: Any = None
        self.meters: MeterProvider | None = None
        self.want_metrics = metrics
        self.op_hist: Any = None
        self.session_hist: Any = None
        self.inbox: collections.deque = collections.deque()
        self.worker: threading.Thread | None = None
        self.ready = False  # the server has said who it is: the resource is complete
        self.stop = threading.Event()
        self.start_lock = threading.Lock()
        self.target = signal_url(endpoint, "traces") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or \
            "http://localhost:4318"

    # ---- set-up, once the server has said who it is -------------------------------------------
    def resource(self) -> Resource:
        attrs = {"service.name": self.base_attributes.get("omproxy.session.name") or "omproxy",
                 **self.base_attributes, **self.server}
        # The OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME variables win over our defaults.
        return Resource.create(attrs).merge(OTELResourceDetector().detect())

    def session_info(self, info: dict | None, protocol_version: str | None) -> None:
        if info:
            if isinstance(info.get("name"), str):
                self.server["mcp.server.name"] = info["name"]
            if isinstance(info.get("version"), str) and info["version"]:
                self.server["mcp.server.version"] = info["version"]
        if protocol_version:
            self.server["mcp.protocol.version"] = protocol_version
        self.ready = True
        self._start_worker()

    def _start(self) -> None:
        with self.start_lock:
            if self.provider is None:
                self._make_providers()

    def _make_providers(self) -> None:
        resource = self.resource()
        exporter = _CountingExporter(OTLPSpanExporter(endpoint=signal_url(self.endpoint, "traces")), self)
        self.provider = TracerProvider(resource=resource, id_generator=self.ids)
        self.processor = _CountingProcessor(exporter, self)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("omproxy", __version__)
        if self.want_metrics:
            reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=signal_url(self.endpoint, "metrics")))
            self.meters = MeterProvider(resource=resource, metric_readers=[reader])
            meter = self.meters.get_meter("omproxy", __version__)
            self.op_hist = meter.create_histogram(
                "mcp.client.operation.duration", unit="s",
                description="Duration of an MCP request as relayed by omproxy, from the request to its response.",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
            self.session_hist = meter.create_histogram(
                "mcp.client.session.duration", unit="s", description="Duration of the MCP session relayed by omproxy.",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS)

    # ---- spans and metrics ---------------------------------------------------------------------
    # Called on the relay threads: only an append. Turning SpanData into SDK spans and recording
    # the histogram (~35 µs per call) happens on the sink's own thread, in batches every
    # WORK_INTERVAL, so it never holds the GIL between a response and the next request.
    def span(self, data: SpanData) -> None:
        self._put((self._span, data))

    def operation(self, seconds: float, attributes: dict) -> None:
        self._put((self._operation, seconds, attributes))

    def _put(self, item: tuple) -> None:
        inbox = self.inbox
        if len(inbox) >= INBOX_MAX:  # the sink thread cannot keep up: drop, and count it
            with self.lock:
                self.dropped += 1
            return
        inbox.append(item)
        if self.worker is None:
            self._start_worker()

    def _start_worker(self) -> None:
        with self.lock:
            if self.worker is not None:
                return
            self.worker = threading.Thread(target=self._work, name="omproxy-otlp", daemon=True)
            self.worker.start()

    def _work(self) -> None:
        inbox = self.inbox
        while True:
            stopping = self.stop.wait(WORK_INTERVAL)
            if self.tracer is None:
                if not (stopping or self.ready or len(inbox) >= EARLY_SPANS):
                    continue  # wait (briefly) for the handshake to complete the resource
                self._start()
            while inbox:
                fn, *args = inbox.popleft()
                try:
                    fn(*args)
                except Exception as exc:  # noqa: BLE001 - one bad span must not stop the rest
                    self.report(f"otlp: could not export a span ({type(exc).__name__}: {exc})")
            if stopping:
                return

    def _span(self, data: SpanData) -> None:
        parent_ctx = None
        if data.parent is not None:
            ptrace, pspan, flags, remote = data.parent
            parent_ctx = trace_api.set_span_in_context(NonRecordingSpan(
                SpanContext(ptrace, pspan, is_remote=remote, trace_flags=TraceFlags(flags & 0xFF))))
        self.ids.next = (data.trace_id, data.span_id)
        try:
            span = self.tracer.start_span(data.name, context=parent_ctx, kind=SpanKind.CLIENT,
                                          attributes=data.attributes, start_time=data.start)
        finally:
            self.ids.next = None
        for name, ts, attrs in data.events:
            span.add_event(name, attrs, timestamp=ts)
        if data.error is not None:
            span.set_status(Status(StatusCode.ERROR, data.error))
        span.end(end_time=data.end)

    def _operation(self, seconds: float, attributes: dict) -> None:
        if self.op_hist is not None:
            self.op_hist.record(seconds, {k: attributes[k] for k in METRIC_KEYS if k in attributes})

    def session(self, seconds: float, attributes: dict) -> None:
        self._put((self._session, seconds, attributes))

    def _session(self, seconds: float, attributes: dict) -> None:
        if self.session_hist is not None:
            self.session_hist.record(seconds, attributes)

    # ---- counting ------------------------------------------------------------------------------
    def _exported(self, n: int) -> None:
        with self.lock:
            self.queued -= n
            self.exported += n

    def _failed(self, n: int, why: str) -> None:
        with self.lock:
            self.queued -= n
            self.dropped += n
            self.last_error = why
            first = not self.reported
            self.reported = True
        if first:
            self.report(f"OTLP export to {self.target} failed ({why}); spans are being dropped, relaying goes on")
            if self.notify is not None:
                self.notify("otlp_dropped", {"dropped": n, "endpoint": self.target, "error": why})

    def close(self, timeout: float | None = None) -> tuple[int, int]:
        """Flush and stop, waiting at most ``timeout`` seconds; (exported, dropped). Spans still
        queued when time runs out count as dropped."""
        if timeout is None:
            timeout = float(os.environ.get("OMPROXY_OTLP_FLUSH_TIMEOUT", "5"))
        deadline = time.monotonic() + timeout
        self.stop.set()
        if self.worker is not None:
            self.worker.join(timeout)
        done = threading.Event()

        def stop() -> None:
            try:
                if self.provider is not None:
                    self.provider.shutdown()
                if self.meters is not None:
                    self.meters.shutdown(timeout_millis=timeout * 1000)
            except Exception:  # noqa: BLE001 - nothing a failing flush may do to the proxy's exit
                pass
            done.set()

        threading.Thread(target=stop, name="omproxy-otlp-flush", daemon=True).start()
        done.wait(max(0.0, deadline - time.monotonic()))
        with self.lock:
            lost = self.queued + len(self.inbox)
            if lost > 0:
                self.dropped += lost
                self.queued = 0
                self.inbox.clear()
            return self.exported, self.dropped


def now_ns() -> int:
    return time.time_ns()
