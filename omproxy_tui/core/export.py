"""Save records as a recording: one inspect-channel ``message`` frame per line (JSONL).

The output has exactly the shape of live ``message`` frames (built by
:func:`omproxy_tui.protocol.builder.message_frame`), plus a ``session`` key, so a recording can
be replayed through the same ingest path as a live proxy, sessions kept apart. Reading goes
through the one reader, :class:`omproxy_tui.protocol.recording.RecordingReader`. Derived state
(pairing, latency, pending) is not written: it is recomputed on load.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator
from typing import Any

from omproxy_tui.core.records import Record
from omproxy_tui.protocol.builder import message_frame
from omproxy_tui.protocol.recording import RecordingReader, session_of, write_recording

__all__ = ["export_jsonl", "frame_of", "iter_jsonl", "load_jsonl"]


def frame_of(rec: Record) -> dict[str, Any]:
    """The ``message`` frame that would have produced ``rec`` (with its ``session``)."""
    extra = rec.extra or {}
    b64 = extra.get("raw_b64")
    # not UTF-8 on the wire: the original bytes, not our replacement-character decoding
    raw: Any = rec.raw if b64 is None else _b64decode(b64)
    return message_frame(
        rec.seq, rec.t, rec.wall, rec.dir, raw,
        size=rec.size,
        # Only the frame's own complaint, or our parse failure: a JSON-RPC error *response* is
        # a valid message and had error null on the wire.
        error=extra.get("frame_error") or (rec.error if rec.kind == "invalid" else None),
        status=rec.status,
        held=rec.held,
        changed=extra.get("changed") if rec.changed else None,
        injected=extra.get("injected") if rec.injected else None,
        to_inspector=rec.to_inspector,
        session=rec.session,
    )  # fmt: skip


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text)
    except (ValueError, TypeError):
        return b""


def export_jsonl(records: Iterable[Record], path: str | os.PathLike[str]) -> int:
    """Write ``records`` to ``path`` as JSONL ``message`` frames; returns how many were written.

    Atomic: a failed export never leaves half a recording under the target name.
    """
    return write_recording(map(frame_of, records), path)


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Frames of a recording (any frame type; bad lines are skipped)."""
    return iter(RecordingReader(path))


def load_jsonl(path: str | os.PathLike[str], store: Any, default_session: str = "") -> int:
    """Replay a recording into ``store`` (a :class:`~omproxy_tui.core.store.Store`); each frame's
    ``session`` key (if any) picks its session. Returns the number of records added."""
    before = len(store)
    for frame in RecordingReader(path):
        store.add_frame(frame, session_of(frame, default_session))
    return len(store) - before
