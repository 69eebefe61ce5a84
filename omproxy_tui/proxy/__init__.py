"""Library API: subclass a proxy and override its hooks (see :mod:`omproxy_tui.proxy.base`).

    from omproxy_tui.proxy import StdioProxy
    from mcp import StdioServerParameters

    class Logged(StdioProxy):
        def _on_mcp_client_message(self, message):
            ...

    Logged().run(StdioServerParameters(command="uvx", args=["mcp-server-fetch"]))

Names are imported lazily so `import omproxy_tui.proxy` stays cheap (SseProxy and
StreamableHttpProxy pull in the SDK's HTTP transports).
"""

from .base import DROPPED_CODE, Proxy, modifies
from .line import C2S, DROP, S2C, Line
from .stdio import ServerParams, StdioProxy

__all__ = ["C2S", "DROP", "DROPPED_CODE", "S2C", "Line", "Proxy", "ServerParams", "SseProxy", "StdioProxy",
           "StreamableHttpProxy", "modifies"]


def __getattr__(name):
    if name in ("SseProxy", "StreamableHttpProxy"):
        from . import remote

        return getattr(remote, name)
    raise AttributeError(name)
