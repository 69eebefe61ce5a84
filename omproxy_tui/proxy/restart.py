"""Hot restart: a fresh server process under a live client, keeping the client's session.

A :class:`Restarter` attached to a :class:`~omproxy_tui.proxy.stdio.StdioProxy` (``proxy.restarter``)
costs the relay nothing until a restart is triggered: it is on no line's path. What it needs to know
-- the client's handshake, its list requests and the answers it saw, which requests the server has
not answered -- it learns from the proxy's outstanding-request tracker (proxy/outstanding.py), which
parses a copy of each line off the relay threads. A restart (:meth:`Restarter.restart`, run on the
proxy's supervising thread, triggered by SIGUSR1, the inspect channel's ``restart`` command,
``--watch`` or the opt-in ``restart_server`` tool):

1. holds client -> server traffic: it becomes the client -> server direction's writer (from then
   on), and that writer waits, so the direction's queue (and behind it the client's pipe) keeps
   everything in order, and nothing is buffered twice;
2. shuts the old server down the way the proxy does at exit (stdin closed, grace, SIGTERM then
   SIGKILL to its process group, strays it left behind), while its last replies still reach the client;
3. answers every client request the old server got and left unanswered with a JSON-RPC error
   saying so (those still queued or held go to the new server instead);
4. starts the new server (same command, env, cwd) and replays the client's handshake as it was --
   ``initialize`` with its original params then ``notifications/initialized``, or in the 2026-07-28
   era a fresh ``server/discover`` with the client's ``_meta`` envelope -- swallowing the answers;
5. lists tools/prompts/resources and, where they differ from what the client last saw, sends it
   ``notifications/<kind>/list_changed``;
6. releases the held traffic, in order, to the new server.

A server that does not start or does not answer the handshake is reported (stderr, a
``restart_failed`` lifecycle event with its last stderr lines) and the session stays up: client
requests are answered with an error saying why, and the next trigger tries again.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time
from typing import Any

from .base import DROP
from .line import C2S, S2C, Line
from .outstanding import id_key, peek_id, requests_in

RESTARTED_CODE = -32011  # a request in flight when its server was restarted
NOT_RUNNING_CODE = -32012  # a request sent while no server runs (a restart failed)

LIST_KINDS = {"tools/list": "tools", "prompts/list": "prompts", "resources/list": "resources"}
ITEM_KEY = {"tools": "name", "prompts": "name", "resources": "uri"}
META_KEYS = ("io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientInfo",
             "io.modelcontextprotocol/clientCapabilities")
MAX_PAGES = 50
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
FILTER_KEYS = {"tools": "toolsListChanged", "prompts": "promptsListChanged", "resources": "resourcesListChanged"}
TOOL_NAME = "restart_server"
RESTART_TOOL = {
    "name": TOOL_NAME,
    "description": "Restart the MCP server behind omproxy (after editing its code). The session is kept: "
                   "the server is started again and the tool list refreshed; the answer says what changed.",
    "inputSchema": {"type": "object", "properties": {}},
}
# A list answer too long for the tracker to keep (over 64 KiB): what the client saw is not known,
# so after a restart that list is announced as changed without a comparison.
UNSEEN = object()

BIG = 1 << 20  # a line longer than this is not parsed by the gate: its id is peeked at

HOLDING, UP, DOWN = "holding", "up", "down"


_key = id_key  # one form of a JSON-RPC id for every table here and the tracker's (1 and 1.0 are one id)


def _encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class ServerPipe:
    """One server's stdin. Retiring it closes it -- at once, or when the write in progress ends
    (it fails when the server is stopped), so a blocked write never stalls a restart and the fd
    number is never written to after it was closed (it may belong to the next server by then)."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc
        self.fd = proc.stdin.fileno()
        self.lock = threading.Lock()
        self.busy = False
        self.retired = False
        self._close_when_done = False

    def begin(self) -> bool:
        with self.lock:
            if self.retired:
                return False
            self.busy = True
            return True

    def write(self, data: bytes) -> bool:
        """After :meth:`begin`. False if the server did not take it all (it is gone)."""
        ok = True
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except (OSError, ValueError):
            ok = False
        with self.lock:
            self.busy = False
            close = self._close_when_done
        if close:
            self._close()
        return ok

    def retire(self) -> None:
        with self.lock:
            self.retired = True
            if self.busy:
                self._close_when_done = True
                return
        self._close()

    def _close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass


class _Slot:
    """The answer to one of the proxy's own requests to a new server."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Any = None


class Restarter:
    """Hot restart for one StdioProxy. ``Restarter(proxy, tool=True)`` attaches itself."""

    #: seconds the new server gets to answer each replayed handshake / list request
    handshake_timeout = 30.0

    def __init__(self, proxy: Any, *, tool: bool = False, keep_alive: bool = False,
                 handshake_timeout: float | None = None, watcher: Any = None) -> None:
        self.proxy = proxy
        self.watcher = watcher  # started and stopped with the proxy (see proxy/watch.py)
        self.tool = tool
        self.keep_alive = keep_alive  # a server that exits by itself leaves the session up (--watch)
        if handshake_timeout is not None:
            self.handshake_timeout = handshake_timeout
        self.cond = threading.Condition()
        self.state = UP
        self.pipe: ServerPipe | None = None  # the server our writer writes to (from the first restart on)
        self.generation = 1
        self.down_reason = ""
        # Learned from the outstanding-request tracker (client_message / server_answer, under its lock):
        self.list_ids: dict[str, tuple[str, bool]] = {}  # client list requests unanswered: kind, paged
        self.seen: dict[str, Any] = {"tools": None, "prompts": None, "resources": None}  # or UNSEEN
        self.handshake: dict[str, Any] = {}  # initialize / initialized / discover / meta
        # 2026-07-28 subscriptions/listen streams open on the current server: carried over to the
        # next one (re-sent as the client sent them) instead of ending with an error.
        self.listens: dict[str, dict] = {}
        self.private: dict[str, _Slot] = {}
        self._carrying: set[str] = set()  # listen streams a restart in progress carries over
        self._reack: set[str] = set()  # their new acknowledgements: the client has had one
        self._n = 0
        self._queued: set[str] = set()
        self._files: list[str] = []  # what --watch saw change since the last restart
        self._tool_calls: list[tuple[Any, bool]] = []  # restart_server calls to answer: id, modern era
        self._tool_lists: set[str] = set()  # (--restart-tool) tools/list requests awaiting their answer
        self._tool_seqs: set[int] = set()  # tools/list answers that get the restart tool added
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._inject_prefix = f"omproxy-{os.getpid()}-"
        self._interposed = False  # our writer is the client -> server direction's (see _interpose)
        self._close_after = False  # the client's input ended during a restart (see close_input)
        self._entered = False  # our writer was called since it was interposed
        self._in_hand: bytes | None = None  # what our writer holds while a restart holds traffic
        self.last: dict | None = None  # the last restart's lifecycle info
        #: the proxy got a stop signal: a restart in progress starts no new server, or stops waiting
        #: for its handshake, at once (the signal's event is handled on the thread the restart runs
        #: on, only once it returns)
        self.stopping = threading.Event()
        #: threads answering what an old server left unanswered once its output is read (see
        #: _answer_unanswered): the proxy delivers what they send before it exits
        self.late: list[threading.Thread] = []
        proxy.restarter = self
        proxy.add_addon(self)
        if tool:
            proxy.add_addon(_ToolLister(self))
        self._set_gate()
        if tool:
            proxy.set_gate(C2S, self._gate_c2s, self)

    # ---- triggers ------------------------------------------------------------------------------
    def trigger(self, cause: str) -> bool:
        """Ask for a restart (any thread). A cause already queued is not queued twice, so a burst
        of triggers while one waits is one restart. False when the proxy is not running."""
        notify = getattr(self.proxy, "_notify", None)
        if notify is None:
            return False
        with self.cond:
            if cause in self._queued:
                return True
            self._queued.add(cause)
        notify(f"restart:{cause}")
        return True

    def files_changed(self, files: list[str]) -> None:
        """The watcher's callback (its thread): restart, naming the files."""
        with self.cond:
            self._files = sorted(set(self._files) | set(files))
        self.proxy.report(f"--watch: changed: {' '.join(os.path.basename(f) for f in files[:5])}"
                          + (f" (+{len(files) - 5} more)" if len(files) > 5 else ""))
        self.trigger("watch")

    def _on_server_stderr(self, text: str) -> None:
        self._stderr.append(text)

    def prepare(self) -> None:
        """Before traffic flows: listen to the tracker; hear of a failed write to the first server."""
        self.proxy.outstanding.listener = self
        c2s = self.proxy.directions.get(C2S)
        if c2s is not None:
            c2s.on_write_failed = self._plain_write_failed
        if self.watcher is not None:
            self.watcher.start()

    def shutdown(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    # ---- what the client sent and saw (the tracker's listener, off the relay path) ---------------
    def client_message(self, key: str | None, obj: dict) -> None:
        """A message the client sent (key: its request's id key; None for a notification)."""
        method = obj.get("method")
        if key is None:
            if method == "notifications/initialized":
                self.handshake["initialized"] = _encode(obj)
            return
        params = obj.get("params")
        if not isinstance(params, dict):
            params = {}
        meta = params.get("_meta")
        with self.cond:
            hs = self.handshake
            if method == "initialize":
                hs["initialize"] = obj
            elif method == "server/discover":
                hs["discover"] = obj
            elif method == "subscriptions/listen":
                self.listens[key] = obj
            kind = LIST_KINDS.get(method)
            if kind is not None:
                self.list_ids[key] = (kind, params.get("cursor") is not None)
            if isinstance(meta, dict) and META_KEYS[0] in meta:
                hs["meta"] = {k: meta[k] for k in META_KEYS if k in meta}

    def server_answer(self, key: str, obj: Any) -> None:
        """The answer to a client request reached the client (obj None: too long to keep)."""
        with self.cond:
            self.listens.pop(key, None)
            listed = self.list_ids.pop(key, None)
            if listed is not None:
                self._saw_list(listed, obj)

    def _saw_list(self, listed: tuple[str, bool], obj: Any) -> None:
        kind, paged = listed
        result = obj.get("result") if isinstance(obj, dict) else None
        if obj is None:
            self.seen[kind] = UNSEEN
            return
        items = result.get(kind) if isinstance(result, dict) else None
        if not isinstance(items, list):
            return
        before = self.seen[kind]
        seen = dict(before) if paged and isinstance(before, dict) else {}
        for item in items:
            if isinstance(item, dict):
                seen[str(item.get(ITEM_KEY[kind]))] = item
        self.seen[kind] = seen

    # ---- the client -> server writer (only once a restart began) ---------------------------------
    def _interpose(self) -> Any:
        """Become the client -> server direction's writer (for good: the first restart does it).
        Returns a check that is true once no write the plain writer began is still going on (its
        server's stdin may only be closed then: its fd number could be reused by the next server)."""
        d = self.proxy.directions.get(C2S)
        if self._interposed or d is None:
            return lambda: True
        with d.lock:
            self._entered = False
            d._write = self._write
            self._interposed = True
            busy, done = d._writing, d._done
        if not busy:
            return lambda: True
        return lambda: self._entered or d._done > done

    def _write(self, data: bytes) -> None:
        """The c2s direction's writer from the first restart on (one call at a time, in order).
        Waits while a restart holds traffic; never raises but for a server that stopped reading."""
        with self.cond:
            self._entered = True
            if self.state == HOLDING:
                self._in_hand = data
                while self.state == HOLDING:
                    self.cond.wait()
                self._in_hand = None
            pipe = self.pipe if self.state == UP else None
            if pipe is not None and not pipe.begin():
                pipe = None
            reason = self.down_reason or "omproxy: the MCP server is not running"
        if pipe is None:
            self._answer(requests_in(data), NOT_RUNNING_CODE, reason)
            return
        if not pipe.write(data) and not pipe.retired:
            # The server stopped reading (it is exiting): its requests are answered here, and the
            # direction reports the failed write as it always does (a restart revives it).
            self._answer(requests_in(data), RESTARTED_CODE,
                         "omproxy: the server closed its input before this request reached it")
            raise BrokenPipeError("the server closed its stdin")

    def _plain_write_failed(self, data: bytes) -> bool:
        """The direction's plain writer (the first server's) failed. A restart in progress stopped
        that server: the restart answers what it got, and the direction goes on (True), with what
        is queued kept for the new server. Else the server stopped reading by itself: answer the
        requests that could not reach it (the direction reports the failure; a restart revives it)."""
        if self._interposed:
            return True
        self._answer(requests_in(data), RESTARTED_CODE,
                     "omproxy: the server closed its input before this request reached it")
        return False

    def close_input(self) -> bool:
        """The client's input ended (the direction's closer): close the server's stdin. While a
        restart is in progress that is the new server's, once its handshake was replayed and
        what was held written (not self.proxy.proc's, whichever that is at the moment). False:
        no restart happened yet -- the plain writer's server, the proxy closes it itself."""
        with self.cond:
            if self.state == HOLDING:
                self._close_after = True
                return True
            pipe = self.pipe
        if pipe is None:
            return self._interposed  # no server runs (a failed restart): nothing to close
        pipe.retire()
        return True

    def _close_stdin_when(self, over: Any, proc: Any) -> None:
        """Close an old server's stdin once no write to it is going on (see _interpose)."""
        def close() -> None:
            try:
                proc.stdin.close()
            except OSError:
                pass

        if over():
            close()
            return

        def wait() -> None:
            while not over():
                time.sleep(0.005)
            close()

        threading.Thread(target=wait, name="omproxy-restart-close", daemon=True).start()

    def _unanswered_by_old(self, over: Any) -> list[tuple[str, Any]]:
        """(key, id) of the client requests the old server got and did not answer: what the
        tracker holds as unanswered, less what has not been written to it -- what our writer
        holds, what is queued behind it and what an inspector holds. Lines are tracked as they
        are queued, under the direction's lock, so under it the two views agree."""
        px = self.proxy
        d = px.directions.get(C2S)
        if d is None:
            px.outstanding.settle()
            return list(px.outstanding.pending().items())
        deadline = time.monotonic() + 1.0
        while not over() and time.monotonic() < deadline:
            time.sleep(0.001)  # a write to the old server is ending (it has been stopped)
        while True:
            with d.lock:
                taken = d._issued - len(d._out) - d._done  # popped by the writer, not written yet
                if taken and self._in_hand is None and over() and time.monotonic() < deadline:
                    pass  # the writer is on its way into ours: look again in a moment
                else:
                    unwritten = [x for x in d._out if isinstance(x, (bytes, bytearray))]
                    unwritten += [h.data for h in d.held]
                    if self._in_hand is not None:
                        unwritten.append(self._in_hand)
                    px.outstanding.settle()
                    pending = px.outstanding.pending()
                    break
            time.sleep(0.001)
        for data in unwritten:
            for key, _ in requests_in(data):
                pending.pop(key, None)
        return list(pending.items())

    def _revive_c2s(self) -> None:
        """A write to a server that had closed its stdin left the direction broken: with a new
        server (or none, whose requests are answered with an error) it accepts traffic again.
        A direction closed on purpose (the client's EOF) stays closed."""
        d = self.proxy.directions.get(C2S)
        if d is None:
            return
        with d.lock:
            if d.broken:
                d.broken = d.closed = False
                d._failed_from = None

    def _answer_unanswered(self, s2c_thread: threading.Thread | None, items: list, code: int, message: str) -> bool:
        """Answer the requests an old server left unanswered -- once everything it wrote has been
        read. A client slow to read keeps the old server's reader blocked, with its last answers
        still in the pipe; those requests are answered then, so each gets one answer, never its
        real one and the error too. Only those still unanswered when its output ends get the error.
        True if they were answered now (False: later)."""
        # An earlier restart's old server may still have answers in its pipe as well (its answer
        # thread waits for them): they count too.
        waits = [t for t in (*self.late, s2c_thread) if t is not None and t.is_alive()]
        if not waits:
            self._answer(items, code, message)
            return True

        def later() -> None:
            for t in waits:
                t.join()
            px = self.proxy
            px.outstanding.settle()
            pending = px.outstanding.pending()
            self._answer([(k, rid) for k, rid in items if k in pending], code, message)

        t = threading.Thread(target=later, name="omproxy-restart-answer", daemon=True)
        self.late = [x for x in self.late if x.is_alive()] + [t]
        t.start()
        return False

    def _answer(self, items: list, code: int, message: str) -> None:
        for _, rid in items:
            if isinstance(rid, str) and rid.startswith(self._inject_prefix):
                continue  # an inspector's injected request: its own timeout tells the inspector
            self._reply({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}})

    def _reply(self, obj: dict) -> None:
        """An answer the proxy gives the client in the server's place (never waits for the write;
        the proxy's tracker counts it as the request's answer)."""
        self.proxy.inject(S2C, _encode(obj), {"by": "proxy", "id": None}, None, False)

    # ---- server -> client ------------------------------------------------------------------------
    def _set_gate(self) -> None:
        """The server->client gate is there only while it has work: during a restart (our own
        answers, the old server closing listen streams), until carried-over streams are
        re-acknowledged, and with the restart tool (to add it to tools/list answers)."""
        on = self.tool or self.state == HOLDING or bool(self._reack)
        self.proxy.set_gate(S2C, self._gate_s2c if on else None, self)

    def may_stream(self, direction: str) -> bool:
        """A server line starting now may be streamed through (see Proxy.may_stream): nothing it
        could be is ours to swallow -- no restart is replaying a handshake or carrying streams
        over. Client lines never stream: a restart switches servers between two lines."""
        return direction == S2C and not self.private and not self._reack and self.state != HOLDING

    def _gate_s2c(self, line: Line) -> Any:
        raw = line.raw
        if self._reack and b"subscriptions/acknowledged" in raw[:4096]:
            obj = line.json
            meta = ((obj.get("params") or {}).get("_meta") or {}) if isinstance(obj, dict) else {}
            sub = meta.get(SUBSCRIPTION_ID) if isinstance(meta, dict) else None
            if sub is not None and _key(sub) in self._reack:
                self._reack.discard(_key(sub))
                if not self._reack and self.state != HOLDING:
                    self._set_gate()
                line.changed = {"by": "omproxy restart", "action": "dropped", "original": None}
                return DROP  # the carried-over stream's new acknowledgement: the client has one
        if not self.private and not self._carrying and not (self.tool and self._tool_lists):
            return None
        keys = self._reply_keys(line.json) if len(raw) <= BIG else [_key(peek_id(raw))]
        with self.cond:
            for key in keys:
                slot = self.private.pop(key, None)
                if slot is not None:
                    slot.reply = line.json
                    slot.event.set()
                    line.changed = {"by": "omproxy restart", "action": "dropped", "original": None}
                    return DROP  # the answer to our replayed handshake: not the client's business
                if key in self._carrying and self.state == HOLDING:
                    # The old server ends the client's listen stream as it goes: the stream is
                    # carried over to the new server instead (see _carry_listens).
                    line.changed = {"by": "omproxy restart", "action": "dropped", "original": None}
                    return DROP
                if self.tool and key in self._tool_lists:
                    self._tool_lists.discard(key)
                    obj = line.json
                    result = obj.get("result") if isinstance(obj, dict) else None
                    if isinstance(result, dict) and not result.get("nextCursor"):
                        self._tool_seqs.add(line.seq)  # the last page: _ToolLister adds the tool
        return None

    @staticmethod
    def _reply_keys(obj: Any) -> list[str]:
        out = []
        for el in obj if isinstance(obj, list) else (obj,):
            if isinstance(el, dict) and "method" not in el and "id" in el:
                key = _key(el["id"])
                if key is not None:
                    out.append(key)
        return out

    # ---- the restart tool (--restart-tool) ------------------------------------------------------
    def _gate_c2s(self, line: Line) -> Any:
        raw = line.raw
        if b"tools/list" in raw:  # which answer gets the tool (the tracker would learn it too late)
            obj = line.json
            for el in obj if isinstance(obj, list) else (obj,):
                if isinstance(el, dict) and el.get("method") == "tools/list" and "id" in el:
                    key = _key(el["id"])
                    if key is not None:
                        with self.cond:
                            self._tool_lists.add(key)
        if TOOL_NAME.encode() not in raw:
            return None
        obj = line.json
        if not (isinstance(obj, dict) and obj.get("method") == "tools/call" and "id" in obj
                and isinstance(obj.get("params"), dict) and obj["params"].get("name") == TOOL_NAME):
            return None
        meta = obj["params"].get("_meta")
        with self.cond:
            self._tool_calls.append((obj["id"], isinstance(meta, dict) and META_KEYS[0] in meta))
        line.changed = {"by": "omproxy restart tool", "action": "dropped", "original": None}
        self.trigger("tool")
        return DROP  # answered by the proxy once the restart is done

    def _answer_tool_calls(self, ok: bool, text: str) -> None:
        with self.cond:
            calls, self._tool_calls = self._tool_calls, []
        for rid, modern in calls:
            result: dict = {"content": [{"type": "text", "text": text}], "isError": not ok}
            if modern:
                result["resultType"] = "complete"
            self._reply({"jsonrpc": "2.0", "id": rid, "result": result})

    # ---- the restart itself (the proxy's supervising thread) -----------------------------------
    def restart(self, cause: str) -> dict:
        """Restart the server now (on the proxy's supervising thread); returns the lifecycle info."""
        t0 = time.monotonic()
        try:
            return self._restart(cause, t0)
        except Exception as exc:  # noqa: BLE001 -- held traffic must never wait forever
            return self._failed(cause, self.generation, t0, f"internal error: {type(exc).__name__}: {exc}", 0)

    def _hold(self) -> tuple[Any, ServerPipe | None, dict[str, dict]]:
        """Hold client -> server traffic (our writer from now on); returns the check of
        _interpose, the old server's pipe (None: the plain writer's) and the listen streams to
        carry over."""
        self.proxy.outstanding.settle()  # all the client sent and saw so far
        with self.cond:
            self.state = HOLDING
            old_pipe, self.pipe = self.pipe, None
            carry = dict(self.listens)
            self._carrying = set(carry)
        over = self._interpose()
        self._set_gate()
        return over, old_pipe, carry

    def _retire(self, proc: Any, old_pipe: ServerPipe | None, over: Any) -> None:
        """Close an old server's stdin (the first step of its orderly stop)."""
        proc.omproxy_replaced = True
        if old_pipe is not None:
            old_pipe.retire()
        else:
            self._close_stdin_when(over, proc)

    def _restart(self, cause: str, t0: float) -> dict:
        px = self.proxy
        with self.cond:
            self._queued.discard(cause)
            files, self._files = (self._files, []) if cause == "watch" else ([], self._files)
        over, old_pipe, listens = self._hold()
        self.generation += 1
        gen = self.generation
        px.report(f"restarting the server ({cause}), generation {gen}")
        px.call_hooks("_on_lifecycle", "restarting", {"cause": cause, "generation": gen, **({"files": files} if files else {})})
        old, old_s2c = px.proc, px._s2c_thread
        if old is not None:
            self._retire(old, old_pipe, over)
            self._stop(old, old_s2c)
        t_stopped = time.monotonic()
        left = [(k, rid) for k, rid in self._unanswered_by_old(over) if k not in listens]
        with self.cond:
            self._reack.clear()
            self.listens = {}
            for k, _ in left:
                self.list_ids.pop(k, None)
        now = self._answer_unanswered(old_s2c, left, RESTARTED_CODE, f"omproxy: the server was restarted ({cause}) "
                                                                      "before it answered this request; send it again")
        init = self.handshake.get("initialize")
        if now and isinstance(init, dict) and _key(init.get("id")) in {k for k, _ in left}:
            # The client never saw its initialize answered: it gets the error and sends it again,
            # so the new server must not get it from us as well (there is no handshake to replay).
            with self.cond:
                self.handshake.pop("initialize", None)
                self.handshake.pop("initialized", None)
        self._stderr.clear()
        if self.stopping.is_set():  # a stop signal came while the old server was being stopped
            return self._failed(cause, gen, t0, "the proxy is stopping", len(left), listens)
        try:
            proc = px._spawn_server()
        except OSError as exc:
            return self._failed(cause, gen, t0, f"cannot start {px._server_spec[0][0]!r}: {exc.strerror or exc}",
                                len(left), listens)
        if px.reaper is not None:
            px.reaper.server_pid = proc.pid
        stderr_thread = px._start_server_threads(proc, px._notify)
        px.call_hooks("_on_lifecycle", "spawned", {"pid": proc.pid, "argv": px._server_spec[0], "generation": gen})
        pipe = ServerPipe(proc)
        try:
            caps = self._replay_handshake(pipe, proc)
            t_started = time.monotonic()
            changed, notes = self._compare_lists(pipe, proc, caps)
            self._carry_listens(pipe, proc, listens)
        except _Failed as exc:
            proc.omproxy_replaced = True
            pipe.retire()
            self._stop(proc, px._s2c_thread)
            stderr_thread.join(1.0)
            return self._failed(cause, gen, t0, str(exc), len(left), listens)
        for kind in notes:
            self._list_changed(kind, listens)
        with self.cond:
            self.pipe = pipe
            self.state = UP
            self._carrying = set()
            close, self._close_after = self._close_after, False
            self.cond.notify_all()
        if close:  # the client's input ended during the restart (see close_input)
            pipe.retire()
        else:
            self._revive_c2s()
        self._set_gate()
        t_done = time.monotonic()
        downtime = (t_done - t0) * 1000
        # Where the pause went: stopping the old server, starting the new one up to its handshake
        # answer, comparing the lists.
        timings = {"stop_ms": round((t_stopped - t0) * 1000, 1), "start_ms": round((t_started - t_stopped) * 1000, 1),
                   "lists_ms": round((t_done - t_started) * 1000, 1)}
        info = {"cause": cause, "generation": gen, "pid": proc.pid, "downtime_ms": round(downtime, 1),
                "timings": timings,
                "changed": changed, "answered": len(left), "ok": True, **({"files": files} if files else {})}
        self.last = info
        what = "; ".join(f"{k}: " + (", ".join(f"{a} {' '.join(v)}" for a, v in d.items() if v and isinstance(v, list))
                                     or "not compared (the client's copy was too long to keep)")
                         for k, d in changed.items()) or "no list changed"
        px.report(f"server restarted ({cause}) in {downtime:.0f} ms, generation {gen}, pid {proc.pid}; {what}")
        px.call_hooks("_on_lifecycle", "restart", info)
        self._answer_tool_calls(True, f"Restarted the server (generation {gen}, {downtime:.0f} ms). {what}.")
        return info

    def _failed(self, cause: str, gen: int, t0: float, why: str, answered: int, listens: dict | None = None) -> dict:
        px = self.proxy
        tail = list(self._stderr)[-5:]
        with self.cond:
            self.listens.clear()
        carried = [(k, obj.get("id")) for k, obj in (listens or {}).items()]
        self._answer(carried, RESTARTED_CODE, f"omproxy: the server was restarted ({cause}) and the new one "
                                              f"failed: {why}")
        answered += len(carried)
        with self.cond:
            self.state = DOWN
            self.down_reason = (f"omproxy: the MCP server is not running: the restart ({cause}) failed: {why}. "
                                "It is retried on the next change or restart.")
            self._reack.clear()
            self._carrying = set()
            self._close_after = False  # no server to close
            self.cond.notify_all()
        self._revive_c2s()
        self._set_gate()
        info = {"cause": cause, "generation": gen, "error": why, "stderr": tail, "answered": answered,
                "downtime_ms": round((time.monotonic() - t0) * 1000, 1), "ok": False}
        self.last = info
        px.report(f"restart failed ({cause}), generation {gen}: {why}" + (
            "; its last stderr lines: " + " | ".join(tail) if tail else "") + "; waiting for the next restart")
        px.call_hooks("_on_lifecycle", "restart_failed", info)
        self._answer_tool_calls(False, f"The restart failed: {why}" + ("\n" + "\n".join(tail) if tail else ""))
        return info

    def server_exited(self, proc: Any) -> bool:
        """The current server exited by itself: True keeps the session up (no server until the
        next restart), False ends it as usual."""
        if self.state == DOWN:
            return True
        if not self.keep_alive:
            return False
        code = proc.returncode
        over, old_pipe, _ = self._hold()
        self._retire(proc, old_pipe, over)
        s2c_thread = self.proxy._s2c_thread
        if s2c_thread is not None:
            s2c_thread.join(1.0)  # its last replies are tracked before we look for unanswered ones
        left = self._unanswered_by_old(over)
        with self.cond:
            self.state = DOWN
            self.down_reason = (f"omproxy: the MCP server exited (code {code}); it is started again on the "
                                "next change or restart")
            self.listens.clear()
            self._carrying = set()
            for k, _ in left:
                self.list_ids.pop(k, None)
            self.cond.notify_all()
        self._set_gate()
        self._revive_c2s()
        self._answer_unanswered(s2c_thread, left, RESTARTED_CODE,
                                f"omproxy: the server exited (code {code}) before it answered this request")
        self.proxy.report(f"the server exited with code {code}; waiting for a change to restart it")
        return True

    def _carry_listens(self, pipe: ServerPipe, proc: Any, listens: dict[str, dict]) -> None:
        """Re-open the client's subscriptions/listen streams on the new server, under the client's
        own ids, so its subscriptions live on; the new acknowledgements are swallowed."""
        for key, obj in listens.items():
            data = _encode(obj)
            self.proxy.outstanding.sent(data)  # open (unanswered) again, on the new server
            with self.cond:
                self.listens[key] = obj
                self._reack.add(key)
            self._send(pipe, proc, data, obj["id"], "subscriptions/listen")

    def _list_changed(self, kind: str, listens: dict[str, dict]) -> None:
        """Tell the client: on each listen stream that asked for this kind (stamped with its
        subscription id, as a 2026-07-28 server would), else as a plain notification."""
        method = f"notifications/{kind}/list_changed"
        sent = False
        for obj in listens.values():
            wanted = ((obj.get("params") or {}).get("notifications") or {}) if isinstance(obj, dict) else {}
            if isinstance(wanted, dict) and wanted.get(FILTER_KEYS[kind]):
                self.proxy.inject(S2C, {"jsonrpc": "2.0", "method": method,
                                        "params": {"_meta": {SUBSCRIPTION_ID: obj["id"]}}},
                                  {"by": "proxy", "id": None}, None, False)
                sent = True
        if not sent:
            self.proxy.inject(S2C, {"jsonrpc": "2.0", "method": method}, {"by": "proxy", "id": None}, None, False)

    def _stop(self, proc: Any, s2c_thread: threading.Thread | None) -> None:
        """The orderly way, as at exit (see StdioProxy._supervise): stdin is closed already."""
        px = self.proxy
        if proc.poll() is None and not px._wait_exit(proc, px.exit_grace):
            px._killpg(proc, signal.SIGTERM)
            if not px._wait_exit(proc, px.term_grace):
                px._killpg(proc, signal.SIGKILL)
                px._wait_exit(proc, 5.0)
        if s2c_thread is not None:
            s2c_thread.join(1.0)  # its last replies reach the client (and settle what is in flight)
        if px._group_alive(proc):
            px._killpg(proc, signal.SIGTERM)
            if s2c_thread is not None:
                s2c_thread.join(1.0)
            if px._group_alive(proc):
                px._killpg(proc, signal.SIGKILL)
        if px.reaper is not None:
            ended = px.reaper.end_all(px.term_grace)
            if ended:
                px.report(f"ended {len(ended)} process(es) the old server left behind: {' '.join(map(str, ended))}")

    # ---- talking to the new server ---------------------------------------------------------------
    def _ask(self, pipe: ServerPipe, proc: Any, obj: dict, what: str) -> dict:
        """Send one request of ours to the new server and wait for its result (raises _Failed)."""
        self._n += 1
        rid = f"omproxy-restart-{os.getpid()}-{self._n}"
        msg = dict(obj, id=rid)
        slot = _Slot()
        with self.cond:
            self.private[_key(rid)] = slot
        self._send(pipe, proc, _encode(msg), rid, what)
        deadline = time.monotonic() + self.handshake_timeout
        try:
            while not slot.event.wait(0.05):
                if self.stopping.is_set():
                    raise _Failed(f"the proxy is stopping; {what} was not answered")
                if proc.poll() is not None:
                    raise _Failed(f"the new server exited with code {proc.returncode} before answering {what}")
                if time.monotonic() > deadline:
                    raise _Failed(f"the new server did not answer {what} within {self.handshake_timeout:g} s")
        finally:
            with self.cond:
                self.private.pop(_key(rid), None)
        reply = slot.reply
        if not isinstance(reply, dict) or not isinstance(reply.get("result"), dict):
            err = reply.get("error") if isinstance(reply, dict) else None
            detail = err.get("message") if isinstance(err, dict) else json.dumps(reply)[:200]
            raise _Failed(f"the new server refused {what}: {detail}")
        return reply["result"]

    def _send(self, pipe: ServerPipe, proc: Any, data: bytes, rid: Any, what: str) -> None:
        px = self.proxy
        line = px.make_line(data, C2S)
        line.status = "injected"
        line.injected = {"by": "proxy", "id": rid}
        px.announce(line)
        ok = pipe.begin() and pipe.write(data + b"\n")
        px._observe(line)
        if not ok:
            raise _Failed(f"the new server did not read {what} (it exited with code {proc.poll()})")

    def _replay_handshake(self, pipe: ServerPipe, proc: Any) -> Any:
        hs = self.handshake
        if "initialize" in hs:
            result = self._ask(pipe, proc, hs["initialize"], "the replayed initialize")
            if "initialized" in hs:
                self._send(pipe, proc, hs["initialized"], None, "notifications/initialized")
            return result.get("capabilities")
        if "discover" in hs:
            return self._ask(pipe, proc, hs["discover"], "server/discover").get("capabilities")
        return None  # the client has not started its session: nothing to replay

    def _compare_lists(self, pipe: ServerPipe, proc: Any, caps: Any) -> tuple[dict, list[str]]:
        changed: dict = {}
        notes: list[str] = []
        with self.cond:
            seen_lists = dict(self.seen)
        for kind, seen in seen_lists.items():
            if seen is None:
                continue  # the client never listed them: nothing it could have stale
            if seen is UNSEEN:  # the client's copy was too long to keep: tell it to list again
                changed[kind] = {"added": [], "removed": [], "changed": [], "compared": False}
                notes.append(kind)
                continue
            if isinstance(caps, dict) and kind not in caps:
                now: dict = {}
            else:
                now = self._list(pipe, proc, kind)
            diff = {"added": sorted(set(now) - set(seen)), "removed": sorted(set(seen) - set(now)),
                    "changed": sorted(k for k in set(now) & set(seen) if now[k] != seen[k])}
            if any(diff.values()):
                changed[kind] = diff
                notes.append(kind)
        return changed, notes

    def _list(self, pipe: ServerPipe, proc: Any, kind: str) -> dict:
        items: dict = {}
        cursor = None
        for _ in range(MAX_PAGES):
            params: dict = {}
            if cursor is not None:
                params["cursor"] = cursor
            if "meta" in self.handshake:
                params["_meta"] = dict(self.handshake["meta"])
            result = self._ask(pipe, proc, {"jsonrpc": "2.0", "method": f"{kind}/list", "params": params},
                               f"{kind}/list")
            for item in result.get(kind) or []:
                if isinstance(item, dict):
                    items[str(item.get(ITEM_KEY[kind]))] = item
            cursor = result.get("nextCursor")
            if not cursor:
                break
        return items




class _Failed(Exception):
    """The new server did not start or did not answer its handshake."""


class _ToolLister:
    """--restart-tool: the client sees a ``restart_server`` tool at the end of ``tools/list``
    (the last page). This re-encodes those answers, hence opt-in."""

    modifies_traffic = True

    def __init__(self, restarter: Restarter) -> None:
        self.restarter = restarter

    def _on_mcp_server_message(self, line: Line) -> Any:
        seqs = self.restarter._tool_seqs
        if not seqs or line.seq not in seqs:
            return None
        seqs.discard(line.seq)
        obj = line.json
        if not isinstance(obj, dict) or not isinstance(obj.get("result"), dict):
            return None
        tools = obj["result"].get("tools")
        if not isinstance(tools, list) or any(isinstance(t, dict) and t.get("name") == TOOL_NAME for t in tools):
            return None
        result = dict(obj["result"], tools=[*tools, RESTART_TOOL])
        return dict(obj, result=result)
