"""Span names and attributes for MCP messages, by the OpenTelemetry GenAI semantic conventions'
``mcp.md`` (Development status). Standard library only: the pairing state and these functions are
shared by the live addon and ``omproxy export``, and are tested without the SDK.

What the conventions say, and how it maps here:

- span name ``{mcp.method.name} {target}``, target = ``gen_ai.tool.name`` or ``gen_ai.prompt.name``;
  a resource URI is *not* put in the name (high cardinality), only in ``mcp.resource.uri``;
- ``jsonrpc.request.id`` as a string (not for a null or missing id);
- ``error.type``: the JSON-RPC error code as a string (and ``rpc.response.status_code`` too), or
  ``tool_error`` for a ``tools/call`` result with ``isError: true``; span status ERROR with the
  JSON-RPC error message as its description;
- ``gen_ai.operation.name = execute_tool`` for tool calls only;
- ``network.transport``: ``pipe`` for stdio, ``tcp`` for HTTP; ``server.address``/``server.port``
  from the URL of a remote server;
- ``mcp.session.id``: the Streamable HTTP ``Mcp-Session-Id``, or the session id an HTTP+SSE
  server names in its POST endpoint; not for stdio (no session id exists) nor from the 2026-07-28
  era on (stateless);
- opt-in content: ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result`` as JSON strings.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

# ``jsonrpc.request.id`` is the id as the wire spells it (1 and "1" both give "1"): the same
# text the TUI shows and ``~id`` matches, so one function serves both.
from ..core.records import id_text

RESOURCE_METHODS = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe",
                              "notifications/resources/updated"})
TOOL_ERROR = "tool_error"
#: error.type of a request that had no answer when the session ended.
UNANSWERED = "unanswered"
#: error.type of a request its sender cancelled (notifications/cancelled): no response will come.
CANCELLED = "cancelled"
#: Parts of a span name are cut to this many characters (a tool name is low-cardinality text).
NAME_MAX = 120
#: Default size limit for opt-in content attributes (characters of JSON).
CONTENT_MAX = 4096

#: The first protocol version without sessions: from the 2026-07-28 era on MCP is stateless, and the
#: conventions give ``mcp.session.id`` only to the eras before it.
STATELESS_FROM = "2026-07-28"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$")


def parse_traceparent(value: Any) -> tuple[int, int, int] | None:
    """(trace_id, span_id, flags) of a W3C ``traceparent``, or None when it is not a valid one."""
    if not isinstance(value, str):
        return None
    m = _TRACEPARENT.match(value.strip().lower())
    if m is None or m.group(1) == "ff":
        return None
    trace_id, span_id = int(m.group(2), 16), int(m.group(3), 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(m.group(4), 16)


def format_traceparent(trace_id: int, span_id: int, flags: int = 1) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"


def meta_of(obj: dict) -> dict:
    params = obj.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) else {}


def transport_attributes(transport: str, target: Any) -> dict[str, Any]:
    """``network.transport`` and, for a remote server, ``server.address``/``server.port``."""
    if transport == "stdio":
        return {"network.transport": "pipe"}
    attrs: dict[str, Any] = {"network.transport": "tcp", "network.protocol.name": "http"}
    if isinstance(target, str):
        try:
            parts = urlsplit(target)
            if parts.hostname:
                attrs["server.address"] = parts.hostname
                attrs["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            pass
    return attrs


def clip(text: str, limit: int = NAME_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def content_json(value: Any, limit: int, redact: Any = None) -> str:
    """An opt-in content attribute: compact JSON, secrets masked, cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if redact is not None:
        text = redact(text.encode()).decode("utf-8", "replace")
    if len(text) > limit:
        text = text[:limit] + f"…(+{len(text) - limit} chars)"
    return text


def request_span(method: str, params: Any, request_id: Any, has_id: bool) -> tuple[str, dict[str, Any]]:
    """Name and attributes of the span of a request (or of a notification when not ``has_id``)."""
    attrs: dict[str, Any] = {"mcp.method.name": method}
    name = method
    if has_id and request_id is not None:
        # an int's JSON is its str(); id_text's json.dumps is several times slower
        attrs["jsonrpc.request.id"] = str(request_id) if type(request_id) is int else id_text(request_id)
    if isinstance(params, dict):
        if method == "tools/call" and isinstance(params.get("name"), str):
            attrs["gen_ai.tool.name"] = params["name"]
            attrs["gen_ai.operation.name"] = "execute_tool"
            name = f"{method} {clip(params['name'])}"
        elif method == "prompts/get" and isinstance(params.get("name"), str):
            attrs["gen_ai.prompt.name"] = params["name"]
            name = f"{method} {clip(params['name'])}"
        elif method in RESOURCE_METHODS and isinstance(params.get("uri"), str):
            attrs["mcp.resource.uri"] = params["uri"]
    return name, attrs


def response_outcome(method: str | None, obj: dict) -> tuple[dict[str, Any], str | None]:
    """Attributes a response adds to its request's span, and the error description (None = ok)."""
    err = obj.get("error")
    if err is not None:
        code = err.get("code") if isinstance(err, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
        code_text = str(code) if isinstance(code, (int, float, str)) and not isinstance(code, bool) else "_OTHER"
        attrs = {"error.type": code_text}
        if code_text != "_OTHER":
            attrs["rpc.response.status_code"] = code_text
        return attrs, message if isinstance(message, str) else code_text
    result = obj.get("result")
    if method == "tools/call" and isinstance(result, dict) and result.get("isError") is True:
        return {"error.type": TOOL_ERROR}, _first_text(result) or TOOL_ERROR
    return {}, None


def _first_text(result: dict) -> str | None:
    content = result.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                return clip(item["text"], 500)
    return None


def protocol_version_of(obj: dict) -> str | None:
    """The protocol version a message states: ``initialize`` params/result, or the 2026-07-28
    era's per-request ``_meta`` key."""
    meta = meta_of(obj)
    pv = meta.get("io.modelcontextprotocol/protocolVersion")
    if isinstance(pv, str):
        return pv
    params = obj.get("params")
    if obj.get("method") == "initialize" and isinstance(params, dict) and isinstance(params.get("protocolVersion"), str):
        return params["protocolVersion"]
    return None


def server_info_of(result: Any) -> tuple[dict | None, str | None]:
    """(serverInfo, protocolVersion) from an ``initialize`` or ``server/discover`` result."""
    if not isinstance(result, dict):
        return None, None
    info = result.get("serverInfo")
    pv = result.get("protocolVersion")
    if not isinstance(pv, str):
        versions = result.get("supportedVersions") or result.get("protocolVersions")
        pv = versions[0] if isinstance(versions, list) and versions and isinstance(versions[0], str) else None
    return (info if isinstance(info, dict) else None), pv


def has_sessions(protocol_version: str | None) -> bool:
    """Whether ``mcp.session.id`` applies: any era before 2026-07-28 (or not known yet)."""
    return not protocol_version or protocol_version < STATELESS_FROM
