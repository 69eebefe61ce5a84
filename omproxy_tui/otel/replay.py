"""``omproxy export --otlp ENDPOINT FILE.jsonl…``: a recording sent as the spans the live proxy
would have sent, with the original timestamps.

Reads ``--record`` files (a ``hello`` frame, then event frames) and TUI exports (``message`` frames
with a ``session`` key), feeds every ``message`` frame through the same :class:`Tracker` the
``--otlp`` addon uses, in ``seq`` order, with the frame's wall-clock time. One resource per session
(its name and transport from ``hello`` when there is one; the server's name and version from the
handshake as live). Requests still open at the end of a recording end at its last frame, as
``unanswered``. A request whose ``traceparent`` was written by ``--otlp-propagate`` keeps the span
id it had live, so the server's spans still hang from it.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Callable

from ..core.export import iter_jsonl
from ..proxy.line import parse_json
from . import semconv
from .tracker import Tracker


def _raw(frame: dict) -> bytes | None:
    if isinstance(frame.get("raw"), str):
        return frame["raw"].encode("utf-8", "surrogateescape")
    if isinstance(frame.get("raw_b64"), str):
        try:
            return base64.b64decode(frame["raw_b64"])
        except ValueError:
            return None
    return None


def _own_ids(obj: dict, changed: dict | None) -> tuple | None:
    """Span ids our propagator chose live (read back from the traceparent it wrote)."""
    if not changed or not str(changed.get("by", "")).startswith("OtelPropagator."):
        return None
    mine = semconv.parse_traceparent(semconv.meta_of(obj).get("traceparent"))
    if mine is None:
        return None
    parent = None
    original, _ = parse_json(str(changed.get("original", "")).encode())
    if isinstance(original, dict):
        theirs = semconv.parse_traceparent(semconv.meta_of(original).get("traceparent"))
        if theirs is not None:
            parent = (theirs[0], theirs[1], theirs[2], True)
    return mine[0], mine[1], parent


class _Session:
    def __init__(self, name: str, transport: str, target: Any, sink_factory: Callable[[str, str, Any], Any]):
        self.sink = sink_factory(name, transport, target)
        self.base = semconv.transport_attributes(transport, target)
        self.tracker = Tracker(self.sink.span, base=self.base,
                               session_info=self.sink.session_info)


def export_recordings(paths: list[str], sink_factory: Callable[[str, str, Any], Any]) -> dict[str, Any]:
    """Replay ``paths`` into sinks made by ``sink_factory(name, transport, target)``; returns the
    sessions' sinks by name (the caller closes them)."""
    sessions: dict[str, _Session] = {}
    for path in paths:
        frames = list(iter_jsonl(path))
        hello = next((f for f in frames if f.get("type") == "hello"), None)
        proxy = hello.get("proxy", {}) if hello else {}
        default = str(proxy.get("name") or os.path.splitext(os.path.basename(path))[0])
        transport = str(proxy.get("transport") or "stdio")
        target = proxy.get("target")
        messages = [f for f in frames if f.get("type", "message") == "message" and "dir" in f]
        messages.sort(key=lambda f: (f.get("session", default), f.get("seq") or 0))
        for frame in messages:
            name = str(frame.get("session") or default)
            session = sessions.get(name)
            if session is None:
                session = sessions[name] = _Session(name, transport, target, sink_factory)
            raw = _raw(frame)
            if raw is None:
                continue
            obj, err = parse_json(raw)
            if err is not None:
                continue
            wall = int(float(frame.get("wall") or 0) * 1e9)
            changed = frame.get("changed") if isinstance(frame.get("changed"), dict) else None
            injected = frame.get("injected") if isinstance(frame.get("injected"), dict) else None
            status = str(frame.get("status") or "relayed")
            for el in obj if isinstance(obj, list) else [obj]:
                if not isinstance(el, dict):
                    continue
                own = _own_ids(el, changed)
                shown = None if own is not None else changed
                session.tracker.feed(el, str(frame["dir"]), wall, status, shown, injected, own)
    for session in sessions.values():
        tracker = session.tracker
        tracker.finish(tracker.last)
        if tracker.first is not None and tracker.last is not None:
            attrs = dict(session.base)
            if tracker.protocol_version:
                attrs["mcp.protocol.version"] = tracker.protocol_version
            session.sink.session((tracker.last - tracker.first) / 1e9, attrs)
    return {name: s.sink for name, s in sessions.items()}


def send_recordings(endpoint: str, paths: list[str], report: Callable[[str], None] | None = None,
                    timeout: float = 30.0) -> dict[str, tuple[int, int, str | None]]:
    """``omproxy export --otlp`` (and the TUI's export screen): replay ``paths`` and send them to
    ``endpoint``, one resource per session. Returns ``{session: (exported, dropped, last error)}``;
    each session's flush waits at most ``timeout`` seconds."""
    from .. import __version__
    from .sink import OtlpSink

    def sink(name: str, transport: str, target: Any) -> OtlpSink:
        return OtlpSink(endpoint, {"omproxy.session.name": name, "omproxy.transport": transport,
                                   "omproxy.version": __version__}, report=report)

    out = {}
    for name, s in export_recordings(list(paths), sink).items():
        exported, dropped = s.close(timeout=timeout)
        out[name] = (exported, dropped, s.last_error)
    return out


def send_records(records: Any, endpoint: str, timeout: float = 10.0) -> tuple[bool, str]:
    """The TUI's export screen given an OTLP endpoint: ``records`` (the filtered messages) written
    as a TUI export to a temporary file and sent as :func:`send_recordings` sends a recording.
    Returns (ok, a one-line result for the user). Blocks: call it off the UI thread."""
    import tempfile

    from ..core.export import export_jsonl
    from .addon import sdk_missing
    from .sink import signal_url

    missing = sdk_missing()
    if missing:
        return False, f"OTLP export needs {missing}: pip install 'omproxy-tui[otlp]'"
    target = signal_url(endpoint, "traces")
    with tempfile.TemporaryDirectory(prefix="omproxy-otlp-") as tmp:
        path = os.path.join(tmp, "export.jsonl")
        export_jsonl(records, path)
        errors: list[str] = []
        sent = send_recordings(endpoint, [path], errors.append, timeout)
    if not sent:
        return False, "Nothing sent: no MCP messages among the filtered ones"
    exported = sum(v[0] for v in sent.values())
    dropped = sum(v[1] for v in sent.values())
    why = next((v[2] for v in sent.values() if v[2]), None) or (errors[0] if errors else None)
    sessions = f"{len(sent)} session{'s' if len(sent) != 1 else ''}"
    if dropped:
        return False, (f"OTLP export to {target} failed: {dropped} of {exported + dropped} spans dropped"
                       + (f" ({why})" if why else ""))
    return True, f"Sent {exported:,} spans ({sessions}) to {target}"
