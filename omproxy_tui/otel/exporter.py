"""The OTLP exporter process: ``python -m omproxy_tui.otel.exporter ENDPOINT``, started by
:class:`~.sink.OtlpSink`. It reads finished spans on stdin and exports them with the
OpenTelemetry libraries (:mod:`.sdk`).

Why a process of its own: encoding spans to protobuf costs several µs each, in Python, in bursts
of a whole batch. In the proxy's process those bursts hold the GIL, and a relay thread woken by the
next message waits for it (up to the 5 ms switch interval): the mean latency of a session grew
tenfold. Here they cost the relay nothing but a pipe write; the import of the OpenTelemetry
libraries (~0.1 s of CPU) is not paid by the proxy either. Its CPU is still the proxy's cost: the
benchmarks count it.

Protocol: frames of tuples (:func:`~.sink.write_frame`), ``("resource", {attrs})`` first, then
``("span", …)``, ``("session", seconds, {attrs})`` and ``("close", timeout)``. On stdout (JSON
lines) it answers ``["failed", dropped so far, why]`` at the first failed export (then again
after 1 s, 2 s, 4 s… up to every minute while spans keep being dropped) and ``["done", exported, dropped]`` at the end. EOF
on stdin (the proxy is gone) flushes and exits too.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from typing import Any

from .sink import read_frame

#: How often at most the proxy is told the running drop count.
#: The wait doubles after each telling, up to TELL_MAX: each one is a lifecycle event in the TUI's
#: server log and in recordings, so a backend that stays down must not add one a second forever.
TELL_EVERY = 1.0
TELL_MAX = 60.0
#: How long a frame's spans may wait for room in a full export queue before they are dropped.
FRAME_PATIENCE = 1.0


class Counts:
    """What :class:`~.sdk.Backend` reports to: the same counters as the proxy-side sink."""

    def __init__(self, endpoint: str | None, attributes: dict, out: Any):
        self.endpoint = endpoint
        self.want_metrics = True
        self.base_attributes = attributes
        self.server: dict = {}
        self.lock = threading.Lock()
        self.queued = 0
        self.exported = 0
        self.dropped = 0
        self.told: float | None = None  # when the proxy was last told the drop count
        self.tell_every = TELL_EVERY
        self.out = out

    def send(self, *msg: Any) -> None:
        with self.lock:
            try:
                self.out.write(json.dumps(msg) + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass

    def _exported(self, n: int) -> None:
        with self.lock:
            self.queued -= n
            self.exported += n

    def _failed(self, n: int, why: str) -> None:
        with self.lock:
            self.queued -= n
            self.dropped += n
        self.tell(why)

    def tell(self, why: str) -> None:
        """Tell the proxy how many spans were dropped so far (the inspect stream's session counter):
        at once the first time, then after :data:`TELL_EVERY` seconds, then twice as long each time
        (up to :data:`TELL_MAX`)."""
        with self.lock:
            now = time.monotonic()
            if self.told is not None:
                if now - self.told < self.tell_every:
                    return
                self.tell_every = min(self.tell_every * 2, TELL_MAX)
            self.told = now
            total = self.dropped
        self.send("failed", total, why)


def main(argv: list[str]) -> int:
    endpoint = argv[0] if argv and argv[0] else None
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # nothing else may write to the pipe the proxy reads
    try:
        os.nice(10)  # background work: the proxy and the server it relays for come first
    except OSError:
        pass
    # Started with the proxy: this import (~0.1 s of CPU) overlaps the server's start-up, while the
    # proxy waits for the handshake that completes the resource; the proxy never waits for it.
    from .sdk import Backend

    # This process allocates a dict and a few tuples per span and keeps almost nothing: no cycles
    # to find. The imports' objects are frozen out of the collector's way, and young collections
    # are made rarer (each frame's unmarshalling would otherwise set them off by the dozen).
    gc.freeze()
    gc.set_threshold(20000, 20, 20)

    stdin = sys.stdin.buffer
    first = read_frame(stdin)
    if not first:
        return 0
    kind, attrs = first[0]
    counts = Counts(endpoint, attrs.get("base", {}), out)
    counts.server = attrs.get("server", {})

    backend = Backend(counts)
    timeout = 5.0
    closing = False
    while not closing:
        try:
            items = read_frame(stdin)
        except (ValueError, EOFError, TypeError):  # not a frame of ours: nothing after it can be trusted
            items = None
        if items is None:
            break
        backend.frame(FRAME_PATIENCE)
        for msg in items:
            kind = msg[0]
            try:
                if kind == "span":
                    backend.span(msg)
                elif kind == "session":
                    backend.session(msg[1], msg[2])
                elif kind == "close":
                    timeout = float(msg[1])
                    closing = True
                    break
            except Exception as exc:  # noqa: BLE001 - one bad span must not stop the rest
                sys.stderr.write(f"omproxy: otlp exporter: could not export a span ({type(exc).__name__}: {exc})\n")
    done = threading.Event()

    def stop() -> None:
        try:
            backend.shutdown(timeout)
        except Exception:  # noqa: BLE001
            pass
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    done.wait(timeout)
    with counts.lock:
        lost = max(0, counts.queued)
        exported, dropped = counts.exported, counts.dropped + lost
    counts.send("done", exported, dropped)
    out.close()
    os._exit(0)  # the SDK's threads may still be retrying a dead endpoint: do not wait for them


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
