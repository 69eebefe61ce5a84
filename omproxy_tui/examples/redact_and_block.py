"""Hooks that change traffic: rewrite a tool call's arguments and block a dangerous tool.

    omproxy stdio --hooks omproxy_tui.examples.redact_and_block:Guard -- python server.py

Hooks marked with @modifies run *before* the message is forwarded. Return None to forward it
unchanged, DROP to drop it (a dropped request is answered to its sender with a JSON-RPC error), or
a replacement (a dict, a str/bytes line, or an SDK message).
"""

from __future__ import annotations

from omproxy_tui.proxy import DROP, StdioProxy, modifies


class Guard(StdioProxy):
    blocked_tools = {"delete_everything"}

    @modifies
    def _on_mcp_client_message(self, line):
        # A first parameter named `line` gets the raw view (bytes + parsed JSON), not the SDK type.
        msg = line.json
        if not isinstance(msg, dict) or msg.get("method") != "tools/call":
            return None
        params = msg.get("params") or {}
        if params.get("name") in self.blocked_tools:
            return DROP
        args = params.get("arguments") or {}
        if "password" in args:
            args["password"] = "***"
            return msg  # a dict: re-serialised compactly
        return None

    async def _on_mcp_server_message(self, message):
        # Async observe hooks run on the proxy's event loop after forwarding.
        pass
