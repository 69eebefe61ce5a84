"""The ``--otlp`` addon: observes every relayed message after forwarding and exports spans.

``OtelAddon`` is an observe-only addon (hooks taking ``line``): it runs on the relay thread right
after the bytes went out, so it never delays the message it looks at, and all it does there is
append the line (its bytes, direction, time and what omproxy did with it) to a bounded backlog.
The sink's thread (see :mod:`.sink`) drains the backlog every 100 ms: it parses the lines and does
the pairing (:class:`~.tracker.Tracker`), in chunks between which the relay threads get the GIL
back. Pairing on the relay threads cost each message a parse and ~6 µs of Python while holding
the GIL the other relay thread was waiting for, and a lock they both took; in one batch it costs
less and neither relay thread waits for it. Serialising, encoding and HTTP happen in the exporter
process.

``OtelPropagator`` (``--otlp-propagate``) is the one part that changes traffic: a ``modifies`` hook
that writes the span's ``traceparent`` into each request's ``params._meta`` before forwarding, so
the server's own spans join the trace. Off by default because it re-encodes those requests.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from typing import Any

from .. import __version__
from ..proxy.line import _UNSET, parse_json
from ..proxy.outstanding import peek_id
from . import semconv
from .tracker import Tracker, new_span_id, new_trace_id

#: Lines longer than this that nobody parsed yet are not parsed for tracing: their envelope (id,
#: method, error, isError) is read from the first and last few KB instead. A full parse of a 50 MB
#: result would hold the GIL, and so both relay threads, for a noticeable time.
SNIFF_OVER = 1 << 20
_EDGE = 4096
_METHOD = re.compile(rb'"method"\s*:\s*"((?:[^"\\]|\\.){1,200})"')
_ERROR_CODE = re.compile(rb'"error"\s*:\s*\{[^{}]*?"code"\s*:\s*(-?\d+)')
_IS_ERROR = re.compile(rb'"isError"\s*:\s*true')
#: Observed messages waiting for the sink's thread at most; past it they are not traced (each
#: counts as a dropped span).
BACKLOG_MAX = 20000
#: Bytes of lines waiting at most (unparsed, or parsed before forwarding: a parsed object costs at
#: least its line's bytes); past it a line waits as its envelope only (see sniff).
BACKLOG_BYTES = 16 << 20
#: The sink's thread pairs this many messages at a time, then lets the relay threads have the GIL.
CHUNK = 64
_RESOLVED = object()  # a backlog item that is a held request's resolution, not a message


def sniff(raw: bytes) -> dict | None:
    """The JSON-RPC envelope of a very large line, from its edges (see SNIFF_OVER)."""
    import json

    head, tail = raw[:_EDGE], raw[-_EDGE:]
    out: dict[str, Any] = {"jsonrpc": "2.0"}
    rid = peek_id(raw)  # the top-level one, wherever the SDK writes it (not an "id" argument)
    if rid is not None:
        out["id"] = rid
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
        self.lock = threading.Lock()  # the tracker: the sink thread's drain, or the close
        self.started = time.time_ns()
        self.transport_attrs = semconv.transport_attributes(transport, target)
        self.tracker = Tracker(sink.span, base=self.transport_attrs,
                               session_info=sink.session_info, content=content, content_max=content_max,
                               redact=redact)
        #: span ids the propagator wrote into a request, by (seq, element), until the request is paired
        self.own: dict[tuple, tuple] = {}
        self.own_lock = threading.Lock()
        #: observed, not yet paired: (obj or None, raw or None, direction, wall_ns, status, changed,
        #: injected, seq, element, session id, bytes counted in backlog_bytes); deque appends and
        #: pops are atomic, so the relay threads take no lock
        self.backlog: collections.deque = collections.deque()
        self.backlog_bytes = 0  # of the lines in it, parsed or not (approximate: updated without a lock)
        self.closed = False
        #: the transport's session id (``mcp.session.id``): Streamable HTTP's Mcp-Session-Id, the
        #: SSE endpoint's session_id; stdio proxies have none
        self.session_of = getattr(proxy, "mcp_session_id", None)
        sink.pull = self._drain

    # ---- observe hooks (after forwarding): on the relay threads, an append --------------------
    def _on_mcp_client_message(self, line: Any) -> None:
        self._observe(line)

    def _on_mcp_server_message(self, line: Any) -> None:
        self._observe(line)

    def _observe(self, line: Any) -> None:
        if self.closed:
            return
        backlog = self.backlog
        if len(backlog) >= BACKLOG_MAX:  # the sink's thread is far behind: this one is not traced
            self.sink.lost(1)
            return
        obj = line._json
        raw = None
        size = 0  # what this item adds to backlog_bytes
        if obj is _UNSET:  # nobody parsed it: the sink's thread will (or its edges, if huge)
            raw = line.raw
            if len(raw) > SNIFF_OVER or self.backlog_bytes > BACKLOG_BYTES:
                obj, raw = sniff(raw), None
            else:
                obj = None
                size = len(raw)
        elif not isinstance(obj, dict):
            return
        else:
            # Parsed already (a server line before forwarding, a hook): the object costs at least
            # its line's bytes, so it counts against the same bound -- past it, the envelope only.
            size = len(line.raw)
            if size > _EDGE and self.backlog_bytes > BACKLOG_BYTES:
                obj, size = sniff(line.raw), 0
                if obj is None:
                    return
        self.backlog_bytes += size
        changed = line.changed
        if changed and str(changed.get("by", "")).startswith("OtelPropagator."):
            changed = None  # our own traceparent is not an edit worth flagging
        wall = int(line.wall * 1e9) if line.wall else time.time_ns()
        session = self.session_of() if self.session_of is not None else None
        backlog.append((obj, raw, line.direction, wall, line.status, changed, line.injected, line.seq,
                        line.element, session, size))
        if self.sink.worker is None:
            self.sink.start()

    def _ordered(self, item: Any) -> None:
        """The proxy's ordered stream (only when an inspector is attached, which is the only way
        traffic is held): a held request's ``resolved`` event marks its span."""
        if type(item) is tuple and item[0] == "resolved":
            fields = item[4]
            if not self.closed and isinstance(fields.get("of"), int):
                self.backlog.append((_RESOLVED, fields["of"], str(fields.get("action")), fields.get("by"),
                                     int(item[3] * 1e9)))

    # ---- pairing: on the sink's thread ---------------------------------------------------------
    def _drain(self, final: bool = False) -> None:
        with self.lock:
            if self.closed and not final:
                return
            backlog = self.backlog
            feed = self.tracker.feed
            done = 0
            while backlog:
                item = backlog.popleft()
                obj = item[0]
                try:
                    if obj is _RESOLVED:
                        self.tracker.resolve(item[1], item[2], item[3], item[4])
                        continue
                    raw = item[1]
                    self.backlog_bytes -= item[10]
                    if raw is not None:
                        obj = parse_json(raw)[0]
                    if isinstance(obj, dict):
                        own = None
                        if self.own:
                            with self.own_lock:
                                own = self.own.pop((item[7], item[8]), None)
                        feed(obj, item[2], item[3], item[4], item[5], item[6], own, item[7], item[9])
                    elif isinstance(obj, list):  # a batch nobody split: each element is a message
                        for el in obj:
                            if isinstance(el, dict):
                                feed(el, item[2], item[3], item[4], item[5], item[6], None, item[7], item[9])
                except Exception as exc:  # noqa: BLE001 - tracing must never cost the relay a message
                    self.proxy.report(f"otlp: could not trace a message ({type(exc).__name__}: {exc})")
                done += 1
                if done % CHUNK == 0 and not final:
                    time.sleep(0)  # a relay thread waiting for the GIL gets it now, not in 5 ms
            self.backlog_bytes = 0  # empty now; corrects the drift of its unlocked updates

    # ---- the end of the session ----------------------------------------------------------------
    def _on_close(self) -> None:
        """Every message has been observed (the proxy drains hooks first): end what is still open,
        record the session's duration, flush with a bounded wait, report what was lost."""
        if self.closed:
            return
        self.closed = True
        self._drain(final=True)
        with self.lock:
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
        with self.addon.own_lock:
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
    """Build the sink and addons and add them to ``proxy`` (what ``--otlp`` does), and start the
    exporter process."""
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
    sink.start()  # the exporter process starts now, alongside the server
    return addon
