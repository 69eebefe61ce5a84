"""OpenTelemetry export: every MCP call as a span, by the GenAI semantic conventions' ``mcp.md``.

Layout (data flows one way):

- :mod:`.semconv` -- span names and attributes from JSON-RPC objects (standard library only);
- :mod:`.tracker` -- pairing state: requests become spans ended by their response, notifications
  become events on their request's span or zero-length spans (standard library only);
- :mod:`.addon` -- the proxy addon (an observer after forwarding) and the opt-in propagator (a
  traffic-changing hook that writes ``traceparent`` into requests);
- :mod:`.sink` -- the proxy's side of the export: a bounded inbox, a thread that writes finished
  spans to the exporter process, the drop count (standard library only);
- :mod:`.exporter` -- the exporter process (``python -m omproxy_tui.otel.exporter``);
- :mod:`.sdk` -- the OpenTelemetry SDK wiring used by that process: resource, batch processor with
  a bounded queue, OTLP/HTTP exporters, the two metrics. The only module that imports
  ``opentelemetry``; the proxy's own process never does;
- :mod:`.replay` -- ``omproxy export --otlp``: a recording sent as the same spans.
"""
