"""OTLP trace requests built with ``opentelemetry-proto``'s generated classes, a batch at a time.
Used by the exporter process (:mod:`.sdk`) instead of the SDK's ``encode_spans``.

Why not the SDK's encoder: it builds every span as a free-standing ``Span`` message (and each
attribute as a ``KeyValue`` holding an ``AnyValue``) and then copies them into the request, ~30 µs
a span in Python; it was most of the CPU ``--otlp`` cost per request. Here each span is added in
place (``spans.add()``), and its attributes -- the same few sets over and over (method, tool name,
transport, direction, protocol version…) -- are serialized once per distinct set by the generated
classes and merged into each span from those bytes (``MergeFromString``, in C); only the values
that differ per span (the request id, content) are set one by one: ~4 µs a span. The bytes are
the same OTLP a collector gets from the SDK (same fields, same span flags); the HTTP side
(endpoint, headers, TLS, compression, retries) stays the SDK exporter's.
"""

from __future__ import annotations

from typing import Any, Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, SpanFlags, Status

_CLIENT = Span.SpanKind.SPAN_KIND_CLIENT
_ERROR = Status.StatusCode.STATUS_CODE_ERROR
# Which span flags the SDK's encoder sets: "is the parent remote" is known, and whether it is.
_LOCAL = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_REMOTE = _LOCAL | SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_INT64 = (-(1 << 63), (1 << 63) - 1)
#: Attributes whose values are unique per span are not worth keeping encoded.
_UNIQUE = frozenset({"jsonrpc.request.id", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
                     "mcp.progress.progress", "mcp.progress.message", "mcp.log.data", "mcp.cancel.reason",
                     "omproxy.by", "omproxy.events.dropped"})
#: Distinct attribute sets kept serialized at most (then the cache starts over: memory stays bounded).
CACHE_MAX = 4096


def any_value(v: Any) -> AnyValue:
    """An attribute value as OTLP has it (the SDK's mapping: bool, int, float, str, sequences)."""
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        if _INT64[0] <= v <= _INT64[1]:
            return AnyValue(int_value=v)
        return AnyValue(string_value=str(v))  # a JSON number past int64: keep it exact, as text
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(any_value(x) for x in v)
        return out
    text = v if isinstance(v, str) else str(v)
    try:
        return AnyValue(string_value=text)
    except ValueError:  # a lone surrogate (JSON allows "\\ud800"): protobuf strings must be UTF-8
        return AnyValue(string_value=_utf8(text))


def _utf8(text: str) -> str:
    """``text`` with what UTF-8 cannot hold (lone surrogates) replaced: protobuf strings must be UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


class Encoder:
    """Turns batches of finished spans into serialized ``ExportTraceServiceRequest`` bytes.
    One per exporter (one resource); not thread-safe (the batch processor's one worker calls it)."""

    def __init__(self, resource_attributes: dict, scope_name: str, scope_version: str):
        self.resource = [KeyValue(key=k, value=any_value(v)) for k, v in resource_attributes.items()]
        self.scope = (scope_name, scope_version)
        #: a span's shared attributes, as (key, value, type) tuples -> those attributes serialized as
        #: a Span message (type too: True, 1 and 1.0 are equal keys in Python, not in OTLP)
        self.shared: dict[tuple, bytes] = {}

    def _attributes(self, out: Any, attributes: Any) -> None:
        shared = []
        unique = None
        for k, v in attributes.items():
            if k in _UNIQUE:
                if unique is None:
                    unique = []
                unique.append((k, v))
            else:
                shared.append((k, v, type(v)))
        key = tuple(shared)
        blob = self.shared.get(key)
        if blob is None:
            if len(self.shared) >= CACHE_MAX:
                self.shared.clear()
            blob = self.shared[key] = Span(attributes=[KeyValue(key=k, value=any_value(v))
                                                      for k, v, _ in shared]).SerializeToString()
        out.MergeFromString(blob)  # appends them: attributes are a repeated field
        if unique is not None:
            for k, v in unique:
                value = out.attributes.add(key=k).value
                if type(v) is str:
                    try:
                        value.string_value = v
                        continue
                    except ValueError:  # a lone surrogate: see any_value
                        pass
                value.CopyFrom(any_value(v))

    def encode(self, spans: Iterable[tuple]) -> bytes:
        """``spans``: the sink's tuples, ``("span", name, trace_id, span_id, parent, start, end,
        attributes, events, error)`` with ``parent`` = ``(trace_id, span_id, flags, remote)``."""
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(self.resource)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name, scope_spans.scope.version = self.scope
        add = scope_spans.spans.add
        attributes = self._attributes
        for _, name, trace_id, span_id, parent, start, end, attrs, events, error in spans:
            out = add(trace_id=trace_id.to_bytes(16, "big"), span_id=span_id.to_bytes(8, "big"),
                      kind=_CLIENT, start_time_unix_nano=start, end_time_unix_nano=end,
                      flags=_REMOTE if parent is not None and parent[3] else _LOCAL)
            # Names and messages come from the traffic (a tool name, a method, an error message),
            # and JSON allows lone surrogates in them: set apart, so one cannot fail the batch.
            try:
                out.name = name
            except ValueError:
                out.name = _utf8(name)
            if parent is not None:
                out.parent_span_id = parent[1].to_bytes(8, "big")
            attributes(out, attrs)
            for event_name, ts, event_attrs in events:
                e = out.events.add(time_unix_nano=ts)
                try:
                    e.name = event_name
                except ValueError:
                    e.name = _utf8(event_name)
                if event_attrs:
                    e.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in event_attrs.items())
            if error is not None:
                out.status.code = _ERROR
                if error:
                    message = error if type(error) is str else str(error)
                    try:
                        out.status.message = message
                    except ValueError:
                        out.status.message = _utf8(message)
        return request.SerializePartialToString()
