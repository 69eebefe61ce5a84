"""The inspect channel: an addon on the proxy's hook API that streams every message over a unix
socket and takes control commands back (protocol: :mod:`omproxy_tui.protocol.frames`).

Why it never slows the relay:
- The relay threads only append a small item to a ring and, when someone is listening, to a
  pending deque; the first append after a quiet spell schedules one wake-up of the event loop.
  Encoding, redaction, fan-out and socket writes all happen on the loop thread.
- Each subscriber has a bounded queue. A subscriber that does not keep up loses frames (counted
  and announced with a ``lost`` frame when it has room again); nothing ever waits for it.
- Holding is a gate on *delivery* only (see ``Direction`` in proxy/base.py); the readers keep
  reading, and replies to injected requests are routed before the gate.
- If the last inspector goes away while traffic is held, everything is released in order.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import threading
import time
from typing import Any

from .. import __version__
from ..protocol.frames import PROTOCOL_VERSION
from ..proxy.base import DROPPED_CODE, ROUTED, Hold
from ..proxy.line import C2S, S2C, Line, parse_json
from .commands import Command, CommandError, parse_command
from .redact import Redactor, mask_argv, mask_headers

MODERN_META_KEY = b"io.modelcontextprotocol/protocolVersion"
META_KEYS = ("io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientInfo",
             "io.modelcontextprotocol/clientCapabilities")
DRAIN_DELAY = 0.004  # seconds: how long frames may gather before one wake-up sends them all
# Per-subscriber queue bounds: past them the subscriber loses frames (it is told how many).
MAX_SUBSCRIBER_BYTES = int(os.environ.get("OMPROXY_INSPECT_MAX_BYTES", str(64 << 20)))
MAX_SOCKET_PATH = 100


from json.encoder import encode_basestring_ascii as _json_str  # noqa: E402 - C speedup, ASCII-safe


class _Lazy:
    """`asyncio` costs ~50 ms to import; an --inspect proxy nobody attaches to never needs it."""

    def __getattr__(self, name: str) -> Any:
        import asyncio as real

        return getattr(real, name)


asyncio = _Lazy()

LAUNCHERS = ("python", "python3", "node", "npx", "uvx", "uv", "bun", "bunx", "deno", "sh", "bash", "pipx")


def session_name(argv: list[str]) -> str:
    """A short default name: the server, not its launcher (``npx -y @x/server-foo`` -> server-foo)."""
    if not argv:
        return "stdio"
    base = os.path.basename(argv[0])
    if base.rstrip("0123456789.") not in LAUNCHERS:
        return base
    rest = [a for a in argv[1:] if not a.startswith("-")]
    return os.path.basename(rest[-1]).removesuffix(".py") if rest else base


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
    switch per frame); that buffer is the bounded queue: past MAX_SUBSCRIBER_BYTES the subscriber
    loses frames, and is told how many with a ``lost`` frame as soon as it has room again."""

    def __init__(self, sid: int, writer: asyncio.StreamWriter):
        self.id = sid
        self.writer = writer
        self.transport = writer.transport
        self.lost = 0
        self.closed = False
        self.floor = 0  # events up to this index came with the backlog replay

    def push(self, data: bytes, index: int = 0) -> None:
        if self.closed or (index and index <= self.floor):
            return
        transport = self.transport
        if transport.is_closing():
            self.closed = True
            return
        if transport.get_write_buffer_size() + len(data) > MAX_SUBSCRIBER_BYTES:
            self.lost += 1
            return
        if self.lost:
            self.flush_lost()
        transport.write(data)

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
        room = MAX_SUBSCRIBER_BYTES - transport.get_write_buffer_size()
        out = []
        for _, data in batch:
            if len(data) > room:
                self.lost += 1
                continue
            if self.lost:
                self.flush_lost()
            room -= len(data)
            out.append(data)
        if out:
            transport.write(b"".join(out))

    def flush_lost(self) -> None:
        """Announce a gap once there is room (called on the next frame, or by a timer)."""
        if self.lost and not self.closed and self.transport.get_write_buffer_size() < MAX_SUBSCRIBER_BYTES // 2:
            self.transport.write(json.dumps({"type": "lost", "n": self.lost}).encode() + b"\n")
            self.lost = 0


class InspectorAddon:
    """Serve the inspect channel for one proxy. Attach with ``proxy.add_addon(InspectorAddon(proxy, ...))``."""

    whole_lines = True  # see a batch as the one line that was relayed

    def __init__(self, proxy: Any, *, socket_path: str | None = None, serve: bool = True, backlog: int = 10000,
                 wait: bool = False, name: str | None = None, record: str | None = None, redact: bool = True,
                 secrets: list[str] | None = None, target: Any = None, transport: str = "stdio",
                 headers: dict[str, str] | None = None):
        self.proxy = proxy
        self.serve = serve
        self.socket_path = socket_path
        self.wait = wait
        self.keep_backlog = backlog > 0
        self.backlog: collections.deque = collections.deque(maxlen=max(backlog, 1))
        self.record_path = record
        self.prefix = f"omproxy-{os.getpid()}-"
        secrets = list(secrets or [])
        if isinstance(target, list):
            shown_target, found = mask_argv(target) if redact else (target, [])
            secrets += found
            default_name = session_name(target)
        else:
            shown_target = target
            default_name = str(target or transport)
        self.redactor = Redactor(secrets, enabled=redact)
        self.identity = {
            "pid": os.getpid(), "name": name or default_name, "transport": transport,
            "target": shown_target,
            "started": time.time(), "version": __version__, "socket": None,
        }
        if headers:
            self.identity["headers"] = mask_headers(headers) if redact else dict(headers)
        if isinstance(shown_target, str) and redact:
            self.identity["target"] = self.redactor(shown_target.encode()).decode()
        # relay-thread side
        self._pending: collections.deque = collections.deque()
        self._wake_scheduled = False
        self._lock = threading.Lock()
        self._last = 0  # seq of the last event handed to us
        proxy.sequencer.add_observer(self._ordered)
        # loop side
        self.subscribers: dict[int, Subscriber] = {}
        self._next_sub = 0
        self._server: Any = None
        self._lsock: Any = None
        self._first_conn: Any = None
        self._tasks: set = set()
        self._record = None
        self.paused = {C2S: False, S2C: False}
        self.intercept = None
        self.intercept_text: str | None = None
        self.injections: dict[str, dict] = {}
        self.tombstones: set[str] = set()
        self._inject_n = 0
        self._routing = False
        self._handshake_ready = False
        self._modern_raw: bytes | None = None
        self._ever_attached = False
        self.loop: Any = None
        self.needs_loop = bool(wait)

    # ================================================================================ hooks
    # (called on relay threads: keep them tiny)
    def _on_mcp_client_message(self, line: Line) -> None:
        """Kept as a (cheap) observe hook so the relay always builds a numbered view of each line;
        the frames themselves come in seq order through :meth:`_ordered`."""

    def _on_mcp_server_message(self, line: Line) -> None:
        pass

    def _on_server_stderr(self, text: str) -> None:
        self.proxy.sequencer.event("stderr", {"line": text})

    def _on_lifecycle(self, event: str, info: dict) -> None:
        info = {k: v for k, v in info.items() if k != "argv"}
        self.proxy.sequencer.event("lifecycle", dict(info, event=event))

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
                raw = item.raw
                if MODERN_META_KEY in raw:
                    self._modern_raw = raw
                elif not self._handshake_ready and b"notifications/initialized" in raw:
                    self._handshake_ready = True
            entry = (item.seq, slim(item))
        else:
            entry = (item[1], item)
        with self._lock:
            self._last = entry[0]
            if self.keep_backlog:
                self.backlog.append(entry)
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

    # ================================================================================ encoding
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

    @staticmethod
    def _message_frame(line: Line, to_inspector: bool = False) -> dict:
        frame = {"type": "message", "seq": line.seq, "t": line.t, "wall": line.wall, "dir": line.direction}
        try:
            frame["raw"] = line.raw.decode("utf-8")
        except UnicodeDecodeError:
            frame["raw_b64"] = base64.b64encode(line.raw).decode()
        frame["size"] = len(line.raw)
        frame["error"] = line.error if line._json is not None or line.error else None
        frame["held"] = line.status == "held"
        frame["status"] = line.status
        frame["changed"] = line.changed
        frame["injected"] = line.injected
        frame["to_inspector"] = to_inspector
        return frame

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
            self._send_state()  # a message became held: that is a change of state (see frames.py)

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


    # ================================================================================ lifecycle
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

    # ================================================================================ subscribers
    def _hello(self, sub: Subscriber | None, backlog: int = 0) -> dict:
        return {"type": "hello", "v": PROTOCOL_VERSION, "proxy": self.identity, "backlog": backlog,
                "subscriber": sub.id if sub else None}

    def _state(self) -> dict:
        held = []
        held_bytes = 0
        for d in self.proxy.directions.values():
            with d.lock:
                held += [{"seq": h.line.seq if h.line else None, "dir": d.name, "reason": h.reason} for h in d.held]
                held_bytes += d.held_bytes
        return {"type": "state", "paused": dict(self.paused), "intercept": self.intercept_text, "held": held,
                "held_bytes": held_bytes, "inspectors": len(self.subscribers),
                "pending_injections": len(self.injections)}

    def _send_state(self) -> None:
        self._broadcast(self.redactor(json.dumps(self._state()).encode() + b"\n"))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next_sub += 1
        sub = Subscriber(self._next_sub, writer)
        with self._lock:
            replay = list(self.backlog) if self.keep_backlog else []
            sub.floor = self._last
            self.subscribers[sub.id] = sub
        sub.push(self._encode(self._hello(sub, len(replay))))
        for _, item in replay:
            sub.push(self._encode(item))
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

    async def _fail_open(self) -> None:
        """The last inspector left: nobody can release what is held, so release it all, in order."""
        held = sum(len(d.held) for d in self.proxy.directions.values())
        if not (held or any(self.paused.values()) or self.intercept is not None):
            return
        self.paused = {C2S: False, S2C: False}
        self.intercept = None
        self.intercept_text = None
        self._update_gates()
        released = 0
        for d in self.proxy.directions.values():
            out = d.flush(True, wait=False)
            released += len(out)
            for h in out:
                self._resolved(h, "released", "fail-open")
        self.proxy.report(f"last inspector left: released {released} held message(s) and stopped holding")
        self.proxy.sequencer.event("lifecycle", {"event": "fail_open", "released": released})

    # ================================================================================ gates
    def _update_gates(self) -> None:
        holding = self.intercept is not None or any(self.paused.values())
        for d in (C2S, S2C):
            on = holding or self._routing
            self.proxy.set_gate(d, self._gate if on else None, self)

    def _gate(self, line: Line) -> Any:
        """Relay thread, before forwarding: route injected replies, hold what must be held."""
        if self._routing:
            obj = line.json
            if isinstance(obj, dict):
                mid = obj.get("id")
                if isinstance(mid, str) and mid.startswith(self.prefix) and "method" not in obj:
                    return self._route(line, mid, True)
                if obj.get("method") == "notifications/progress":
                    token = (obj.get("params") or {}).get("progressToken")
                    if isinstance(token, str) and token.startswith(self.prefix):
                        return self._route(line, token.rsplit("-p", 1)[0], False)
        d = line.direction
        if self.paused[d]:
            return Hold("paused")
        f = self.intercept
        if f is not None:
            from ..core.records import record_from_line

            try:
                if f(record_from_line(line.text, d)):
                    return Hold("intercept")
            except Exception:  # noqa: BLE001 - a filter must never break the relay
                return None
        return None

    def _to_loop(self, fn, *args) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(fn, *args)

    def _route(self, line: Line, inject_id: str, final: bool) -> Any:
        """Relay thread: a reply (or progress) for an injected request goes to its injector only.
        Marked here, so its frame goes out in seq order with everything else (see _ordered)."""
        info = self.injections.get(inject_id)
        line.status = "routed"
        line.injected = None if info is None else {"by": info["sub"].id, "id": inject_id}
        if info is not None and final:
            self._to_loop(self._answered, inject_id)
        return ROUTED

    def _answered(self, inject_id: str) -> None:
        """On the loop: an injected request got its answer."""
        info = self.injections.pop(inject_id, None)
        self.tombstones.add(inject_id)
        if info is not None and info.get("timer"):
            info["timer"].cancel()

    # ================================================================================ commands
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

    async def _run(self, sub: Subscriber, cmd: Command) -> dict | None:
        if cmd.name == "ping":
            return None
        if cmd.name == "pause":
            for d in cmd.dirs:
                self.paused[d] = True
                self.proxy.directions[d].paused = True
            self._update_gates()
            self._send_state()
            return None
        if cmd.name == "resume":
            return await self._do_resume(cmd.dirs, who=sub.id)
        if cmd.name == "intercept":
            if cmd.filter is None:
                self.intercept = None
                self.intercept_text = None
            else:
                from ..core.filters import FilterError, parse

                try:
                    self.intercept = parse(cmd.filter)
                except FilterError as exc:
                    raise CommandError(f"bad filter: {exc}") from None
                self.intercept_text = cmd.filter
            self._update_gates()
            self._send_state()
            return None
        if cmd.name == "release_all":
            n = 0
            for d in cmd.dirs:
                for h in self.proxy.directions[d].flush(True, wait=False):
                    self._resolved(h, "released", sub.id)
                    n += 1
            self._send_state()
            return {"released": n}
        if cmd.name in ("release", "drop"):
            return await self._release_or_drop(sub, cmd)
        if cmd.name == "inject":
            return await self._inject(sub, cmd.raw, cmd.direction, cmd.timeout, cmd.extra.get("force", False))
        if cmd.name == "replay":
            item = next((i for _, i in self.backlog if isinstance(i, Slim) and i.seq == cmd.seq), None)
            if item is None:
                raise CommandError(f"no message #{cmd.seq} in the backlog")
            obj = parse_json(item.raw)[0]
            if not (isinstance(obj, dict) and "method" in obj):
                raise CommandError(f"message #{cmd.seq} is not a request or notification")
            return await self._inject(sub, item.raw, item.direction, cmd.timeout, cmd.extra.get("force", False))
        if cmd.name == "cancel":
            info = self.injections.pop(cmd.inject_id, None)
            if info is None:
                raise CommandError(f"no pending injected request {cmd.inject_id!r}")
            await self._cancel(cmd.inject_id, info, "cancelled by the inspector")
            return None
        raise CommandError(f"unhandled command {cmd.name}")  # pragma: no cover

    async def _do_resume(self, dirs, who: Any) -> dict:
        n = 0
        for d in dirs:
            self.paused[d] = False
            self.proxy.directions[d].paused = False
        self._update_gates()
        for d in dirs:
            for h in self.proxy.directions[d].flush(False, wait=False):
                self._resolved(h, "released", who)
                n += 1
        self._send_state()
        return {"released": n}

    async def _release_or_drop(self, sub: Subscriber, cmd: Command) -> dict:
        # On the loop, never waiting for the write: the held message (edited or not) and what
        # was queued behind it are handed to the direction's writer in one step, in order.
        drop = cmd.name == "drop"
        data = None if cmd.raw is None else cmd.raw + b"\n"
        for d in self.proxy.directions.values():
            item, after = d.release(lambda h: h.line is not None and h.line.seq == cmd.seq, data, drop)
            if item is not None:
                break
        else:
            raise CommandError(f"message #{cmd.seq} is not held (released already, or never held)")
        if drop:
            self._resolved(item, "dropped", sub.id)
            obj = item.line.json
            if d.name == C2S and isinstance(obj, dict) and "method" in obj and "id" in obj:
                # A dropped request would leave the client waiting forever: answer it.
                reply = {"jsonrpc": "2.0", "id": obj["id"],
                         "error": {"code": DROPPED_CODE, "message": "Request dropped by the omproxy inspector"}}
                await self._in_thread(self.proxy.inject, S2C, reply, None,
                                      {"by": "inspector", "action": "answered-drop", "original": None}, False)
        elif cmd.raw is not None:
            self._resolved(item, "edited", sub.id)
            edited = self.proxy.make_line(cmd.raw, d.name)
            edited.changed = {"by": "inspector", "action": "replaced", "original": item.line.text}
            self.proxy.announce(edited)
        else:
            self._resolved(item, "released", sub.id)
        for h in after:
            self._resolved(h, "released", sub.id)
        self._send_state()
        return {"seq": cmd.seq}

    def _resolved(self, held, action: str, by: Any) -> None:
        if held.line is None:
            return
        self.proxy.sequencer.event("resolved", {"of": held.line.seq, "action": action, "by": by})

    # ================================================================================ inject
    async def _inject(self, sub: Subscriber, raw: bytes, direction: str, timeout: float, force: bool) -> dict:
        obj = json.loads(raw)
        is_request = "method" in obj and "id" in obj
        if direction == C2S and is_request and not force:
            obj = self._fit_era(obj)
        result: dict = {}
        if is_request:
            self._inject_n += 1
            iid = f"{self.prefix}{self._inject_n}"
            result["original_id"] = obj["id"]
            obj["id"] = iid
            params = obj.get("params")
            if isinstance(params, dict) and isinstance(params.get("_meta"), dict) and "progressToken" in params["_meta"]:
                params["_meta"]["progressToken"] = f"{iid}-p"
            timer = self.loop.call_later(timeout, lambda: self._keep(asyncio.ensure_future(self._timed_out(iid))))
            self.injections[iid] = {"sub": sub, "timer": timer, "direction": direction, "method": obj["method"]}
            self._routing = True
            self._update_gates()
            result["inject_id"] = iid
        data = json.dumps(obj, separators=(",", ":")).encode()
        line = await self._in_thread(self.proxy.inject, direction, data, {"by": sub.id, "id": result.get("inject_id")},
                                     None, False)
        if line is None or line.status == "dropped":
            if is_request:
                self.injections.pop(result["inject_id"], None)
            raise CommandError("the other side is gone: nothing was sent")
        result["seq"] = line.seq
        return result

    def _fit_era(self, obj: dict) -> dict:
        """Injection respects the session's protocol era (see the README)."""
        params = obj.setdefault("params", {}) if isinstance(obj.get("params", {}), dict) else None
        if self._modern_raw is not None:
            latest, _ = parse_json(self._modern_raw)
            meta = ((latest or {}).get("params") or {}).get("_meta") or {}
            if params is not None:
                own = params.setdefault("_meta", {})
                for k in META_KEYS:
                    if k in meta and k not in own:
                        own[k] = meta[k]
            return obj
        if not self._handshake_ready:
            raise CommandError("the session has not finished its handshake (no notifications/initialized, and no "
                               "2026-07-28 request seen yet): the server would reject the request. Wait for the "
                               "client to connect, or send with \"force\": true")
        return obj

    async def _timed_out(self, iid: str) -> None:
        info = self.injections.pop(iid, None)
        if info is None:
            return
        await self._cancel(iid, info, "timed out")
        if not info["sub"].closed:
            self._send(info["sub"], json.dumps({"type": "inject_timeout", "inject_id": iid}).encode() + b"\n")

    async def _cancel(self, iid: str, info: dict, reason: str) -> None:
        self.tombstones.add(iid)
        if info.get("timer"):
            info["timer"].cancel()
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": iid, "reason": f"omproxy: injected request {reason}"}}
        await self._in_thread(self.proxy.inject, info["direction"], note, {"by": info["sub"].id, "id": iid}, None,
                              False)

    async def _in_thread(self, fn, *args):
        """Hooks run on injected lines (user code): never on the loop. The writes themselves are
        only queued (``wait=False``), so the reply to a command never waits for the other side."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
