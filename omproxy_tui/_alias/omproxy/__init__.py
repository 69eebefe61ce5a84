"""``omproxy``: the import name of the original omproxy (0.3), kept for its users' programs.

Everything lives in ``omproxy_tui``; this is an alias of it: ``omproxy.proxy`` *is*
``omproxy_tui.proxy`` (the same module, so classes compare equal and subclasses are the same), and
``omproxy.__version__`` is this project's version.
"""

from omproxy_tui import __version__

__all__ = ["__version__"]
