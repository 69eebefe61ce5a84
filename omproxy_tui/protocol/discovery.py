"""Where running proxies put their inspect sockets, and how inspectors find them.

Standard library only: the proxy uses this to create its paths, inspectors to list proxies.

Layout: ``<runtime dir>/<pid>.sock`` (mode 0600) and beside it ``<pid>.json``, the sidecar holding
the same ``proxy`` object the ``hello`` frame carries. The runtime dir is
``$XDG_RUNTIME_DIR/omproxy`` when that variable is set, else ``<tmp>/omproxy-<uid>``; mode 0700.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "runtime_dir",
    "runtime_dir_path",
    "socket_path_for",
    "sidecar_path_for",
    "pid_alive",
    "list_proxies",
    "write_sidecar",
    "remove_paths",
]


def runtime_dir_path() -> Path:
    """The runtime dir's path, without creating it."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "omproxy"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"omproxy-{uid}"


def runtime_dir() -> Path:
    """The runtime dir, created with mode 0700 when missing (and tightened when it is looser)."""
    path = runtime_dir_path()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        st = path.stat()
        if stat.S_IMODE(st.st_mode) & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path


def socket_path_for(pid: int | None = None) -> Path:
    """``<runtime dir>/<pid>.sock`` (the runtime dir is created)."""
    return runtime_dir() / f"{os.getpid() if pid is None else pid}.sock"


def sidecar_path_for(pid: int | None = None) -> Path:
    """``<runtime dir>/<pid>.json`` (the runtime dir is created)."""
    return runtime_dir() / f"{os.getpid() if pid is None else pid}.json"


def write_sidecar(proxy: dict[str, Any], pid: int | None = None) -> Path:
    """Write the sidecar atomically (temp file + rename), mode 0600."""
    path = sidecar_path_for(pid)
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(proxy, fh)
    os.replace(tmp, path)
    return path


def remove_paths(pid: int | None = None) -> None:
    """Remove a proxy's socket and sidecar; missing files are fine."""
    base = runtime_dir_path()
    pid = os.getpid() if pid is None else pid
    for name in (f"{pid}.sock", f"{pid}.json"):
        try:
            (base / name).unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (EPERM means it exists but is not ours)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_proxies(directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Running proxies, oldest first; stale sockets (pid dead) and their sidecars are deleted.

    Each entry is the sidecar's ``proxy`` object (possibly empty when the sidecar is missing or
    unreadable) with ``pid`` and ``socket`` always set.
    """
    base = Path(directory) if directory is not None else runtime_dir_path()
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    found: list[dict[str, Any]] = []
    for sock in entries:
        if sock.suffix != ".sock":
            continue
        try:
            pid = int(sock.stem)
        except ValueError:
            continue
        sidecar = sock.with_suffix(".json")
        if not pid_alive(pid):
            for stale in (sock, sidecar):
                try:
                    stale.unlink()
                except OSError:
                    pass
            continue
        info = _read_sidecar(sidecar) or {}
        info = dict(info)
        info["pid"] = pid
        info["socket"] = str(sock)
        found.append(info)
    found.sort(key=lambda p: (p.get("started") or 0, p["pid"]))
    return found
