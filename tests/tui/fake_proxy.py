"""An in-process fake proxy serving the inspect channel over a real unix socket (asyncio)."""

from __future__ import annotations

import asyncio
from typing import Any

from omproxy_tui.protocol.builder import message_frame
from omproxy_tui.protocol.frames import decode, encode


class FakeProxy:
    def __init__(self, path: str, frames: list[dict[str, Any]] | None = None, *, pid: int | None = None) -> None:
        import os

        self.path = str(path)
        self.pid = pid if pid is not None else os.getpid()
        self.backlog: list[dict[str, Any]] = []
        self.hello = {
            "type": "hello", "v": 1, "backlog": 0, "subscriber": 1,
            "proxy": {"pid": self.pid, "name": "fake", "transport": "stdio", "target": ["fake-server"],
                      "started": 0.0, "version": "test", "socket": self.path},
        }
        self.commands: list[dict[str, Any]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0
        for frame in frames or []:
            if frame.get("type") == "hello":
                self.hello = dict(frame)
                self.hello["proxy"] = dict(frame["proxy"], pid=self.pid, socket=self.path)
            elif frame.get("type") in ("message", "resolved", "stderr", "lifecycle"):
                self.backlog.append(frame)

    async def start(self) -> "FakeProxy":
        self.server = await asyncio.start_unix_server(self._handle, path=self.path)
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        hello = dict(self.hello, backlog=len(self.backlog))
        writer.write(encode(hello))
        for frame in self.backlog:
            writer.write(encode(frame))
        await writer.drain()
        self.writers.append(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = decode(line)
                self.commands.append(cmd)
                writer.write(encode({"type": "reply", "id": cmd.get("id"), "ok": True}))
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)

    async def emit(self, *frames: dict[str, Any], record: bool = True) -> None:
        for frame in frames:
            if record and frame.get("type") in ("message", "resolved", "stderr", "lifecycle"):
                self.backlog.append(frame)
            for w in list(self.writers):
                try:
                    w.write(encode(frame))
                    await w.drain()
                except ConnectionError:
                    pass

    async def drop_clients(self) -> None:
        for w in list(self.writers):
            w.close()
        self.writers.clear()

    async def stop(self) -> None:
        await self.drop_clients()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


def message(seq: int, direction: str, obj: Any, *, t: float | None = None, wall: float | None = None, **extra: Any) -> dict[str, Any]:
    """A ``message`` frame as the proxy sends it (built by the protocol's one frame builder)."""
    return message_frame(seq, t if t is not None else seq * 0.01,
                         wall if wall is not None else 1_780_000_000.0 + seq * 0.01, direction, obj, **extra)


def plain(widget) -> str:
    """The text a Static-like widget shows (its content rendered without styles)."""
    import io

    from rich.console import Console

    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    content = widget.content
    console.print(content if not isinstance(content, str) else content)
    return console.export_text()
