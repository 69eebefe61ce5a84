"""omproxy: a transparent MCP proxy you can see into and steer.

Kept tiny on purpose: the `omproxy` process imports this first, and every millisecond here is
paid once per MCP server that Claude Desktop starts.
"""

__version__ = "0.4.0"
