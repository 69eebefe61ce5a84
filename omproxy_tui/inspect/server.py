"""The inspect channel addon: one object on the proxy's hook API that serves the channel.

Its parts, each in its own module:

- :mod:`.channel` -- the unix socket, subscribers, the ordered frame stream, the recording;
- :mod:`.steering` -- pause/resume, intercept rules (:mod:`.intercept`), release/drop, fail-open;
- :mod:`.injection` -- injected and replayed messages and the routing of their answers;
- :mod:`.commands` (parsing commands) and :mod:`.redact` (masking secrets in frames).
"""

from __future__ import annotations

import os
import threading
from collections import deque
import time
from typing import Any

from .. import __version__
from ..proxy.line import C2S, S2C
from . import injection, steering
from .backlog import Backlog
from .channel import MAX_SUBSCRIBER_BYTES, Channel, Subscriber
from .commands import Command, CommandError
from .injection import Injection
from .intercept import Pairing
from .redact import Redactor, mask_argv, mask_headers
from .steering import Steering

LAUNCHERS = ("python", "python3", "node", "npx", "uvx", "uv", "bun", "bunx", "deno", "sh", "bash", "pipx")


def session_name(argv: list[str]) -> str:
    """A short default name: the server, not its launcher (``npx -y @x/server-foo`` -> server-foo)."""
    if not argv:
        return "stdio"
    base = os.path.basename(argv[0])
    if base.rstrip("0123456789.") not in LAUNCHERS:
        return base
    rest = [a for a in argv[1:] if not a.startswith("-")]
    return os.path.basename(rest[-1]).removesuffix(".py") if rest else base


class InspectorAddon(Channel, Steering, Injection):
    """Serve the inspect channel for one proxy. Attach with ``proxy.add_addon(InspectorAddon(proxy, ...))``."""

    # No message hooks: lines come numbered and in order through the proxy's sequencer
    # (Channel._ordered), and the gate (Steering._gate) sees each line before it moves.

    def __init__(self, proxy: Any, *, socket_path: str | None = None, serve: bool = True, backlog: int = 10000,
                 backlog_bytes: int = 64 << 20, queue_bytes: int | None = None,
                 wait: bool = False, name: str | None = None, record: str | None = None, redact: bool = True,
                 secrets: list[str] | None = None, target: Any = None, transport: str = "stdio",
                 headers: dict[str, str] | None = None):
        self.proxy = proxy
        self.serve = serve
        self.socket_path = socket_path
        self.wait = wait
        self.backlog = Backlog(backlog, backlog_bytes)
        self.queue_bytes = MAX_SUBSCRIBER_BYTES if queue_bytes is None else queue_bytes
        self.record_path = record
        self.prefix = f"omproxy-{os.getpid()}-"
        secrets = list(secrets or [])
        if isinstance(target, list):
            shown_target, found = mask_argv(target) if redact else (target, [])
            secrets += found
            default_name = session_name(target)
        else:
            shown_target = target
            default_name = str(target or transport)
        self.redactor = Redactor(secrets, enabled=redact)
        self.identity = {
            "pid": os.getpid(), "name": name or default_name, "transport": transport,
            "target": shown_target,
            "started": time.time(), "version": __version__, "socket": None,
        }
        if headers:
            self.identity["headers"] = mask_headers(headers) if redact else dict(headers)
        if isinstance(shown_target, str) and redact:
            self.identity["target"] = self.redactor(shown_target.encode()).decode()
        # relay-thread side
        self._pending: deque = deque()
        self._wake_scheduled = False
        self._lock = threading.Lock()
        self._last = 0  # seq of the last event handed to us
        self.pairing = Pairing()
        proxy.sequencer.add_observer(self._ordered)
        # loop side
        self.subscribers: dict[int, Subscriber] = {}
        self._next_sub = 0
        self._server: Any = None
        self._lsock: Any = None
        self._first_conn: Any = None
        self._tasks: set = set()
        self._record = None
        self.paused = {C2S: False, S2C: False}
        self.intercept = None
        self.intercept_text: str | None = None
        self.injections: dict[str, dict] = {}
        self.tombstones: set[str] = set()
        self._inject_n = 0
        self._routing = False
        self._handshake_ready = False
        self._modern_raw: bytes | None = None
        self._ever_attached = False
        self.loop: Any = None
        self.needs_loop = bool(wait)

    # ================================================================================ hooks
    # (called on relay threads: keep them tiny)
    def _on_server_stderr(self, text: str) -> None:
        self.proxy.sequencer.event("stderr", {"line": text})

    def _on_lifecycle(self, event: str, info: dict) -> None:
        info = {k: v for k, v in info.items() if k != "argv"}
        self.proxy.sequencer.event("lifecycle", dict(info, event=event))

    async def _run(self, sub: Subscriber, cmd: Command) -> dict | None:
        if cmd.name == "ping":
            return None
        if cmd.name == "restart":  # hot restart (proxy/restart.py): the lifecycle frames tell how it went
            restarter = getattr(self.proxy, "restarter", None)
            if restarter is None or not restarter.trigger("command"):
                raise CommandError("this proxy cannot restart its server (only `omproxy stdio` can)")
            return {"restarting": True}
        if cmd.name in steering.COMMANDS:
            return await self._steer(sub, cmd)
        if cmd.name in injection.COMMANDS:
            return await self._injection_command(sub, cmd)
        raise CommandError(f"unhandled command {cmd.name}")  # pragma: no cover
