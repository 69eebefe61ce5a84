"""Building inspect-channel frames: the one place that knows their exact shape.

Everything that makes frames as a proxy would (the exporter, the demo's canned session, the
benchmarks, tests, and the proxy's own slow path) builds them here, so a field added to the
protocol (:mod:`omproxy_tui.protocol.frames`) is added once. Standard library only.

* :func:`message_frame` -- a ``message`` frame with every key the proxy sends, in its order.
* :func:`event_frame` -- any other numbered frame (``stderr``, ``lifecycle``, ``resolved``).
* :func:`hello_frame`, :func:`state_frame` -- the unnumbered frames an inspector gets first.
* :class:`FrameBuilder` -- a whole session: numbers frames from 1 and advances a fake clock.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from omproxy_tui.protocol.frames import PROTOCOL_VERSION

__all__ = ["FrameBuilder", "event_frame", "hello_frame", "message_frame", "state_frame", "line_of"]

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def line_of(message: Any) -> str:
    """The line for ``message``: a str is taken as the line itself, anything else is encoded
    as compact JSON (no newline)."""
    return message if isinstance(message, str) else _compact(message)


def message_frame(
    seq: int,
    t: float,
    wall: float,
    dir: str,
    raw: Any,
    *,
    size: int | None = None,
    error: str | None = None,
    status: str = "relayed",
    held: bool | None = None,
    changed: dict[str, Any] | None = None,
    injected: dict[str, Any] | None = None,
    to_inspector: bool = False,
    session: str | None = None,
) -> dict[str, Any]:
    """A ``message`` frame, keys in the proxy's order.

    ``raw``: the line as a str, the line's bytes (not valid UTF-8 -> ``raw_b64``), or a JSON
    value (encoded compactly). ``size`` defaults to the line's UTF-8 byte count; ``held`` to
    ``status == "held"``. ``session`` is only for recordings that hold several sessions (the
    exporter writes it; a live proxy never sends it).
    """
    frame: dict[str, Any] = {"type": "message", "seq": seq, "t": t, "wall": wall, "dir": dir}
    if isinstance(raw, (bytes, bytearray)):
        data = bytes(raw)
        try:
            frame["raw"] = data.decode("utf-8")
        except UnicodeDecodeError:
            frame["raw_b64"] = base64.b64encode(data).decode("ascii")
    else:
        text = line_of(raw)
        frame["raw"] = text
        if size is None:
            size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        data = None
    if size is None:
        size = len(data) if data is not None else 0
    frame["size"] = size
    frame["error"] = error
    frame["held"] = status == "held" if held is None else held
    frame["status"] = status
    frame["changed"] = changed
    frame["injected"] = injected
    frame["to_inspector"] = to_inspector
    if session is not None:
        frame["session"] = session
    return frame


def event_frame(ftype: str, seq: int, t: float, wall: float, **fields: Any) -> dict[str, Any]:
    """A numbered frame that is not a message: ``stderr`` (``line``), ``lifecycle``
    (``event``, ...), ``resolved`` (``of``, ``action``, ``by``)."""
    frame: dict[str, Any] = {"type": ftype, "seq": seq, "t": t, "wall": wall}
    frame.update(fields)
    return frame


def hello_frame(proxy: dict[str, Any], *, backlog: int = 0, subscriber: int = 1, **fields: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "hello", "v": PROTOCOL_VERSION, "proxy": proxy, "backlog": backlog,
                             "subscriber": subscriber}
    frame.update(fields)
    return frame


def state_frame(
    *,
    paused: dict[str, bool] | None = None,
    intercept: str | None = None,
    held: list[dict[str, Any]] | None = None,
    held_bytes: int = 0,
    inspectors: int = 1,
    pending_injections: int = 0,
) -> dict[str, Any]:
    return {"type": "state", "paused": paused or {"c2s": False, "s2c": False}, "intercept": intercept,
            "held": list(held or ()), "held_bytes": held_bytes, "inspectors": inspectors,
            "pending_injections": pending_injections}


class FrameBuilder:
    """Frames of one made-up session, as a proxy would send them: ``seq`` from 1 across all
    numbered frames, ``t`` a monotonic clock advanced by each call's ``dt``, ``wall`` =
    ``wall0`` + elapsed. Everything built is appended to :attr:`frames` and returned.

    >>> b = FrameBuilder()
    >>> b.message("c2s", {"jsonrpc": "2.0", "id": 1, "method": "ping"})["seq"]
    1
    """

    def __init__(self, wall0: float = 1_780_000_000.0, *, t0: float = 100.0, seq: int = 0,
                 session: str | None = None) -> None:
        self.frames: list[dict[str, Any]] = []
        self.seq = seq
        self.t0 = t0
        self.t = t0
        self.wall0 = wall0
        #: written into every message frame when set (multi-session recordings)
        self.session = session

    def _tick(self, dt: float) -> tuple[int, float, float]:
        self.seq += 1
        self.t += dt
        return self.seq, round(self.t, 6), round(self.wall0 + self.t - self.t0, 6)

    def add(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.frames.append(frame)
        return frame

    def hello(self, proxy: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return self.add(hello_frame(proxy, **fields))

    def state(self, **fields: Any) -> dict[str, Any]:
        return self.add(state_frame(**fields))

    def message(self, dir: str, message: Any, dt: float = 0.01, **fields: Any) -> dict[str, Any]:
        """A ``message`` frame for ``message`` (a JSON value, or the raw line as a str)."""
        seq, t, wall = self._tick(dt)
        fields.setdefault("session", self.session)
        return self.add(message_frame(seq, t, wall, dir, message, **fields))

    def stderr(self, line: str, dt: float = 0.001) -> dict[str, Any]:
        return self.add(event_frame("stderr", *self._tick(dt), line=line))

    def lifecycle(self, event: str, dt: float = 0.001, **fields: Any) -> dict[str, Any]:
        return self.add(event_frame("lifecycle", *self._tick(dt), event=event, **fields))

    def resolved(self, of: int, action: str = "released", by: Any = 1, dt: float = 0.001) -> dict[str, Any]:
        return self.add(event_frame("resolved", *self._tick(dt), of=of, action=action, by=by))

    def lost(self, n: int) -> dict[str, Any]:
        """A ``lost`` frame; the ``n`` skipped frames use up their seqs."""
        self.seq += n
        return self.add({"type": "lost", "n": n})
