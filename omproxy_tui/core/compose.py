"""What can be composed and injected into a session: the MCP methods of its protocol version, a
valid skeleton for each, and the tools / prompts / resources the session itself listed.

Standard library only. The method table is the SDK's own (``mcp_types.methods``, copied here
because ``core/`` never imports mcp; ``tests/tui/test_compose_catalog.py`` checks they agree).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

__all__ = [
    "LIST_FOR",
    "captured_list",
    "methods_for",
    "skeleton",
]

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS = ("2026-07-28",)

_HANDSHAKE_CLIENT_REQUESTS = (
    "completion/complete", "initialize", "logging/setLevel", "ping", "prompts/get", "prompts/list",
    "resources/list", "resources/read", "resources/subscribe", "resources/templates/list",
    "resources/unsubscribe", "tools/call", "tools/list",
)
_HANDSHAKE_SERVER_NOTIFICATIONS = (
    "notifications/cancelled", "notifications/message", "notifications/progress",
    "notifications/prompts/list_changed", "notifications/resources/list_changed",
    "notifications/resources/updated", "notifications/tools/list_changed",
)

#: version -> (client->server requests, client notifications, server->client requests, server notifications)
METHODS: dict[str, tuple[tuple[str, ...], ...]] = {
    **{v: (_HANDSHAKE_CLIENT_REQUESTS,
           ("notifications/cancelled", "notifications/initialized", "notifications/progress",
            "notifications/roots/list_changed"),
           ("ping", "roots/list", "sampling/createMessage") + (("elicitation/create",) if v >= "2025-06-18" else ()),
           _HANDSHAKE_SERVER_NOTIFICATIONS + (("notifications/elicitation/complete",) if v == "2025-11-25" else ()))
       for v in HANDSHAKE_VERSIONS},
    "2026-07-28": (
        ("completion/complete", "prompts/get", "prompts/list", "resources/list", "resources/read",
         "resources/templates/list", "server/discover", "subscriptions/listen", "tools/call", "tools/list"),
        ("notifications/cancelled",),
        (),
        ("notifications/cancelled", "notifications/message", "notifications/progress",
         "notifications/prompts/list_changed", "notifications/resources/list_changed",
         "notifications/resources/updated", "notifications/subscriptions/acknowledged",
         "notifications/tools/list_changed"),
    ),
}

#: the list request whose answer a form needs
LIST_FOR = {"tools/call": "tools/list", "prompts/get": "prompts/list", "resources/read": "resources/list"}
#: where a list answer keeps its items
_ITEMS = {"tools/list": "tools", "prompts/list": "prompts", "resources/list": "resources"}


def methods_for(version: str | None, to: str, seen: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Methods worth offering when composing toward ``to`` (``"server"`` or ``"client"``):
    requests then notifications of the session's protocol version (every version's when it is
    not known yet), then every other method seen in that direction (``seen`` holds
    ``(dir, method)`` pairs of the session's requests and notifications)."""
    versions = [version] if version in METHODS else list(METHODS)
    idx = (0, 1) if to == "server" else (2, 3)
    out: list[str] = []
    for i in idx:
        names: set[str] = set()
        for v in versions:
            names.update(METHODS[v][i])
        out += sorted(names - set(out))
    wanted = "c2s" if to == "server" else "s2c"
    extra = sorted({m for d, m in seen if d == wanted and m and m not in out})
    return out + extra


_PARAMS: dict[str, Any] = {
    "initialize": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "omproxy-tui", "version": "1"}},
    "ping": None,
    "tools/list": {},
    "tools/call": {"name": "", "arguments": {}},
    "prompts/list": {},
    "prompts/get": {"name": "", "arguments": {}},
    "resources/list": {},
    "resources/templates/list": {},
    "resources/read": {"uri": ""},
    "resources/subscribe": {"uri": ""},
    "resources/unsubscribe": {"uri": ""},
    "logging/setLevel": {"level": "debug"},
    "completion/complete": {"ref": {"type": "ref/prompt", "name": ""},
                            "argument": {"name": "", "value": ""}},
    "server/discover": {},
    "subscriptions/listen": {},
    "roots/list": None,
    "sampling/createMessage": {"messages": [{"role": "user", "content": {"type": "text", "text": "Hello"}}],
                               "maxTokens": 100},
    "elicitation/create": {"message": "Please confirm", "requestedSchema": {
        "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}},
    "notifications/initialized": None,
    "notifications/cancelled": {"requestId": 1, "reason": "cancelled from omproxy-tui"},
    "notifications/progress": {"progressToken": "token", "progress": 1, "total": 2, "message": "halfway"},
    "notifications/roots/list_changed": None,
    "notifications/message": {"level": "info", "logger": "omproxy-tui", "data": "hello from omproxy-tui"},
    "notifications/tools/list_changed": None,
    "notifications/prompts/list_changed": None,
    "notifications/resources/list_changed": None,
    "notifications/resources/updated": {"uri": "file:///example.txt"},
    "notifications/elicitation/complete": {"elicitationId": ""},
    "notifications/subscriptions/acknowledged": {},
}


def skeleton(method: str, *, request_id: Any = 1) -> dict[str, Any]:
    """A valid JSON-RPC message for ``method`` to start editing from (notifications have no id;
    the proxy replaces a request's id with a private one anyway)."""
    obj: dict[str, Any] = {"jsonrpc": "2.0"}
    if not method.startswith("notifications/"):
        obj["id"] = request_id
    obj["method"] = method
    params = _PARAMS.get(method, {})
    if params is not None:
        obj["params"] = json.loads(json.dumps(params))
    return obj


def captured_list(records: Iterable[Any], list_method: str) -> list[dict[str, Any]] | None:
    """Items (tools, prompts or resources) from a session's answers to ``list_method``, merged
    over pages and re-lists (a later definition of a name wins), in first-seen order. None when
    no answer was captured. ``records`` are the session's records (anything with ``kind``,
    ``method`` and ``raw``)."""
    key = _ITEMS[list_method]
    ident = "uri" if key == "resources" else "name"
    found = False
    items: dict[Any, dict[str, Any]] = {}
    for rec in records:
        if rec.kind != "response" or rec.method != list_method:
            continue
        try:
            result = json.loads(rec.raw).get("result")
        except (ValueError, AttributeError):
            continue
        if not isinstance(result, dict) or not isinstance(result.get(key), list):
            continue
        found = True
        for item in result[key]:
            if isinstance(item, dict) and ident in item:
                items[item[ident]] = item
    return list(items.values()) if found else None
