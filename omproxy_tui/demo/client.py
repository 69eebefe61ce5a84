"""Scripted MCP client for the demo: spawns ``omproxy stdio --inspect-socket SOCK -- <demo server>``
and writes JSON-RPC lines to it, forever (or ``--rounds N``), producing varied traffic.

Run: ``python -m omproxy_tui.demo.client --socket /tmp/x.sock``. A raw JSON-line writer (not the
SDK client) so it can send exactly what the demo needs: concurrent calls, unknown methods,
progress tokens, cancellations.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import sys
from typing import Any

PROTOCOL_VERSION = "2025-11-25"


def proxy_command(socket: str, name: str = "demo") -> list[str]:
    server = [sys.executable, "-m", "omproxy_tui.demo.server"]
    return [sys.executable, "-m", "omproxy_tui.cli", "stdio", "--inspect-socket", socket, "--name", name, "--", *server]


class DemoClient:
    def __init__(self, proc: asyncio.subprocess.Process, *, speed: float = 1.0, seed: int | None = None) -> None:
        self.proc = proc
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.speed = speed
        self.rng = random.Random(seed)

    async def reader(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if "method" in msg and "id" in msg:  # a server -> client request
                await self.answer(msg)
            elif "id" in msg and msg.get("id") in self.pending:
                fut = self.pending.pop(msg["id"])
                if not fut.done():
                    fut.set_result(msg)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("proxy closed"))

    async def write(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        await self.proc.stdin.drain()

    async def answer(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method == "roots/list":
            result: dict[str, Any] = {"roots": [{"uri": "file:///home/demo/project", "name": "project"}]}
        elif method == "ping":
            result = {}
        else:
            await self.write({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "not supported"}})
            return
        await self.write({"jsonrpc": "2.0", "id": msg["id"], "result": result})

    async def request(self, method: str, params: dict[str, Any] | None = None, *, wait: bool = True, timeout: float = 30) -> Any:
        rid = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        obj: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            obj["params"] = params
        await self.write(obj)
        if not wait:
            return rid
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.pending.pop(rid, None)
            return None

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        obj: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            obj["params"] = params
        await self.write(obj)

    async def call(self, tool: str, args: dict[str, Any], *, progress: bool = False, wait: bool = True) -> Any:
        params: dict[str, Any] = {"name": tool, "arguments": args}
        if progress:
            params["_meta"] = {"progressToken": f"p{next(self.ids)}"}
        return await self.request("tools/call", params, wait=wait)

    async def pause(self, secs: float) -> None:
        await asyncio.sleep(secs / self.speed)

    async def handshake(self) -> None:
        await self.request("initialize", {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"roots": {"listChanged": True}, "sampling": {}},
            "clientInfo": {"name": "omproxy-demo-client", "version": "1.0"},
        })
        await self.notify("notifications/initialized")
        await self.request("tools/list", {})
        await self.request("resources/list", {})
        await self.request("resources/templates/list", {})
        await self.request("prompts/list", {})

    async def round(self, n: int) -> None:
        r = self.rng
        await self.call("echo", {"text": f"hello #{n}"})
        await self.pause(0.3)
        # a few concurrent calls, answered out of order
        tasks = [
            asyncio.ensure_future(self.call("slow", {"seconds": round(r.uniform(0.2, 2.5), 1)})),
            asyncio.ensure_future(self.call("echo", {"text": "concurrent"})),
            asyncio.ensure_future(self.call("progress", {"steps": r.randint(3, 6), "delay": 0.15}, progress=True)),
        ]
        await self.pause(0.2)
        await self.request("resources/read", {"uri": r.choice(["demo://readme", "demo://config", f"demo://items/{n}"])})
        await self.call("fail", {"reason": f"demo failure #{n}"})
        await self.call("log", {"level": r.choice(["info", "warning", "error"]), "message": f"round {n}"})
        await self.request("prompts/get", {"name": "greet", "arguments": {"who": r.choice(["Ada", "Grace", "Linus"])}})
        if n % 3 == 0:
            await self.call("big", {"kb": r.choice([64, 300, 1200])})
        if n % 4 == 1:
            await self.request("no/such/method", {})
        if n % 5 == 2:
            rid = await self.call("slow", {"seconds": 8}, wait=False)
            await self.pause(0.5)
            await self.notify("notifications/cancelled", {"requestId": rid, "reason": "user got bored"})
        if n % 2 == 0:
            await self.request("ping")
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.pause(r.uniform(0.5, 1.5))


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop when the process that started us (omproxy-tui --demo) is gone, even if it was killed."""
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(0.5)


async def run(socket: str, rounds: int | None, speed: float, name: str, parent: int | None = None) -> int:
    proc = await asyncio.create_subprocess_exec(
        *proxy_command(socket, name),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=None,
        start_new_session=True,
        limit=256 * 1024 * 1024,
    )
    client = DemoClient(proc, speed=speed)
    reader = asyncio.ensure_future(client.reader())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def drive() -> None:
        await client.handshake()
        for n in itertools.count(1):
            if rounds is not None and n > rounds:
                break
            await client.round(n)

    driver = asyncio.ensure_future(drive())
    watchdog = asyncio.ensure_future(_watch_parent(parent, stop)) if parent else None
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({driver, stopper, reader}, return_when=asyncio.FIRST_COMPLETED)
    for task in (driver, stopper, watchdog):
        if task is not None:
            task.cancel()
    # closing stdin ends the session cleanly: the proxy sees EOF and stops the server
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
    reader.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="inspect socket path for the proxy")
    parser.add_argument("--rounds", type=int, default=None, help="stop after N rounds (default: forever)")
    parser.add_argument("--speed", type=float, default=1.0, help="pace multiplier")
    parser.add_argument("--name", default="demo", help="session name")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this parent process is gone")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.socket, args.rounds, args.speed, args.name, args.parent_pid))


if __name__ == "__main__":
    sys.exit(main())
