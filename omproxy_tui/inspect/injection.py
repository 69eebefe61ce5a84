"""Injection: messages an inspector makes up -- requests and notifications to the server or the
client, replays of captured requests -- and the routing of their answers back to that inspector
only (never to the other side), with timeouts and cancellation.
"""

from __future__ import annotations

import json
from typing import Any

from ..proxy.base import ROUTED
from ..proxy.line import C2S, Line, parse_json
from .channel import Slim, Subscriber, asyncio
from .commands import Command, CommandError

MODERN_META_KEY = b"io.modelcontextprotocol/protocolVersion"
META_KEYS = ("io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientInfo",
             "io.modelcontextprotocol/clientCapabilities")
COMMANDS = frozenset({"inject", "replay", "cancel"})


class Injection:
    """Injection for :class:`~omproxy_tui.inspect.server.InspectorAddon` (a mixin)."""

    def _track_handshake(self, raw: bytes) -> None:
        """Client lines, in order: which era the session is in, and whether its handshake is done."""
        if MODERN_META_KEY in raw:
            self._modern_raw = raw
        elif not self._handshake_ready and b"notifications/initialized" in raw:
            self._handshake_ready = True

    async def _injection_command(self, sub: Any, cmd: Command) -> dict | None:
        if cmd.name == "inject":
            return await self._inject(sub, cmd.raw, cmd.direction, cmd.timeout, cmd.extra.get("force", False))
        if cmd.name == "replay":
            item = self.backlog.find(cmd.seq)
            if not isinstance(item, Slim):
                raise CommandError(f"no message #{cmd.seq} in the backlog")
            obj = parse_json(item.raw)[0]
            if not (isinstance(obj, dict) and "method" in obj):
                raise CommandError(f"message #{cmd.seq} is not a request or notification")
            return await self._inject(sub, item.raw, item.direction, cmd.timeout, cmd.extra.get("force", False))
        if cmd.name == "cancel":
            info = self.injections.pop(cmd.inject_id, None)
            if info is None:
                raise CommandError(f"no pending injected request {cmd.inject_id!r}")
            await self._cancel(cmd.inject_id, info, "cancelled by the inspector")
            return None
        raise CommandError(f"unhandled command {cmd.name}")  # pragma: no cover

    def _to_loop(self, fn, *args) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(fn, *args)

    def _route(self, line: Line, inject_id: str, final: bool) -> Any:
        """Relay thread: a reply (or progress) for an injected request goes to its injector only.
        Marked here, so its frame goes out in seq order with everything else (see _ordered)."""
        info = self.injections.get(inject_id)
        line.status = "routed"
        line.injected = None if info is None else {"by": info["sub"].id, "id": inject_id}
        if info is not None and final:
            self._to_loop(self._answered, inject_id)
        return ROUTED

    def _answered(self, inject_id: str) -> None:
        """On the loop: an injected request got its answer."""
        info = self.injections.pop(inject_id, None)
        self.tombstones.add(inject_id)
        if info is not None and info.get("timer"):
            info["timer"].cancel()

    async def _inject(self, sub: Subscriber, raw: bytes, direction: str, timeout: float, force: bool) -> dict:
        obj = json.loads(raw)
        is_request = "method" in obj and "id" in obj
        if direction == C2S and is_request and not force:
            obj = self._fit_era(obj)
        result: dict = {}
        if is_request:
            self._inject_n += 1
            iid = f"{self.prefix}{self._inject_n}"
            result["original_id"] = obj["id"]
            obj["id"] = iid
            params = obj.get("params")
            if isinstance(params, dict) and isinstance(params.get("_meta"), dict) and "progressToken" in params["_meta"]:
                params["_meta"]["progressToken"] = f"{iid}-p"
            timer = self.loop.call_later(timeout, lambda: self._keep(asyncio.ensure_future(self._timed_out(iid))))
            self.injections[iid] = {"sub": sub, "timer": timer, "direction": direction, "method": obj["method"]}
            self._routing = True
            self._update_gates()
            result["inject_id"] = iid
        data = json.dumps(obj, separators=(",", ":")).encode()
        line = await self._in_thread(self.proxy.inject, direction, data, {"by": sub.id, "id": result.get("inject_id")},
                                     None, False)
        if line is None or line.status == "dropped":
            if is_request:
                self.injections.pop(result["inject_id"], None)
            raise CommandError("the other side is gone: nothing was sent")
        result["seq"] = line.seq
        return result

    def _fit_era(self, obj: dict) -> dict:
        """Injection respects the session's protocol era (see the README)."""
        params = obj.setdefault("params", {}) if isinstance(obj.get("params", {}), dict) else None
        if self._modern_raw is not None:
            latest, _ = parse_json(self._modern_raw)
            meta = ((latest or {}).get("params") or {}).get("_meta") or {}
            if params is not None:
                own = params.setdefault("_meta", {})
                for k in META_KEYS:
                    if k in meta and k not in own:
                        own[k] = meta[k]
            return obj
        if not self._handshake_ready:
            raise CommandError("the session has not finished its handshake (no notifications/initialized, and no "
                               "2026-07-28 request seen yet): the server would reject the request. Wait for the "
                               "client to connect, or send with \"force\": true")
        return obj

    async def _timed_out(self, iid: str) -> None:
        info = self.injections.pop(iid, None)
        if info is None:
            return
        await self._cancel(iid, info, "timed out")
        if not info["sub"].closed:
            self._send(info["sub"], json.dumps({"type": "inject_timeout", "inject_id": iid}).encode() + b"\n")

    async def _cancel(self, iid: str, info: dict, reason: str) -> None:
        self.tombstones.add(iid)
        if info.get("timer"):
            info["timer"].cancel()
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": iid, "reason": f"omproxy: injected request {reason}"}}
        await self._in_thread(self.proxy.inject, info["direction"], note, {"by": info["sub"].id, "id": iid}, None,
                              False)

    async def _in_thread(self, fn, *args):
        """Hooks run on injected lines (user code): never on the loop. The writes themselves are
        only queued (``wait=False``), so the reply to a command never waits for the other side."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
