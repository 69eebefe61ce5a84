"""The addon contract: everything a proxy may call on an addon, declared in one place.

An addon is any object given to ``proxy.add_addon(obj)`` (the proxy subclass itself is the
first one; the inspect channel is another). Every member is optional: the proxy looks each one
up by name when the addon is added (hooks) or at the step it belongs to, so an addon defines only
what it needs. The proxy reads no other name from an addon (tests/test_addon_contract.py checks
the proxy's source against :data:`MEMBERS`).

Order of calls in a session::

    prepare()  ->  [loop_started()]  ->  _on_lifecycle("spawned"/"connected") -> _on_start()
      -> message hooks, _on_server_stderr, _on_lifecycle(...)  (for as long as traffic flows)
      -> _on_lifecycle("closing") -> _on_close()  ->  [loop_stopping()]  ->  shutdown()

``loop_started``/``loop_stopping`` are called only when the proxy runs an event loop (some hook
is async, or an addon has ``needs_loop``; the remote proxies always do).

Numbering: every line is numbered (``line.seq``) and timestamped before it is forwarded, one
numbering shared by hooks and inspectors. Hooks run on two relay threads and see lines in each
direction's order; an addon that needs *everything* in seq order (the inspector) registers with
``proxy.sequencer.add_observer(fn)`` instead (see :mod:`omproxy_tui.proxy.sequence`), and one that
must decide before a line moves installs a gate with ``proxy.set_gate(direction, fn, owner)``.
"""

from __future__ import annotations

from typing import Any, Awaitable, Protocol

#: per-message hooks, by direction
MESSAGE_HOOKS = ("_on_mcp_client_message", "_on_mcp_server_message")
#: the other hooks
OTHER_HOOKS = ("_on_start", "_on_close", "_on_server_stderr", "_on_lifecycle")
#: flags the proxy reads
FLAGS = ("modifies_traffic", "whole_lines", "needs_loop")
#: life-cycle calls
STEPS = ("prepare", "loop_started", "loop_stopping", "shutdown")
#: questions the relay asks while it runs
QUERIES = ("may_stream",)
MEMBERS = MESSAGE_HOOKS + OTHER_HOOKS + FLAGS + STEPS + QUERIES


class Addon(Protocol):
    """What a proxy calls on an addon (all optional; see the module docstring for the order)."""

    #: its message hooks run *before* forwarding and may change traffic (as if each were marked
    #: with ``@modifies``): return None (unchanged), DROP, or a replacement
    modifies_traffic: bool
    #: its message hooks see a batch as the one line that was relayed, not element by element
    whole_lines: bool
    #: the proxy must run an event loop for it (read once, when the session starts)
    needs_loop: bool

    def prepare(self) -> None:
        """Sync set-up before any traffic flows (the inspector binds its socket here)."""

    def loop_started(self) -> Awaitable[None]:
        """On the proxy's event loop, once it runs (start servers, tasks)."""

    def loop_stopping(self) -> Awaitable[None]:
        """On the event loop, before it stops; given 5 s."""

    def shutdown(self) -> None:
        """Sync clean-up, last; an exception is reported, not raised."""

    def may_stream(self, direction: str) -> bool:
        """Relay thread, per long line: False if this addon may need the line whole or held (it
        watches the wire some other way, e.g. the hot-restart writer); then it is not streamed
        through as it arrives. An addon without it does not stop streaming."""

    def _on_mcp_client_message(self, message: Any) -> Any:
        """Each client -> server message; takes ``(message)``, ``(message, line)`` or ``(line)``."""

    def _on_mcp_server_message(self, message: Any) -> Any:
        """Each server -> client message (or an Exception for a line that is not JSON-RPC)."""

    def _on_start(self) -> None:
        """The server side is up, before any message is relayed."""

    def _on_close(self) -> None:
        """The session is over; every hook has seen everything that was relayed."""

    def _on_server_stderr(self, text: str) -> None:
        """One line the (stdio) server wrote to its stderr."""

    def _on_lifecycle(self, event: str, info: dict) -> None:
        """spawned, connected, failed, client_eof, signal, closing, exited, ..."""
