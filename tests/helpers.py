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


