"""SseProxy and StreamableHttpProxy: our stdio <-> a remote MCP server.

The client leg is the same byte-exact line reader as the stdio proxy's. The remote leg speaks HTTP
through the SDK's streamable HTTP transport (opened by :mod:`.http_client`) or our own SSE client
(:mod:`.sse_client`); either way every message is parsed and re-serialised, so that leg cannot be
byte-exact (unknown envelope fields are dropped, number formats normalised) -- documented in the
README. What the proxy adds on top:

- one sender task turns client lines into messages, in the client's order: a JSON-RPC batch is
  split into its elements, a message the SDK would mangle (an id that is not a string or an
  integer) is answered with an error instead of being sent, and on streamable HTTP nothing goes out
  before the previous request has left, nor before ``initialize`` is answered (its reply creates the
  session and fixes the protocol version);
- per-message ``MCP-Protocol-Version`` / ``Mcp-Method`` / ``Mcp-Name`` headers, so a 2026-07-28
  client keeps its protocol era through the proxy;
- HTTP error statuses become JSON-RPC errors naming the status and reason, a line on stderr and an
  ``http_error`` lifecycle event;
- a server that lost the session (a restart: 404 for a known session id) is re-initialised by
  replaying the client's handshake, and the requests it refused are sent again;
- at client EOF, replies still outstanding are waited for (bounded by ``--timeout``), and any
  abandoned are reported;
- a clear one-line error and exit code 1 when the server is unreachable, refuses us (401/403/404)
  or ends an SSE session.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import threading
from collections import OrderedDict
from typing import Any

from ..protocol.ids import id_key
from .base import Direction, Proxy, protect_stdout, restore_stdout, write_all
from .line import C2S, S2C, parse_json
from .sse_client import RemoteFailure  # noqa: F401 - re-exported: part of the library API

PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
PARSE_ERROR = -32700
INVALID_REQUEST = -32600

_WAKE = object()  # queued to make the sender look at the session state when the client is quiet


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> (name, value), split on the first colon (values may hold ``:=,``)."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in " \t\r\n"):
        raise ValueError(f"{text!r} is not 'Name: value'")
    return name, value.strip()


class _RemoteProxy(Proxy):
    #: the sender waits for the SDK to have sent each request before the next message (HTTP only:
    #: our SSE client POSTs one message at a time by itself)
    _wait_for_post = False

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.target: Any = ""
        self.headers: dict[str, str] = {}
        self.timeout = 30.0
        self._version: str | None = None  # negotiated in the handshake era
        self._failure: str | None = None
        self._abandoned = False
        # key -> (id, method, SessionMessage) of requests sent and not answered yet
        self._pending: dict[tuple, tuple] = {}
        self._handshake: dict[str, Any] = {}  # the client's initialize / initialized, for a replay
        self._waiters: dict[tuple, Any] = {}  # replies the sender waits for (initialize)
        self._private: dict[tuple, Any] = {}  # replies to our own replayed handshake (never relayed)
        self._lost: OrderedDict[tuple, Any] = OrderedDict()  # refused for a lost session: resend
        self._session_lost: str | None = None
        self._http_errors: dict[tuple, tuple[str, int]] = {}
        self._sent: Any = None
        self._queued = 0  # client lines (and wake-ups) given to the sender and not done yet
        self._relaying = 0  # server messages handed to a worker thread and not written yet
        self._transport: Any = None
        self._reinit_n = 0
        self._answers: list[dict] = []  # error answers to the client, written by the sender

    def run(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0,
            sse_read_timeout: float = 300.0) -> int:
        """Relay until the client closes stdin (and pending replies are in) or the remote fails."""
        import anyio

        self.url = self.target = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._events = queue.SimpleQueue()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(
                    sig, lambda signum, frame: self._events.put(f"signal:{signal.Signals(signum).name}"))
        sdk_log = _OneLineLog(self)
        logger = logging.getLogger("mcp")
        saved = (logger.propagate, logger.level)
        logger.addHandler(sdk_log)
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        try:
            return anyio.run(self._serve, timeout, sse_read_timeout)
        finally:
            logger.removeHandler(sdk_log)
            logger.propagate = saved[0]
            logger.setLevel(saved[1])
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _open(self, client: Any, sse_read_timeout: float):  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- HTTP ---------------------------------------------------------------------------------
    def _http_client(self, timeout: float, sse_read_timeout: float) -> Any:
        """An httpx2 client whose hooks watch every exchange: 401/403 (and a first 404) are fatal
        with the server's challenge; other error statuses are reported; a 404 for our session
        means the server lost it; each POST says when its body has left (message order)."""
        import httpx2

        async def on_request(request) -> None:
            if request.method == "POST" and self._wait_for_post:
                from .http_client import watch_request_body

                watch_request_body(request, self._post_sent)

        async def on_response(response) -> None:
            if response.request.method == "POST":
                self._post_sent()  # a response means the body has left too
            status = response.status_code
            if status in (401, 403) or (status == 404 and self._first_response):
                challenge = response.headers.get("www-authenticate")
                detail = f"{response.request.method} {response.request.url} answered {status}"
                if response.reason_phrase:
                    detail += f" {response.reason_phrase}"
                if challenge:
                    detail += f"; WWW-Authenticate: {challenge}"
                self._fail(detail)
                return
            if status < 400:
                self._first_response = False
                return
            await self._http_error(response)

        return httpx2.AsyncClient(headers=dict(self.headers), timeout=httpx2.Timeout(timeout, read=sse_read_timeout),
                                  event_hooks={"request": [on_request], "response": [on_response]})

    def _post_sent(self) -> None:
        if self._sent is not None:
            self._sent.set()

    async def _http_error(self, response: Any) -> None:
        request = response.request
        status = response.status_code
        if request.method != "POST" and not (status == 404 and request.headers.get("mcp-session-id")):
            return  # a GET stream the server does not offer (405), a DELETE it does not allow
        text = f"HTTP {status} {response.reason_phrase}".rstrip()
        detail = ""
        if "text/event-stream" not in response.headers.get("content-type", ""):
            try:
                body = await response.aread()
            except Exception:  # noqa: BLE001 - a body we cannot read adds nothing
                body = b""
            obj, err = parse_json(body[:65536]) if body else (None, "empty")
            error = obj.get("error") if isinstance(obj, dict) else None
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                detail = error["message"]
            elif body:
                detail = body[:200].decode("utf-8", "replace").strip().splitlines()[0] if body.strip() else ""
        if detail:
            text += f": {detail}"
        sent = None
        try:
            sent, _ = parse_json(request.content) if request.method == "POST" else (None, None)
        except Exception:  # noqa: BLE001 - a streamed body: nothing to name
            sent = None
        method = sent.get("method") if isinstance(sent, dict) else None
        mid = sent.get("id") if isinstance(sent, dict) else None
        key = id_key(mid) if _valid_id(mid) and method is not None else None
        session = request.headers.get("mcp-session-id")
        if status == 404 and session:
            self._on_session_lost(session, text, key)
            return
        if key is not None and key in self._private:
            self._http_errors[key] = (text, status)  # our replayed handshake: reported where it fails
            return
        what = f"{method} (id {json.dumps(mid)})" if key is not None else (method or f"{request.method} {request.url}")
        self.report(f"{text} for {what}")
        self.call_hooks("_on_lifecycle", "http_error", {"status": status, "reason": response.reason_phrase,
                                                        "method": method, "id": mid if key else None,
                                                        "detail": detail})
        if key is not None:
            self._http_errors[key] = (text, status)

    def _unreachable(self, exc: BaseException, message: Any) -> str | None:
        """A POST that got no HTTP answer at all. Before the server ever answered, that is fatal
        (a wrong URL); later it is a server restarting: fail this message, keep the session."""
        if self._first_response:
            return None
        method = getattr(message, "method", None)
        mid = getattr(message, "id", None)
        detail = f"{type(exc).__name__}: {str(exc) or 'no answer'}"
        what = f"{method} (id {json.dumps(mid)})" if mid is not None and method else (method or "a response")
        self.report(f"cannot reach the server for {what}: {detail}")
        self.call_hooks("_on_lifecycle", "unreachable", {"method": method, "id": mid, "detail": detail})
        return f"omproxy: cannot reach the server: {detail}"

    def _on_session_lost(self, session: str, why: str, key: tuple | None) -> None:
        """A 404 for a session id: the server no longer knows it (it restarted, or expired it)."""
        current = getattr(self._transport, "session_id", None)
        if key is not None and key in self._pending and key not in self._private:
            self._lost[key] = self._pending[key][2]  # its error is swallowed; sent again later
        if session == current and self._session_lost is None:
            self._session_lost = why
            self._enqueue(_WAKE)

    def _fail(self, detail: str) -> None:
        if self._failure is None:
            self._failure = detail
            self.report(f"remote server failed: {detail}")
            self.call_hooks("_on_lifecycle", "failed", {"detail": detail})
            self._events.put("failed")

    # ---- the session --------------------------------------------------------------------------
    async def _serve(self, timeout: float, sse_read_timeout: float) -> int:
        import anyio
        import anyio.to_thread

        self.loop = _current_loop()
        self._loop_thread = threading.current_thread()
        self._first_response = True
        self.refresh_hooks()
        wire = protect_stdout()
        out_send, out_recv = anyio.create_memory_object_stream[Any](float("inf"))
        loop = self.loop

        def enqueue(item: Any) -> None:
            self._queued += 1
            out_send.send_nowait(item)

        self._enqueue = enqueue

        def to_remote(data: bytes) -> None:
            # Called under the c2s lock from the stdin thread, or from the loop (injections).
            if threading.current_thread() is self._loop_thread:
                enqueue(data)
            else:
                loop.call_soon_threadsafe(enqueue, data)

        c2s = Direction(C2S, to_remote, self.hold_limit)
        s2c = Direction(S2C, write_all(wire), self.hold_limit)
        self.directions = {C2S: c2s, S2C: s2c}
        self.prepare_addons()
        for addon in self.addons:
            start = getattr(addon, "loop_started", None)
            if start is not None:
                await start()
        try:
            async with anyio.create_task_group() as tg:
                client = self._http_client(timeout, sse_read_timeout)
                async with self._open(client, sse_read_timeout) as streams:
                    read, write = streams[-2], streams[-1]
                    self.call_hooks("_on_lifecycle", "connected", {"url": self.url})
                    await anyio.to_thread.run_sync(self.run_hook_now, "_on_start")

                    async def sender() -> None:
                        async for item in out_recv:
                            try:
                                if self._session_lost is not None and self._failure is None:
                                    await self._reinitialise(write)
                                if item is not _WAKE and self._failure is None:
                                    try:
                                        messages = self._outbound(item)
                                    except Exception as exc:  # noqa: BLE001 - no line may stop the sender
                                        self.report(f"client line could not be sent: {type(exc).__name__}: {exc}")
                                        messages = []
                                    await self._write_answers()
                                    for msg in messages:
                                        await self._send(write, msg)
                                await self._write_answers()  # e.g. requests a lost session refused
                            finally:
                                self._queued -= 1

                    async def receiver() -> None:
                        async for item in read:
                            await self._receive(item, s2c)
                        # Not a failure by itself: a transport that failed closes this stream
                        # too, and its exception (the real reason) is on its way out.
                        self._events.put("remote_closed")

                    tg.start_soon(sender)
                    tg.start_soon(receiver)
                    reader = threading.Thread(target=self._stdin_pump, args=(c2s,), name="omproxy-c2s",
                                              daemon=True)
                    reader.start()
                    why = await anyio.to_thread.run_sync(self._wait_end, abandon_on_cancel=True)
                    if why == "client_eof":
                        why = await self._drain()
                    elif why in ("failed", "remote_closed"):
                        await self._wait_idle(lambda: self._relaying)  # what arrived is written out
                    if why.startswith("signal:"):
                        self._report_abandoned(f"got {why[7:]}")
                    elif why == "client_eof":
                        self._report_abandoned(f"the client closed stdin and --timeout ({self.timeout:g} s) ran out")
                    tg.cancel_scope.cancel()
            if why == "remote_closed":
                self._fail("the server closed the session")
        except Exception as exc:  # noqa: BLE001 - connection failures surface here as groups
            if self._failure is None:
                self._fail(_describe(exc))
        finally:
            self._events.put("stop")  # a _wait_end thread abandoned by a failure returns
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
        return 1 if self._failure is not None or self._abandoned else 0

    def _wait_end(self) -> str:
        """Block (in a worker thread) until the session ends; signals handled here too."""
        while True:
            try:
                what = self._events.get(timeout=0.2)
            except queue.Empty:
                continue
            if what in ("client_eof", "failed", "remote_closed", "stop") or what.startswith("signal:"):
                if what.startswith("signal:"):
                    self.report(f"got {what[7:]}, closing the remote session")
                return what

    async def _drain(self) -> str:
        """Client EOF: let what it sent go out and its replies come back, for up to --timeout
        (or until a signal, whose event is returned)."""
        return await self._wait_idle(
            lambda: (self._pending or self._queued or self._relaying) and self._failure is None)

    async def _wait_idle(self, busy: Any) -> str:
        """Wait while ``busy()``, for up to --timeout, or until a signal (whose event is returned)."""
        import anyio

        with anyio.move_on_after(self.timeout):
            while busy():
                await anyio.sleep(0.02)
                try:
                    what = self._events.get_nowait()
                except queue.Empty:
                    continue
                if what.startswith("signal:"):  # a signal cuts the wait short
                    self.report(f"got {what[7:]}, closing the remote session")
                    return what
        return "client_eof"

    def _report_abandoned(self, why: str) -> None:
        """Name the client's requests that will never be answered (the session is ending)."""
        left = [(mid, method) for mid, method, _ in self._pending.values()]
        if left and self._failure is None:
            self._abandoned = True
            shown = ", ".join(f"id {json.dumps(mid)} ({method})" for mid, method in left[:10])
            more = f" and {len(left) - 10} more" if len(left) > 10 else ""
            self.report(f"abandoned {len(left)} request(s) still unanswered ({why}): {shown}{more}")
            self.call_hooks("_on_lifecycle", "abandoned", {"ids": [m for m, _ in left],
                                                           "methods": [m for _, m in left],
                                                           "timeout": self.timeout})

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
                if line and not line.isspace():  # isspace, not strip: no copy of a large line
                    self.relay_line(c2s, line, False)
        rest = cutter.finish()
        if rest and not rest.isspace():
            self.relay_line(c2s, rest, False)
        c2s.flush(release_all=True)
        self.call_hooks("_on_lifecycle", "client_eof", {})
        self._events.put("client_eof")

    # ---- client -> server ---------------------------------------------------------------------
    def _outbound(self, raw: bytes) -> list:
        """A client line as the SDK's SessionMessages: a batch split into its elements; what cannot
        be sent faithfully is answered with a JSON-RPC error instead (the client never waits)."""
        obj, err = parse_json(raw)
        if err is not None:
            self.report(f"client line is not JSON ({err}), answered with a parse error: {bytes(raw[:80])!r}")
            self._answer(None, PARSE_ERROR, f"omproxy: parse error: {err}")
            return []
        if isinstance(obj, list):
            if not obj:
                self.report("client sent an empty batch, answered with an error")
                self._answer(None, INVALID_REQUEST, "omproxy: invalid request: empty batch")
                return []
            elements = obj
        else:
            elements = [obj]
        out = []
        for el in elements:
            msg = self._element(el)
            if msg is not None:
                out.append(msg)
        return out

    def _element(self, el: Any) -> Any:
        from mcp_types import jsonrpc_message_adapter

        if not isinstance(el, dict):
            self.report("client sent a JSON-RPC message that is not an object, answered with an error")
            self._answer(None, INVALID_REQUEST, "omproxy: invalid request: not a JSON object")
            return None
        if "id" in el and not _valid_id(el["id"]):
            mid = el["id"]
            shown = json.dumps(mid)[:60]
            if "method" in el:
                # The SDK would turn 1.0 / true / null into a notification (no answer ever) and
                # cannot hash an array: answer here. Ids that cannot be echoed get null (JSON-RPC).
                echo = mid if mid is None or isinstance(mid, (bool, int, float, str)) else None
                self.report(f"client request {str(el.get('method'))[:60]!r} has id {shown}, which MCP does not "
                            "allow (strings and integers only); answered with an error, not sent")
                self._answer(echo, INVALID_REQUEST,
                             f"omproxy: invalid request id {shown}: MCP request ids are strings or integers")
            else:
                self.report(f"client response has id {shown}, which MCP does not allow; not sent")
            return None
        try:
            message = jsonrpc_message_adapter.validate_python(el, by_name=False)
        except Exception as exc:  # noqa: BLE001
            first = str(exc).splitlines()
            reason = " ".join(first[:3])[:300]
            self.report(f"client message is not JSON-RPC, cannot send it over HTTP: {reason}")
            if "method" in el and "id" in el:
                self._answer(el["id"], INVALID_REQUEST, f"omproxy: invalid request: {reason}")
            return None
        return self._stamp(message)

    def _answer(self, mid: Any, code: int, message: str) -> None:
        """Queue an error answer to the client; the sender writes it from a worker thread (a slow
        client's stdout must not stall the event loop, which the inspector shares)."""
        self._answers.append({"jsonrpc": "2.0", "id": mid, "error": {"code": code, "message": message}})

    async def _write_answers(self) -> None:
        import anyio.to_thread

        while self._answers:
            await anyio.to_thread.run_sync(self.inject, S2C, self._answers.pop(0))

    def _stamp(self, message: Any) -> Any:
        """The SDK's SessionMessage, with the per-message routing headers."""
        from mcp.shared.inbound import NAME_BEARING_METHODS, encode_header_value
        from mcp.shared.message import ClientMessageMetadata, SessionMessage

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

    async def _send(self, write: Any, msg: Any) -> Any:
        """Send one message; on HTTP, return only once it has left (and, for ``initialize``, once
        it is answered: its reply creates the session the next message belongs to). Returns the
        reply for a waited-for request."""
        import anyio

        message = msg.message
        method = getattr(message, "method", None)
        mid = getattr(message, "id", None)
        request = method is not None and mid is not None
        key = id_key(mid) if request else None
        private = key in self._private
        if request:
            self._pending[key] = (mid, method, msg)
            if method == "initialize" and self._wait_for_post:
                self._waiters[key] = anyio.Event()
            if method == "initialize" and not private:
                self._handshake["initialize"] = message
            self._sent = anyio.Event()
        elif method == "notifications/initialized":
            self._handshake["initialized"] = message
        await write.send(msg)
        if request and self._wait_for_post:
            # Bounded only as a safety net: every request is POSTed, and a failed POST ends the transport.
            with anyio.move_on_after(self.timeout):
                await self._sent.wait()
            waiter = self._waiters.get(key)
            if waiter is not None:
                await waiter.wait()
        self._sent = None
        return self._private.pop(key, None) if private else None

    async def _reinitialise(self, write: Any) -> None:
        """The server lost our session: start a new one with the client's own handshake (its
        answers are not relayed), then send again the requests it refused."""
        why, self._session_lost = self._session_lost, None
        transport = self._transport
        init = self._handshake.get("initialize")
        old = getattr(transport, "session_id", None)
        if init is None or transport is None:
            await self._give_up(f"the server lost the session ({why}) and there is no initialize handshake to replay")
            return
        self._reinit_n += 1
        rid = f"omproxy-reinit-{os.getpid()}-{self._reinit_n}"
        key = id_key(rid)
        self._private[key] = None
        transport.session_id = None
        reply = await self._send(write, self._stamp(init.model_copy(update={"id": rid})))
        error = getattr(reply, "error", None)
        if reply is None or error is not None or not transport.session_id:
            reason = error.message if error is not None else "no session id in the answer"
            await self._give_up(f"the server lost the session ({why}) and did not accept the replayed initialize: {reason}")
            return
        initialized = self._handshake.get("initialized")
        if initialized is not None:
            await self._send(write, self._stamp(initialized))
        self.report(f"the server lost the session ({why}); re-initialised it by replaying the client's "
                    f"handshake (new session {transport.session_id})")
        self.call_hooks("_on_lifecycle", "reinitialized", {"reason": why, "old_session": old,
                                                          "session": transport.session_id})
        lost = list(self._lost.values())
        self._lost.clear()
        for msg in lost:
            await self._send(write, msg)

    async def _give_up(self, reason: str) -> None:
        """The session cannot go on: answer the requests it refused, then fail (exit 1)."""
        for key, msg in list(self._lost.items()):
            self._pending.pop(key, None)
            self._answer(msg.message.id, INVALID_REQUEST, f"omproxy: {reason}")
        self._lost.clear()
        await self._write_answers()  # before failing: the client gets them before we exit
        self._fail(reason)

    # ---- server -> client ---------------------------------------------------------------------
    async def _receive(self, item: Any, s2c: Direction) -> None:
        import anyio.to_thread

        if isinstance(item, Exception):
            self.report(f"remote sent something that is not JSON-RPC: {str(item).splitlines()[0] if str(item) else item!r}")
            line = self.make_line(str(item).encode(), S2C, None, str(item), True)
            line.status = "blocked"
            await anyio.to_thread.run_sync(self._observe, line)
            return
        message = item.message
        if getattr(message, "method", None) is None and getattr(message, "id", None) is not None:
            key = id_key(message.id)
            if key in self._lost:
                return  # refused for a lost session: it is sent again after re-initialising
            message = self._with_http_status(key, message)
            self._pending.pop(key, None)
            waiter = self._waiters.pop(key, None)
            if key in self._private:
                self._private[key] = message
                if waiter is not None:
                    waiter.set()
                return  # the answer to our replayed handshake: not the client's business
            result = getattr(message, "result", None)
            if waiter is not None and isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
                self._version = result["protocolVersion"]
            if waiter is not None:
                waiter.set()
        data = message.model_dump_json(by_alias=True, exclude_unset=True).encode()
        # In a worker thread, never on the loop: traffic-changing hooks run in relay_line, sync ones
        # may block, async ones are awaited (on this loop, with hook_timeout), and a slow client's
        # stdout may block the write. Awaited in turn, so server messages keep their order.
        # Abandoned when the session ends: a hook that never returns (a sync one, or an async one
        # with no deadline) must not keep a signal from ending the session.
        # (_drain waits for it, so a reply being written at client EOF is not cut off.)
        self._relaying += 1
        try:
            await anyio.to_thread.run_sync(self.relay_line, s2c, data + b"\n", False, abandon_on_cancel=True)
        finally:
            self._relaying -= 1

    def _with_http_status(self, key: tuple, message: Any) -> Any:
        """An error the transport made up for an HTTP status, with the status and reason in it."""
        known = self._http_errors.pop(key, None)
        error = getattr(message, "error", None)
        if known is None or error is None:
            return message
        from mcp_types import ErrorData, JSONRPCError

        text, status = known
        return JSONRPCError(jsonrpc="2.0", id=message.id,
                            error=ErrorData(code=error.code, message=text, data={"httpStatus": status}))


class _OneLineLog(logging.Handler):
    """The SDK logs transport trouble with full tracebacks; on our stderr it gets one line."""

    def __init__(self, proxy: Proxy):
        super().__init__(logging.WARNING)
        self.proxy = proxy

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().splitlines()[0] if record.getMessage() else record.name
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {_describe(record.exc_info[1])}"
        self.proxy.report(f"mcp: {text}")


def _valid_id(mid: Any) -> bool:
    return isinstance(mid, str) or (isinstance(mid, int) and not isinstance(mid, bool))


def _current_loop():
    import asyncio

    return asyncio.get_running_loop()


def _describe(exc: BaseException) -> str:
    """The innermost useful message of a (possibly grouped) connection failure."""
    while getattr(exc, "exceptions", None):  # an ExceptionGroup (a backport's on 3.10)
        exc = exc.exceptions[0]
    if isinstance(exc, RemoteFailure):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class StreamableHttpProxy(_RemoteProxy):
    """``StreamableHttpProxy().run("https://host/mcp", headers={"Authorization": "Bearer …"})``"""

    transport = "http"
    _wait_for_post = True

    def _open(self, client: Any, sse_read_timeout: float):
        from contextlib import asynccontextmanager

        from .http_client import open_streamable_http

        @asynccontextmanager
        async def opened():
            async with open_streamable_http(client, self.url, self._unreachable) as (transport, read, write):
                self._transport = transport
                yield read, write

        return opened()

    def mcp_session_id(self) -> str | None:
        """The ``Mcp-Session-Id`` the server gave this session (None before the handshake's
        answer, or for a stateless server); ``--otlp`` puts it on spans as ``mcp.session.id``."""
        return getattr(self._transport, "session_id", None)


class SseProxy(_RemoteProxy):
    """``SseProxy().run("https://host/sse", headers=…, timeout=5, sse_read_timeout=300)`` -- the seed's
    signature."""

    transport = "sse"
    _sse_session: str | None = None

    def _open(self, client: Any, sse_read_timeout: float):
        from .sse_client import open_sse

        return open_sse(client, self.url, sse_read_timeout, self._endpoint_known)

    def _endpoint_known(self, endpoint: str) -> None:
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(endpoint).query)
        # the Python SDK's servers name it session_id, the TypeScript SDK's sessionId
        found = query.get("session_id") or query.get("sessionId")
        self._sse_session = found[0] if found else None

    def mcp_session_id(self) -> str | None:
        """The session id in the POST endpoint the server announced (``?session_id=…``), if any."""
        return self._sse_session
