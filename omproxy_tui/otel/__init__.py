"""OpenTelemetry export: every MCP call as a span, by the GenAI semantic conventions' ``mcp.md``.

Layout (data flows one way):

- :mod:`.semconv` -- span names and attributes from JSON-RPC objects (standard library only);
- :mod:`.tracker` -- pairing state: requests become spans ended by their response, notifications
  become events on their request's span or zero-length spans (standard library only);
- :mod:`.sdk` -- the OpenTelemetry SDK wiring: resource, batch processor with a bounded queue,
  OTLP/HTTP exporters, the two metrics, the drop count. The only module that imports
  ``opentelemetry``, and it is imported only when ``--otlp`` (or ``omproxy export``) is used;
- :mod:`.addon` -- the proxy addon (an observer after forwarding) and the opt-in propagator (a
  traffic-changing hook that writes ``traceparent`` into requests);
- :mod:`.replay` -- ``omproxy export --otlp``: a recording sent as the same spans.
"""
