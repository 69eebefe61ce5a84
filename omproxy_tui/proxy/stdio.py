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
from dataclasses import dataclass, field
from typing import Any

from .base import Direction, Proxy, exit_code, protect_stdout, restore_stdout, write_all
from .line import C2S, S2C

READ_SIZE = 1 << 16
BIG_READ_SIZE = 1 << 20  # once a line is known to be long, read in bigger gulps


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

    def __init__(self) -> None:
        super().__init__()
        self.proc: subprocess.Popen | None = None
        self.target: list[str] = []

    def run(self, server: Any) -> int:
        """Relay until the session ends; returns the exit code to use (the server's)."""
        self.refresh_hooks()
        events: queue.SimpleQueue[str] = queue.SimpleQueue()
        notify = events.put
        # Signals first: from here on SIGTERM/SIGINT/SIGHUP take the orderly path.
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, lambda signum, frame: notify(f"signal:{signal.Signals(signum).name}"))
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
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env, cwd=cwd, start_new_session=True, bufsize=0)
        except OSError as exc:
            self.report(f"cannot start server {argv[0]!r}: {exc.strerror or exc}")
            self.call_hooks("_on_lifecycle", "failed", {"detail": str(exc)})
            return 127 if isinstance(exc, FileNotFoundError) else 126
        self.proc = proc
        wire = protect_stdout()
        c2s = Direction(C2S, write_all(proc.stdin.fileno()), self.hold_limit)
        s2c = Direction(S2C, write_all(wire), self.hold_limit)
        self.directions = {C2S: c2s, S2C: s2c}
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

        def server_eof() -> None:
            s2c.flush(release_all=True)
            notify("server_eof")

        threads = [
            threading.Thread(target=self._pump, args=(0, c2s, False, client_eof), name="omproxy-c2s", daemon=True),
            threading.Thread(target=self._pump, args=(proc.stdout.fileno(), s2c, True, server_eof),
                             name="omproxy-s2c", daemon=True),
            threading.Thread(target=self._stderr_pump, args=(proc.stderr.fileno(),), name="omproxy-stderr",
                             daemon=True),
            threading.Thread(target=lambda: (proc.wait(), notify("exited")), name="omproxy-wait", daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            code = self._supervise(events, proc, c2s, s2c, threads[1])
        finally:
            self.call_hooks("_on_lifecycle", "closing", {})
            threads[2].join(1.0)
            self.drain_hooks()
            self.run_hook_now("_on_close")
            self.stop_loop()
            self.shutdown_addons()
            restore_stdout(wire)  # last: a print() in _on_close must not reach the client either
        return code

    def _close_stdin(self, c2s: Direction) -> None:
        """Never blocks: with a write to a server that does not read in progress, the pipe is
        closed once that write ends (it fails when the server is killed)."""
        def close() -> None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

        c2s.close(close)

    def _supervise(self, events: queue.SimpleQueue, proc: subprocess.Popen, c2s: Direction, s2c: Direction,
                   s2c_thread: threading.Thread) -> int:
        server_eof = False
        while True:
            try:
                what = events.get(timeout=0.5)  # a timeout keeps signal handlers running promptly
            except queue.Empty:
                continue
            if what == "server_eof":
                server_eof = True
                if s2c.closed:  # the client stopped reading us: nothing more can be delivered
                    break
                continue
            if what == "exited":
                break
            if what == "client_eof":
                self.call_hooks("_on_lifecycle", "client_eof", {})
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
            if not self._wait_exit(proc, self.exit_grace):
                self._killpg(proc, signal.SIGTERM)
                if not self._wait_exit(proc, self.term_grace):
                    self._killpg(proc, signal.SIGKILL)
                    self._wait_exit(proc, 5.0)
        # Flush what the server wrote before it went. Grandchildren (under sh -c / npx / uvx) may
        # still hold its stdout open, so they go too.
        if not server_eof:
            s2c_thread.join(1.0)
        if self._group_alive(proc):
            self._killpg(proc, signal.SIGTERM)
            s2c_thread.join(1.0)
            if self._group_alive(proc):
                self._killpg(proc, signal.SIGKILL)
        s2c_thread.join(1.0)
        code = proc.returncode
        self.call_hooks("_on_lifecycle", "exited", {"code": code})
        return exit_code(code)

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
        """Read fd until EOF, relaying whole lines as soon as they are complete.

        A line is accumulated in a bytearray (amortised O(1) appends: a 50 MB line costs what its
        bytes cost, not quadratic re-joins), and the newline is searched only in new data.
        """
        relay_line = self.relay_line

        def relay(d: Direction, data: bytes, validate: bool) -> None:
            try:
                relay_line(d, data, validate)
            except BaseException as exc:  # noqa: BLE001 -- no line may kill the relay thread
                self.report(f"relaying a {d.name} line of {len(data)} bytes failed "
                            f"({type(exc).__name__}: {exc}); the relay goes on")

        pre, gates, post = self._pre, self._gates, self._post
        name = d.name
        buf = bytearray()
        try:
            while True:
                chunk = os.read(fd, BIG_READ_SIZE if buf else READ_SIZE)
                if not chunk:
                    break
                nl = chunk.find(b"\n")
                if nl < 0:
                    buf += chunk
                    continue
                start = 0
                if buf:
                    buf += chunk[: nl + 1]
                    relay(d, bytes(buf), validate)
                    buf.clear()
                    start = nl + 1
                end = chunk.rfind(b"\n")
                if end >= start:
                    if not validate and not pre[name] and not gates[name] and not post[name]:
                        # nobody looks at this direction: forward every complete line in one write
                        d.submit(chunk[start:end + 1] if (start or end + 1 < len(chunk)) else chunk, None, None)
                    elif start == 0 and end == nl:
                        relay(d, chunk[: end + 1] if end + 1 < len(chunk) else chunk, validate)
                    else:
                        for piece in chunk[start:end].split(b"\n"):
                            relay(d, piece + b"\n", validate)
                if end + 1 < len(chunk):
                    buf += chunk[end + 1:]
                if d.closed and d.name == S2C:
                    break  # the client is gone
        except OSError:
            pass
        if buf.strip():
            relay(d, bytes(buf), validate)  # a last line with no newline
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
