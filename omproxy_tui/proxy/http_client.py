"""The SDK's streamable HTTP client transport, opened so the proxy can reach its state.

``mcp.client.streamable_http.streamable_http_client`` builds its ``StreamableHTTPTransport``
internally and never hands it out, but a relay needs it: to re-initialise after the server lost the
session, the stale session id must be cleared before the client's ``initialize`` is replayed. This
does what that function does (same streams, same tasks) and yields the transport too.

Also here: :func:`watch_request_body`, the signal the proxy uses to keep messages in the client's
order. The SDK starts each request's POST in a task of its own, so two requests written one after
the other may reach the server in either order; the proxy writes the next message only once the
previous request's body has been sent.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable


def _relay_transport(url: str, on_unreachable: Callable[[BaseException, Any], str | None] | None) -> Any:
    import httpx2
    from mcp.client.streamable_http import StreamableHTTPTransport
    from mcp_types import JSONRPCRequest

    class RelayTransport(StreamableHTTPTransport):
        """The SDK's transport, except that a POST that cannot reach the server (a restart in
        progress) may fail only its own message: in the SDK it ends the whole transport."""

        async def _handle_post_request(self, ctx: Any) -> None:
            try:
                await super()._handle_post_request(ctx)
            except httpx2.TransportError as exc:
                message = ctx.session_message.message
                text = on_unreachable(exc, message) if on_unreachable is not None else None
                if text is None:
                    raise
                if isinstance(message, JSONRPCRequest):
                    await self._resolve_abandoned_request(ctx.read_stream_writer, message.id, text)

    return RelayTransport(url, max_sse_event_size=None)


@asynccontextmanager
async def open_streamable_http(client: Any, url: str,
                               on_unreachable: Callable[[BaseException, Any], str | None] | None = None,
                               ) -> AsyncIterator[tuple[Any, Any, Any]]:
    """Yield (transport, read_stream, write_stream); no event size limit. ``on_unreachable(exc,
    message)`` decides about a POST that failed below HTTP: the error text for its request, or
    None to end the transport (the SDK's behaviour)."""
    import anyio
    from mcp.shared._context_streams import create_context_streams  # what post_writer requires
    from mcp.shared.message import SessionMessage

    transport = _relay_transport(url, on_unreachable)
    async with client:
        read_writer, read_stream = create_context_streams[Any](0)
        write_stream, write_reader = create_context_streams[SessionMessage](0)
        async with read_writer, read_stream, write_stream, write_reader, anyio.create_task_group() as tg:

            def start_get_stream() -> None:
                tg.start_soon(transport.handle_get_stream, client, read_writer)

            tg.start_soon(transport.post_writer, client, write_reader, read_writer, write_stream,
                          start_get_stream, tg)
            try:
                yield transport, read_stream, write_stream
            finally:
                if transport.session_id:
                    with anyio.move_on_after(5):
                        await transport.terminate_session(client)
                tg.cancel_scope.cancel()


def watch_request_body(request: Any, on_sent: Callable[[], None]) -> None:
    """Call ``on_sent`` once the body of ``request`` has been written to the connection (or the
    attempt failed). For an httpx2 request event hook; uses httpcore's trace extension."""
    previous = request.extensions.get("trace")

    async def trace(name: str, info: dict) -> None:  # httpcore wants a coroutine on async clients
        if name.endswith("send_request_body.complete") or name.endswith(".failed"):
            on_sent()
        if previous is not None:
            await previous(name, info)

    request.extensions["trace"] = trace
