"""The ``--otlp`` addon: observes every relayed message after forwarding and exports spans.

``OtelAddon`` is an observe-only addon (hooks taking ``line``): it runs on the relay thread right
after the bytes went out, so it never delays the message it looks at. Per message it does the
pairing bookkeeping and, when a request's response arrives, appends one finished span to the
sink's bounded inbox; serialising, encoding and HTTP happen elsewhere (see :mod:`.sink`).
The two relay threads share the pairing state, so a lock serialises them (uncontended in practice:
the directions take turns).

``OtelPropagator`` (``--otlp-propagate``) is the one part that changes traffic: a ``modifies`` hook
that writes the span's ``traceparent`` into each request's ``params._meta`` before forwarding, so
the server's own spans join the trace. Off by default because it re-encodes those requests.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from .. import __version__
from ..proxy.line import _UNSET
from . import semconv
from .tracker import Tracker, new_span_id, new_trace_id

#: Lines longer than this that nobody parsed yet are not parsed for tracing: their envelope (id,
#: method, error, isError) is read from the first and last few KB instead. A full parse of a 50 MB
#: result would hold the GIL, and so both relay threads, for a noticeable time.
SNIFF_OVER = 1 << 20
_EDGE = 4096
_METHOD = re.compile(rb'"method"\s*:\s*"((?:[^"\\]|\\.){1,200})"')
_ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d+(?:\.\d+)?|null)')
_ERROR_CODE = re.compile(rb'"error"\s*:\s*\{[^{}]*?"code"\s*:\s*(-?\d+)')
_IS_ERROR = re.compile(rb'"isError"\s*:\s*true')


def sniff(raw: bytes) -> dict | None:
    """The JSON-RPC envelope of a very large line, from its edges (see SNIFF_OVER)."""
    import json

    head, tail = raw[:_EDGE], raw[-_EDGE:]
    out: dict[str, Any] = {"jsonrpc": "2.0"}
    m = _ID.search(head) or _ID.search(tail)
    if m is not None:
        try:
            out["id"] = json.loads(m.group(1))
        except ValueError:
            pass
    m = _METHOD.search(head)
    if m is not None:
        out["method"] = json.loads(b'"' + m.group(1) + b'"')
        out["params"] = {}
        return out
    if "id" not in out:
        return None
    m = _ERROR_CODE.search(head)
    if m is not None:
        out["error"] = {"code": int(m.group(1)), "message": "(large error response)"}
    else:
        out["result"] = {"isError": True} if _IS_ERROR.search(tail) else {}
    return out


class OtelAddon:
    """Attach with ``proxy.add_addon(OtelAddon(proxy, sink, ...))`` (``omproxy … --otlp`` does)."""

    whole_lines = False  # see each element of a batch as its own message

    def __init__(self, proxy: Any, sink: Any, *, name: str, transport: str, target: Any,
                 content: bool = False, content_max: int = semconv.CONTENT_MAX, redact: Any = None):
        self.proxy = proxy
        self.sink = sink
        self.lock = threading.Lock()
        self.started = time.time_ns()
        self.transport_attrs = semconv.transport_attributes(transport, target)
        self.tracker = Tracker(sink.span, base=self.transport_attrs,
                               session_info=sink.session_info, content=content, content_max=content_max,
                               redact=redact)
        #: span ids the propagator wrote into a request, by (seq, element), until the request is seen
        self.own: dict[tuple, tuple] = {}
        self.closed = False

    # ---- observe hooks (after forwarding) ------------------------------------------------------
    def _on_mcp_client_message(self, line: Any) -> None:
        self._observe(line)

    def _on_mcp_server_message(self, line: Any) -> None:
        self._observe(line)

    def _observe(self, line: Any) -> None:
        obj = line._json
        if obj is _UNSET:
            obj = sniff(line.raw) if len(line.raw) > SNIFF_OVER else line.json
        if not isinstance(obj, dict):
            return
        changed = line.changed
        if changed and str(changed.get("by", "")).startswith("OtelPropagator."):
            changed = None  # our own traceparent is not an edit worth flagging
        wall = int(line.wall * 1e9) if line.wall else time.time_ns()
        with self.lock:
            if self.closed:
                return
            own = self.own.pop((line.seq, line.element), None) if self.own else None
            try:
                self.tracker.feed(obj, line.direction, wall, line.status, changed, line.injected, own, line.seq)
            except Exception as exc:  # noqa: BLE001 - tracing must never cost the relay a message
                self.proxy.report(f"otlp: could not trace a message ({type(exc).__name__}: {exc})")

    def _ordered(self, item: Any) -> None:
        """The proxy's ordered stream (only when an inspector is attached, which is the only way
        traffic is held): a held request's ``resolved`` event marks its span."""
        if type(item) is tuple and item[0] == "resolved":
            fields = item[4]
            with self.lock:
                if not self.closed and isinstance(fields.get("of"), int):
                    self.tracker.resolve(fields["of"], str(fields.get("action")), fields.get("by"),
                                         int(item[3] * 1e9))

    # ---- the end of the session ----------------------------------------------------------------
    def _on_close(self) -> None:
        """Every message has been observed (the proxy drains hooks first): end what is still open,
        record the session's duration, flush with a bounded wait, report what was lost."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            end = time.time_ns()
            self.tracker.finish(end)
            attrs = dict(self.transport_attrs)
            if self.tracker.protocol_version:
                attrs["mcp.protocol.version"] = self.tracker.protocol_version
            self.sink.session((end - self.started) / 1e9, attrs)
        exported, dropped = self.sink.close()
        if dropped:
            why = f" ({self.sink.last_error})" if self.sink.last_error else ""
            self.proxy.report(f"otlp: {dropped} of {exported + dropped} spans were dropped, not exported to "
                              f"{self.sink.target}{why}")
        self.proxy.call_hooks("_on_lifecycle", "otlp", {"exported": exported, "dropped": dropped,
                                                        "endpoint": self.sink.target})


class OtelPropagator:
    """``--otlp-propagate``: write the proxy span's ``traceparent`` into each request's
    ``params._meta`` (a traffic-changing hook: it runs before forwarding and re-encodes the
    request). A client's own ``traceparent`` is kept as the parent: the trace id stays, the span
    id becomes ours, as any W3C intermediary does."""

    modifies_traffic = True

    def __init__(self, addon: OtelAddon):
        self.addon = addon

    def _on_mcp_client_message(self, line: Any) -> Any:
        return self._inject(line)

    def _on_mcp_server_message(self, line: Any) -> Any:
        return self._inject(line)

    def _inject(self, line: Any) -> Any:
        obj = line.json
        if not isinstance(obj, dict) or not isinstance(obj.get("method"), str) or "id" not in obj:
            return None
        params = obj.get("params", {})
        if not isinstance(params, dict):
            return None
        meta = params.get("_meta", {})
        if not isinstance(meta, dict):
            return None
        incoming = semconv.parse_traceparent(meta.get("traceparent"))
        if incoming is not None:
            trace_id, flags = incoming[0], incoming[2]
            parent = (incoming[0], incoming[1], incoming[2], True)
        else:
            trace_id, flags, parent = new_trace_id(), 1, None
        span_id = new_span_id()
        with self.addon.lock:
            if len(self.addon.own) > 10000:  # lines that were dropped before being observed
                self.addon.own.clear()
            self.addon.own[(line.seq, line.element)] = (trace_id, span_id, parent)
        meta = {**meta, "traceparent": semconv.format_traceparent(trace_id, span_id, flags & 0xFF)}
        return {**obj, "params": {**params, "_meta": meta}}


def sdk_missing() -> str | None:
    """Which required distribution is not installed, without importing it (the SDK is imported
    by the exporter process, later, so a missing one must be caught here to be a clear error)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("opentelemetry")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for rel, dist in (("sdk", "opentelemetry-sdk"),
                      (os.path.join("exporter", "otlp", "proto", "http"), "opentelemetry-exporter-otlp-proto-http")):
        if not any(os.path.isdir(os.path.join(root, rel)) for root in roots):
            return dist
    return None


def attach(proxy: Any, *, endpoint: str | None, name: str, transport: str, target: Any,
           content: bool = False, propagate: bool = False, secrets: list[str] | None = None,
           redact: bool = True) -> OtelAddon:
    """Build the sink and addons and add them to ``proxy`` (what ``--otlp`` does). The exporter
    process starts once the server has answered the handshake."""
    from ..inspect.redact import Redactor
    from .sink import OtlpSink

    attrs = {"omproxy.session.name": name, "omproxy.transport": transport, "omproxy.version": __version__}
    sink = OtlpSink(endpoint, attrs, report=lambda text: proxy.report(text),
                    notify=lambda event, info: proxy.call_hooks("_on_lifecycle", event, info))
    redactor = Redactor(list(secrets or []), enabled=redact)
    addon = OtelAddon(proxy, sink, name=name, transport=transport, target=target, content=content,
                      redact=redactor if redactor.forms else None)
    proxy.add_addon(addon)
    sequencer = getattr(proxy, "sequencer", None)
    if sequencer is not None and sequencer.observers:  # an inspector can hold traffic
        sequencer.add_observer(addon._ordered)
    if propagate:
        proxy.add_addon(OtelPropagator(addon))
    return addon
