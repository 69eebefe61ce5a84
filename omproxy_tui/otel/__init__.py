"""OpenTelemetry export: every MCP call as a span, by the GenAI semantic conventions' ``mcp.md``.

Layout (data flows one way):

- :mod:`.semconv` -- span names and attributes from JSON-RPC objects (standard library only);
- :mod:`.tracker` -- pairing state: requests become spans ended by their response, notifications
  become events on their request's span or zero-length spans (standard library only);
- :mod:`.addon` -- the proxy addon (an observer after forwarding: appends each message to a
  bounded backlog that the sink's thread pairs) and the opt-in propagator (a traffic-changing hook
  that writes ``traceparent`` into requests);
- :mod:`.sink` -- the proxy's side of the export: the thread that pairs the backlog, a bounded
  inbox of finished spans written to the exporter process as marshal frames, the drop count
  (standard library only);
- :mod:`.exporter` -- the exporter process (``python -m omproxy_tui.otel.exporter``);
- :mod:`.sdk` -- the OpenTelemetry wiring used by that process: resource, batch processor with a
  bounded queue, OTLP/HTTP exporters, the two metrics (aggregated here);
- :mod:`.encode` -- OTLP trace requests built with ``opentelemetry-proto``'s classes, a batch at a
  time. With :mod:`.sdk` the only modules that import ``opentelemetry``; the proxy's own process
  never does;
- :mod:`.replay` -- ``omproxy export --otlp`` (and the TUI's export dialog): a recording sent as
  the same spans.
"""
