"""The wrap journal: for each entry we wrapped, its exact original text and the text we wrote.

This is what makes `unwrap` byte-exact: when an entry still reads exactly as we wrote it, the
original text goes back verbatim. When it does not (the user edited it), `unwrap` rebuilds it from
the wrapped command line instead. The journal lives in the user's state directory, never beside the
config (a project's .mcp.json is often committed)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Mapping

__all__ = ["journal_path", "Journal"]


def journal_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("OMPROXY_STATE_DIR"):
        return Path(env["OMPROXY_STATE_DIR"]) / "wrapped.json"
    system = platform.system()
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if system == "Windows":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif system == "Darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else home / ".local" / "state"
    return base / "omproxy" / "wrapped.json"


class Journal:
    def __init__(self, path: Path | None = None):
        self.path = path or journal_path()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.entries: dict[str, dict[str, dict[str, str]]] = data.get("files", {}) if isinstance(data, dict) else {}
        self.dirty = False

    def get(self, file: str, pointer: str) -> dict[str, str] | None:
        rec = self.entries.get(file, {}).get(pointer)
        return rec if isinstance(rec, dict) and {"original", "wrapped"} <= rec.keys() else None

    def put(self, file: str, pointer: str, original: str, wrapped: str) -> None:
        self.entries.setdefault(file, {})[pointer] = {"original": original, "wrapped": wrapped}
        self.dirty = True

    def drop(self, file: str, pointer: str) -> None:
        recs = self.entries.get(file)
        if recs and recs.pop(pointer, None) is not None:
            self.dirty = True
            if not recs:
                del self.entries[file]

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        # mode 0600: original entries hold the users' API keys
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "files": self.entries}, fh, indent=1, ensure_ascii=False)
        os.replace(tmp, self.path)
        self.dirty = False
