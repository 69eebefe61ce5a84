"""What to write as the `omproxy` command in a client config.

A client starts servers with its own PATH, not the shell's: on macOS an app launched from the Dock
sees only /usr/bin:/bin:/usr/sbin:/sbin, so `omproxy` installed by pipx or in a virtualenv is not
found there. We write the bare name only when it resolves, on the client's PATH, to the very
omproxy we are; otherwise its absolute path.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["ENV_VAR", "own_executable", "launcher_for", "parse_override"]

ENV_VAR = "OMPROXY_COMMAND"


def parse_override(value: str) -> list[str]:
    """`--omproxy-command` / $OMPROXY_COMMAND: a JSON list, or a command line split like a shell
    would (on Windows the whole string is one path)."""
    value = value.strip()
    if value.startswith("["):
        import json

        argv = json.loads(value)
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise ValueError("expected a JSON list of strings")
        return argv
    argv = [value] if os.name == "nt" else shlex.split(value)
    if not argv:
        raise ValueError("empty command")
    return argv


def own_executable() -> str | None:
    """The `omproxy` script of this installation, if there is one."""
    name = "omproxy.exe" if os.name == "nt" else "omproxy"
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name in (name, "omproxy") and argv0.is_file():
        return str(argv0.resolve())
    bindir = Path(sys.executable).parent
    for cand in (bindir / name, bindir / "Scripts" / name):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which("omproxy")
    return str(Path(found).resolve()) if found else None


def launcher_for(client_path: str, *, override: list[str] | None = None, exe: str | None = None) -> list[str]:
    """The argv prefix that starts omproxy for a client whose PATH is client_path."""
    if override:
        return list(override)
    exe = exe if exe is not None else own_executable()
    if exe is None:
        # no console script (e.g. run from a source tree): this interpreter can still run us
        return [sys.executable, "-m", "omproxy_tui"]
    seen = shutil.which("omproxy", path=client_path)
    if seen and os.path.realpath(seen) == os.path.realpath(exe):
        return ["omproxy"]
    return [exe]
