"""The detail pane's document: lines with a kind, JSON folding, and search (no Textual here).

Pretty-printed JSON (``json.dumps(indent=2)``, or the re-indented prefix of a huge message) has
one container opener per line ending in ``{`` or ``[`` and its closer on a line of its own, so
folding needs no second parse: one pass pairs openers with closers. Folding hides a range of
lines; the visible lines are recomputed in one pass over the lines, only when a fold changes.

Search scans the lines in slices and can be stopped between slices (it runs in a thread: a 20 MB
body takes a while, and a newer query makes the old scan pointless).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

#: line kinds: how the view styles them
JSON, TEXT, NOTE, TITLE, ADD, DEL, HUNK, DIM = "json", "text", "note", "title", "add", "del", "hunk", "dim"

#: a search stops collecting after this many matches (the count then reads "10000+")
MAX_MATCHES = 10_000
#: characters scanned between two checks of "was this search cancelled?"
SCAN_SLICE = 1 << 20


@dataclass
class Doc:
    lines: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    #: opener line -> its closer line (pretty JSON lines only)
    closer: dict[int, int] = field(default_factory=dict)
    #: line -> the opener line of the container it is in (-1 at the top)
    parent: list[int] = field(default_factory=list)
    folded: set[int] = field(default_factory=set)

    def add(self, lines: list[str], kind: str) -> None:
        start = len(self.lines)
        self.lines.extend(lines)
        self.kinds.extend([kind] * len(lines))
        if kind == JSON:
            self._pair(start)
        else:
            self.parent.extend([-1] * len(lines))

    def _pair(self, start: int) -> None:
        stack: list[int] = []
        parent = self.parent
        for i in range(start, len(self.lines)):
            s = self.lines[i].strip()
            if s[:1] in ("}", "]") and stack:
                opener = stack.pop()
                self.closer[opener] = i
                parent.append(opener)  # a closer is hidden with its opener's fold
            else:
                parent.append(stack[-1] if stack else -1)
            if s.endswith(("{", "[")):
                stack.append(i)
        for i in stack:  # a truncated prefix: open containers fold to the end of the JSON
            self.closer[i] = len(self.lines) - 1

    # ---- folding -------------------------------------------------------------------------

    def foldable(self, i: int) -> bool:
        return i in self.closer and self.closer[i] > i

    def fold(self, i: int) -> bool:
        if self.foldable(i) and i not in self.folded:
            self.folded.add(i)
            return True
        return False

    def unfold(self, i: int) -> bool:
        if i in self.folded:
            self.folded.discard(i)
            return True
        return False

    def fold_all(self) -> None:
        """Fold every container but the outermost ones: the top level stays readable."""
        self.folded = {i for i in self.closer if self.foldable(i) and self.parent[i] != -1}

    def unfold_all(self) -> None:
        self.folded.clear()

    def reveal(self, line: int) -> None:
        """Unfold whatever hides ``line``."""
        p = self.parent[line] if line < len(self.parent) else -1
        while p != -1:
            self.folded.discard(p)
            p = self.parent[p]

    def visible(self) -> list[int]:
        if not self.folded:
            return list(range(len(self.lines)))
        out: list[int] = []
        i, n = 0, len(self.lines)
        folded, closer = self.folded, self.closer
        while i < n:
            out.append(i)
            # the closer of a folded range is drawn on the opener's line (`{…}`)
            i = closer[i] + 1 if i in folded else i + 1
        return out

    def fold_suffix(self, i: int) -> str:
        """What a folded opener line shows after its text: ``…}  12 lines``."""
        end = self.closer[i]
        closing = self.lines[end].strip()
        return f"…{closing}  {end - i - 1:,} lines"


def find_matches(lines: list[str], query: str, cancelled: Callable[[], bool] = lambda: False,
                 limit: int = MAX_MATCHES) -> list[tuple[int, int, int]] | None:
    """``(line, start, end)`` of each occurrence of ``query`` (smart case: case-insensitive
    unless it has a capital), in order; None when ``cancelled()`` said stop."""
    if not query:
        return []
    fold = query == query.lower()
    needle = query.lower() if fold else query
    out: list[tuple[int, int, int]] = []
    scanned = 0
    for n, line in enumerate(lines):
        for a in range(0, max(len(line), 1), SCAN_SLICE):
            # overlapping slices so a match across a slice boundary is found once
            chunk = line[a:a + SCAN_SLICE + len(needle) - 1]
            if fold:
                chunk = chunk.lower()
            pos = chunk.find(needle)
            while pos != -1 and pos < SCAN_SLICE:
                out.append((n, a + pos, a + pos + len(needle)))
                if len(out) >= limit:
                    return out
                pos = chunk.find(needle, pos + max(1, len(needle)))
            scanned += len(chunk)
            if scanned >= SCAN_SLICE:
                scanned = 0
                if cancelled():
                    return None
    return out
