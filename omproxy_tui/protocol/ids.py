"""One key for a JSON-RPC id, for every table that pairs a response with its request.

JSON-RPC matches ids by value *and* type: ``1``, ``"1"`` and ``1.0`` are three different ids, where
Python would equate ``1 == 1.0`` and a careless ``str()`` would equate ``1`` and ``"1"``. Floats
(and anything else an invalid message may carry) go through ``repr``, so NaN, which ``json.loads``
accepts, is still equal to itself as a key and lists or dicts are hashable.

The one deliberate exception is the proxy's outstanding-request tracker
(:func:`omproxy_tui.proxy.outstanding.id_key`): it only decides whether a request has been answered
before shutdown or a restart, and there a server that wrote ``1.0`` back for ``1`` has answered.
"""

from __future__ import annotations

from typing import Any


def id_key(id: Any) -> tuple:
    """A hashable key for a JSON-RPC id that keeps ``1``, ``"1"``, ``1.0``, ``null`` apart."""
    t = type(id)
    if t is int or t is str:
        return (t.__name__, id)
    if id is None:
        return ("null", None)
    return (t.__name__, repr(id))
