"""The TUI's config file: saved filters and key remapping.

Where: ``$OMPROXY_TUI_CONFIG`` when set, else ``$XDG_CONFIG_HOME/omproxy/tui.json``, else
``~/.config/omproxy/tui.json``. A JSON object (JSON, not TOML: the standard library reads and
writes it on every supported Python)::

    {
      "filters": {"errors": "~e", "slow-tools": "~m tools/call & ~slow"},
      "keys": {"stats": "S", "filter": "ctrl+g,slash"}
    }

``filters`` maps a name to a filter expression (the ``/`` language); ``keys`` maps a binding id
(``omproxy_tui/tui/actions.py``) to its keys, like ``OMPROXY_TUI_KEYMAP`` (which wins per id).
Other members are kept as they are. The TUI writes the file only when a filter is saved or
deleted: it reads the file again first (another TUI may have changed it), changes that one
member, and replaces the file atomically (a temporary file renamed over it).

A file that cannot be read or is not such an object is reported once and left untouched: saving
then refuses rather than overwrite it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Config", "ConfigError", "config_path", "check_name"]

#: saved filter names: what can follow ``@`` in the filter bar
NAME_RE = re.compile(r"[\w.-]{1,40}")


class ConfigError(Exception):
    """The config file cannot be read or written; the message says why, with its path."""


def config_path() -> Path:
    env = os.environ.get("OMPROXY_TUI_CONFIG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "omproxy" / "tui.json"


def check_name(name: str) -> str:
    """The name, stripped; raises ValueError when it cannot name a saved filter."""
    name = name.strip().lstrip("@")
    if not NAME_RE.fullmatch(name):
        raise ValueError("a name is 1-40 letters, digits, '_', '-' or '.' (it is typed after @ in the filter bar)")
    return name


class Config:
    """The config file's content; :meth:`load` never raises (a problem is kept in ``error``)."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None, error: str | None = None) -> None:
        self.path = path
        self.data: dict[str, Any] = data or {}
        #: why the file could not be used (then it is never written), or None
        self.error = error

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> "Config":
        path = Path(path) if path is not None else config_path()
        try:
            data = _read(path)
        except ConfigError as exc:
            return cls(path, error=str(exc))
        return cls(path, data)

    @property
    def filters(self) -> dict[str, str]:
        """Saved filters, name -> expression (entries that are not strings are ignored)."""
        raw = self.data.get("filters")
        if not isinstance(raw, dict):
            return {}
        return {str(k): v for k, v in raw.items() if isinstance(v, str)}

    @property
    def keys(self) -> dict[str, str]:
        """Binding id -> keys (unchecked; the app ignores unknown ids)."""
        raw = self.data.get("keys")
        if not isinstance(raw, dict):
            return {}
        return {str(k): v.strip() for k, v in raw.items() if isinstance(v, str) and v.strip()}

    def save_filter(self, name: str, expression: str) -> None:
        """Save (or replace) a filter; raises ValueError for a bad name, ConfigError when the file
        cannot be read or written."""
        name = check_name(name)
        self._change(lambda filters: filters.__setitem__(name, expression))

    def delete_filter(self, name: str) -> bool:
        """Delete a saved filter; False when there was none of that name."""
        found: list[bool] = []
        self._change(lambda filters: found.append(filters.pop(name, None) is not None))
        return bool(found and found[0])

    def _change(self, change) -> None:
        if self.error is not None:
            raise ConfigError(f"{self.error}; not writing it")
        data = _read(self.path)  # another TUI may have saved a filter since
        filters = data.get("filters")
        if filters is None:
            filters = data["filters"] = {}
        elif not isinstance(filters, dict):
            raise ConfigError(f"{self.path}: \"filters\" is not an object; not writing it")
        change(filters)
        _write(self.path, data)
        self.data = data


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tui-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
            if path.exists():
                os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from None
