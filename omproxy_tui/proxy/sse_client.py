"""Our client for the 2024-11-05 HTTP+SSE transport, written for a relay.

The SDK's ``sse_client`` ends the whole session when one POST is rejected (a 413 raises in its
writer, which then stops), caps events at 1 MiB, and answers a server that dies or goes quiet with
tracebacks and a closed stream that looks like a normal end. A relay needs the opposite on each
point, so this small client does:

- a rejected POST fails that one message: a request gets a JSON-RPC error (the proxy puts the HTTP
  status and reason in it), the session goes on;
- the event stream ending, breaking or staying silent past ``sse_read_timeout`` raises
  :class:`RemoteFailure` with a one-line reason (the 2024-11-05 transport cannot resume a session,
  so this ends the proxy);
- no event size limit; POSTs go out one at a time, in the order they were written.

It yields the same (read, write) stream pair as the SDK's transports: ``SessionMessage | Exception``
items to read, ``SessionMessage`` items to write.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable
from urllib.parse import urljoin, urlparse


class RemoteFailure(Exception):
    """The remote side ended or refused the session; ``str()`` is the one-line reason."""


@asynccontextmanager
async def open_sse(client: Any, url: str, sse_read_timeout: float,
                   on_endpoint: Callable[[str], None] | None = None) -> AsyncIterator[tuple[Any, Any]]:
    """``on_endpoint(url)``: told the server's POST endpoint once it is known (it names the
    session: ``?session_id=…``)."""
    import anyio
    import httpx2
    from mcp.shared._httpx_utils import request_within_origin, stream_within_origin
    from mcp.shared.message import SessionMessage
    from mcp_types import INTERNAL_ERROR, ErrorData, JSONRPCError, JSONRPCRequest, jsonrpc_message_adapter

    read_send, read_recv = anyio.create_memory_object_stream[Any](0)
    write_send, write_recv = anyio.create_memory_object_stream[Any](0)
    async with client:
        headers = {"accept": "text/event-stream", "cache-control": "no-store"}
        async with stream_within_origin(client, "GET", url, headers=headers) as response:
            if response.status_code >= 300:
                raise RemoteFailure(f"GET {url} answered {response.status_code} {response.reason_phrase}".rstrip())
            events = httpx2.EventSource(response, max_event_size=None).__aiter__()

            async def next_event() -> Any:
                try:
                    return await events.__anext__()
                except StopAsyncIteration:
                    raise RemoteFailure("the server closed the SSE stream") from None
                except httpx2.ReadTimeout:
                    raise RemoteFailure(f"no event from the server for {sse_read_timeout:g} s "
                                        "(--sse-read-timeout)") from None
                except httpx2.TransportError as exc:  # SSEError, RemoteProtocolError, ReadError...
                    raise RemoteFailure(f"the server closed the SSE stream ({type(exc).__name__}: "
                                        f"{str(exc) or 'connection lost'})") from None

            endpoint = None
            while endpoint is None:
                sse = await next_event()
                if sse.event == "endpoint":
                    endpoint = urljoin(url, sse.data)
                    a, b = urlparse(url), urlparse(endpoint)
                    if (a.scheme, a.netloc) != (b.scheme, b.netloc):
                        raise RemoteFailure(f"the server's endpoint {endpoint} is not on {url}'s origin")
                    if on_endpoint is not None:
                        on_endpoint(endpoint)

            async def reader() -> None:
                try:
                    while True:
                        sse = await next_event()
                        if sse.event != "message" or not sse.data:
                            continue  # keep-alives and events this transport does not define
                        try:
                            message = jsonrpc_message_adapter.validate_json(sse.data, by_name=False)
                        except Exception as exc:  # noqa: BLE001 - handed on, the proxy reports it
                            await read_send.send(exc)
                            continue
                        await read_send.send(SessionMessage(message))
                except RemoteFailure as exc:
                    raise RemoteFailure(f"{exc}; an SSE session cannot be resumed") from None

            async def writer() -> None:
                async for item in write_recv:
                    message = item.message
                    body = message.model_dump(by_alias=True, mode="json", exclude_unset=True)
                    try:
                        answer = await request_within_origin(client, "POST", endpoint, json=body)
                        failed = None
                        if answer.status_code >= 300:
                            failed = f"HTTP {answer.status_code} {answer.reason_phrase}".rstrip()
                    except httpx2.TransportError as exc:
                        failed = f"POST failed: {type(exc).__name__}: {exc}"
                    if failed and isinstance(message, JSONRPCRequest):
                        error = ErrorData(code=INTERNAL_ERROR, message=failed)
                        await read_send.send(SessionMessage(JSONRPCError(jsonrpc="2.0", id=message.id, error=error)))

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                tg.start_soon(writer)
                try:
                    yield read_recv, write_send
                finally:
                    tg.cancel_scope.cancel()
