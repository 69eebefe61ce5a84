"""SseProxy and StreamableHttpProxy: our stdio <-> a remote MCP server, on the SDK's transports.

The client leg is the same byte-exact line reader as the stdio proxy's. The remote leg speaks
HTTP through the SDK, which parses and re-serialises every message: that leg cannot be
byte-exact (unknown envelope fields are dropped, number formats normalised) -- documented in the
README. What we add on top of the SDK:

- per-message ``MCP-Protocol-Version`` / ``Mcp-Method`` / ``Mcp-Name`` headers, so a 2026-07-28
  client keeps its protocol era through the proxy (without them the SDK sends none and the client
  is silently downgraded to the handshake era);
- no 1 MiB limit on streamable HTTP events (``max_sse_event_size=None``);
- a clear error and a non-zero exit when the URL is unreachable or answers 401/403/404, with the
  server's ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from typing import Any

from .base import Direction, Proxy, protect_stdout, restore_stdout, write_all
from .line import C2S, S2C, parse_json

PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> (name, value), split on the first colon (values may hold ``:=,``)."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in " \t\r\n"):
        raise ValueError(f"{text!r} is not 'Name: value'")
    return name, value.strip()


class RemoteFailure(Exception):
    """The remote side refused us in a way no client can fix by retrying (401, 404, no route)."""


class _RemoteProxy(Proxy):
    #: seconds to wait for in-flight replies after the client closed our stdin
    drain_grace = 5.0

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.target: Any = ""
        self.headers: dict[str, str] = {}
        self._version: str | None = None  # negotiated in the handshake era
        self._init_ids: set = set()
        self._failure: str | None = None
        self._pending: set = set()  # ids of client requests not answered yet

    def run(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0,
            sse_read_timeout: float = 300.0) -> int:
        """Relay until the client closes stdin (and pending replies are in) or the remote fails."""
        import anyio

        self.url = self.target = url
        self.headers = dict(headers or {})
        self._events = queue.SimpleQueue()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(
                    sig, lambda signum, frame: self._events.put(f"signal:{signal.Signals(signum).name}"))
        try:
            return anyio.run(self._serve, timeout, sse_read_timeout)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _open(self, timeout: float, sse_read_timeout: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def _client_factory(self, timeout: float, sse_read_timeout: float):
        """An httpx2 client factory whose response hook turns 401/403/404 on the MCP endpoint into
        a clear, fatal error (the SDK would only hand the client an opaque JSON-RPC error)."""
        import httpx2

        proxy = self

        async def check(response) -> None:
            if response.status_code in (401, 403) or (response.status_code == 404 and proxy._first_response):
                challenge = response.headers.get("www-authenticate")
                detail = f"{response.request.method} {response.request.url} answered {response.status_code}"
                if response.reason_phrase:
                    detail += f" {response.reason_phrase}"
                if challenge:
                    detail += f"; WWW-Authenticate: {challenge}"
                proxy._fail(detail)
            if response.status_code < 400:
                proxy._first_response = False

        def factory(headers=None, timeout_obj=None, auth=None):
            merged = dict(headers or {})
            merged.update(proxy.headers)
            return httpx2.AsyncClient(headers=merged, timeout=timeout_obj or httpx2.Timeout(timeout, read=sse_read_timeout),
                                      auth=auth, event_hooks={"response": [check]})

        return factory

    def _fail(self, detail: str) -> None:
        if self._failure is None:
            self._failure = detail
            self.report(f"remote server failed: {detail}")
            self.call_hooks("_on_lifecycle", "failed", {"detail": detail})
            self._events.put("failed")

    async def _serve(self, timeout: float, sse_read_timeout: float) -> int:
        import anyio
        import anyio.to_thread
        from mcp.shared.message import SessionMessage

        self.loop = _current_loop()
        self._loop_thread = threading.current_thread()
        self._first_response = True
        self.refresh_hooks()
        wire = protect_stdout()
        out_send, out_recv = anyio.create_memory_object_stream[Any](float("inf"))
        loop = self.loop

        def to_remote(data: bytes) -> None:
            # Called under the c2s lock from the stdin thread, or from the loop (injections).
            for piece in data.split(b"\n"):
                if piece.strip():
                    if threading.current_thread() is self._loop_thread:
                        out_send.send_nowait(piece)
                    else:
                        loop.call_soon_threadsafe(out_send.send_nowait, piece)

        c2s = Direction(C2S, to_remote, self.hold_limit)
        s2c = Direction(S2C, write_all(wire), self.hold_limit)
        self.directions = {C2S: c2s, S2C: s2c}
        self.prepare_addons()
        for addon in self.addons:
            start = getattr(addon, "loop_started", None)
            if start is not None:
                await start()
        code = 0
        try:
            async with anyio.create_task_group() as tg:
                async with self._open(timeout, sse_read_timeout) as streams:
                    read, write = streams[0], streams[1]
                    self.call_hooks("_on_lifecycle", "connected", {"url": self.url})
                    await anyio.to_thread.run_sync(self.run_hook_now, "_on_start")

                    async def sender() -> None:
                        async for raw in out_recv:
                            msg = self._to_session_message(raw, SessionMessage)
                            if msg is not None:
                                await write.send(msg)

                    async def receiver() -> None:
                        async for item in read:
                            if isinstance(item, Exception):
                                self.report(f"remote sent something that is not JSON-RPC: {item}")
                                line = self.make_line(str(item).encode(), S2C, None, str(item), True)
                                line.status = "blocked"
                                await anyio.to_thread.run_sync(self._observe, line)
                                continue
                            data = item.message.model_dump_json(by_alias=True, exclude_unset=True).encode()
                            self._note_reply(item.message)
                            # In a worker thread: hooks may block, and so may a slow client's stdout.
                            await anyio.to_thread.run_sync(self.relay_line, s2c, data + b"\n", False)
                        self._events.put("remote_closed")

                    tg.start_soon(sender)
                    tg.start_soon(receiver)
                    reader = threading.Thread(target=self._stdin_pump, args=(c2s,), name="omproxy-c2s",
                                              daemon=True)
                    reader.start()
                    why = await anyio.to_thread.run_sync(self._wait_end, abandon_on_cancel=True)
                    if why == "client_eof":
                        # Let replies still in flight reach the client before closing.
                        with anyio.move_on_after(self.drain_grace):
                            while self._pending and self._failure is None:
                                await anyio.sleep(0.02)
                    tg.cancel_scope.cancel()
        except Exception as exc:  # noqa: BLE001 - connection failures surface here as groups
            detail = _describe(exc)
            if self._failure is None:
                self._fail(detail)
        finally:
            self.call_hooks("_on_lifecycle", "closing", {})
            await anyio.to_thread.run_sync(self.drain_hooks)
            await anyio.to_thread.run_sync(self.run_hook_now, "_on_close")
            for addon in self.addons:
                stop = getattr(addon, "loop_stopping", None)
                if stop is not None:
                    try:
                        await stop()
                    except Exception as exc:  # noqa: BLE001
                        self.report(f"{type(addon).__name__} failed to stop cleanly: {exc}")
            self.shutdown_addons()
            restore_stdout(wire)
            self.loop = None
        if self._failure is not None:
            code = 1
        return code

    def _wait_end(self) -> str:
        """Block (in a worker thread) until the session ends; signals handled here too."""
        while True:
            try:
                what = self._events.get(timeout=0.2)
            except queue.Empty:
                continue
            if what in ("client_eof", "failed", "remote_closed") or what.startswith("signal:"):
                if what.startswith("signal:"):
                    self.report(f"got {what[7:]}, closing the remote session")
                return what

    def _stdin_pump(self, c2s: Direction) -> None:
        from .cutter import LineCutter

        cutter = LineCutter()  # linear time: a 50 MB line is not rescanned per chunk
        while True:
            try:
                chunk = os.read(0, cutter.read_size())
            except OSError:
                break
            if not chunk:
                break
            for line in cutter.lines(chunk):
                if line.strip():
                    self._note_request(line)
                    self.relay_line(c2s, line, False)
        rest = cutter.finish()
        if rest.strip():
            self._note_request(rest)
            self.relay_line(c2s, rest, False)
        c2s.flush(release_all=True)
        self.call_hooks("_on_lifecycle", "client_eof", {})
        self._events.put("client_eof")

    # ---- bookkeeping for headers and the drain ------------------------------------------------
    def _note_request(self, raw: bytes) -> None:
        obj, err = parse_json(raw)
        if isinstance(obj, dict) and "method" in obj and "id" in obj:
            self._pending.add(_key(obj["id"]))
            if obj["method"] == "initialize":
                self._init_ids.add(_key(obj["id"]))

    def _note_reply(self, message: Any) -> None:
        mid = getattr(message, "id", None)
        if mid is None or getattr(message, "method", None) is not None:
            return
        k = _key(mid)
        self._pending.discard(k)
        if k in self._init_ids:
            result = getattr(message, "result", None)
            if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
                self._version = result["protocolVersion"]

    def _to_session_message(self, raw: bytes, SessionMessage) -> Any:
        """A client line as the SDK's SessionMessage, with the per-message routing headers."""
        from mcp.shared.inbound import NAME_BEARING_METHODS, encode_header_value
        from mcp.shared.message import ClientMessageMetadata
        from mcp_types import jsonrpc_message_adapter

        try:
            message = jsonrpc_message_adapter.validate_json(raw, by_name=False)
        except Exception as exc:  # noqa: BLE001
            self.report(f"client line is not JSON-RPC, cannot send it over HTTP: {str(exc).splitlines()[0]}")
            obj, _ = parse_json(raw)
            if isinstance(obj, dict) and "id" in obj:
                self._pending.discard(_key(obj["id"]))
                self.inject(S2C, {"jsonrpc": "2.0", "id": obj["id"],
                                  "error": {"code": -32600, "message": f"omproxy: invalid request: {exc}"[:300]}})
            return None
        method = getattr(message, "method", None)
        headers: dict[str, str] = {}
        params = getattr(message, "params", None) or {}
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = meta.get(PROTOCOL_VERSION_META) if isinstance(meta, dict) else None
        version = version or self._version
        if version and method != "initialize":
            headers["mcp-protocol-version"] = version
        if method:
            headers["mcp-method"] = method
            key = NAME_BEARING_METHODS.get(method)
            if key and isinstance(params.get(key), str):
                headers["mcp-name"] = encode_header_value(params[key])
        return SessionMessage(message, metadata=ClientMessageMetadata(headers=headers or None))


def _key(mid: Any) -> tuple:
    return (type(mid).__name__, mid)


def _current_loop():
    import asyncio

    return asyncio.get_running_loop()


def _describe(exc: BaseException) -> str:
    """The innermost useful message of a (possibly grouped) connection failure."""
    while getattr(exc, "exceptions", None):  # an ExceptionGroup (a backport's on 3.10)
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class StreamableHttpProxy(_RemoteProxy):
    """``StreamableHttpProxy().run("https://host/mcp", headers={"Authorization": "Bearer …"})``"""

    transport = "http"

    def _open(self, timeout: float, sse_read_timeout: float):
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        client = self._client_factory(timeout, sse_read_timeout)(timeout_obj=httpx2.Timeout(timeout, read=sse_read_timeout))
        return streamable_http_client(self.url, http_client=client, max_sse_event_size=None)


def _lift_sse_event_limit() -> None:
    """mcp 2.3's sse_client opens its event stream with a hard 1 MiB per-event cap (no parameter),
    and an oversized event kills the session. Its module looks the helper up by name at call time,
    so rebinding that name to a cap-free version lifts the limit for this process only."""
    import functools

    import mcp.client.sse as sse_module

    helper = getattr(sse_module, "sse_within_origin", None)
    if helper is not None and not getattr(helper, "_omproxy_unlimited", False):
        unlimited = functools.partial(helper, max_event_size=None)
        unlimited._omproxy_unlimited = True
        sse_module.sse_within_origin = unlimited


class SseProxy(_RemoteProxy):
    """``SseProxy().run("https://host/sse", headers=…, timeout=5, sse_read_timeout=300)`` -- the seed's
    signature."""

    transport = "sse"

    def _open(self, timeout: float, sse_read_timeout: float):
        from mcp.client.sse import sse_client

        _lift_sse_event_limit()
        factory = self._client_factory(timeout, sse_read_timeout)
        return sse_client(self.url, headers=self.headers, timeout=timeout, sse_read_timeout=sse_read_timeout,
                          httpx_client_factory=lambda headers=None, timeout=None, auth=None:
                          factory(headers=headers, timeout_obj=timeout, auth=auth))
