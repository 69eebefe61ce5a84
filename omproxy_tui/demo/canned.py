"""A canned inspect-channel session with fixed times: for snapshots, screenshots and benchmarks.

No textual. ``canned_session()`` returns frames exactly as a proxy would send them.
"""

from __future__ import annotations

from typing import Any

from omproxy_tui.protocol.builder import FrameBuilder

T0 = 1_780_000_000.0  # fixed wall clock origin (UTC 2026-05-28 20:26:40)


class _Builder(FrameBuilder):
    """The canned proxy's frames (the shape comes from :mod:`omproxy_tui.protocol.builder`)."""

    def __init__(self, wall0: float = T0, name: str = "demo", pid: int = 4242) -> None:
        super().__init__(wall0, t0=100.0)
        self.name = name
        self.pid = pid

    def hello(self) -> None:  # type: ignore[override]
        super().hello(
            {
                "pid": self.pid,
                "name": self.name,
                "transport": "stdio",
                "target": ["python", "-m", "omproxy_tui.demo.server"],
                "started": self.wall0,
                "version": "0.4.0",
                "socket": f"/tmp/omproxy-0/{self.pid}.sock",
            }
        )
        self.state()

    def msg(self, direction: str, obj: Any, dt: float = 0.01, **extra: Any) -> dict[str, Any]:
        return self.message(direction, obj, dt, **extra)

    def life(self, event: str, dt: float = 0.001, **kw: Any) -> None:
        self.lifecycle(event, dt, **kw)


def _req(i: Any, method: str, params: dict | None = None) -> dict:
    obj: dict[str, Any] = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        obj["params"] = params
    return obj


def _res(i: Any, result: Any) -> dict:
    return {"jsonrpc": "2.0", "id": i, "result": result}


def _text(text: str, is_error: bool = False) -> dict:
    out: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if is_error:
        out["isError"] = True
    return out


def canned_session(wall0: float = T0, *, rounds: int = 3, name: str = "demo", pid: int = 4242) -> list[dict[str, Any]]:
    b = _Builder(wall0, name=name, pid=pid)
    b.hello()
    b.life("spawned", pid=pid + 1)
    b.stderr("demo server starting (omproxy demo 1.0)")
    b.msg("c2s", _req(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {"sampling": {}},
                                        "clientInfo": {"name": "demo-client", "version": "1.0"}}))
    b.msg("s2c", _res(0, {"protocolVersion": "2025-11-25",
                          "capabilities": {"tools": {"listChanged": True}, "resources": {}, "prompts": {}, "logging": {}},
                          "serverInfo": {"name": "omproxy-demo", "version": "1.0.0"},
                          "instructions": "A demo server for omproxy-tui."}), dt=0.0123)
    b.msg("c2s", {"jsonrpc": "2.0", "method": "notifications/initialized"})
    b.msg("c2s", _req(1, "tools/list", {}))
    tools = [{"name": n, "description": d, "inputSchema": {"type": "object"}} for n, d in [
        ("echo", "Echo the text back"), ("slow", "Sleep then answer"), ("fail", "Always fails"),
        ("big", "Return a large result"), ("progress", "Report progress"), ("log", "Log messages")]]
    b.msg("s2c", _res(1, {"tools": tools}), dt=0.0042)
    b.msg("c2s", _req(2, "resources/list", {}))
    b.msg("s2c", _res(2, {"resources": [{"uri": "demo://readme", "name": "readme", "mimeType": "text/plain"}]}), dt=0.0031)
    b.msg("c2s", _req(3, "prompts/list", {}))
    b.msg("s2c", _res(3, {"prompts": [{"name": "greet", "description": "Greet someone"}]}), dt=0.0027)
    i = 4
    for r in range(rounds):
        b.msg("c2s", _req(i, "tools/call", {"name": "echo", "arguments": {"text": f"hello {r}"}}), dt=0.2)
        b.msg("s2c", _res(i, _text(f"hello {r}")), dt=0.0021 + r * 0.0007)
        i += 1
        b.msg("c2s", _req(i, "tools/call", {"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": f"p{r}"}}), dt=0.05)
        for step in range(1, 4):
            b.msg("s2c", {"jsonrpc": "2.0", "method": "notifications/progress",
                          "params": {"progressToken": f"p{r}", "progress": step, "total": 3, "message": f"step {step}/3"}}, dt=0.03)
        b.msg("s2c", _res(i, _text("done in 3 steps")), dt=0.01)
        i += 1
        b.msg("c2s", _req(i, "tools/call", {"name": "fail", "arguments": {}}), dt=0.1)
        b.stderr(f"Traceback (most recent call last): tool 'fail' raised RuntimeError('demo failure {r}')", dt=0.002)
        b.msg("s2c", _res(i, _text(f"Error executing tool fail: demo failure {r}", is_error=True)), dt=0.003)
        i += 1
        b.msg("c2s", _req(i, "resources/read", {"uri": "demo://readme"}), dt=0.08)
        b.msg("s2c", _res(i, {"contents": [{"uri": "demo://readme", "mimeType": "text/plain",
                                            "text": "omproxy demo server\nTry the tools."}]}), dt=0.0015)
        i += 1
        b.msg("c2s", _req(i, "tools/call", {"name": "log", "arguments": {"level": "warning"}}), dt=0.07)
        b.msg("s2c", {"jsonrpc": "2.0", "method": "notifications/message",
                      "params": {"level": "warning", "logger": "demo", "data": f"disk almost full ({90 + r}%)"}}, dt=0.002)
        b.msg("s2c", _res(i, _text("logged")), dt=0.001)
        i += 1
        b.msg("c2s", _req(i, "prompts/get", {"name": "greet", "arguments": {"who": "Ada"}}), dt=0.05)
        b.msg("s2c", _res(i, {"messages": [{"role": "user", "content": {"type": "text", "text": "Say hello to Ada"}}]}), dt=0.002)
        i += 1
        b.msg("c2s", _req(i, "tools/call", {"name": "slow", "arguments": {"seconds": 1.5}}), dt=0.05)
        b.msg("s2c", _res(i, _text("slept 1.5 s")), dt=1.5 + r * 0.1)
        i += 1
    b.msg("c2s", _req(i, "tools/call", {"name": "big", "arguments": {"kb": 300}}), dt=0.1)
    b.msg("s2c", _res(i, _text("x" * 300 * 1024)), dt=0.09)
    i += 1
    b.msg("c2s", _req(i, "nonexistent/method", {}), dt=0.05)
    b.msg("s2c", {"jsonrpc": "2.0", "id": i, "error": {"code": -32601, "message": "Method not found"}}, dt=0.001)
    i += 1
    b.msg("s2c", _req("srv-1", "roots/list"), dt=0.05)
    b.msg("c2s", _res("srv-1", {"roots": [{"uri": "file:///home/ada/project", "name": "project"}]}), dt=0.004)
    b.msg("c2s", {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}, dt=0.02,
          changed={"by": "redact-hook", "action": "replaced", "original": '{"jsonrpc":"2.0","method":"notifications/roots/list_changed","params":{"secret":"x"}}'})
    b.msg("s2c", "demo server: warming cache...", dt=0.01, status="blocked", error="not JSON")
    b.lost(3)
    b.msg("c2s", _req("omproxy-4242-1", "ping"), dt=0.03, status="injected", injected={"by": 1, "id": "omproxy-4242-1"})
    b.msg("s2c", _res("omproxy-4242-1", {}), dt=0.001, to_inspector=True, injected={"by": 1, "id": "omproxy-4242-1"})
    b.msg("c2s", _req(i, "tools/call", {"name": "echo", "arguments": {"text": "held for review"}}), dt=0.05,
          held=True, status="held")
    i += 1
    b.msg("c2s", _req(i, "tools/call", {"name": "slow", "arguments": {"seconds": 30}}), dt=0.05)
    b.stderr("slow: sleeping 30 s", dt=0.01)
    return b.frames
