"""Shared helpers for tests (importable as `helpers`: pytest puts tests/ on sys.path)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


def omproxy_cmd(*args: str) -> list[str]:
    """The proxy as a real subprocess, with this interpreter (so CI's venv is used)."""
    return [sys.executable, "-m", "omproxy_tui", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")



RAW_SERVER = [sys.executable, str(ROOT / "tests" / "servers" / "raw_server.py")]


def run_proxy(proxy_args: list[str], server: list[str], stdin: bytes = b"", timeout: float = 60,
              **kw) -> subprocess.CompletedProcess:
    """Run `omproxy <proxy_args> -- <server>` to completion with `stdin` as its input."""
    return subprocess.run(omproxy_cmd(*proxy_args, "--", *server), input=stdin, capture_output=True,
                          timeout=timeout, cwd=ROOT, **kw)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(pred, what: str, timeout: float = 30.0):
    """Poll `pred` until it returns something truthy (returned) or `timeout` seconds pass (AssertionError
    naming `what`): tests wait for a condition under a deadline, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_dead(*pids: int, timeout: float = 10.0) -> None:
    """Wait until every pid is gone: SIGKILL is asynchronous, so a process killed just before the
    proxy exited may still be tearing down when the test looks."""
    deadline = time.monotonic() + timeout
    while alive := [p for p in pids if pid_alive(p)]:
        if time.monotonic() > deadline:
            raise AssertionError(f"still alive after {timeout} s: {alive}")
        time.sleep(0.05)


def short_tmpdir() -> str:
    """A directory short enough for unix socket paths (< ~100 bytes)."""
    import tempfile

    return tempfile.mkdtemp(prefix="omp", dir="/tmp")


class Inspector:
    """A scripted inspector over the real unix socket."""

    def __init__(self, path: str, timeout: float = 15.0):
        import socket as _socket

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = _socket.socket(_socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile("rwb")
        self.seen: list[dict] = []
        self._n = 0

    def read(self) -> dict:
        import json

        line = self.f.readline()
        if not line:
            raise EOFError("inspect socket closed")
        frame = json.loads(line)
        self.seen.append(frame)
        return frame

    def until(self, pred, what: str = "frame") -> dict:
        for frame in self.seen:
            if pred(frame) and not frame.get("_used"):
                frame["_used"] = True
                return frame
        while True:
            frame = self.read()
            if pred(frame):
                frame["_used"] = True
                return frame

    def send(self, cmd: str, **args) -> dict:
        import json

        self._n += 1
        cid = self._n
        self.f.write(json.dumps({"cmd": cmd, "id": cid, **args}).encode() + b"\n")
        self.f.flush()
        return self.until(lambda fr: fr.get("type") == "reply" and fr.get("id") == cid, f"reply to {cmd}")

    def message(self, pred) -> dict:
        import json

        return self.until(lambda fr: fr.get("type") == "message" and pred(fr, json.loads(fr["raw"])
                                                                           if "raw" in fr else None))

    def close(self) -> None:
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def pump_output(proc, on_stderr):
    """Drain a child's stdout (line by line into a queue, b"" at EOF) and stderr (chunks to on_stderr)
    on daemon threads, so a chatty child never blocks on a full pipe. Returns (lines, stderr thread)."""
    import queue
    import threading

    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(b"")

    def pump_err():
        while chunk := proc.stderr.read1(65536):
            on_stderr(chunk)

    threading.Thread(target=pump, daemon=True).start()
    err = threading.Thread(target=pump_err, daemon=True)
    err.start()
    return lines, err


class Session:
    """A proxy subprocess whose stdin/stdout the test drives as the MCP client."""

    def __init__(self, proxy_args: list[str], server: list[str], env: dict | None = None):
        self.proc = subprocess.Popen(omproxy_cmd(*proxy_args, "--", *server), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                                     env=env or os.environ.copy())
        self.stderr = b""
        self.lines, _ = pump_output(self.proc, self._add_stderr)

    def _add_stderr(self, chunk: bytes) -> None:
        self.stderr += chunk

    def send(self, obj) -> None:
        import json

        self.proc.stdin.write((obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float = 15.0) -> dict:
        import json
        import queue

        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no message from the proxy") from None
        if not line:
            raise EOFError("proxy stdout closed")
        return json.loads(line)

    def rest(self, timeout: float = 15.0) -> bytes:
        """Everything the proxy still writes until it closes stdout."""
        out = b""
        while line := self.lines.get(timeout=timeout):
            out += line
        return out

    def nothing_within(self, seconds: float) -> bool:
        import queue

        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        self.lines.queue.appendleft(line)  # put it back for recv()
        return False

    def handshake(self) -> dict:
        self.send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "test", "version": "1"}}})
        reply = self.recv()
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def close(self, timeout: float = 15.0) -> int:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
