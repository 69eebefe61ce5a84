"""Start/stop the demo (scripted client → real proxy → demo server) for ``omproxy-tui --demo``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class DemoRunner:
    def __init__(self, *, rounds: int | None = None, speed: float = 1.0) -> None:
        self.rounds = rounds
        self.speed = speed
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: str | None = None
        self.log_path: Path | None = None

    def start(self, timeout: float = 15.0) -> str:
        """Start the demo; returns the proxy's inspect socket path once it exists."""
        self.dir = tempfile.mkdtemp(prefix="omproxy-demo-", dir="/tmp" if os.path.isdir("/tmp") else None)
        sock = os.path.join(self.dir, "demo.sock")
        self.log_path = Path(self.dir) / "demo.log"
        cmd = [sys.executable, "-m", "omproxy_tui.demo.client", "--socket", sock, "--speed", str(self.speed),
               "--parent-pid", str(os.getpid())]
        if self.rounds is not None:
            cmd += ["--rounds", str(self.rounds)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while not os.path.exists(sock):
            if self.proc.poll() is not None:
                detail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the demo proxy exited early (code {self.proc.returncode}):\n{detail}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the demo proxy did not open its inspect socket in time "
                                   "(is `omproxy stdio --inspect-socket` available?)")
            time.sleep(0.05)
        return sock

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
