"""Message bodies that do not fit the TUI's memory budget, kept on disk and read back on demand.

Why it works the way it does:

* The index of a message (time, session, direction, kind, method, id, target, size, latency,
  status, summary) is small and stays in memory; the body (``Record.raw``) is what grows without
  bound (a day of 1 MB screenshots). A :class:`~omproxy_tui.core.store.Store` over its budget
  moves the oldest bodies here.
* Nothing else has to know: the store's ``raw`` column (:mod:`omproxy_tui.core.table`) holds
  either the body or an int saying where it is (``spool number << SPOOL_SHIFT | offset << 32 |
  length``), and a record's ``raw`` reads it back from here when it is an int.
* Two kinds of spool: :class:`BodySpool`, a private file of UTF-8 bodies written by us (``0600``,
  in the user's cache dir, unlinked right after it is created so even a killed TUI leaves nothing
  behind), and :class:`FileSpool`, a recording opened with ``--open``: the file itself, offsets
  to its lines, nothing copied.
* Raw-text filters over spooled bodies (:func:`search`) read the file in large blocks and scan
  each block at C speed for the pattern's literal text, mapping hits back to records by offset;
  only the records a hit falls in are decoded and checked exactly, so the answer is always the
  same as searching the bodies in memory.

Standard library only; no textual.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import threading
import weakref
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from omproxy_tui.core.table import SPOOL_SHIFT

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "BodySpool",
    "Cancelled",
    "FileSpool",
    "any_spooled",
    "is_spooled",
    "note_spooled",
    "parse_size",
    "search",
    "searching",
    "set_default_max_memory",
    "default_max_memory",
    "spool_dir",
]

#: Default memory budget for message bodies (``omproxy-tui --max-memory``).
DEFAULT_MAX_MEMORY = 256 * 1024 * 1024

#: Bytes read per block when searching a spool.
BLOCK = 8 * 1024 * 1024

_default_max = DEFAULT_MAX_MEMORY
# set once any record was spooled: until then raw-text filters skip looking for spooled ones
_any_spooled = False

#: Called as ``progress_hook(done_bytes, total_bytes)`` while a raw-text filter searches spooled
#: bodies (a UI sets it to show progress; None: nobody listens). :func:`searching` sets one for
#: the searches of one thread only.
progress_hook: Callable[[int, int], None] | None = None

_local = threading.local()


class Cancelled(Exception):
    """Raised by a progress callback to stop a search (a newer filter replaced it)."""


@contextmanager
def searching(progress: Callable[[int, int], None]) -> Iterator[None]:
    """Within this block, raw-text searches of spooled bodies *in this thread* report to
    ``progress(done_bytes, total_bytes)`` after each block read; it may raise
    :class:`Cancelled` to stop the search (the exception propagates to the caller)."""
    before = getattr(_local, "hook", None)
    _local.hook = progress
    try:
        yield
    finally:
        _local.hook = before


def any_spooled() -> bool:
    """Whether any store has moved a body out of memory (else no search reads a file)."""
    return _any_spooled

_TOKEN_MASK = (1 << SPOOL_SHIFT) - 1


def set_default_max_memory(n: int) -> None:
    """The budget a :class:`~omproxy_tui.core.store.Store` made without one gets (set once by the CLI)."""
    global _default_max
    _default_max = max(0, int(n))


def default_max_memory() -> int:
    return _default_max


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"256m"`` -> 268435456. Suffixes k/m/g/t (powers of 1024, optional ``b``/``ib``);
    a bare number is bytes. Raises ValueError with a one-line reason."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 512k, 256m, 2g)")
    unit = m.group(2).lower()
    return int(float(m.group(1)) * (1024 ** ("kmgt".index(unit) + 1) if unit else 1))


def spool_dir() -> str:
    """Where spool files are made: ``$XDG_CACHE_HOME/omproxy`` (``~/.cache/omproxy``), else the
    per-user runtime dir, else the system temp dir. Created ``0700``."""
    import tempfile

    candidates = []
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates.append(os.path.join(cache, "omproxy"))
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        candidates.append(os.path.join(runtime, "omproxy"))
    candidates.append(tempfile.gettempdir())
    for d in candidates:
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            if os.access(d, os.W_OK | os.X_OK):
                return d
        except OSError:
            continue
    return tempfile.gettempdir()


def is_spooled(rec: Any) -> bool:
    """The record's body lives in a spool (not in memory)."""
    table = getattr(type(rec), "table", None)
    return table is not None and type(table.raw[rec]) is int


def note_spooled() -> None:
    """A store spooled a body: raw-text filters must look for spooled ones from now on."""
    global _any_spooled
    _any_spooled = True


class _Spool:
    """What both spools share: a one-entry read cache, search."""

    path: str

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[int, str] | None = None

    def body(self, token: int) -> str:
        last = self._last
        if last is not None and last[0] == token:
            return last[1]
        text = self._decode(self._read(token >> 32, token & 0xFFFFFFFF))
        self._last = (token, text)
        return text

    # ---- subclasses -----------------------------------------------------------------------

    def _read(self, off: int, n: int) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, data: bytes) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prefilter_ok(self, literal: bytes, caseless: bool) -> bool:
        """Whether a literal found verbatim in the stored bytes is implied by one in the body."""
        return True

    def close(self) -> None:  # pragma: no cover - abstract
        pass

    # ---- search ---------------------------------------------------------------------------

    def search(self, entries: Sequence[tuple[int, int]], test: Callable[[str], bool],
               literal: str | None = None, caseless: bool = False,
               progress: Callable[[int, int], None] | None = None) -> list[int]:
        """Indices of ``entries`` (``(index, token)`` pairs, in file order) whose body passes ``test``.

        Reads the file in blocks of about :data:`BLOCK` bytes. With a ``literal`` (text every
        matching body contains: lower-case ASCII when ``caseless``), each block is scanned for
        it at C speed and only the records a hit falls in are decoded and tested; without one,
        every body is decoded and tested (still one read per block). ``progress(done, total)``
        is called after each block with bytes read so far.
        """
        if not entries:
            return []
        lit = None
        if literal:
            try:
                lit = literal.encode("utf-8", "surrogatepass")
            except UnicodeEncodeError:
                lit = None
            if lit is not None and not self._prefilter_ok(lit, caseless):
                lit = None
        total = sum(t & 0xFFFFFFFF for _, t in entries)
        done = 0
        out: list[int] = []
        for block_entries in _blocks(entries):
            first = block_entries[0][1] >> 32
            last = block_entries[-1][1]
            end = (last >> 32) + (last & 0xFFFFFFFF)
            data = self._read(first, end - first)
            starts = [(t >> 32) - first for _, t in block_entries]
            if lit is None:
                cands: Iterable[int] = range(len(block_entries))
            else:
                cands = self._candidates(data, starts, block_entries, lit, caseless)
            for k in cands:
                idx, t = block_entries[k]
                s = starts[k]
                if test(self._decode(data[s : s + (t & 0xFFFFFFFF)])):
                    out.append(idx)
            done += end - first
            if progress is not None:
                progress(done, total)
        return out

    def _candidates(self, data: bytes, starts: list[int], entries: Sequence[tuple[int, int]],
                    lit: bytes, caseless: bool) -> list[int]:
        hay = data.lower() if caseless else data
        found: set[int] = set()
        find = hay.find
        pos = find(lit)
        n = len(lit)
        while pos >= 0:
            k = bisect_right(starts, pos) - 1
            s = starts[k]
            e = s + (entries[k][1] & 0xFFFFFFFF)
            if pos + n <= e:
                found.add(k)
                pos = find(lit, e)  # the rest of this record need not be scanned
            else:
                pos = find(lit, pos + 1)
        if caseless and not data.isascii():
            # bytes.lower() only folds ASCII; str.lower() folds e.g. KELVIN SIGN to "k": records
            # with non-ASCII bytes are checked exactly, whatever the scan said.
            for k, s in enumerate(starts):
                if not data[s : s + (entries[k][1] & 0xFFFFFFFF)].isascii():
                    found.add(k)
        return sorted(found)


def _blocks(entries: Sequence[tuple[int, int]]) -> Iterable[Sequence[tuple[int, int]]]:
    """Split ``entries`` into runs of about :data:`BLOCK` bytes, each contiguous in the file
    order given (a gap between two bodies is read and skipped: cheaper than another read)."""
    start = 0
    first = entries[0][1] >> 32
    for i, (_, t) in enumerate(entries):
        off = t >> 32
        if i > start and (off + (t & 0xFFFFFFFF) - first > BLOCK or off < first):
            yield entries[start:i]
            start = i
            first = off
    yield entries[start:]


# --------------------------------------------------------------------------------------------
# our own spool file

_open_spools: weakref.WeakSet[BodySpool] = weakref.WeakSet()


class BodySpool(_Spool):
    """An append-only private file of bodies (UTF-8, ``surrogatepass`` so any str round-trips).

    Created ``0600`` in :func:`spool_dir` and unlinked at once (POSIX): the open descriptor is
    all that keeps it, so it disappears on any exit, a crash or ``kill -9`` included. Where the
    unlink is refused, :meth:`close` (called at interpreter exit too) removes it.
    """

    def __init__(self, directory: str | None = None) -> None:
        import tempfile

        super().__init__()
        fd, path = tempfile.mkstemp(prefix="omproxy-tui-spool-", suffix=".bin", dir=directory or spool_dir())
        os.fchmod(fd, 0o600)
        self.fd = fd
        self.path = path
        try:
            os.unlink(path)
            self.unlinked = True
        except OSError:
            self.unlinked = False
        self.size = 0
        self.closed = False
        _open_spools.add(self)

    def append(self, bodies: list[str]) -> list[int]:
        """Write ``bodies`` (one write) and return their tokens."""
        tokens = []
        parts = []
        off = self.size
        for raw in bodies:
            data = raw.encode("utf-8", "surrogatepass")
            n = len(data)
            if n > 0xFFFFFFFF:
                raise ValueError("body too large to spool")
            tokens.append(off << 32 | n)
            parts.append(data)
            off += n
        blob = b"".join(parts)
        with self._lock:
            view = memoryview(blob)
            pos = self.size
            while view:
                written = os.pwrite(self.fd, view, pos)
                view = view[written:]
                pos += written
            self.size = pos
        return tokens

    def _read(self, off: int, n: int) -> bytes:
        data = os.pread(self.fd, n, off)
        while len(data) < n:  # pread may return short reads on some filesystems
            more = os.pread(self.fd, n - len(data), off + len(data))
            if not more:
                break
            data += more
        return data

    def _decode(self, data: bytes) -> str:
        return data.decode("utf-8", "surrogatepass")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            os.close(self.fd)
        except OSError:
            pass
        if not self.unlinked:
            try:
                os.unlink(self.path)
            except OSError:
                pass


@atexit.register
def _close_all() -> None:
    for spool in list(_open_spools):
        spool.close()


# --------------------------------------------------------------------------------------------
# a recording as its own spool

#: bytes that standard JSON encoders may write escaped (Go: <>&, some: /); a literal holding
#: one of them, or anything but printable ASCII, cannot be looked for in the encoded file
_ESCAPABLE = frozenset(b'"\\/<>&')


class FileSpool(_Spool):
    """A recording (``--open``): tokens point at whole frame lines; the body is the frame's
    ``raw`` (``raw_b64`` decoded with replacement characters, as on load). Nothing is copied.
    The file must not change while it is open (a truncated line reads back as an empty body).
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._fh = open(path, "rb")  # noqa: SIM115 - kept open for the spool's life

    def token(self, off: int, n: int) -> int:
        return off << 32 | n

    def _read(self, off: int, n: int) -> bytes:
        with self._lock:
            self._fh.seek(off)
            return self._fh.read(n)

    def _decode(self, data: bytes) -> str:
        try:
            frame = json.loads(data)
        except (ValueError, RecursionError):
            return ""
        if type(frame) is not dict:
            return ""
        raw = frame.get("raw")
        if type(raw) is str:
            return raw
        b64 = frame.get("raw_b64")
        if b64:
            import base64

            try:
                return base64.b64decode(b64).decode("utf-8", "replace")
            except (ValueError, TypeError):
                return ""
        return ""

    def _prefilter_ok(self, literal: bytes, caseless: bool) -> bool:
        # The body is JSON-encoded in the file: only text no encoder escapes is found verbatim.
        # (A caseless literal: \\uXXXX escapes of non-ASCII letters could fold to it, so those
        # records are candidates too -- see _candidates.)
        return all(0x20 <= b < 0x7F and b not in _ESCAPABLE for b in literal)

    def _candidates(self, data: bytes, starts: list[int], entries: Sequence[tuple[int, int]],
                    lit: bytes, caseless: bool) -> list[int]:
        found = set(super()._candidates(data, starts, entries, lit, caseless))
        if caseless and b"\\u" in data:
            for k, s in enumerate(starts):
                if b"\\u" in data[s : s + (entries[k][1] & 0xFFFFFFFF)]:
                    found.add(k)
        return sorted(found)

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# raw-text filters


def required_literal(pattern: str, flags: int = 0) -> str | None:
    """The longest run of plain characters every match of ``pattern`` must contain (``"query
    number 4242"`` for ``query number 4242\\b``), or None. It lets a regex search scan the spool
    for that text first and run the regex only on the records holding it. With
    ``re.IGNORECASE`` the run is lower-cased and must be ASCII (bytes only fold ASCII)."""
    try:
        from re import _parser as sre  # type: ignore[attr-defined]
        from re._constants import LITERAL  # type: ignore[import-not-found]

        items = sre.parse(pattern, flags)
    except Exception:  # noqa: BLE001 - private API or an odd pattern: just no prefilter
        return None
    best: list[int] = []
    run: list[int] = []
    for op, arg in items:  # top-level items are all required (a top-level | is one BRANCH item)
        if op is LITERAL:
            run.append(arg)
            continue
        if len(run) > len(best):
            best = run
        run = []
    if len(run) > len(best):
        best = run
    if len(best) < 3:
        return None
    text = "".join(map(chr, best))
    if flags & re.IGNORECASE:
        if not text.isascii():
            return None
        text = text.lower()
    return text


def search(records: Any, rows: Sequence[int], test: Callable[[str], bool],
           literal: str | None = None, caseless: bool = False,
           progress: Callable[[int, int], None] | None = None) -> list[int] | None:
    """The ``rows`` whose body passes ``test``, searching spooled bodies block-wise (see
    :meth:`_Spool.search`), or None when none of them is spooled (the caller's in-memory path
    is then the fast one). ``records`` is a store's :class:`~omproxy_tui.core.table.RecordTable`
    (anything else has nothing spooled)."""
    if not _any_spooled:
        return None
    raw = getattr(records, "raw", None)
    spools = getattr(records, "spools", None)
    if type(raw) is not list or not spools:
        return None
    vals = raw[rows.start : rows.stop] if isinstance(rows, range) else list(map(raw.__getitem__, rows))
    if int not in set(map(type, vals)):
        return None
    if progress is None:
        progress = getattr(_local, "hook", None) or progress_hook
    by_spool: dict[int, list[tuple[int, int]]] = {}
    hits: list[int] = []
    for row, v in zip(rows, vals):
        if type(v) is int:
            by_spool.setdefault(v >> SPOOL_SHIFT, []).append((row, v & _TOKEN_MASK))
        elif literal is None or literal in (v.lower() if caseless else v) or (caseless and not v.isascii()):
            # (the literal is a cheap first check of bodies still in memory too; a regex with
            # IGNORECASE costs ~15x a lower() + find on a MB)
            if test(v):
                hits.append(row)
    if progress is not None:
        total = sum(t & 0xFFFFFFFF for es in by_spool.values() for _, t in es)
        base = [0]

        def step(done: int, _total: int) -> None:
            progress(base[0] + done, total)
    else:
        step = None
    for no, entries in by_spool.items():
        entries.sort(key=lambda e: e[1] >> 32)
        hits += spools[no].search(entries, test, literal, caseless, step)
        if progress is not None:
            base[0] += sum(t & 0xFFFFFFFF for _, t in entries)
    hits.sort()
    return hits
