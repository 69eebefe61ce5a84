"""Cutting a byte stream into lines, in time linear in its length, for every leg that reads one.

A line that arrives in many chunks (a 50 MB tool result comes in ~800 reads) is accumulated in a
bytearray (amortised O(1) appends) and the newline is searched for only in each new chunk, never
in what is already buffered: rescanning the buffer per chunk makes one long line quadratic.

Chunks that hold several complete lines are handed back as one block, so a relay with nobody
watching can forward them in one write.
"""

from __future__ import annotations

READ_SIZE = 1 << 16
BIG_READ_SIZE = 1 << 20  # once a line is known to be long, read in bigger gulps


class LineCutter:
    """Feed it chunks; get complete lines back (each with its newline).

    ``feed(chunk)`` returns ``(first, block, single)``:

    - ``first``: the buffered partial line that this chunk completed, or None;
    - ``block``: the complete lines that start in this chunk, as one bytes object ending in a
      newline (``chunk`` itself when it is exactly that: no copy), or None;
    - ``single``: ``block`` holds exactly one line.

    ``lines(chunk)`` is the simple form: a list of lines. ``finish()`` returns what is left at
    EOF (a last line without a newline, possibly b"").
    """

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    @property
    def pending(self) -> bool:
        """A partial line is buffered (read in bigger gulps: it may be long)."""
        return bool(self.buf)

    def read_size(self) -> int:
        return BIG_READ_SIZE if self.buf else READ_SIZE

    def feed(self, chunk: bytes) -> tuple[bytes | None, bytes | None, bool]:
        buf = self.buf
        nl = chunk.find(b"\n")
        if nl < 0:
            buf += chunk
            return None, None, False
        first = None
        start = 0
        if buf:
            buf += chunk[: nl + 1]
            first = bytes(buf)
            buf.clear()
            start = nl + 1
        end = chunk.rfind(b"\n")
        block = None
        single = False
        if end >= start:
            block = chunk[start:end + 1] if (start or end + 1 < len(chunk)) else chunk
            single = end == (nl if start == 0 else chunk.find(b"\n", start))
        if end + 1 < len(chunk):
            buf += chunk[end + 1:]
        return first, block, single

    def lines(self, chunk: bytes) -> list[bytes]:
        """Every line this chunk completes, in order, each ending in a newline."""
        first, block, single = self.feed(chunk)
        out = [] if first is None else [first]
        if block is not None:
            if single:
                out.append(block)
            else:
                out.extend(piece + b"\n" for piece in block[:-1].split(b"\n"))
        return out

    def finish(self) -> bytes:
        """At EOF: the last line, which has no newline (b"" when there is none)."""
        rest = bytes(self.buf)
        self.buf.clear()
        return rest

