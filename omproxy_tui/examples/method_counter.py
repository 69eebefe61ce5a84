"""A seed-style observing hook: count messages per method, print a summary on exit.

    omproxy stdio --hooks omproxy_tui.examples.method_counter:MethodCounter -- python server.py

or from Python:

    python -m omproxy_tui.examples.method_counter python server.py
"""

from __future__ import annotations

import sys
from collections import Counter

from omproxy_tui.proxy import ServerParams, StdioProxy


class MethodCounter(StdioProxy):
    """Observe-only: these hooks run after the bytes are forwarded, so they add no latency."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def _on_mcp_client_message(self, message):
        # `message` is the SDK's typed JSONRPCMessage, as in the seed API.
        self.counts[getattr(message, "method", None) or "response"] += 1

    def _on_mcp_server_message(self, message):
        if isinstance(message, Exception):  # a line that is not JSON-RPC
            self.counts["<invalid>"] += 1
        else:
            self.counts["<- " + (getattr(message, "method", None) or "response")] += 1

    def _on_close(self):
        for method, n in self.counts.most_common():
            print(f"{n:8d}  {method}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(MethodCounter().run(ServerParams(command=sys.argv[1], args=sys.argv[2:])))
