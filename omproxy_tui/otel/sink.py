"""The front of the OTLP export: finished spans in, counted, handed to the SDK on a thread of its
own. Standard library only: the relay threads call :meth:`OtlpSink.span` / :meth:`operation`,
which only append to a bounded inbox; the sink's thread imports the OpenTelemetry SDK (~0.3 s,
so never before the session has started), then every :data:`WORK_INTERVAL` turns what arrived
into SDK spans and histogram records (~35 µs each, which would otherwise hold the GIL between a
response and the next request).

The resource (session name, transport, omproxy version, and the server's name and version from
the handshake) is complete once the server answered ``initialize``/``server/discover``, so the SDK
objects are made then (or after :data:`EARLY_SPANS` spans, or at the end, if it never answers).

Every span that never reached the backend is counted in :attr:`OtlpSink.dropped`: the inbox or
the batch queue was full, an export failed, or the end-of-session flush ran out of time
(``OMPROXY_OTLP_FLUSH_TIMEOUT``, default 5 s, so a proxy whose backend is gone still exits promptly).
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Any, Callable

#: Spans finished before the handshake answered wait at most this many for the full resource.
EARLY_SPANS = 64
#: How often the sink's thread turns finished spans into SDK spans (seconds).
WORK_INTERVAL = 0.1
#: Items waiting for the sink's thread at most; past it spans are dropped (and counted).
INBOX_MAX = 20000


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


class OtlpSink:
    """``report(text)`` writes one stderr line; ``notify(event, info)`` tells the inspect stream
    (a lifecycle event) about the first failed export."""

    def __init__(self, endpoint: str | None, attributes: dict[str, Any], *,
                 report: Callable[[str], None] | None = None,
                 notify: Callable[[str, dict], None] | None = None,
                 metrics: bool = True):
        self.endpoint = endpoint
        self.report = report or (lambda text: None)
        self.notify = notify
        self.want_metrics = metrics
        self.base_attributes = dict(attributes)
        self.server: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.queued = 0  # handed to the batch processor, not yet exported or failed
        self.exported = 0
        self.dropped = 0
        self.reported = False
        self.last_error: str | None = None
        self.inbox: collections.deque = collections.deque()
        self.worker: threading.Thread | None = None
        self.stop = threading.Event()
        self.ready = False  # the server has said who it is: the resource is complete
        self.backend: Any = None
        self.broken = False
        self.target = signal_url(endpoint, "traces") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or \
            "http://localhost:4318"

    # ---- called by the tracker (relay threads): appends only -----------------------------------
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

    def span(self, data: Any) -> None:
        self._put(("span", data))

    def operation(self, seconds: float, attributes: dict) -> None:
        self._put(("operation", seconds, attributes))

    def session(self, seconds: float, attributes: dict) -> None:
        self._put(("session", seconds, attributes))

    def _put(self, item: tuple) -> None:
        inbox = self.inbox
        if len(inbox) >= INBOX_MAX:  # the sink's thread cannot keep up: drop, and count it
            if item[0] == "span":
                with self.lock:
                    self.dropped += 1
            return
        inbox.append(item)
        if self.worker is None:
            self._start_worker()

    # ---- the sink's thread ---------------------------------------------------------------------
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
            if self.backend is None and not self.broken:
                if not (stopping or self.ready or len(inbox) >= EARLY_SPANS):
                    continue  # wait (briefly) for the handshake to complete the resource
                try:
                    from .sdk import Backend

                    self.backend = Backend(self)
                except Exception as exc:  # noqa: BLE001 - no SDK, or a bad OTEL_* setting
                    self.broken = True
                    self.report(f"otlp: export disabled ({type(exc).__name__}: {exc})")
            backend = self.backend
            while inbox:
                kind, *args = inbox.popleft()
                if backend is None:
                    if kind == "span":
                        with self.lock:
                            self.dropped += 1
                    continue
                try:
                    getattr(backend, kind)(*args)
                except Exception as exc:  # noqa: BLE001 - one bad span must not stop the rest
                    self.report(f"otlp: could not export a span ({type(exc).__name__}: {exc})")
            if stopping:
                return

    # ---- counting (called by the SDK's export thread) ------------------------------------------
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
        """Flush and stop, waiting at most ``timeout`` seconds in all; (exported, dropped).
        Spans still waiting when time runs out count as dropped."""
        if timeout is None:
            timeout = float(os.environ.get("OMPROXY_OTLP_FLUSH_TIMEOUT", "5"))
        deadline = time.monotonic() + timeout
        self.stop.set()
        if self.inbox and self.worker is None:
            self._start_worker()
        if self.worker is not None:
            self.worker.join(timeout)
        backend = self.backend
        if backend is not None:
            done = threading.Event()

            def stop() -> None:
                try:
                    backend.shutdown(max(0.1, deadline - time.monotonic()))
                except Exception:  # noqa: BLE001 - nothing a failing flush may do to the proxy's exit
                    pass
                done.set()

            threading.Thread(target=stop, name="omproxy-otlp-flush", daemon=True).start()
            done.wait(max(0.0, deadline - time.monotonic()))
        with self.lock:
            lost = self.queued + sum(1 for item in self.inbox if item[0] == "span")
            self.dropped += max(0, lost)
            self.queued = 0
            self.inbox.clear()
            return self.exported, self.dropped
