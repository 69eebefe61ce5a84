"""Inspector-side I/O: attach to running proxies' inspect sockets, read recordings. No textual."""

from omproxy_tui.client.sources import (
    BATCH_INTERVAL,
    ProxyWatcher,
    RecordingSource,
    SocketSource,
    Source,
)

__all__ = ["BATCH_INTERVAL", "ProxyWatcher", "RecordingSource", "SocketSource", "Source"]
