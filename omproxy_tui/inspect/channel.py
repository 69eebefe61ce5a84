"""The inspect channel itself: the unix socket, its subscribers, and the one ordered frame
stream each of them gets (protocol: :mod:`omproxy_tui.protocol.frames`).

Why it never slows the relay:
- The relay hands each numbered line to :meth:`Channel._ordered` through the proxy's sequencer,
  which only appends a small item to the ring and, when someone is listening, to a pending
  deque; the first append after a quiet spell schedules one wake-up of the event loop.
  Encoding, redaction, fan-out and socket writes all happen on the loop thread.
- Each subscriber has a bounded queue. A subscriber that does not keep up loses frames (counted
  and announced with a ``lost`` frame when it has room again); nothing ever waits for it.

Why frames are in order: the sequencer hands lines and events over in ``seq`` order; every other
frame for a subscriber (reply, state, inject_timeout) goes through :meth:`Channel._send` /
:meth:`Channel._broadcast`, which first send every event numbered before it.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from typing import Any

from ..protocol.frames import PROTOCOL_VERSION
from ..proxy.line import C2S, S2C, Line
from .commands import CommandError, parse_command

DRAIN_DELAY = 0.004  # seconds: how long frames may gather before one wake-up sends them all
# Per-subscriber queue bound (--inspect-queue-bytes): past it the subscriber loses frames (it is
# told how many). The environment variable is for tests that need a small one.
MAX_SUBSCRIBER_BYTES = int(os.environ.get("OMPROXY_INSPECT_MAX_BYTES", str(32 << 20)))
MAX_SOCKET_PATH = 100
REPLAY_CHUNK = 1 << 20  # bytes of replayed frames in the socket buffer before waiting for the reader


from json.encoder import encode_basestring_ascii as _json_str  # noqa: E402 - C speedup, ASCII-safe


TRIM_EVERY = 16 << 20  # bytes evicted from the backlog between two calls of _trim_heap
_libc: Any = None


def _trim_heap() -> None:
    """Give freed memory back to the OS. Big messages leave holes in the C heap that glibc keeps
    resident (it stops using mmap for them after the first is freed); with a backlog that keeps
    evicting megabyte messages, that is tens of MB of RSS for nothing."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc(0)


class _Lazy:
    """`asyncio` costs ~50 ms to import; an --inspect proxy nobody attaches to never needs it."""

    def __getattr__(self, name: str) -> Any:
        import asyncio as real

        return getattr(real, name)


asyncio = _Lazy()


class Slim(tuple):
    """What the backlog keeps of a relayed line: no parsed JSON, no typed view (10,000 of them
    must stay small), taken after the hooks ran so status and changes are final. A tuple: it is
    built for every relayed message, and a tuple is the cheapest thing Python builds."""

    __slots__ = ()
    raw = property(lambda self: self[0])
    direction = property(lambda self: self[1])
    seq = property(lambda self: self[2])
    t = property(lambda self: self[3])
    wall = property(lambda self: self[4])
    status = property(lambda self: self[5])
    changed = property(lambda self: self[6])
    injected = property(lambda self: self[7])
    error = property(lambda self: self[8])


def slim(line: Line) -> Slim:
    return Slim((line.raw, line.direction, line.seq, line.t, line.wall, line.status, line.changed, line.injected,
                 line.error))


class Subscriber:
    """One attached inspector. Frames go straight into its socket transport's buffer (no task
    switch per frame); that buffer is the bounded queue: past ``max_bytes`` (``--inspect-queue-bytes``)
    the subscriber loses frames, and is told how many with a ``lost`` frame as soon as it has room
    again. One frame larger than the bound still goes when the buffer is empty, so memory stays
    within the bound plus one frame and a huge message is not lost to a reader that keeps up."""

    def __init__(self, sid: int, writer: asyncio.StreamWriter, max_bytes: int = MAX_SUBSCRIBER_BYTES):
        self.id = sid
        self.writer = writer
        self.transport = writer.transport
        self.max_bytes = max_bytes
        self.lost = 0
        self.closed = False
        self.floor = 0  # events up to this index came with the backlog replay
        # While the backlog is replayed (paced by the socket, see Channel._client), later frames
        # wait here, in order, under the same bound.
        self._later: list[bytes] | None = None
        self._later_bytes = 0

    def _buffered(self) -> int:
        return self._later_bytes if self._later is not None else self.transport.get_write_buffer_size()

    def _write(self, data: bytes) -> None:
        if self._later is not None:
            self._later.append(data)
            self._later_bytes += len(data)
        else:
            self.transport.write(data)

    def start_replay(self) -> None:
        self._later = []
        self._later_bytes = 0

    def end_replay(self) -> None:
        later, self._later, self._later_bytes = self._later, None, 0
        if later and not self.transport.is_closing():
            self.transport.write(b"".join(later))

    def _fits(self, buffered: int, size: int) -> bool:
        return buffered + size <= self.max_bytes or buffered == 0

    def push(self, data: bytes, index: int = 0) -> None:
        if self.closed or (index and index <= self.floor):
            return
        transport = self.transport
        if transport.is_closing():
            self.closed = True
            return
        if not self._fits(self._buffered(), len(data)):
            self.lost += 1
            return
        if self.lost:
            self._write(self._lost_frame())
        self._write(data)

    def push_batch(self, batch: list[tuple[int, bytes]]) -> None:
        if self.closed:
            return
        floor = self.floor
        if floor:
            batch = [(i, d) for i, d in batch if i > floor]
        if not batch:
            return
        transport = self.transport
        if transport.is_closing():
            self.closed = True
            return
        buffered = self._buffered()
        out = []
        for _, data in batch:
            if not self._fits(buffered, len(data)):
                self.lost += 1
                continue
            if self.lost:  # the gap is announced where it happened, before the next frame
                note = self._lost_frame()
                out.append(note)
                buffered += len(note)
            buffered += len(data)
            out.append(data)
        if out:
            self._write(b"".join(out))

    def _lost_frame(self) -> bytes:
        data = json.dumps({"type": "lost", "n": self.lost}).encode() + b"\n"
        self.lost = 0
        return data

    def flush_lost(self) -> None:
        """Announce a gap once there is room, when no frame came to carry it (called by a timer)."""
        if self.lost and not self.closed and self._buffered() < self.max_bytes // 2:
            self._write(self._lost_frame())


class Channel:
    """The socket and the frame stream of :class:`~omproxy_tui.inspect.server.InspectorAddon`
    (a mixin: the addon's constructor sets the state used here)."""

    def _ordered(self, item: Line | tuple) -> None:
        """Every numbered thing, in seq order (called by the proxy's sequencer, under its lock):
        a Line whose fate is known, or an event tuple (kind, seq, t, wall, fields).

        Into the ring, the recording and the pending queue, under our lock too, so a subscriber
        that attaches gets each event exactly once (from the backlog replay or live)."""
        if isinstance(item, Line):
            if item.status == "routed":
                if item.injected is None:
                    return  # a late answer to a timed-out or cancelled injection: swallowed
                seq = item.seq
                entry = (seq, slim(item))
                with self._lock:  # to its injector only: not in the ring, not recorded
                    self._last = seq
                    self._queue_locked(entry)
                return
            if item.direction == C2S:
                self._track_handshake(item.raw)
            entry = (item.seq, slim(item))
            line, size = item, len(item.raw)
        else:
            entry = (item[1], item)
            line, size = None, len(item[4].get("line") or "")
        with self._lock:
            self._last = entry[0]
            self.backlog.add(entry, line, size)
            if self._record is not None:
                # Before the message is written: a crash loses nothing that was relayed.
                self._write_record(self._encode(entry[1]))
            self._queue_locked(entry)

    def _queue_locked(self, entry: tuple) -> None:
        if not self.subscribers:
            return
        self._pending.append(entry)
        if not self._wake_scheduled:
            self._wake_scheduled = True
            loop = self.loop
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(self._drain_soon)
                except RuntimeError:
                    pass  # the loop is closing

    def _encode(self, item: Any) -> bytes:
        if isinstance(item, Slim):
            return self.redactor(self._encode_line(item))
        if isinstance(item, tuple):
            kind, seq, t, wall, extra = item
            frame = {"type": kind, "seq": seq, "t": t, "wall": wall, **extra}
        else:
            frame = item
        return self.redactor(json.dumps(frame, separators=(",", ":")).encode() + b"\n")

    @staticmethod
    def _encode_line(line: Any) -> bytes:
        """The hot case, formatted directly (a dict + json.dumps costs ~3x more per frame)."""
        try:
            raw = '"raw":' + _json_str(line.raw.decode("utf-8"))
        except UnicodeDecodeError:
            raw = '"raw_b64":"' + base64.b64encode(line.raw).decode() + '"'
        error = line.error
        if line.changed is not None or line.injected is not None:
            tail = ',"changed":' + json.dumps(line.changed) + ',"injected":' + json.dumps(line.injected)
        else:
            tail = ',"changed":null,"injected":null'
        return ('{"type":"message","seq":%d,"t":%r,"wall":%r,"dir":"%s",%s,"size":%d,"error":%s,"held":%s,'
                '"status":"%s"%s,"to_inspector":%s}\n' % (
                    line.seq, line.t, line.wall, line.direction, raw, len(line.raw),
                    "null" if error is None else _json_str(error), "true" if line.status == "held" else "false",
                    line.status, tail, "true" if line.status == "routed" else "false")).encode()

    def _drain_soon(self) -> None:
        # Wake once per few milliseconds, not once per message: a person watching cannot tell
        # 4 ms apart, and batching saves a loop wake-up and a socket write per message (the
        # relay's threads and this loop share one GIL, so every wake-up costs the relay too).
        self.loop.call_later(DRAIN_DELAY, self._drain)

    def _drain(self) -> None:
        """On the loop: encode what the relay queued and fan it out, one write per subscriber.
        Also called before any other frame goes to a subscriber (reply, state, inject_timeout),
        so each subscriber gets one ordered stream."""
        self._wake_scheduled = False
        if self.backlog.freed > TRIM_EVERY:
            self.backlog.freed = 0
            _trim_heap()
        pending = self._pending
        batch = []
        private = False
        held = False
        while pending:
            index, item = pending.popleft()
            target = None
            if isinstance(item, Slim):
                if item.status == "routed":
                    target = item.injected["by"]
                    private = True
                elif item.status == "held":
                    held = True
            batch.append((index, self._encode(item), target))
        if not batch:
            return
        for sub in list(self.subscribers.values()):
            sub.push_batch([(i, d) for i, d, to in batch if to is None or to == sub.id] if private
                           else [(i, d) for i, d, _ in batch])
        if held:
            self._send_state()  # a message became held: a change of state (see protocol/frames.py)

    def _send(self, sub: Subscriber, data: bytes) -> None:
        """One frame to one subscriber, after every event numbered before it."""
        self._drain()
        sub.push(data)

    def _broadcast(self, data: bytes, index: int = 0) -> None:
        """Loop-side frames (state): to every subscriber after the events before them, and into
        the recording."""
        self._drain()
        for sub in list(self.subscribers.values()):
            sub.push(data, index)
        if self._record is not None:
            with self._lock:
                self._write_record(data)

    def _write_record(self, data: bytes) -> None:
        if self._record is not None:
            try:
                self._record.write(data)
                self._record.flush()
            except OSError as exc:
                self.proxy.report(f"recording stopped: {exc}")
                self._record = None

    def prepare(self) -> None:
        """Before any traffic (sync): bind the socket. The event loop (and asyncio's import) waits
        until someone attaches, so an unwatched --inspect proxy starts and relays like a plain one."""
        if self.record_path:
            try:
                self._record = open(self.record_path, "ab", buffering=0)
                self._record.write(self._encode(self._hello(None)))
            except OSError as exc:
                self.proxy.report(f"cannot record to {self.record_path}: {exc}")
                self._record = None
        if self.serve:
            self._bind()
        self._update_gates()
        if self.wait and self._lsock is not None:
            self.paused = {C2S: True, S2C: True}
            for d in self.proxy.directions.values():
                d.paused = True
            self._update_gates()
            self.proxy.report(f"holding all traffic until an inspector attaches to {self.identity['socket']}")
        # --inspect-wait needs the loop from the start; a plain --inspect or --record does not.
        self.needs_loop = bool(self.wait)
        if self._lsock is not None and not self.needs_loop and self.proxy.loop is None:
            threading.Thread(target=self._accept_first, name="omproxy-inspect-accept", daemon=True).start()

    def _bind(self) -> None:
        import socket

        from ..protocol import discovery

        path = self.socket_path
        if path is None:
            discovery.list_proxies()  # cleans stale sockets of dead proxies as a side effect
            path = str(discovery.socket_path_for(os.getpid()))
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            self.proxy.report(f"inspect socket path is too long for a unix socket ({len(path)} bytes): {path}")
            return
        if os.path.exists(path):
            os.unlink(path)  # a stale socket (ours by pid, or given explicitly)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            lsock.bind(path)
            lsock.listen(16)
        except OSError as exc:
            lsock.close()
            self.proxy.report(f"cannot serve the inspect socket at {path}: {exc}")
            return
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._lsock = lsock
        self.identity["socket"] = path
        self.socket_path = path
        if self.socket_path_is_default(path):
            discovery.write_sidecar(self.identity, os.getpid())
        self.proxy.report(f"inspect channel at {path}")

    def _accept_first(self) -> None:
        """Wait (in a thread) for the first inspector, then start the loop that serves them all."""
        try:
            conn, _ = self._lsock.accept()
        except OSError:
            return  # closed at shutdown: nobody ever attached
        self._first_conn = conn
        self.proxy.start_loop()
        if self._first_conn is not None and self.loop is not None:
            # The loop was already running (started for something else): adopt it there.
            self.proxy.run_on_loop(self._adopt_first())

    async def _adopt_first(self) -> None:
        conn, self._first_conn = self._first_conn, None
        if conn is not None:
            reader, writer = await asyncio.open_unix_connection(sock=conn, limit=1 << 30)
            self._keep(asyncio.ensure_future(self._client(reader, writer)))

    async def loop_started(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self._lsock is not None:
            self._server = await asyncio.start_unix_server(self._client, sock=self._lsock, limit=1 << 30)
        await self._adopt_first()
        self._update_gates()

    @staticmethod
    def socket_path_is_default(path: str) -> bool:
        from ..protocol import discovery

        return os.path.dirname(path) == str(discovery.runtime_dir_path())

    async def loop_stopping(self) -> None:
        self._drain()
        # Give subscribers a moment to receive the last frames (the exit code above all).
        deadline = time.monotonic() + 1.0
        while any(s.transport.get_write_buffer_size() for s in self.subscribers.values() if not s.closed) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._server is not None:
            self._server.close()
        for sub in list(self.subscribers.values()):
            sub.closed = True
            sub.writer.close()

    def _keep(self, task):
        """asyncio holds tasks weakly: keep a reference until each is done, and report failures."""
        self._tasks.add(task)

        def done(t) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.proxy.report(f"inspect channel task failed: {type(t.exception()).__name__}: {t.exception()}")

        task.add_done_callback(done)
        return task

    def shutdown(self) -> None:
        """Last thing (sync, loop or not): close the recording, remove the socket and the sidecar."""
        with self._lock:
            if self._record is not None:
                self._record.close()
                self._record = None
        if self._lsock is None:
            return
        from ..protocol import discovery

        try:
            self._lsock.close()
        except OSError:
            pass
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass
        if self.socket_path_is_default(self.socket_path):
            discovery.remove_paths(os.getpid())
        self._lsock = None

    def _hello(self, sub: Subscriber | None, backlog: int = 0, evicted: int = 0) -> dict:
        return {"type": "hello", "v": PROTOCOL_VERSION, "proxy": self.identity, "backlog": backlog,
                "evicted": evicted, "subscriber": sub.id if sub else None}

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next_sub += 1
        sub = Subscriber(self._next_sub, writer, self.queue_bytes)
        with self._lock:
            replay, evicted = self.backlog.replay()
            sub.floor = self._last
            self.subscribers[sub.id] = sub
        sub.push(self._encode(self._hello(sub, len(replay), evicted)))
        # The replay is paced by the socket (it may be 64 MB): live frames wait behind it, in
        # order and bounded like any queue, so memory stays bounded and nothing is reordered.
        sub.start_replay()
        try:
            for _, item in replay:
                writer.write(self._encode(item))
                if writer.transport.get_write_buffer_size() > REPLAY_CHUNK:
                    await writer.drain()
        except (ConnectionError, OSError):
            sub.closed = True
        del replay
        sub.end_replay()
        sub.push(json.dumps(self._state()).encode() + b"\n")
        first = not self._ever_attached
        self._ever_attached = True
        watcher = self._keep(asyncio.ensure_future(self._lost_watch(sub)))
        if first and self.wait and any(self.paused.values()):
            await self._do_resume(("c2s", "s2c"), who="first inspector attached")
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    sub.push(b'{"type":"error","error":"command frame too large"}\n')
                    break
                except (ConnectionError, OSError):
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                await self._command(sub, line)
        finally:
            sub.closed = True
            with self._lock:
                self.subscribers.pop(sub.id, None)
            watcher.cancel()
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass
            if not self.subscribers:
                await self._fail_open()

    @staticmethod
    async def _lost_watch(sub: Subscriber) -> None:
        """A subscriber that fell behind and then caught up with nothing new arriving still hears
        about its gap."""
        while not sub.closed:
            await asyncio.sleep(0.2)
            sub.flush_lost()

    async def _command(self, sub: Subscriber, data: bytes) -> None:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            self._send(sub, json.dumps({"type": "error", "error": f"frame is not valid JSON: {exc}"}).encode() + b"\n")
            return
        try:
            cmd = parse_command(obj)
            result = await self._run(sub, cmd)
            reply = {"type": "reply", "id": cmd.id, "ok": True, **(result or {})}
        except CommandError as exc:
            reply = {"type": "reply", "id": obj.get("id") if isinstance(obj, dict) else None, "ok": False,
                     "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - never let a command take the channel down
            reply = {"type": "reply", "id": obj.get("id") if isinstance(obj, dict) else None, "ok": False,
                     "error": f"internal error: {type(exc).__name__}: {exc}"}
        self._send(sub, json.dumps(reply, default=str).encode() + b"\n")
