"""StdioProxy: our stdin/stdout <-> a child process's stdin/stdout, byte for byte.

Why threads and not asyncio streams: measured here, a blocking thread per direction that writes
what it reads adds ~25 us and ~30 us of CPU per round trip; an asyncio line relay adds ~120 us (an
asyncio Protocol relay ~100 us). The relay threads only read, cut lines and write; the main thread
supervises (signals, shutdown order); an event loop thread is started only when something needs
one (async hooks, the inspect channel), so a plain relay never imports asyncio.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .base import FULL_TRACK_MAX, Direction, HeadTail, Proxy, exit_code, protect_stdout, restore_stdout, write_all
from .cutter import BIG_READ_SIZE, READ_SIZE, LineCutter
from .line import C2S, S2C
from .outstanding import PEEK, Outstanding
from .reaper import Reaper, become_subreaper, children


def _starts_like_json(buf: bytearray) -> bool:
    """The partial line's first non-blank byte is ``{`` or ``[`` (False while it is all blank)."""
    for i in range(min(len(buf), 64)):
        c = buf[i]
        if c not in b" \t\r\n":
            return c in b"{["
    return False


@dataclass
class ServerParams:
    """What to run. Any object with these attributes works too, e.g. the SDK's
    ``StdioServerParameters`` (the seed's API), which this mirrors without importing the SDK."""

    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None  # added on top of our whole environment
    cwd: str | None = None


class StdioProxy(Proxy):
    """Relay between our stdio and a local stdio MCP server.

    ``StdioProxy().run(StdioServerParameters(command="uvx", args=["mcp-server-fetch"]))`` runs until
    the client closes our stdin, the server exits or we get SIGINT/SIGTERM/SIGHUP, and returns the
    exit code to use (the server's).
    """

    transport = "stdio"
    #: seconds the server gets to exit after its stdin closes, before SIGTERM to its process group
    exit_grace = 3.0
    #: seconds between SIGTERM and SIGKILL
    term_grace = 2.0
    #: seconds without a byte reaching a client that stopped reading before omproxy stops
    #: delivering at shutdown (a client that reads, however slowly, gets everything)
    delivery_stall = 10.0
    #: seconds the server gets, after the client closed its stdin, to answer requests that are
    #: still outstanding (a long tool call) before the exit grace starts counting
    reply_timeout = 30.0
    #: Linux: adopt descendants that leave the server's process group (setsid) and end them at
    #: shutdown (see proxy/reaper.py)
    reap_strays = True

    def __init__(self) -> None:
        super().__init__()
        self.proc: subprocess.Popen | None = None
        self.reaper: Reaper | None = None
        self.target: list[str] = []
        self.delivered_at = time.monotonic()  # last write progress to the client (shutdown's measure)
        self.outstanding = Outstanding()  # client requests the server has not answered
        #: a hot-restart controller (proxy/restart.py :class:`Restarter`), or None
        self.restarter: Any = None
        self._server_spec: tuple[list[str], dict, str | None] = ([], {}, None)
        self._s2c_thread: threading.Thread | None = None
        self._notify: Any = None

    def run(self, server: Any) -> int:
        """Relay until the session ends; returns the exit code to use (the server's)."""
        self.refresh_hooks()
        events: queue.SimpleQueue[str] = queue.SimpleQueue()
        notify = events.put
        # Signals first: from here on SIGTERM/SIGINT/SIGHUP take the orderly path.
        previous = {}
        if threading.current_thread() is threading.main_thread():
            def stop(signum, frame) -> None:
                if self.restarter is not None:
                    self.restarter.stopping.set()  # a restart in progress gives up (see Restarter._ask)
                notify(f"signal:{signal.Signals(signum).name}")

            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, stop)
            if self.restarter is not None:  # hot restart (proxy/restart.py): SIGUSR1 restarts the server
                previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, lambda signum, frame: notify("restart:signal"))
        try:
            return self._run(server, events, notify)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, server: Any, events: queue.SimpleQueue, notify) -> int:
        argv = [str(server.command), *[str(a) for a in (getattr(server, "args", None) or [])]]
        self.target = argv
        env = dict(os.environ)
        env.update(getattr(server, "env", None) or {})
        cwd = getattr(server, "cwd", None)
        keep = children() if self.reap_strays and become_subreaper() else None
        self._server_spec = (argv, env, cwd)
        self._notify = notify
        try:
            proc = self._spawn_server()
        except OSError as exc:
            self.report(f"cannot start server {argv[0]!r}: {exc.strerror or exc}")
            self.call_hooks("_on_lifecycle", "failed", {"detail": str(exc)})
            return 127 if isinstance(exc, FileNotFoundError) else 126
        wire = protect_stdout()
        # With hot restart this writer stays until a restart begins (proxy/restart.py interposes then).
        c2s = Direction(C2S, write_all(proc.stdin.fileno()), self.hold_limit)
        c2s.streamable = self.restarter is None  # a restart may switch servers between any two lines
        c2s.track = self.outstanding.sent  # under the direction's lock, as the line is queued
        s2c = Direction(S2C, self._client_writer(wire), self.hold_limit)
        self.directions = {C2S: c2s, S2C: s2c}
        self.reaper = Reaper(keep, proc.pid) if keep is not None else None
        self.prepare_addons()
        if self.needs_loop():
            self.start_loop()
        self.call_hooks("_on_lifecycle", "spawned", {"pid": proc.pid, "argv": argv})
        self.run_hook_now("_on_start")

        def client_eof() -> None:
            # Release anything held (fail open), then the spec's first shutdown step.
            c2s.flush(release_all=True, wait=False)  # queued before the close, written in order
            self._close_stdin(c2s)
            notify("client_eof")

        c2s_thread = threading.Thread(target=self._pump, args=(0, c2s, False, client_eof), name="omproxy-c2s",
                                      daemon=True)
        c2s_thread.start()
        stderr_thread = self._start_server_threads(proc, notify)
        try:
            code = self._supervise(events, proc, c2s, s2c, self._s2c_thread)
        finally:
            self.call_hooks("_on_lifecycle", "closing", {})
            stderr_thread.join(1.0)
            self.drain_hooks()
            self.run_hook_now("_on_close")
            self.stop_loop()
            self.shutdown_addons()
            restore_stdout(wire)  # last: a print() in _on_close must not reach the client either
        return code

    # ---- the server process (called again by a hot restart, proxy/restart.py) ------------------
    def _spawn_server(self) -> subprocess.Popen:
        """Start the server (same command, env and cwd every time); raises OSError."""
        argv, env, cwd = self._server_spec
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=cwd, start_new_session=True, bufsize=0)
        self.proc = proc
        return proc

    def _start_server_threads(self, proc: subprocess.Popen, notify) -> threading.Thread:
        """Start the reader threads of one server process; returns its stderr thread. `notify`
        may drop the events of a server a restart has replaced (see proxy/restart.py)."""
        s2c = self.directions[S2C]

        def current() -> bool:  # a server a restart replaced (proxy/restart.py) ends quietly
            return proc is self.proc and not getattr(proc, "omproxy_replaced", False)

        def tell(what: str) -> None:
            if current():
                notify(what)

        def server_eof() -> None:
            if current():
                s2c.flush(release_all=True)
            tell("server_eof")

        self._s2c_thread = threading.Thread(target=self._pump, args=(proc.stdout.fileno(), s2c, True, server_eof),
                                            name="omproxy-s2c", daemon=True)
        stderr_thread = threading.Thread(target=self._stderr_pump, args=(proc.stderr.fileno(),),
                                         name="omproxy-stderr", daemon=True)
        waiter = threading.Thread(target=lambda: (proc.wait(), tell("exited")), name="omproxy-wait", daemon=True)
        for t in (self._s2c_thread, stderr_thread, waiter):
            t.start()
        return stderr_thread

    def _close_stdin(self, c2s: Direction) -> None:
        """Never blocks: with a write to a server that does not read in progress, the pipe is
        closed once that write ends (it fails when the server is killed)."""
        def close() -> None:
            if self.restarter is not None and self.restarter.close_input():
                return  # a restart in progress, or its server: closed its way
            try:
                self.proc.stdin.close()
            except OSError:
                pass

        c2s.close(close)

    def _supervise(self, events: queue.SimpleQueue, proc: subprocess.Popen, c2s: Direction, s2c: Direction,
                   s2c_thread: threading.Thread) -> int:
        server_eof = False
        wait_replies = False
        ticks = 0
        while True:
            try:
                what = events.get(timeout=0.5)  # a timeout keeps signal handlers running promptly
            except queue.Empty:
                ticks += 1
                self.outstanding.settle()  # parse what the relay threads queued, off their path
                if self.reaper is not None and ticks % 4 == 0:
                    self.reaper.reap()  # adopted orphans that exited: no zombies pile up
                continue
            if what.startswith("restart:") and self.restarter is not None:
                # Hot restart (proxy/restart.py), on this thread: it owns the server processes.
                self.restarter.restart(what[8:])
                proc, s2c_thread, server_eof = self.proc, self._s2c_thread, False
                continue
            if what == "server_eof":
                server_eof = True
                if s2c.closed:  # the client stopped reading us: nothing more can be delivered
                    break
                continue
            if what == "exited":
                if self.restarter is not None and (proc.poll() is None or self.restarter.server_exited(proc)):
                    continue  # stale, or kept alive for the next restart (--watch)
                break
            if what == "client_eof":
                self.call_hooks("_on_lifecycle", "client_eof", {})
                wait_replies = True  # the client may still be reading: let slow replies come
                break
            if what.startswith("signal:"):
                self.call_hooks("_on_lifecycle", "signal", {"signal": what[7:]})
                self.report(f"got {what[7:]}, stopping the server")
                c2s.flush(release_all=True, wait=False)  # never wait on a server that does not read
                self._close_stdin(c2s)
                break
        if proc.poll() is None:
            # Spec order: stdin is closed; give the server time to finish and exit by itself, while
            # its replies keep flowing to the client; then SIGTERM, then SIGKILL its whole group.
            if not self._wait_exit_delivering(proc, s2c, wait_replies):
                if self.outstanding:
                    self.report(f"stopping the server with {self._unanswered()}")
                self._killpg(proc, signal.SIGTERM)
                if not self._wait_exit(proc, self.term_grace):
                    self._killpg(proc, signal.SIGKILL)
                    self._wait_exit(proc, 5.0)
        # The server is gone; what it wrote is still in the pipe. Grandchildren (under sh -c / npx /
        # uvx) may hold its stdout open, so after a moment they go too...
        if not server_eof:
            self._deliver(s2c, s2c_thread, limit=1.0)
        if self._group_alive(proc):
            self._killpg(proc, signal.SIGTERM)
            s2c_thread.join(1.0)
            if self._group_alive(proc):
                self._killpg(proc, signal.SIGKILL)
        # ...and so do descendants that left the group (setsid): adopted by us on Linux.
        if self.reaper is not None:
            ended = self.reaper.end_all(self.term_grace)
            if ended:
                self.report(f"ended {len(ended)} process(es) the server left behind outside its process "
                            f"group: {' '.join(map(str, ended))}")
        # Everything the server wrote reaches a client that is still reading, however slowly --
        # and what a server replaced by a restart wrote, with the restart's answers for the rest.
        for late in self.restarter.late if self.restarter is not None else ():
            self._deliver(s2c, late)
        self._deliver(s2c, s2c_thread)
        if self.outstanding and not s2c.closed:
            self.report(f"the session ended with {self._unanswered()}")
        code = proc.returncode
        self.call_hooks("_on_lifecycle", "exited", {"code": code})
        return exit_code(code)

    def _told_client(self, data: bytes) -> None:
        # An answer of the proxy's own (a dropped request's, a hot restart's) answers the request.
        self.outstanding.answered(data)

    def _client_writer(self, fd: int):
        """Write everything to the client, noting when it last made progress (for shutdown)."""
        clock = time.monotonic

        def write(data: bytes) -> None:
            n = os.write(fd, data)  # a blocking pipe takes it all, but for a signal
            self.delivered_at = clock()
            if n < len(data):
                view = memoryview(data)[n:]
                while view:
                    view = view[os.write(fd, view):]
                    self.delivered_at = clock()

        return write

    def _unanswered(self) -> str:
        ids = self.outstanding.ids()
        shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        return f"{len(ids)} request(s) unanswered (id {shown})"

    def _wait_exit_delivering(self, proc: subprocess.Popen, s2c: Direction, wait_replies: bool) -> bool:
        """Wait up to exit_grace for the server to exit -- counting only time in which it could
        have: while replies are being written to a client that reads them, the server may just be
        waiting on our back-pressure, and that is not its fault. A client that stopped reading
        for delivery_stall seconds no longer extends the wait. With ``wait_replies`` (client EOF,
        not a signal), requests still outstanding get up to reply_timeout to be answered."""
        start = time.monotonic()
        deadline = start + self.exit_grace
        while not self._wait_exit(proc, 0.1):
            now = time.monotonic()
            busy = not s2c.idle() and now - self.delivered_at < self.delivery_stall
            if busy or (wait_replies and self.outstanding and now - start < self.reply_timeout):
                deadline = max(deadline, now + self.exit_grace)
            if now >= deadline:
                return False
        return True

    def _deliver(self, s2c: Direction, pump: threading.Thread, limit: float | None = None) -> None:
        """Until the server's output has been read to EOF and written to the client (or `limit`
        seconds, or the client stops reading for delivery_stall seconds). Held replies are released:
        nobody can release them after us, and a reader parked at the hold limit must reach EOF."""
        start = time.monotonic()
        while True:
            s2c.flush(release_all=True, wait=False)
            pump.join(0.05)
            if not pump.is_alive() and s2c.idle():
                return
            if s2c.closed and not pump.is_alive():
                return  # the client is gone: nothing more can be delivered
            now = time.monotonic()
            if limit is not None and now - start >= limit:
                return
            if now - max(self.delivered_at, start) >= self.delivery_stall:
                self.report(f"the client read nothing for {self.delivery_stall:g} s; "
                            "undelivered replies are dropped")
                return

    @staticmethod
    def _wait_exit(proc: subprocess.Popen, timeout: float) -> bool:
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    @staticmethod
    def _killpg(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _group_alive(proc: subprocess.Popen) -> bool:
        try:
            os.killpg(proc.pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    # ---- the hot path ------------------------------------------------------------------------
    def _pump(self, fd: int, d: Direction, validate: bool, on_eof) -> None:
        """Read fd until EOF, relaying whole lines as soon as they are complete (cut in linear
        time by the shared :class:`~omproxy_tui.proxy.cutter.LineCutter`).

        Cut-through: a line that does not fit in one read and starts like JSON (``{`` or ``[``)
        is forwarded piece by piece as it arrives, when nothing in its direction could change or
        hold it (:meth:`Proxy.may_stream`); the cutter still assembles it for the observers, who
        see it whole once its last byte has moved (see README, "What the relay guarantees")."""
        relay_line = self.relay_line
        track = self.outstanding.sent if d.name == C2S else self.outstanding.answered
        # Client lines are tracked by the direction as it queues them (Direction.track), server
        # lines here: a queue append, before forwarding (an answer is tracked after its request).
        before = None if d.track is not None else track

        def relay(d: Direction, data: bytes, validate: bool) -> None:
            try:
                if before is not None:
                    before(data)
                relay_line(d, data, validate)
            except BaseException as exc:  # noqa: BLE001 -- no line may kill the relay thread
                self.report(f"relaying a {d.name} line of {len(data)} bytes failed "
                            f"({type(exc).__name__}: {exc}); the relay goes on")

        pre, gates, post = self._pre, self._gates, self._post
        name = d.name
        cutter = LineCutter()
        feed = cutter.feed
        buf = cutter.buf
        streaming = None  # (seq, t, wall) of the line being streamed through, or None
        keep = True  # the streamed line is kept whole (someone observes it), else head and tail
        # Of a long unobserved streamed line, past its head: its last bytes (at least PEEK of them
        # once there are that many: a whole piece, by reference, not a copy) and their total size.
        tail = b""
        size = 0
        pieces: list[bytes] = []  # of an observed streamed line, what came after its first read
        try:
            while True:
                # While a line streams, read what the floor relay reads: each piece is written at
                # once, and 1 MiB reads cost a 1 MiB allocation each.
                chunk = os.read(fd, BIG_READ_SIZE if buf and streaming is None else READ_SIZE)
                if not chunk:
                    break
                if streaming is not None:
                    nl = chunk.find(b"\n")
                    piece = chunk if nl < 0 or nl + 1 == len(chunk) else chunk[:nl + 1]
                    if keep:
                        pieces.append(piece)  # the observers' copy: joined once, at the end
                    elif len(buf) < FULL_TRACK_MAX:
                        buf += piece  # the head of the line
                    else:
                        tail = piece if len(piece) >= PEEK else (tail[-PEEK:] + piece)[-PEEK:]
                        size += len(piece)
                    if nl < 0:
                        if not d.stream_write(chunk) and name == S2C:
                            break  # the client is gone
                        continue
                    numbered, streaming = streaming, None
                    if size:  # long and unobserved: only its head and tail were kept
                        raw = HeadTail(bytes(buf[:PEEK]), (bytes(buf[-PEEK:]) + tail[-PEEK:])[-PEEK:], len(buf) + size)
                    elif pieces:
                        # One copy, without its newline (a growing buffer would copy it again and
                        # again, and a bytes body cut off its newline once more).
                        pieces[-1] = memoryview(piece)[:-1]
                        raw = b"".join([buf, *pieces])
                        pieces.clear()
                    else:
                        raw = buf  # copied by end_streamed if needed
                    self.end_streamed(d, numbered, piece, raw, validate, track)
                    buf.clear()
                    tail, size = b"", 0
                    if nl + 1 == len(chunk):
                        if d.closed and name == S2C:
                            break
                        continue
                    chunk = chunk[nl + 1:]
                first, block, single = feed(chunk)
                if first is not None:
                    relay(d, first, validate)
                if block is not None:
                    if (not validate and not pre[name] and not gates[name] and not post[name]
                            and (single or len(block) <= FULL_TRACK_MAX)):
                        if before is not None:
                            before(block)  # (several lines: the tracker splits them, off this path)
                        d.submit(block, None, None)  # nobody looks at this direction: one write
                    elif single:
                        relay(d, block, validate)
                    else:
                        for piece in block[:-1].split(b"\n"):
                            relay(d, piece + b"\n", validate)
                if d.closed and d.name == S2C:
                    break  # the client is gone
                if buf and _starts_like_json(buf) and self.may_stream(d):
                    streaming = self.begin_streamed(d)
                    if streaming is not None:
                        keep = bool(streaming[0])
                        # (the line's start is this whole read, most often: write it, not a copy)
                        if not d.stream_write(chunk if len(buf) == len(chunk) else bytes(buf)) and name == S2C:
                            break
        except OSError:
            pass
        rest = cutter.finish()
        if pieces:
            rest = b"".join([rest, *pieces])
        if streaming is not None and size:
            rest = HeadTail(rest[:PEEK], (rest[-PEEK:] + tail[-PEEK:])[-PEEK:], len(rest) + size)
        if streaming is not None:
            # EOF (or the client went away) in the middle of a streamed line: end it.
            self.end_streamed(d, streaming, b"", rest, validate, track, eof=True)
        elif rest.strip():
            relay(d, rest, validate)  # a last line with no newline
        on_eof()

    def _stderr_pump(self, fd: int) -> None:
        """Copy the server's stderr to ours line by line, and hand each line to the hooks."""
        buf = bytearray()
        want = bool(self._other.get("_on_server_stderr"))
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            end = buf.rfind(b"\n")
            if end < 0:
                if len(buf) < (1 << 20):
                    continue
                end = len(buf) - 1  # a huge line with no newline: pass it on anyway
            block = bytes(buf[: end + 1])
            del buf[: end + 1]
            with self._err_lock:
                try:
                    write_all(self.stderr_fd)(block)
                except OSError:
                    pass
            if want:
                for text in block.decode("utf-8", "replace").splitlines():
                    self.call_hooks("_on_server_stderr", text)
        if buf:
            with self._err_lock:
                try:
                    write_all(self.stderr_fd)(bytes(buf) + b"\n")
                except OSError:
                    pass
            if want:
                self.call_hooks("_on_server_stderr", buf.decode("utf-8", "replace"))
