"""Save records as a recording: one inspect-channel ``message`` frame per line (JSONL).

The output has exactly the shape of live ``message`` frames (see
:mod:`omproxy_tui.protocol.frames`), plus a ``session`` key, so a recording can be replayed
through the same ingest path as a live proxy (``Store.add_frame``), merged sessions included.
Derived state (pairing, latency, pending) is not written: it is recomputed on load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from omproxy_tui.core.records import Record

__all__ = ["export_jsonl", "frame_of", "iter_jsonl", "load_jsonl"]


def frame_of(rec: Record) -> dict[str, Any]:
    """The ``message`` frame that would have produced ``rec``."""
    extra = rec.extra or {}
    frame: dict[str, Any] = {
        "type": "message",
        "seq": rec.seq,
        "t": rec.t,
        "wall": rec.wall,
        "dir": rec.dir,
    }
    if "raw_b64" in extra:
        frame["raw_b64"] = extra["raw_b64"]
    else:
        frame["raw"] = rec.raw
    frame["size"] = rec.size
    # Only the frame's own complaint, or our parse failure: a JSON-RPC error *response* is a
    # valid message and had error null on the wire.
    frame["error"] = extra.get("frame_error") or (rec.error if rec.kind == "invalid" else None)
    frame["held"] = rec.held
    frame["status"] = rec.status
    frame["changed"] = extra.get("changed") if rec.changed else None
    frame["injected"] = extra.get("injected") if rec.injected else None
    frame["to_inspector"] = rec.to_inspector
    frame["session"] = rec.session
    return frame


def export_jsonl(records: Iterable[Record], path: str | os.PathLike[str]) -> int:
    """Write ``records`` to ``path`` as JSONL ``message`` frames; returns how many were written.

    Written to a temporary file and renamed, so a failed export never leaves half a recording
    under the target name.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    n = 0
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    try:
        with open(tmp, "w", encoding="utf-8", errors="surrogatepass", newline="\n") as fh:
            write = fh.write
            for rec in records:
                write(dumps(frame_of(rec)))
                write("\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return n


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Frames of a recording (any frame type; blank and non-object lines are skipped)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                yield obj


def load_jsonl(path: str | os.PathLike[str], store: Any, default_session: str = "") -> int:
    """Replay a recording into ``store`` (a :class:`~omproxy_tui.core.store.Store`); each frame's
    ``session`` key (if any) picks its session. Returns the number of records added."""
    before = len(store)
    for frame in iter_jsonl(path):
        store.add_frame(frame, str(frame.get("session", default_session)))
    return len(store) - before
