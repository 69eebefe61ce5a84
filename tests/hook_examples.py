"""Proxy subclasses used by the tests through `omproxy stdio --hooks hook_examples:NAME`."""

import json
import os
import sys

from omproxy_tui.proxy import DROP, StdioProxy, modifies


class Raises(StdioProxy):
    def _on_mcp_client_message(self, message):
        raise RuntimeError("hook exploded on purpose")

    def _on_mcp_server_message(self, message):
        print("a stray print from a hook must not reach the client")  # goes to stderr
        raise KeyError("server side too")


class DropsPing(StdioProxy):
    @modifies
    def _on_mcp_client_message(self, line):
        if line.method == "ping":
            return DROP
        return None


class Rewrites(StdioProxy):
    """Upper-cases the text argument of tools/call on the way in, and tags results on the way out."""

    @modifies
    def _on_mcp_client_message(self, line):
        msg = line.json
        if isinstance(msg, dict) and msg.get("method") == "tools/call":
            msg["params"]["arguments"]["text"] = msg["params"]["arguments"]["text"].upper()
            return msg
        return None

    @modifies
    async def _on_mcp_server_message(self, line):
        msg = line.json
        if isinstance(msg, dict) and "result" in msg:
            msg["result"]["tagged"] = True
            return json.dumps(msg)
        return None


class Records(StdioProxy):
    """Seed-style observer (typed messages) that writes what it saw to $OMPROXY_RECORD as JSON lines."""

    def _on_start(self):
        self.out = open(os.environ["OMPROXY_RECORD"], "w")

    def _on_mcp_client_message(self, message, line):
        self._write("c2s", message, line)

    def _on_mcp_server_message(self, message, line):
        self._write("s2c", message, line)

    def _on_server_stderr(self, text):
        self.out.write(json.dumps({"stderr": text}) + "\n")

    def _write(self, d, message, line):
        kind = type(message).__name__
        self.out.write(json.dumps({"d": d, "kind": kind, "raw": line.text, "element": line.element}) + "\n")
        self.out.flush()

    def _on_close(self):
        self.out.write(json.dumps({"closed": True}) + "\n")
        self.out.close()
        print("closing", file=sys.stderr)


class ImportProbe(StdioProxy):
    """A raw-line hook that reports, on close, which heavy modules the proxy process loaded."""

    def _on_mcp_client_message(self, line):
        pass

    def _on_close(self):
        loaded = {m: m in sys.modules for m in ("mcp_types", "asyncio", "textual", "pydantic")}
        sys.stderr.write("LOADED " + json.dumps(loaded) + "\n")
