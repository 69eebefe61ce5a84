"""Traffic-changing hooks on the remote legs, used through
`omproxy http|sse --hooks tests/remote_hooks.py:NAME` (tests/test_remote_hooks.py).

Every class exists for both remote transports (``Http…`` subclasses StreamableHttpProxy, ``Sse…``
SseProxy: ``--hooks`` wants a subclass of the command's proxy). What the hooks do is keyed on the
text of an ``echo`` tool call, so one server and one client drive every case:

- client -> server: a ``tools/call`` whose text is ``c2s-replace`` reaches the server with the
  text ``replaced on the way in``; ``c2s-drop`` is dropped (the client gets the -32010 answer);
  ``c2s-hang`` makes the hook wait forever (the deadline must forward it unchanged);
  ``c2s-slow:PATH`` makes the hook wait until PATH exists;
- server -> client: a result whose text is ``s2c-replace`` reaches the client with the text
  ``replaced on the way out``; ``s2c-drop`` is dropped; ``s2c-hang`` waits forever; a
  ``notifications/progress`` is dropped; a ``sampling/createMessage`` request is dropped (the
  server gets the -32010 answer).

Each hook also appends ``[direction, id, or method if it has none]`` to $REMOTE_HOOKS_LOG, so a test can see the
order in which the hooks ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from omproxy_tui.proxy import DROP, SseProxy, StreamableHttpProxy, modifies


def _text_arg(obj):
    if isinstance(obj, dict) and obj.get("method") == "tools/call":
        args = (obj.get("params") or {}).get("arguments") or {}
        return args.get("text")
    return None


def _result_text(obj):
    if isinstance(obj, dict) and isinstance(obj.get("result"), dict):
        content = obj["result"].get("content")
        if isinstance(content, list) and content and isinstance(content[0], dict):
            return content[0].get("text")
    return None


def _note(direction: str, obj) -> None:
    path = os.environ.get("REMOTE_HOOKS_LOG")
    if path and isinstance(obj, dict):
        with open(path, "a") as f:
            f.write(json.dumps([direction, obj["id"] if "id" in obj else obj.get("method")]) + "\n")


def client_verdict(obj):
    """("replace", new) / ("drop", None) / ("hang", None) / ("wait", path) / (None, None)."""
    text = _text_arg(obj)
    if text == "c2s-replace":
        new = json.loads(json.dumps(obj))
        new["params"]["arguments"]["text"] = "replaced on the way in"
        return "replace", new
    if text == "c2s-drop":
        return "drop", None
    if text == "c2s-hang":
        return "hang", None
    if isinstance(text, str) and text.startswith("c2s-slow:"):
        return "wait", text[len("c2s-slow:"):]
    return None, None


def server_verdict(obj):
    if isinstance(obj, dict) and obj.get("method") in ("notifications/progress", "sampling/createMessage"):
        return "drop", None
    text = _result_text(obj)
    if text == "s2c-replace":
        new = json.loads(json.dumps(obj))
        new["result"]["content"][0]["text"] = "replaced on the way out"
        new["result"].pop("structuredContent", None)
        return "replace", new
    if text == "s2c-drop":
        return "drop", None
    if text == "s2c-hang":
        return "hang", None
    return None, None


async def _async_apply(verdict):
    what, value = verdict
    if what == "replace":
        await asyncio.sleep(0.01)  # really suspends: the result comes later than the call
        return value
    if what == "drop":
        await asyncio.sleep(0.01)
        return DROP
    if what == "hang":
        await asyncio.sleep(3600)
    if what == "wait":
        while not os.path.exists(value):
            await asyncio.sleep(0.02)
    return None


def _sync_apply(verdict):
    what, value = verdict
    if what == "replace":
        return value
    if what == "drop":
        return DROP
    if what == "hang":
        time.sleep(3600)
    if what == "wait":
        while not os.path.exists(value):
            time.sleep(0.02)
    return None


class _AsyncModifies:
    """``@modifies async def`` hooks taking the raw line."""

    hook_timeout = 2.0

    @modifies
    async def _on_mcp_client_message(self, line):
        _note("c2s", line.json)
        return await _async_apply(client_verdict(line.json))

    @modifies
    async def _on_mcp_server_message(self, line):
        _note("s2c", line.json)
        return await _async_apply(server_verdict(line.json))


class _AsyncClassModifies:
    """``modifies_traffic = True`` on the class, async seed-style hooks (typed messages), typed
    replacements (SDK message objects)."""

    modifies_traffic = True
    hook_timeout = 2.0

    async def _on_mcp_client_message(self, message):
        obj = message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        _note("c2s", obj)
        result = await _async_apply(client_verdict(obj))
        return _typed(result)

    async def _on_mcp_server_message(self, message):
        obj = message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        _note("s2c", obj)
        result = await _async_apply(server_verdict(obj))
        return _typed(result)


def _typed(result):
    if isinstance(result, dict):
        from mcp_types import jsonrpc_message_adapter

        return jsonrpc_message_adapter.validate_python(result, by_name=False)
    return result


class _SyncModifies:
    """Plain ``@modifies def`` hooks."""

    @modifies
    def _on_mcp_client_message(self, line):
        _note("c2s", line.json)
        return _sync_apply(client_verdict(line.json))

    @modifies
    def _on_mcp_server_message(self, line):
        _note("s2c", line.json)
        return _sync_apply(server_verdict(line.json))


class _TypedObserver:
    """Seed-style observers (typed messages, one parameter): they only record what they saw."""

    def _on_mcp_client_message(self, message):
        _note("c2s", message.model_dump(by_alias=True, mode="json", exclude_unset=True))

    def _on_mcp_server_message(self, message):
        _note("s2c", message.model_dump(by_alias=True, mode="json", exclude_unset=True))


class _AsyncTypedObserver:
    """Async seed-style observers: they run on the event loop, after forwarding."""

    async def _on_mcp_client_message(self, message):
        _note("c2s", message.model_dump(by_alias=True, mode="json", exclude_unset=True))

    async def _on_mcp_server_message(self, message):
        _note("s2c", message.model_dump(by_alias=True, mode="json", exclude_unset=True))


class HttpAsync(_AsyncModifies, StreamableHttpProxy):
    pass


class SseAsync(_AsyncModifies, SseProxy):
    pass


class HttpAsyncClass(_AsyncClassModifies, StreamableHttpProxy):
    pass


class SseAsyncClass(_AsyncClassModifies, SseProxy):
    pass


class HttpSync(_SyncModifies, StreamableHttpProxy):
    pass


class SseSync(_SyncModifies, SseProxy):
    pass


class HttpTyped(_TypedObserver, StreamableHttpProxy):
    pass


class SseTyped(_TypedObserver, SseProxy):
    pass


class HttpAsyncTyped(_AsyncTypedObserver, StreamableHttpProxy):
    pass


class SseAsyncTyped(_AsyncTypedObserver, SseProxy):
    pass
