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
