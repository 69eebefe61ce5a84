"""Pairing state: relayed MCP messages in, finished spans out. Standard library only.

One :class:`Tracker` per session, fed every message in relay order (live, by the addon after
forwarding; offline, by ``omproxy export`` from a recording's frames, with their timestamps):

- a **request** (either direction) opens a span that starts when the request was relayed; its
  response ends it (JSON-RPC error -> ``error.type`` = the code, a ``tools/call`` result with
  ``isError`` -> ``tool_error``). A request cancelled by ``notifications/cancelled`` ends then with
  ``error.type = cancelled``; one still open when the session ends ends then with
  ``error.type = unanswered``.
- a **notification that belongs to a request** becomes a *span event* on that request's span:
  ``notifications/progress`` by its ``progressToken``, ``notifications/cancelled`` by its
  ``requestId``, and ``notifications/message`` (a server log line) when exactly one client request
  is in flight (stdio does not say which request a log line belongs to; with several in flight,
  guessing would attach it to the wrong call). Events keep the notification on the timeline of
  the call it reports on, which is where a reader of a trace looks for it.
- **any other notification** (``notifications/initialized``, ``…/list_changed``, an unattributable
  log line…) becomes a **zero-length span** of its own: it has no call to hang from, and a span
  (unlike an event) can be searched and counted by ``mcp.method.name`` in a tracing backend, as
  the conventions' notification spans are.
- a server->client request (sampling, elicitation, roots) is a span of its own; when exactly one
  client request is in flight it is that request's child (a sampling call made by a tool).
- a ``params._meta.traceparent`` on a message makes the remote span its parent.

What the proxy did is marked on the span: ``omproxy.status`` (held, dropped, injected, routed),
``omproxy.resolved`` (released, edited, dropped: what an inspector did with a held request, also an
event ``omproxy.<action>`` at that moment),
``omproxy.changed.by`` / ``omproxy.changed.action`` (a hook or the inspector replaced or dropped
it), ``omproxy.injected`` (an inspector made it up), ``omproxy.direction`` (c2s / s2c).
"""

from __future__ import annotations

import random
from typing import Any, Callable

from . import semconv

C2S, S2C = "c2s", "s2c"
_AUTO = object()
#: Responses seen before their request (the two relay threads race) are kept this long (count).
MAX_EARLY = 256
#: Open requests kept at most (a peer that never answers must not grow memory without bound).
MAX_PENDING = 10000
#: Events one span keeps at most (the OpenTelemetry SDK's default limit): a long call whose server
#: sends progress or log lines by the thousand keeps the latest, and counts the others in
#: ``omproxy.events.dropped`` -- they wait in memory until the call ends.
MAX_EVENTS = 128

# The SDK's RandomIdGenerator uses the module's Mersenne Twister too (ids need to be unique, not
# secret): no system call per id, unlike SystemRandom.
_rand = random.getrandbits


def new_trace_id() -> int:
    return _rand(128) or 1


def new_span_id() -> int:
    return _rand(64) or 1


def key_of(value: Any) -> tuple:
    """A JSON-RPC id as a dict key: 1, "1" and 1.0 stay distinct, as JSON-RPC matches them. An
    array or object is no valid id, but a client may send one: it is keyed by its text."""
    if isinstance(value, (list, dict)):
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _add_event(span: "SpanData", event: tuple) -> None:
    events = span.events
    if len(events) >= MAX_EVENTS:
        del events[0]
        span.attributes["omproxy.events.dropped"] = span.attributes.get("omproxy.events.dropped", 0) + 1
    events.append(event)


class SpanData:
    """A finished (or open) span in plain Python; :mod:`.sdk` turns it into an SDK ReadableSpan."""

    __slots__ = ("name", "trace_id", "span_id", "parent", "start", "end", "attributes", "events",
                 "error", "method", "token", "direction")

    def __init__(self, name: str, trace_id: int, span_id: int, parent: tuple | None, start: int,
                 attributes: dict, method: str, direction: str):
        self.name = name
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent = parent  # (trace_id, span_id, flags, remote) or None
        self.start = start  # ns since the epoch
        self.end = start
        self.attributes = attributes
        self.events: list[tuple[str, int, dict]] = []
        self.error: str | None = None  # status description when the span is an error
        self.method = method
        self.token: Any = None
        self.direction = direction

    def __repr__(self) -> str:
        return f"SpanData({self.name!r} {self.attributes})"


class Tracker:
    """Turns relayed messages into spans. ``emit(span)`` gets each finished span,
    ``operation(seconds, attributes)`` each finished request (for the duration metric),
    ``session_info(info, protocol_version)`` the server's identity once the handshake answers.
    Not thread-safe: the live addon serialises calls."""

    def __init__(self, emit: Callable[[SpanData], None], *, base: dict | None = None,
                 operation: Callable[[float, dict], None] | None = None,
                 session_info: Callable[[dict | None, str | None], None] | None = None,
                 content: bool = False, content_max: int = semconv.CONTENT_MAX,
                 redact: Callable[[bytes], bytes] | None = None):
        self.emit = emit
        self.base = dict(base or {})
        self.operation = operation
        self.session_id: str | None = None  # the transport's, once known (see feed)
        self.session_info = session_info
        self.content = content
        self.content_max = content_max
        self.redact = redact
        self.pending: dict[str, dict[tuple, SpanData]] = {C2S: {}, S2C: {}}
        self.tokens: dict[tuple, SpanData] = {}
        self.early: dict[tuple, tuple] = {}
        self.early_notes: dict[tuple, list] = {}  # progress whose request was not seen yet
        self.held: dict[int, SpanData] = {}  # held requests by seq, until an inspector resolves them
        # s2c requests that found no c2s request in flight, by seq: the c2s thread may not have
        # observed the call it already forwarded (see _adopt)
        self.orphans: dict[int, SpanData] = {}
        self.orphan_notes: dict[int, tuple] = {}  # the same for log lines (notifications/message)
        self.protocol_version: str | None = None
        self.first: int | None = None
        self.last: int | None = None
        self.spans = 0

    # ---- input ---------------------------------------------------------------------------------
    def resolve(self, seq: int, action: str, by: Any, wall_ns: int) -> None:
        """A held request was released, edited or dropped by an inspector (the inspect channel's
        ``resolved`` event): marked on its span, with an event at the moment it happened."""
        span = self.held.pop(seq, None)
        if span is None:
            return
        span.attributes["omproxy.resolved"] = action
        _add_event(span, (f"omproxy.{action}", max(wall_ns, span.start), {"omproxy.by": str(by)}))
        if action == "edited":
            span.attributes["omproxy.changed.by"] = "inspector"
            span.attributes["omproxy.changed.action"] = "replaced"

    def feed(self, obj: Any, direction: str, wall_ns: int, status: str = "relayed", changed: dict | None = None,
             injected: dict | None = None, own: tuple | None = None, seq: int | None = None,
             session_id: str | None = None) -> None:
        """One relayed JSON-RPC object (an element of a batch counts as one). ``own``: span ids
        the propagator already wrote into this request, ``(trace_id, span_id, parent)``.
        ``session_id``: the transport's session id when the message was relayed (HTTP, SSE)."""
        if not isinstance(obj, dict):
            return
        if session_id:
            self.session_id = session_id
        if self.first is None:
            self.first = wall_ns
        self.last = wall_ns
        method = obj.get("method")
        if isinstance(method, str):
            pv = semconv.protocol_version_of(obj)  # the initialize response has the final word
            if pv:
                self.protocol_version = pv
            if "id" in obj:
                span = self._request(obj, method, direction, wall_ns, status, changed, injected, own, seq)
                if status == "held" and seq is not None:
                    if len(self.held) >= MAX_EARLY:
                        self.held.pop(next(iter(self.held)))
                    self.held[seq] = span
            elif (seq is not None and direction == S2C and method == "notifications/message"
                  and not self.pending[C2S]):
                if len(self.orphan_notes) >= MAX_EARLY:  # no c2s traffic for long: a span of its own
                    self._notification(*self.orphan_notes.pop(next(iter(self.orphan_notes))), log_owner=None)
                self.orphan_notes[seq] = (obj, method, direction, wall_ns, status, changed, injected)
                return
            else:
                self._notification(obj, method, direction, wall_ns, status, changed, injected)
        elif "id" in obj and ("result" in obj or "error" in obj):
            self._response(obj, direction, wall_ns, status, changed, injected)
        if self.orphan_notes and direction == C2S and seq is not None:
            self._settle_notes(seq, span if isinstance(method, str) and "id" in obj else None)

    def _settle_notes(self, seq: int, request: SpanData | None) -> None:
        """A c2s line numbered `seq` was observed: a log line numbered after it belongs to it when
        it is a request (see _adopt); one numbered before it had no call in flight."""
        for at in sorted(self.orphan_notes):
            if at > seq and request is None:
                continue  # the request in flight may still come
            note = self.orphan_notes.pop(at)
            self._notification(*note, log_owner=request if at > seq else None)

    def finish(self, wall_ns: int | None = None) -> None:
        """The session ended: every request still open ends now, as ``unanswered``."""
        end = wall_ns if wall_ns is not None else (self.last or 0)
        lone, self.orphan_notes = self.orphan_notes, {}
        for note in lone.values():
            self._notification(*note, log_owner=None)
        for d in (C2S, S2C):
            for span in list(self.pending[d].values()):
                span.attributes["error.type"] = semconv.UNANSWERED
                span.error = "no response before the session ended"
                self._end(span, max(end, span.start))
            self.pending[d].clear()
        self.tokens.clear()
        self.early.clear()
        self.held.clear()
        notes, self.early_notes = self.early_notes, {}
        for waiting in notes.values():
            for note in waiting:
                self._notification(*note, early=True)

    # ---- messages ------------------------------------------------------------------------------
    def _new(self, name: str, attrs: dict, method: str, direction: str, wall_ns: int, meta: dict,
             own: tuple | None, default_parent: SpanData | None = None) -> SpanData:
        if own is not None:
            trace_id, span_id, parent = own
        else:
            parent = None
            tp = semconv.parse_traceparent(meta.get("traceparent"))
            if tp is not None:
                parent = (tp[0], tp[1], tp[2], True)
            elif default_parent is not None:
                parent = (default_parent.trace_id, default_parent.span_id, 1, False)
            trace_id = parent[0] if parent else new_trace_id()
            span_id = new_span_id()
        attrs = {**self.base, **attrs, "omproxy.direction": direction}
        if self.protocol_version:
            attrs["mcp.protocol.version"] = self.protocol_version
        if self.session_id and semconv.has_sessions(self.protocol_version):
            attrs["mcp.session.id"] = self.session_id
        return SpanData(name, trace_id, span_id, parent, wall_ns, attrs, method, direction)

    @staticmethod
    def _mark(span: SpanData, status: str, changed: dict | None, injected: dict | None, prefix: str = "") -> None:
        attrs = span.attributes
        if status != "relayed":
            attrs[f"omproxy.{prefix}status"] = status
        if changed:
            attrs[f"omproxy.{prefix}changed.by"] = str(changed.get("by"))
            attrs[f"omproxy.{prefix}changed.action"] = str(changed.get("action"))
        if injected:
            attrs[f"omproxy.{prefix}injected"] = True

    def _request(self, obj: dict, method: str, direction: str, wall_ns: int, status: str,
                 changed: dict | None, injected: dict | None, own: tuple | None,
                 seq: int | None = None) -> SpanData:
        params = obj.get("params")
        name, attrs = semconv.request_span(method, params, obj.get("id"), True)
        if self.content and method == "tools/call" and isinstance(params, dict) and "arguments" in params:
            attrs["gen_ai.tool.call.arguments"] = semconv.content_json(params["arguments"], self.content_max,
                                                                       self.redact)
        meta = semconv.meta_of(obj)
        default_parent = None
        if direction == S2C and len(self.pending[C2S]) == 1:
            default_parent = next(iter(self.pending[C2S].values()))
        span = self._new(name, attrs, method, direction, wall_ns, meta, own, default_parent)
        self._mark(span, status, changed, injected)
        if seq is not None:
            self._adopt(span, direction, own, seq)
        key = key_of(obj.get("id"))
        table = self.pending[direction]
        if len(table) >= MAX_PENDING:  # a peer that never answers: the oldest open span ends now
            oldest = next(iter(table))
            stale = table.pop(oldest)
            stale.attributes["error.type"] = semconv.UNANSWERED
            stale.error = "too many requests open"
            self._end(stale, wall_ns)
        old = table.pop(key, None)
        if old is not None:  # the same id reused while still open: the first one never got its answer
            old.attributes["error.type"] = semconv.UNANSWERED
            old.error = "request id reused before an answer"
            self._end(old, wall_ns)
        table[key] = span
        token = meta.get("progressToken")
        if token is not None and isinstance(token, (str, int)):
            span.token = key_of(token)
            self.tokens[span.token] = span
            for note in self.early_notes.pop(span.token, ()):
                self._notification(*note, early=True)
        early = self.early.pop((direction, key), None)
        if early is not None:
            self._response(*early)
        return span

    def _adopt(self, span: SpanData, direction: str, own: tuple | None, seq: int) -> None:
        """Observe hooks run after forwarding, each direction on its own thread, so the server's
        request made while handling a call (sampling inside tools/call) can be observed before
        the call itself. The c2s thread observes one line at a time, so at most one c2s request
        (the one being forwarded) can be missing when an s2c request finds none in flight; when
        it arrives with a lower seq, it was in flight then and is the parent the rule gives."""
        if direction == S2C:
            if span.parent is None and own is None and not self.pending[C2S]:
                if len(self.orphans) >= MAX_EARLY:
                    self.orphans.pop(next(iter(self.orphans)))
                self.orphans[seq] = span
        elif self.orphans:
            still_open = {id(v) for v in self.pending[S2C].values()}  # an ended span was emitted
            for later, orphan in self.orphans.items():
                if later > seq and id(orphan) in still_open:
                    orphan.parent = (span.trace_id, span.span_id, 1, False)
                    orphan.trace_id = span.trace_id
            self.orphans.clear()  # the earlier ones had no call in flight: roots for good

    def _response(self, obj: dict, direction: str, wall_ns: int, status: str, changed: dict | None,
                  injected: dict | None) -> None:
        key = key_of(obj.get("id"))
        requester = S2C if direction == C2S else C2S
        span = self.pending[requester].pop(key, None)
        if span is None:
            if len(self.early) >= MAX_EARLY:
                self.early.pop(next(iter(self.early)))
            self.early[(requester, key)] = (obj, direction, wall_ns, status, changed, injected)
            return
        attrs, error = semconv.response_outcome(span.method, obj)
        span.attributes.update(attrs)
        span.error = error
        self._mark(span, status, changed, injected, "response.")
        result = obj.get("result")
        if span.method in ("initialize", "server/discover") and self.session_info is not None:
            info, pv = semconv.server_info_of(result)
            if isinstance(result, dict) and info is None:
                meta = result.get("_meta")
                if isinstance(meta, dict) and isinstance(meta.get("io.modelcontextprotocol/serverInfo"), dict):
                    info = meta["io.modelcontextprotocol/serverInfo"]
            if span.method == "initialize" and pv:
                self.protocol_version = pv
                span.attributes["mcp.protocol.version"] = pv
            self.session_info(info, self.protocol_version or pv)
        if self.content and span.method == "tools/call" and result is not None and error is None:
            span.attributes["gen_ai.tool.call.result"] = semconv.content_json(result, self.content_max, self.redact)
        self._end(span, max(wall_ns, span.start))

    def _defer(self, token: tuple, note: tuple) -> None:
        if sum(len(v) for v in self.early_notes.values()) >= MAX_EARLY:
            oldest = next(iter(self.early_notes))
            for old in self.early_notes.pop(oldest):
                self._notification(*old, early=True)
        self.early_notes.setdefault(token, []).append(note)

    def _notification(self, obj: dict, method: str, direction: str, wall_ns: int, status: str,
                      changed: dict | None, injected: dict | None, early: bool = False,
                      log_owner: Any = _AUTO) -> None:
        params = obj.get("params") if isinstance(obj.get("params"), dict) else {}
        owner: SpanData | None = None
        event_attrs: dict[str, Any] = {"mcp.method.name": method}
        if method == "notifications/progress":
            token = params.get("progressToken")
            owner = self.tokens.get(key_of(token)) if isinstance(token, (str, int)) else None
            if owner is None and isinstance(token, (str, int)) and not early:
                # Its request may not have been observed yet (the server can answer the relayed
                # request before the other relay thread has looked at it): wait for it.
                self._defer(key_of(token), (obj, method, direction, wall_ns, status, changed, injected))
                return
            for k in ("progress", "total"):
                if isinstance(params.get(k), (int, float)) and not isinstance(params.get(k), bool):
                    event_attrs[f"mcp.progress.{k}"] = params[k]
            if isinstance(params.get("message"), str):
                event_attrs["mcp.progress.message"] = semconv.clip(params["message"], 500)
        elif method == "notifications/cancelled":
            rid = params.get("requestId")
            owner = self.pending[direction].get(key_of(rid)) if rid is not None else None
            if isinstance(params.get("reason"), str):
                event_attrs["mcp.cancel.reason"] = semconv.clip(params["reason"], 500)
        elif method == "notifications/message":
            if log_owner is not _AUTO:
                owner = log_owner  # decided by seq (see _settle_notes)
            elif direction == S2C and len(self.pending[C2S]) == 1:
                owner = next(iter(self.pending[C2S].values()))
            if isinstance(params.get("level"), str):
                event_attrs["mcp.log.level"] = params["level"]
            if isinstance(params.get("logger"), str):
                event_attrs["mcp.log.logger"] = params["logger"]
            if self.content and "data" in params:
                event_attrs["mcp.log.data"] = semconv.content_json(params["data"], self.content_max, self.redact)
        if owner is not None:
            if status != "relayed":
                event_attrs["omproxy.status"] = status
            if changed:
                event_attrs["omproxy.changed.by"] = str(changed.get("by"))
            if injected:
                event_attrs["omproxy.injected"] = True
            _add_event(owner, (method, max(wall_ns, owner.start), event_attrs))
            if method == "notifications/cancelled":
                self.pending[direction].pop(key_of(params.get("requestId")), None)
                owner.attributes["error.type"] = semconv.CANCELLED
                owner.error = event_attrs.get("mcp.cancel.reason") or "cancelled by its sender"
                self._end(owner, max(wall_ns, owner.start))
            return
        name, attrs = semconv.request_span(method, params, None, False)
        span = self._new(name, attrs, method, direction, wall_ns, semconv.meta_of(obj), None)
        for k, v in event_attrs.items():
            if k != "mcp.method.name":
                span.attributes[k] = v
        self._mark(span, status, changed, injected)
        self._end(span, wall_ns)

    def _end(self, span: SpanData, end_ns: int) -> None:
        span.end = end_ns
        if self.session_id and "mcp.session.id" not in span.attributes and \
                semconv.has_sessions(self.protocol_version):
            span.attributes["mcp.session.id"] = self.session_id  # the handshake's answer made it
        if span.token is not None and self.tokens.get(span.token) is span:
            del self.tokens[span.token]
        self.spans += 1
        if self.operation is not None and "jsonrpc.request.id" in span.attributes:
            self.operation((end_ns - span.start) / 1e9, span.attributes)
        self.emit(span)
