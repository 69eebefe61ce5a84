"""A fake user's machine for `omproxy wrap` tests: HOME, XDG/APPDATA, a project directory and the
journal all live under a temp dir, so nothing can touch the real machine's client configs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, omproxy_cmd

from omproxy_tui.wrap.clients import client_by_name, config_files

FIXTURES = Path(__file__).resolve().parent / "fixtures"


class Machine:
    def __init__(self, tmp: Path, runtime_dir: str | None = None):
        self.home = tmp / "home"
        self.project = tmp / "proj"
        self.state = tmp / "state"
        for d in (self.home, self.project):
            d.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("CLAUDE_CONFIG_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "APPDATA", "LOCALAPPDATA",
                            "OMPROXY_COMMAND")}
        env.update({
            "HOME": str(self.home), "USERPROFILE": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"), "APPDATA": str(self.home / "AppData" / "Roaming"),
            "OMPROXY_STATE_DIR": str(self.state),
            "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        })
        if runtime_dir:
            env["XDG_RUNTIME_DIR"] = runtime_dir
        self.env = env

    def path_for(self, client: str, scope: str = "user") -> Path:
        files = config_files(client_by_name(client), env=self.env, project=self.project)
        return Path(next(f.path for f in files if f.scope == scope))

    def place(self, client: str, fixture: str, scope: str = "user", windows: bool = False) -> Path:
        """Copy a fixture to where `client` keeps it (as CRLF with a BOM when windows=True)."""
        path = self.path_for(client, scope)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (FIXTURES / fixture).read_bytes()
        if windows:
            data = b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")
        path.write_bytes(data)
        return path

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(omproxy_cmd(*args), cwd=self.project, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def backups(self, path: Path) -> list[Path]:
        return sorted(path.parent.glob(path.name + ".omproxy-*.bak"))

    def journal(self) -> Path:
        return self.state / "wrapped.json"


def copy_fixture(name: str, dest: Path) -> Path:
    shutil.copy(FIXTURES / name, dest)
    return dest


PY = sys.executable
