"""What the TUI knows about each attached proxy session (beyond its messages)."""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from omproxy_tui.client.sources import Source


@dataclass
class SessionInfo:
    source: Source
    label: str
    proxy: dict[str, Any] = field(default_factory=dict)
    state: str = "connecting"
    detail: str = ""
    exit_code: int | None = None
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None
    era: str | None = None  # "2024/2025" (initialize handshake) or "2026" (server/discover)
    messages: int = 0
    c2s: int = 0
    s2c: int = 0
    errors: int = 0
    lost: int = 0
    relabelled: bool = False
    held: list[dict[str, Any]] = field(default_factory=list)
    paused: dict[str, bool] = field(default_factory=dict)
    intercept: str | None = None
    # (wall, line) of server stderr, in arrival order
    stderr: list[tuple[float, str]] = field(default_factory=list)
    # (wall, event, details)
    lifecycle: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def transport(self) -> str:
        return str(self.proxy.get("transport") or ("recording" if self.state == "loaded" else "?"))

    @property
    def state_text(self) -> str:
        if self.state == "ended":
            return "ended" if self.exit_code is None else f"ended ({self.exit_code})"
        return self.state

    def note_handshake(self, method: str | None, kind: str, raw: str) -> None:
        """Pick the server's name/version and protocol era from the handshake response."""
        if kind != "response" or method not in ("initialize", "server/discover"):
            return
        try:
            result = json.loads(raw).get("result") or {}
        except (ValueError, AttributeError):
            return
        if not isinstance(result, dict):
            return
        info = result.get("serverInfo")
        meta = result.get("_meta") if isinstance(result.get("_meta"), dict) else {}
        if not isinstance(info, dict):
            info = meta.get("io.modelcontextprotocol/serverInfo")
        if isinstance(info, dict):
            self.server_name = str(info.get("name") or "") or self.server_name
            self.server_version = str(info.get("version") or "") or self.server_version
        pv = result.get("protocolVersion")
        if pv is None and isinstance(result.get("supportedVersions"), list) and result["supportedVersions"]:
            pv = result["supportedVersions"][-1]
        if pv is not None:
            self.protocol_version = str(pv)
        self.era = "2026" if method == "server/discover" else "initialize"

    def stderr_near(self, wall: float, before: int = 4, after: int = 4, window: float = 5.0) -> list[tuple[float, str, bool]]:
        walls = [w for w, _ in self.stderr]
        pos = bisect_left(walls, wall)
        out = []
        for i in range(max(0, pos - before), min(len(self.stderr), pos + after)):
            w, line = self.stderr[i]
            if abs(w - wall) <= window:
                out.append((w, line, i >= pos))
        return out
