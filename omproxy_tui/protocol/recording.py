"""Reading and writing recordings: JSONL files of inspect-channel frames, one per line.

The one reader for everything that produces them: ``omproxy --record`` (the frames the proxy
sent, ``hello`` first), the TUI's export (``message`` frames with a ``session`` key, so one file
can hold several sessions) and hand-written files (bare message objects without ``type`` are
taken as ``message`` frames). Standard library only.

A reader never stops at a bad line: it skips it and counts why (:attr:`RecordingReader.skipped`),
so a UI can say "3 lines skipped: not JSON" instead of showing an empty log.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from omproxy_tui.protocol.frames import decode

__all__ = ["RecordingReader", "read_recording", "write_recording", "session_of"]

#: Why a line was skipped (the keys of :attr:`RecordingReader.skipped`).
NOT_JSON = "not JSON"
NOT_OBJECT = "not a JSON object"
NOT_FRAME = "not a frame (no type)"


def session_of(frame: dict[str, Any], default: str) -> str:
    """The session a recorded frame belongs to: its ``session`` key (exports), else ``default``."""
    session = frame.get("session")
    return default if session is None else str(session)


class RecordingReader:
    """Iterate the frames of a recording; :attr:`skipped` counts bad lines by reason.

    Iterating twice reads the file twice (counts restart). With ``offsets=True`` every
    ``message`` frame also gets ``"_at": (path, offset, length)``, where its line is in the file,
    so a reader that keeps only the offset can read the message back later (the TUI's
    ``--open`` uses the recording itself as the spool for message bodies).
    """

    def __init__(self, path: str | os.PathLike[str], *, offsets: bool = False) -> None:
        self.path = os.fspath(path)
        self.offsets = offsets
        #: reason -> number of lines skipped for it
        self.skipped: Counter[str] = Counter()
        #: non-blank lines read
        self.lines = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.skipped = Counter()
        self.lines = 0
        offsets = self.offsets
        path = os.path.abspath(self.path)
        pos = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                at = pos
                pos += len(line)
                if not line.strip():
                    continue
                self.lines += 1
                try:
                    frame = decode(line)
                except ValueError as exc:
                    self.skipped[NOT_OBJECT if "must be a JSON object" in str(exc) else NOT_JSON] += 1
                    continue
                if "type" not in frame:
                    if "dir" in frame and ("raw" in frame or "raw_b64" in frame):
                        frame["type"] = "message"  # a bare message object
                    else:
                        self.skipped[NOT_FRAME] += 1
                        continue
                if offsets and frame["type"] == "message":
                    frame["_at"] = (path, at, len(line))
                yield frame

    @property
    def skipped_text(self) -> str:
        """``"3 lines skipped: 2 not JSON, 1 not a frame (no type)"``, or ``""``."""
        total = sum(self.skipped.values())
        if not total:
            return ""
        why = ", ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        return f"{total} line{'s' if total != 1 else ''} skipped: {why}"


def read_recording(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All frames of a recording (bad lines skipped)."""
    return list(RecordingReader(path))


def write_recording(frames: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write frames as a recording, atomically (a temporary file renamed into place, so a
    failed write never leaves half a recording under ``path``). Returns the number written."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8", errors="surrogatepass", newline="\n") as fh:
            write = fh.write
            for frame in frames:
                write(dumps(frame))
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
