"""The proxy's side of the OTLP export: finished spans in, counted, written to the exporter
process (:mod:`.exporter`). Standard library only.

The relay threads call :meth:`OtlpSink.span`, which only appends to a bounded inbox (past
:data:`INBOX_MAX` spans are dropped and counted). The sink's thread wakes every
:data:`WORK_INTERVAL`, turns what arrived into plain tuples and writes them to the exporter's stdin
as one frame (see :func:`write_frame`); the exporter process imports the OpenTelemetry SDK and does
the encoding, the duration metric and HTTP. The proxy
never imports the SDK (see :mod:`.exporter` for why), and a backend that is down or slow only
fills the exporter's bounded queue: nothing waits on it.

The exporter process is started with the sink's thread (``--otlp``: when the proxy starts), so its
one-off import of the OpenTelemetry libraries (~0.1 s of CPU, at a lower priority) overlaps the
server's own start-up instead of the first requests. The resource (session name, transport,
omproxy version, and the server's name and version from the handshake) is complete once the
server answered ``initialize``/``server/discover``, so it is sent then, ahead of the first spans
(or after :data:`EARLY_SPANS` spans, or at the end, if the server never answers).

Every span that never reached the backend is counted in :attr:`OtlpSink.dropped`: the inbox or
the exporter's queue was full, an export failed, or the end-of-session flush ran out of time
(``OMPROXY_OTLP_FLUSH_TIMEOUT``, default 5 s, so a proxy whose backend is gone still exits promptly).
"""

from __future__ import annotations

import collections
import json
import marshal
import os
import struct
import threading
import time
from typing import Any, Callable

#: Spans finished before the handshake answered wait at most this many for the full resource.
EARLY_SPANS = 64
#: How often the sink's thread turns finished spans into SDK spans (seconds).
WORK_INTERVAL = 0.1
#: Items waiting for the sink's thread at most; past it spans are dropped (and counted).
INBOX_MAX = 20000


#: A frame on the exporter's stdin: a 4-byte big-endian length, then ``marshal`` data (a list of
#: tuples). marshal, not JSON: both ends are the same interpreter (``sys.executable``), and it
#: writes and reads a batch of spans several times faster (~1 µs a span instead of ~7 µs), ints of
#: any size (128-bit trace ids) and strings with lone surrogates included.
_LENGTH = struct.Struct(">I")


def write_frame(out: Any, items: list) -> None:
    blob = marshal.dumps(items)
    out.write(_LENGTH.pack(len(blob)) + blob)


def read_frame(inp: Any) -> list | None:
    """The next frame's items, or None at EOF (or a cut-off frame: the proxy is gone)."""
    head = inp.read(4)
    if len(head) < 4:
        return None
    (n,) = _LENGTH.unpack(head)
    blob = inp.read(n)
    if len(blob) < n:
        return None
    return marshal.loads(blob)


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
        self.exported = 0
        self.dropped = 0
        self.reported = False
        self.last_error: str | None = None
        self.inbox: collections.deque = collections.deque()
        self.worker: threading.Thread | None = None
        self.stop = threading.Event()
        self.ready = False  # the server has said who it is: the resource is complete
        self.child: Any = None  # the exporter process
        self.described = False  # the exporter has been told the resource
        self.broken = False
        self.sent = 0  # spans written to the exporter
        self.confirmed = False  # the exporter reported its counts at the end
        self.finished = threading.Event()
        #: called by the sink's thread before each hand-over: the addon pairs what it observed
        self.pull: Callable[[], None] | None = None
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

    def lost(self, n: int) -> None:
        """``n`` spans were never made (the addon's backlog was full): counted as dropped."""
        with self.lock:
            self.dropped += n

    # ---- the sink's thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._start_worker()

    def _start_worker(self) -> None:
        with self.lock:
            if self.worker is not None:
                return
            self.worker = threading.Thread(target=self._work, name="omproxy-otlp", daemon=True)
            self.worker.start()

    def _spawn(self) -> None:
        """Start the exporter process (see :mod:`.exporter`)."""
        import subprocess
        import sys

        try:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "omproxy_tui.otel.exporter", self.endpoint or ""],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, close_fds=True,
                start_new_session=True)  # our signals (Ctrl-C in a terminal) are not its business
        except OSError as exc:
            self.broken = True
            self.report(f"otlp: export disabled (cannot start the exporter: {exc})")
            return
        from ..proxy.reaper import mark_own

        mark_own(self.child.pid)  # its own session: without this, shutdown would end it as a server stray
        threading.Thread(target=self._read_child, name="omproxy-otlp-reader", daemon=True).start()

    def _send(self, items: list) -> bool:
        child = self.child
        if child is None or self.broken:
            return False
        try:
            write_frame(child.stdin, items)
            child.stdin.flush()
            return True
        except (OSError, ValueError):
            self.broken = True
            self.report("otlp: the exporter process went away; spans are dropped from now on")
            return False

    def _read_child(self) -> None:
        for line in self.child.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg[0] == "failed":
                self._failed(int(msg[1]), str(msg[2]))
            elif msg[0] == "done":
                with self.lock:
                    self.exported += int(msg[1])
                    self.dropped += int(msg[2])
                    self.confirmed = True
                self.finished.set()
                return
        self.finished.set()

    def _work(self) -> None:
        inbox = self.inbox
        if not self.broken:
            self._spawn()
        while True:
            stopping = self.stop.wait(WORK_INTERVAL)
            if self.pull is not None:
                try:
                    self.pull()
                except Exception as exc:  # noqa: BLE001 - the thread must go on
                    self.report(f"otlp: pairing failed ({type(exc).__name__}: {exc})")
            if not self.described:
                if not (stopping or self.ready or len(inbox) >= EARLY_SPANS):
                    continue  # wait (briefly) for the handshake to complete the resource
                self.described = True
                self._send([("resource", {"base": self.base_attributes, "server": self.server})])
            items = []
            spans = 0
            while inbox:
                item = inbox.popleft()
                if item[0] == "span":
                    d = item[1]
                    items.append(("span", d.name, d.trace_id, d.span_id, d.parent, d.start, d.end,
                                  d.attributes, d.events, d.error))
                    spans += 1
                else:
                    items.append(item)
            if items:
                if self._send(items):
                    with self.lock:
                        self.sent += spans
                else:
                    with self.lock:
                        self.dropped += spans
            if stopping:
                return

    # ---- counting ------------------------------------------------------------------------------
    def _failed(self, dropped: int, why: str) -> None:
        """The exporter reports spans it dropped (``dropped``: its running total; at the first
        failure, then less and less often): one stderr line the first time, and each time an
        ``otlp_dropped`` lifecycle event, the TUI's session counter."""
        with self.lock:
            self.last_error = why
            first = not self.reported
            self.reported = True
            total = self.dropped + dropped  # with what never reached the exporter
        if first:
            self.report(f"OTLP export to {self.target} failed ({why}); spans are being dropped, relaying goes on")
        if self.notify is not None:
            self.notify("otlp_dropped", {"dropped": total, "endpoint": self.target, "error": why})

    def close(self, timeout: float | None = None) -> tuple[int, int]:
        """Flush and stop, waiting at most ``timeout`` seconds in all; (exported, dropped).
        Spans the exporter did not confirm when time runs out count as dropped."""
        if timeout is None:
            timeout = float(os.environ.get("OMPROXY_OTLP_FLUSH_TIMEOUT", "5"))
        deadline = time.monotonic() + timeout
        self.stop.set()
        if self.inbox and self.worker is None:
            self._start_worker()
        if self.worker is not None:
            self.worker.join(timeout)
        child = self.child
        if child is not None and self.worker is not None and self.worker.is_alive():
            # the worker is stuck writing to an exporter that stopped reading: never wait on it
            child.kill()
        elif child is not None:
            self._send([("close", max(0.1, deadline - time.monotonic() - 0.2))])
            try:
                child.stdin.close()
            except OSError:
                pass
            self.finished.wait(max(0.0, deadline - time.monotonic()))
            if child.poll() is None and not self.finished.is_set():
                child.kill()
            try:
                child.wait(1)
            except Exception:  # noqa: BLE001
                pass
        with self.lock:
            waiting = sum(1 for item in self.inbox if item[0] == "span")
            self.inbox.clear()
            if not self.confirmed:
                self.dropped += self.sent  # nothing confirmed: assume nothing arrived
            self.dropped += waiting
            return self.exported, self.dropped
