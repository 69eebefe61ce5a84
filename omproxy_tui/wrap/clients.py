"""Which MCP clients we know, where each keeps its server list on Linux, macOS and Windows, and the
shape of that list. Paths are computed from an explicit environment so tests (and `--config`) never
reach the real machine's files."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Mapping

__all__ = ["Client", "ConfigFile", "CLIENTS", "client_by_name", "config_files", "custom_file", "client_path_env"]

# launchd's PATH: what a GUI app started from the Dock or Finder sees on macOS (not the shell's).
MACOS_GUI_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


@dataclass(frozen=True)
class Client:
    name: str  # the CLIENT argument
    title: str  # shown to the user
    gui: bool  # a desktop app: on macOS it does not get the shell's PATH
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConfigFile:
    client: Client
    path: PurePath
    scope: str  # "user", "project", or "file" for --config
    tables: tuple[str, ...]  # where the servers are: "mcpServers", "servers", "projects" (~/.claude.json)
    url_key: str = "url"  # the key of a remote server's URL in this client's entries

    def exists(self) -> bool:
        return Path(self.path).is_file()


CLIENTS = (
    Client("claude-desktop", "Claude Desktop", gui=True, aliases=("claude",)),
    Client("claude-code", "Claude Code", gui=False, aliases=("code-cli",)),
    Client("cursor", "Cursor", gui=True),
    Client("vscode", "VS Code", gui=True, aliases=("code", "vs-code")),
    Client("windsurf", "Windsurf", gui=True),
)
CUSTOM = Client("config", "Config file", gui=False)


def client_by_name(name: str) -> Client | None:
    key = name.lower().replace("_", "-")
    for c in CLIENTS:
        if key == c.name or key in c.aliases:
            return c
    return None


def _system(system: str | None) -> str:
    s = (system or platform.system()).lower()
    return "windows" if s.startswith("win") else "macos" if s in ("darwin", "macos") else "linux"


def config_files(client: Client, *, system: str | None = None, env: Mapping[str, str] | None = None,
                 project: str | os.PathLike[str] | None = None) -> list[ConfigFile]:
    """Every file `client` may read its servers from, user files first, whether or not they exist."""
    env = os.environ if env is None else env
    sysname = _system(system)
    P = PureWindowsPath if sysname == "windows" else PurePosixPath
    if sysname == "windows":
        home = P(env.get("USERPROFILE") or env.get("HOME") or str(Path.home()))
        appdata = P(env.get("APPDATA") or str(home / "AppData" / "Roaming"))
    else:
        home = P(env.get("HOME") or str(Path.home()))
        appdata = P(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    if sysname == "macos":
        appdata = home / "Library" / "Application Support"
    proj = P(str(project if project is not None else os.getcwd()))

    def f(path: PurePath, scope: str, tables=("mcpServers",), url_key="url") -> ConfigFile:
        return ConfigFile(client, path, scope, tables, url_key)

    if client.name == "claude-desktop":
        return [f(appdata / "Claude" / "claude_desktop_config.json", "user")]
    if client.name == "claude-code":
        base = P(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else home
        return [f(base / ".claude.json", "user", ("mcpServers", "projects")), f(proj / ".mcp.json", "project")]
    if client.name == "cursor":
        return [f(home / ".cursor" / "mcp.json", "user"), f(proj / ".cursor" / "mcp.json", "project")]
    if client.name == "vscode":
        users = [appdata / "Code" / "User", appdata / "Code - Insiders" / "User"]
        # each VS Code profile has its own mcp.json under User/profiles/<id>/
        profiles = [p / "mcp.json" for u in users for p in _subdirs(u / "profiles")]
        return ([f(u / "mcp.json", "user", ("servers",)) for u in users]
                + [f(p, "user", ("servers",)) for p in profiles]
                + [f(proj / ".vscode" / "mcp.json", "project", ("servers",))])
    if client.name == "windsurf":
        return [f(home / ".codeium" / "windsurf" / "mcp_config.json", "user", url_key="serverUrl")]
    raise ValueError(client.name)


def _subdirs(path: PurePath) -> list[PurePath]:
    """Sub-directories of path on this machine, sorted (none when it is another OS's path)."""
    if type(path) is not type(PurePath()):
        return []
    try:
        return [path / p.name for p in sorted(Path(path).iterdir()) if p.is_dir()]
    except OSError:
        return []


def custom_file(path: str | os.PathLike[str]) -> ConfigFile:
    """A file given with --config: any of the shapes above, recognised by its keys."""
    return ConfigFile(CUSTOM, PurePath(os.path.abspath(path)), "file", ("mcpServers", "servers", "projects"))


def client_path_env(client: Client, *, system: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The PATH the client will start servers with, as far as we can know it."""
    env = os.environ if env is None else env
    if client.gui and _system(system) == "macos":
        return MACOS_GUI_PATH
    return env.get("PATH", os.defpath)
