"""Frame sources for inspectors: a live proxy's inspect socket, or a recorded ``.jsonl`` file.

A source's :meth:`Source.run` delivers frames to an ``emit(batch)`` callback in *batches* (frames
arriving within :data:`BATCH_INTERVAL` of each other go together), so a UI gets one update per
batch, never one per frame. Besides the proxy's own frames (see :mod:`omproxy_tui.protocol.frames`)
a source emits synthetic ``{"type": "connection", "state": ..., "detail": ..., "code": ...}``
frames describing its own state: ``connecting``, ``live``, ``reconnecting``, ``ended``
(``code`` = the server's exit code when known), ``loading`` (a recording is being read; ``detail``
says how far), ``loaded`` (a recording was read completely).

No textual here: the proxy, scripts and tests can use these.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from omproxy_tui.protocol import discovery
from omproxy_tui.protocol.frames import decode, encode
from omproxy_tui.protocol.recording import RecordingReader, read_recording, write_recording

__all__ = ["BATCH_INTERVAL", "Source", "SocketSource", "RecordingSource", "ProxyWatcher", "load_recording", "write_recording"]

#: Frames arriving within this many seconds of the first frame of a batch are delivered together.
BATCH_INTERVAL = 0.025
#: Largest frame accepted (a relayed MCP message can be tens of MB).
MAX_FRAME = 512 * 1024 * 1024

#: frames at least this big are decoded in a thread
BIG_FRAME = 1024 * 1024
#: Longest stretch (s) the socket reader decodes buffered frames before letting the event loop run
READ_SLICE = 0.005

Emit = Callable[[list[dict[str, Any]]], None]

_EVENT_TYPES = frozenset({"message", "resolved", "stderr", "lifecycle"})


def connection_frame(state: str, detail: str = "", code: int | None = None) -> dict[str, Any]:
    return {"type": "connection", "state": state, "detail": detail, "code": code, "wall": time.time()}


class Source:
    """Base class: something that produces frames for one proxy session."""

    #: stable identity (socket path, file path)
    key: str = ""
    #: short human label until ``hello`` names the proxy
    label: str = ""
    #: ``connecting``/``live``/``reconnecting``/``ended``/``loaded``
    state: str = "connecting"
    #: whether commands can be sent
    can_send: bool = False

    def __init__(self) -> None:
        self.proxy: dict[str, Any] = {}
        self.exit_code: int | None = None
        self._closed = False
        #: set by the app: awaited between slices of reading, to let a key be handled first
        #: (a short, bounded wait: the proxy buffers meanwhile)
        self.turn: Callable[[], Awaitable[None]] | None = None
        #: set by the app: true when input is on its way; reading then yields at once, not at
        #: the end of its slice
        self.urgent: Callable[[], bool] | None = None

    async def run(self, emit: Emit) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def send(self, cmd: dict[str, Any]) -> Any:
        """Send a command frame; returns its id. Sources that cannot send raise RuntimeError."""
        raise RuntimeError(f"{self.label}: this source is read-only")

    def hold_reading(self, held: bool) -> None:
        """Stop (``True``) or restart taking bytes in, for a moment (see SocketSource)."""

    def close(self) -> None:
        self._closed = True


class _Batcher:
    """Accumulate frames and hand them to ``emit`` at most once per ``interval``."""

    def __init__(self, emit: Emit, interval: float) -> None:
        self.emit = emit
        self.interval = interval
        self.pending: list[dict[str, Any]] = []
        self._event = asyncio.Event()

    def push(self, frame: dict[str, Any]) -> None:
        self.pending.append(frame)
        self._event.set()

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            self.emit(batch)

    async def run(self) -> None:
        while True:
            await self._event.wait()
            await asyncio.sleep(self.interval)
            self._event.clear()
            self.flush()


class SocketSource(Source):
    """Attach to one proxy's inspect socket; reconnect with backoff until the proxy is gone.

    After a reconnect the proxy replays its backlog (``hello`` says how many event frames that
    is): only those replayed frames are de-duplicated by ``seq``; live frames are never dropped.
    A seq gap between what was seen and the first new frame after a reconnect is reported as a
    synthetic ``lost`` frame.
    """

    can_send = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        info: dict[str, Any] | None = None,
        batch_interval: float = BATCH_INTERVAL,
        max_backoff: float = 2.0,
        give_up_after: float | None = None,
        reattach: bool = False,
    ) -> None:
        super().__init__()
        self.path = str(path)
        self.key = self.path
        #: after this proxy is gone, follow the path: a proxy started there later is attached
        #: as a new session (``--socket PATH``; discovery finds new proxies by itself)
        self.reattach = reattach
        self.proxy = dict(info or {})
        self.label = self.proxy.get("name") or Path(self.path).stem
        self.batch_interval = batch_interval
        self.max_backoff = max_backoff
        self.give_up_after = give_up_after
        self.last_seq = 0
        self.connects = 0
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}

    # ---- state ---------------------------------------------------------------------------

    def _gone(self) -> bool:
        pid = self.proxy.get("pid")
        if isinstance(pid, int) and not discovery.pid_alive(pid):
            return True
        return self.connects > 0 and not os.path.exists(self.path)

    def hold_reading(self, held: bool) -> None:
        """While a key is handled, the socket is not read: the event loop otherwise still took
        the proxy's bytes into the stream's buffer between the key's steps, and during a burst
        that buffer held megabytes, each read (2-8 ms) growing and copying it. The bytes wait in
        the socket and the proxy meanwhile (a quarter of a second at most, see the app)."""
        writer = self._writer
        if writer is None:
            return
        transport = writer.transport
        if held:
            transport.pause_reading()  # (both are no-ops on a closing transport)
        else:
            transport.resume_reading()

    # ---- commands ------------------------------------------------------------------------

    async def send(self, cmd: dict[str, Any]) -> Any:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise RuntimeError(f"{self.label}: not connected")
        cmd = dict(cmd)
        cmd.setdefault("id", f"tui-{next(self._ids)}")
        writer.write(encode(cmd))
        await writer.drain()
        return cmd["id"]

    async def request(self, cmd: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a command and wait for its ``reply`` frame."""
        cmd = dict(cmd)
        cmd.setdefault("id", f"tui-{next(self._ids)}")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[cmd["id"]] = fut
        try:
            await self.send(cmd)
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._replies.pop(cmd["id"], None)

    # ---- reading -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        batcher = _Batcher(emit, self.batch_interval)
        flusher = asyncio.create_task(batcher.run())
        backoff = 0.05
        started = time.monotonic()
        waiting = ""
        try:
            batcher.push(connection_frame("connecting", self.path))
            self.state = "connecting"
            while not self._closed:
                try:
                    reader, writer = await asyncio.open_unix_connection(self.path, limit=MAX_FRAME)
                except OSError as exc:
                    if self._gone() or (
                        self.give_up_after is not None
                        and self.connects == 0
                        and time.monotonic() - started > self.give_up_after
                    ):
                        self._end(batcher, f"cannot connect: {exc.strerror or exc}")
                        return
                    if self.connects == 0:
                        # say why we are still waiting, once per reason
                        why = (f"waiting: no proxy at {self.path}" if isinstance(exc, FileNotFoundError)
                               else f"waiting: {self.path}: {exc.strerror or exc}")
                        if why != waiting:
                            waiting = why
                            batcher.push(connection_frame("connecting", why))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                backoff = 0.05
                self.connects += 1
                self._writer = writer
                reason = "connection closed"
                try:
                    await self._read(reader, batcher)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    reason = f"connection lost: {exc}"
                except asyncio.LimitOverrunError:
                    reason = "frame too large"
                finally:
                    self._writer = None
                    writer.close()
                    for fut in self._replies.values():
                        if not fut.done():
                            fut.set_exception(RuntimeError(reason))
                if self._closed:
                    break
                if self.exit_code is not None or self._gone():
                    self._end(batcher, reason)
                    return
                # the socket may linger a moment after the proxy closed it
                await asyncio.sleep(0.2)
                if self._gone():
                    self._end(batcher, reason)
                    return
                self.state = "reconnecting"
                batcher.push(connection_frame("reconnecting", reason))
        finally:
            flusher.cancel()
            batcher.flush()

    def _end(self, batcher: _Batcher, detail: str) -> None:
        self.state = "ended"
        batcher.push(connection_frame("ended", detail, self.exit_code))
        batcher.flush()

    async def _read(self, reader: asyncio.StreamReader, batcher: _Batcher) -> None:
        first_event = True
        replay = 0  # event frames of the backlog replay still to come (from hello)
        clock = time.perf_counter
        turn = clock()
        urgent = self.urgent or (lambda: False)
        while True:
            if clock() - turn > READ_SLICE or urgent():
                # readline() does not yield while the buffer holds lines: in a burst (or a big
                # backlog) this loop would decode for as long as the proxy keeps ahead, and keys
                # and repaints waited that long
                await asyncio.sleep(0)
                if self.turn is not None:
                    await self.turn()
                turn = clock()
            line = await reader.readline()
            if not line:
                return
            if not line.strip():
                continue
            try:
                # big frames (multi-MB tool results) are decoded off the event loop
                frame = decode(line) if len(line) < BIG_FRAME else await asyncio.to_thread(decode, line)
            except ValueError as exc:
                batcher.push({"type": "error", "error": f"bad frame from proxy: {exc}"})
                continue
            ftype = frame.get("type")
            if ftype == "hello":
                proxy = frame.get("proxy")
                if isinstance(proxy, dict):
                    self.proxy.update(proxy)
                    self.label = self.proxy.get("name") or self.label
                self.state = "live"
                n = frame.get("backlog")
                replay = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0
                batcher.push(frame)
                batcher.push(connection_frame("live", self.path))
                continue
            if ftype in _EVENT_TYPES:
                seq = frame.get("seq")
                replayed = replay > 0
                if replayed:
                    replay -= 1
                if isinstance(seq, int):
                    if replayed and seq <= self.last_seq:
                        continue  # seen before a reconnect
                    if first_event and self.connects > 1 and seq > self.last_seq + 1:
                        batcher.push({"type": "lost", "n": seq - self.last_seq - 1, "reconnect": True})
                    self.last_seq = max(self.last_seq, seq)
                first_event = False
                if ftype == "lifecycle" and frame.get("event") == "exited":
                    code = frame.get("code")
                    self.exit_code = code if isinstance(code, int) else -1
            elif ftype == "reply":
                fut = self._replies.get(frame.get("id"))
                if fut is not None and not fut.done():
                    fut.set_result(frame)
            batcher.push(frame)


class RecordingSource(Source):
    """Read a recording (see :mod:`omproxy_tui.protocol.recording`, the one reader of the format).

    Frames are emitted in chunks. Frames of exports carry a ``session`` key; the session model
    keeps those sessions apart. While the file is read, each chunk ends with a ``loading``
    connection frame saying how far (``detail``: "12% of 629 MB"); when it is read, a ``loaded``
    one says how many lines were skipped and why (``detail``), or that the file held no frames.

    A consumer that sets :attr:`acks` calls :meth:`applied` with the number of frames it has
    applied, as it applies them; the source then stays at most one chunk ahead of it, so a big
    file never queues up in front of the user's keys (without it, chunks are emitted as fast as
    the file is read).
    """

    def __init__(self, path: str | os.PathLike[str], *, chunk: int = 5000, chunk_bytes: int = 8 * 1024 * 1024) -> None:
        super().__init__()
        self.path = str(path)
        self.key = self.path
        self.label = Path(self.path).stem
        self.chunk = chunk
        self.chunk_bytes = chunk_bytes
        # offsets: the recording is the spool for its own message bodies (core/spool.py)
        self.reader = RecordingReader(self.path, offsets=True)
        self._messages = False
        #: set by a consumer that calls applied() (see the class doc)
        self.acks = False
        # frames emitted, frames emitted before the latest chunk, frames the consumer applied
        self._sent = 0
        self._sent_before = 0
        self._applied = 0
        self._acked = asyncio.Event()
        # bytes of the file read so far (the end of the last message line seen)
        self._done = 0

    @property
    def bad_lines(self) -> int:
        return sum(self.reader.skipped.values())

    def applied(self, n: int) -> None:
        """The consumer applied ``n`` more of the emitted frames (see :attr:`acks`)."""
        self._applied += n
        self._acked.set()

    def _chunks(self):
        """Chunks of at most ``chunk`` frames or about ``chunk_bytes`` of message text: the file
        is streamed, never held whole (a 600 MB recording must not cost 600 MB to open)."""
        batch: list[dict[str, Any]] = []
        size = 0
        for frame in self.reader:
            ftype = frame.get("type")
            if ftype == "hello" and isinstance(frame.get("proxy"), dict):
                self.proxy.update(frame["proxy"])
                self.label = self.proxy.get("name") or self.label
            elif ftype == "message":
                self._messages = True
                raw = frame.get("raw")
                size += len(raw) if isinstance(raw, str) else 256
                at = frame.get("_at")
                if at:
                    self._done = at[1] + at[2]
            batch.append(frame)
            if len(batch) >= self.chunk or size >= self.chunk_bytes:
                yield batch
                batch = []
                size = 0
        if batch:
            yield batch

    def _progress(self, total: int) -> dict[str, Any]:
        pct = min(99, self._done * 100 // total) if total else 0
        return connection_frame("loading", f"{pct}% of {_mb(total)}")

    def _problem(self) -> str:
        """What is wrong with the file, in one line ("" when nothing is)."""
        reader = self.reader
        if reader.lines == 0:
            return "empty file: no frames"
        skipped = reader.skipped_text
        if not self._messages:
            return f"not a recording: no message frames ({skipped})" if skipped else "no message frames"
        return skipped

    async def run(self, emit: Emit) -> None:
        def send(batch: list[dict[str, Any]]) -> None:
            self._sent_before = self._sent
            self._sent += len(batch)
            emit(batch)

        send([connection_frame("connecting", self.path)])
        try:
            total = os.path.getsize(self.path)
        except OSError:
            total = 0
        chunks = self._chunks()
        done = object()
        first = True
        while True:
            try:
                batch = await asyncio.to_thread(next, chunks, done)
            except OSError as exc:
                self.state = "ended"
                send([connection_frame("ended", f"cannot read {self.path}: {exc.strerror or exc}")])
                return
            if first and (batch is done or not any(f.get("type") == "hello" for f in batch)):
                send([{"type": "hello", "v": 1, "proxy": {"name": self.label, "transport": "recording",
                                                         "target": [self.path]}, "backlog": 0}])
            first = False
            if batch is done:
                break
            if self._closed:
                chunks.close()
                return
            # the consumer is still applying an earlier chunk: wait (this one is read already,
            # so reading and applying overlap, but nothing more piles up)
            while self.acks and self._applied < self._sent and not self._closed:
                self._acked.clear()
                await self._acked.wait()
            batch.append(self._progress(total))
            send(batch)
            await asyncio.sleep(0)
        self.state = "loaded"
        send([connection_frame("loaded", self._problem())])


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10**6 else f"{n / 1e3:.0f} kB"


class ProxyWatcher:
    """Poll the runtime dir for proxies; call ``on_new(info)`` once for each new socket."""

    def __init__(
        self,
        on_new: Callable[[dict[str, Any]], None],
        *,
        directory: str | os.PathLike[str] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.on_new = on_new
        self.directory = directory
        self.interval = interval
        self.seen: set[str] = set()

    def poll(self) -> list[dict[str, Any]]:
        new = []
        for info in discovery.list_proxies(self.directory):
            sock = info["socket"]
            if sock not in self.seen:
                self.seen.add(sock)
                new.append(info)
        return new

    async def run(self) -> None:
        while True:
            for info in await asyncio.to_thread(self.poll):
                self.on_new(info)
            await asyncio.sleep(self.interval)


def load_recording(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All frames of a recording (convenience for scripts and tests)."""
    return read_recording(path)
