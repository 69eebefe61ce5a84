"""Reading a config and replacing it safely: a timestamped backup beside it first, then an atomic
write (temp file in the same directory, the original's permissions, fsync, rename) so a client
reading the file at that moment sees the old or the new version, never half of one."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

__all__ = ["read_text", "target_of", "backup", "atomic_write", "ChangedUnderneath"]


class ChangedUnderneath(RuntimeError):
    """The file changed between our read and our write (a client saving it); nothing was written."""


def target_of(path: str | os.PathLike[str]) -> Path:
    """The real file behind a symlink (dotfile managers link configs): we replace the target, not the link."""
    return Path(os.path.realpath(path))


def read_text(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """The file's bytes and their text (UTF-8, a BOM kept as U+FEFF so it is written back)."""
    data = Path(path).read_bytes()
    return data, data.decode("utf-8")


def backup(path: str | os.PathLike[str], now: float | None = None) -> Path:
    """Copy the file to ``<name>.omproxy-YYYYmmdd-HHMMSS.bak`` beside it (a new name every time)."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    n = 0
    while True:
        suffix = f".omproxy-{stamp}{'-' + str(n) if n else ''}.bak"
        dest = path.with_name(path.name + suffix)
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            n += 1
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(path.read_bytes())
        shutil.copystat(path, dest)
        return dest


def atomic_write(path: str | os.PathLike[str], data: bytes, expect: bytes | None = None) -> None:
    """Replace path's content with data, keeping its mode. With ``expect``, refuse (ChangedUnderneath)
    when the file no longer holds those bytes."""
    path = target_of(path)
    st = path.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".omproxy-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if expect is not None and path.read_bytes() != expect:
            raise ChangedUnderneath(str(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
