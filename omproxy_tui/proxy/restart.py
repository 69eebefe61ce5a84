"""Hot restart: a fresh server process under a live client, keeping the client's session.

A :class:`Restarter` attached to a :class:`~omproxy_tui.proxy.stdio.StdioProxy` (``proxy.restarter``)
is the client -> server direction's writer, so it knows exactly which server got each request.
A restart (:meth:`Restarter.restart`, run on the proxy's supervising thread, triggered by SIGUSR1,
the inspect channel's ``restart`` command, ``--watch`` or the opt-in ``restart_server`` tool):

1. holds client -> server traffic: the writer waits, so the direction's queue (and behind it the
   client's pipe) keeps everything in order, and nothing is buffered twice;
2. shuts the old server down the way the proxy does at exit (stdin closed, grace, SIGTERM then
   SIGKILL to its process group, strays it left behind), while its last replies still reach the client;
3. answers every client request the old server left unanswered with a JSON-RPC error saying so;
4. starts the new server (same command, env, cwd) and replays the client's handshake as it was --
   ``initialize`` with its original params then ``notifications/initialized``, or in the 2026-07-28
   era a fresh ``server/discover`` with the client's ``_meta`` envelope -- swallowing the answers;
5. lists tools/prompts/resources and, where they differ from what the client last saw, sends it
   ``notifications/<kind>/list_changed``;
6. releases the held traffic, in order, to the new server.

A server that does not start or does not answer the handshake is reported (stderr, a
``restart_failed`` lifecycle event with its last stderr lines) and the session stays up: client
requests are answered with an error saying why, and the next trigger tries again.

Cost when no restart happens: requests are parsed once on their way to the server (to remember
what is in flight and the handshake) and server replies' ids are read before forwarding.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import threading
import time
from typing import Any

from .base import DROP
from .line import C2S, S2C, Line, parse_json

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
# A reply's id read from the start of a large line without parsing it all (servers put it first).
_ID_HEAD = re.compile(rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*,\s*'
                      rb'"(?:result|error)"')
_ID_ANY = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")')
BIG = 1 << 20
_REQ_HEAD = re.compile(rb'\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*,\s*'
                       rb'"method"\s*:\s*"([A-Za-z0-9_/.-]*)"')
_METHOD = re.compile(rb'"method"\s*:\s*"([A-Za-z0-9_/.-]*)"')
# Requests whose params matter to a restart (the handshake, lists, listen streams): parsed whole.
PARSED_METHODS = frozenset({"initialize", "server/discover", "tools/list", "prompts/list", "resources/list",
                            "subscriptions/listen"})

HOLDING, UP, DOWN = "holding", "up", "down"


def _key(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


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
        self.pipe: ServerPipe | None = None
        self.generation = 1
        self.down_reason = ""
        self.pending: dict[str, tuple[Any, str]] = {}  # client requests the current server has not answered
        self.list_ids: dict[str, tuple[str, bool]] = {}  # client list requests: kind, paged
        self.seen: dict[str, dict | None] = {"tools": None, "prompts": None, "resources": None}
        self.handshake: dict[str, Any] = {}  # initialize / initialized / discover / meta
        self.private: dict[str, _Slot] = {}
        # 2026-07-28 subscriptions/listen streams open on the current server: carried over to the
        # next one (re-sent as the client sent them) instead of ending with an error.
        self.listens: dict[str, dict] = {}
        self._reack: set[str] = set()  # their new acknowledgements: the client has had one
        self._n = 0
        self._queued: set[str] = set()
        self._files: list[str] = []  # what --watch saw change since the last restart
        self._tool_calls: list[tuple[Any, bool]] = []  # restart_server calls to answer: id, modern era
        self._tool_seqs: set[int] = set()  # tools/list answers that get the restart tool added
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._inject_prefix = f"omproxy-{os.getpid()}-"
        self.last: dict | None = None  # the last restart's lifecycle info
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
        self._track_client_writes()
        if self.watcher is not None:
            self.watcher.start()

    def shutdown(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    # ---- the client -> server writer ------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """The c2s direction's writer (one call at a time, in order). Waits while a restart holds
        traffic; never raises (a server that is gone is handled by its exit or a restart)."""
        reqs = self._requests_in(data)  # parsed outside the lock
        with self.cond:
            while self.state == HOLDING:
                self.cond.wait()
            if self.state == UP and self.pipe is None and self.proxy.proc is not None:
                self.pipe = ServerPipe(self.proxy.proc)  # the first server
            pipe = self.pipe if self.state == UP else None
            if pipe is not None and pipe.begin():
                self._record(reqs)
            else:
                pipe = None
                reason = self.down_reason
        if pipe is None:
            self._refuse(reqs, NOT_RUNNING_CODE, reason)
            return
        if not pipe.write(data) and not pipe.retired:
            # The server stopped reading (it is exiting): its requests are answered here, and the
            # direction reports the failed write as it always does (a restart revives it).
            with self.cond:
                lost = [(k, self.pending.pop(k)) for k, m, o in reqs if m != "initialized" and k in self.pending]
            self._answer(lost, RESTARTED_CODE, "omproxy: the server closed its input before this request reached it")
            raise BrokenPipeError("the server closed its stdin")

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

    def _requests_in(self, data: bytes) -> list[tuple[str, str, Any]]:
        """(id key, method, message) of each request in `data` (one line, or several), plus
        ("", "initialized", raw) for the client's notifications/initialized."""
        out: list[tuple[str, str, Any]] = []
        if b'"method"' not in data:
            return out  # replies to server requests
        for line in (data.split(b"\n") if data.count(b"\n") > 1 else (data,)):
            if b'"method"' not in line:
                continue
            if b'"id"' not in line:
                if b"notifications/initialized" in line:
                    out.append(("", "initialized", line.rstrip(b"\r\n")))
                continue
            m = _REQ_HEAD.match(line)
            if m is None and len(line) > BIG:
                # Another key order in a large line: its id and method from its head (a full
                # parse of tens of MB would delay it); the few methods parsed whole are small.
                head = line[:4096]
                mid, meth = _ID_ANY.search(head), _METHOD.search(head)
                if mid is not None and meth is not None:
                    rid = json.loads(mid.group(1))
                    out.append((_key(rid), meth.group(1).decode(), {"id": rid, "method": meth.group(1).decode()}))
                continue
            if m is not None and m.group(2).decode() not in PARSED_METHODS:
                # The common shape ({"jsonrpc","id","method",...}): id and method without a parse.
                rid = json.loads(m.group(1))
                out.append((_key(rid), m.group(2).decode(), {"id": rid, "method": m.group(2).decode()}))
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                continue
            for el in obj if isinstance(obj, list) else (obj,):
                if isinstance(el, dict) and isinstance(el.get("method"), str) and el.get("id") is not None:
                    try:
                        out.append((_key(el["id"]), el["method"], el))
                    except (TypeError, ValueError):
                        pass
        return out

    def _record(self, reqs: list) -> None:
        """Under the lock: what went to the current server."""
        hs = self.handshake
        for key, method, obj in reqs:
            if method == "initialized":
                hs["initialized"] = obj
                continue
            self.pending[key] = (obj["id"], method)
            if method == "subscriptions/listen":
                self.listens[key] = obj
            elif method == "initialize":
                hs["initialize"] = obj
            elif method == "server/discover":
                hs["discover"] = obj
            params = obj.get("params")
            if not isinstance(params, dict):
                params = {}
            kind = LIST_KINDS.get(method)
            if kind is not None:
                self.list_ids[key] = (kind, params.get("cursor") is not None)
            meta = params.get("_meta")
            if isinstance(meta, dict) and META_KEYS[0] in meta:
                hs["meta"] = {k: meta[k] for k in META_KEYS if k in meta}

    def _refuse(self, reqs: list, code: int, reason: str) -> None:
        self._answer([(k, (o["id"], m)) for k, m, o in reqs if m != "initialized"], code, reason)

    def _answer(self, items: list, code: int, message: str) -> None:
        for _, (rid, method) in items:
            if isinstance(rid, str) and rid.startswith(self._inject_prefix):
                continue  # an inspector's injected request: its own timeout tells the inspector
            self._reply({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}})

    def _reply(self, obj: dict) -> None:
        """An answer the proxy gives the client in the server's place (never waits for the write)."""
        data = _encode(obj)
        outstanding = getattr(self.proxy, "outstanding", None)
        if outstanding is not None:
            outstanding.answered(data)  # the shutdown's tracker must not wait for the server to answer it
        self.proxy.inject(S2C, data, {"by": "proxy", "id": None}, None, False)

    # ---- server -> client ------------------------------------------------------------------------
    def _track_client_writes(self) -> None:
        """Read the id of each line written to the client (just before it is written, so a client
        cannot reuse an id before we saw its answer). No gate: a gate takes every server line off
        the relay's fast path; this costs a pattern match per line."""
        d = self.proxy.directions.get(S2C)
        if d is None:
            return
        inner = d._write
        streamed: list[bytes] = []  # head and tail of a line streamed through in pieces

        def write(data: bytes) -> None:
            if self.pending or streamed:
                try:
                    if streamed or not data.endswith(b"\n"):
                        self._client_piece(data, streamed)  # a piece of a streamed line
                    else:
                        self._client_got(data)
                except Exception as exc:  # noqa: BLE001 -- never in the way of a reply
                    self.proxy.report(f"restart tracking failed on a reply: {type(exc).__name__}: {exc}")
            inner(data)

        d._write = write

    def _client_piece(self, data: bytes, streamed: list[bytes]) -> None:
        """A piece of a line streamed through (Proxy.may_stream): keep its first and last 4 KiB;
        its last piece (ending in a newline) is read like a big line, by its head and tail."""
        if not streamed:
            streamed[:] = [bytes(data[:4096]), b""]
        elif len(streamed[0]) < 4096:
            streamed[0] += data[:4096 - len(streamed[0])]
        streamed[1] = (streamed[1] + bytes(data[-4096:]))[-4096:]
        if not data.endswith(b"\n"):
            return
        head, tail = streamed
        streamed.clear()
        m = _ID_HEAD.match(head)
        found = m or (None if b'"method"' in head else (_ID_ANY.search(head) or _ID_ANY.search(tail)))
        if found is None:
            return
        key = _key(json.loads(found.group(1)))
        with self.cond:
            if self.pending.pop(key, None) is not None:
                self.listens.pop(key, None)

    def _client_got(self, data: bytes) -> None:
        """A line on its way to the client: if it answers a request, that request is done."""
        obj = None
        m = _ID_HEAD.match(data)
        if m is not None:
            keys = [_key(json.loads(m.group(1)))]
        elif len(data) > BIG:
            head = data[:4096]
            found = None if b'"method"' in head else (_ID_ANY.search(head) or _ID_ANY.search(data[-4096:]))
            keys = [_key(json.loads(found.group(1)))] if found else []
        else:
            obj = parse_json(data)[0]
            keys = self._reply_keys(obj)
        if not keys:
            return
        with self.cond:
            for key in keys:
                if self.pending.pop(key, None) is None:
                    continue
                self.listens.pop(key, None)
                listed = self.list_ids.pop(key, None)
                if listed is not None:
                    self._saw_list(listed, parse_json(data)[0] if obj is None else obj, key)

    def _set_gate(self) -> None:
        """The server->client gate is there only while it has work: during a restart (our own
        answers, the old server closing listen streams), until carried-over streams are
        re-acknowledged, and with the restart tool (to add it to tools/list answers)."""
        on = self.tool or self.state == HOLDING or bool(self._reack)
        self.proxy.set_gate(S2C, self._gate_s2c if on else None, self)

    def may_stream(self, direction: str) -> bool:
        """A server line starting now may be streamed through (see Proxy.may_stream): nothing it
        could be is ours to swallow -- no restart is replaying a handshake or carrying streams
        over, no list request awaits its answer. Pieces of a streamed line are tracked by
        _client_piece. Client lines never stream: this writer needs them whole (see write)."""
        return (direction == S2C and not self.private and not self._reack and self.state != HOLDING
                and not self.list_ids)  # list answers are read whole (what the client has seen)

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
        if not self.private and not self.listens and not self.tool:
            return None
        m = _ID_HEAD.match(raw) if len(raw) > BIG else None
        keys = [_key(json.loads(m.group(1)))] if m is not None else self._reply_keys(line.json)
        with self.cond:
            for key in keys:
                slot = self.private.pop(key, None)
                if slot is not None:
                    slot.reply = line.json
                    slot.event.set()
                    line.changed = {"by": "omproxy restart", "action": "dropped", "original": None}
                    return DROP  # the answer to our replayed handshake: not the client's business
                if key in self.listens and self.state == HOLDING:
                    # The old server ends the client's listen stream as it goes: the stream is
                    # carried over to the new server instead (see _carry_listens).
                    line.changed = {"by": "omproxy restart", "action": "dropped", "original": None}
                    return DROP
                listed = self.list_ids.get(key) if self.tool else None
                if listed is not None and listed[0] == "tools":
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
                try:
                    out.append(_key(el["id"]))
                except (TypeError, ValueError):
                    pass
        return out

    def _saw_list(self, listed: tuple[str, bool], obj: Any, key: str) -> None:
        kind, paged = listed
        if isinstance(obj, list):
            obj = next((el for el in obj if isinstance(el, dict) and _key(el.get("id")) == key), None)
        result = obj.get("result") if isinstance(obj, dict) else None
        items = result.get(kind) if isinstance(result, dict) else None
        if not isinstance(items, list):
            return
        seen = dict(self.seen[kind] or {}) if paged else {}
        for item in items:
            if isinstance(item, dict):
                seen[str(item.get(ITEM_KEY[kind]))] = item
        self.seen[kind] = seen

    # ---- the restart tool (--restart-tool) ------------------------------------------------------
    def _gate_c2s(self, line: Line) -> Any:
        if TOOL_NAME.encode() not in line.raw:
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

    def _restart(self, cause: str, t0: float) -> dict:
        px = self.proxy
        with self.cond:
            self._queued.discard(cause)
            files, self._files = (self._files, []) if cause == "watch" else ([], self._files)
            self.state = HOLDING
            old_pipe, self.pipe = self.pipe, None
        self._set_gate()
        self.generation += 1
        gen = self.generation
        px.report(f"restarting the server ({cause}), generation {gen}")
        px.call_hooks("_on_lifecycle", "restarting", {"cause": cause, "generation": gen, **({"files": files} if files else {})})
        old = px.proc
        if old is not None:
            old.omproxy_replaced = True
            if old_pipe is not None:
                old_pipe.retire()
            else:
                try:
                    old.stdin.close()
                except OSError:
                    pass
            self._stop(old, px._s2c_thread)
        t_stopped = time.monotonic()
        with self.cond:
            self._reack.clear()
            listens, self.listens = self.listens, {}
            left = [(k, v) for k, v in self.pending.items() if k not in listens]
            carried = [(k, v) for k, v in self.pending.items() if k in listens]
            self.pending.clear()
            self.list_ids.clear()
        self._answer(left, RESTARTED_CODE, f"omproxy: the server was restarted ({cause}) before it answered this "
                                           "request; send it again")
        self._stderr.clear()
        try:
            proc = px._spawn_server()
        except OSError as exc:
            return self._failed(cause, gen, t0, f"cannot start {px._server_spec[0][0]!r}: {exc.strerror or exc}",
                                len(left), carried)
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
            return self._failed(cause, gen, t0, str(exc), len(left), carried)
        for kind in notes:
            self._list_changed(kind, listens)
        with self.cond:
            self.pipe = pipe
            self.state = UP
            self.cond.notify_all()
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
        what = "; ".join(f"{k}: " + ", ".join(f"{a} {' '.join(v)}" for a, v in d.items() if v)
                         for k, d in changed.items()) or "no list changed"
        px.report(f"server restarted ({cause}) in {downtime:.0f} ms, generation {gen}, pid {proc.pid}; {what}")
        px.call_hooks("_on_lifecycle", "restart", info)
        self._answer_tool_calls(True, f"Restarted the server (generation {gen}, {downtime:.0f} ms). {what}.")
        return info

    def _failed(self, cause: str, gen: int, t0: float, why: str, answered: int, carried: list = ()) -> dict:
        px = self.proxy
        tail = list(self._stderr)[-5:]
        with self.cond:
            self.pending.clear()
            self.listens.clear()
            self.list_ids.clear()
        self._answer(list(carried), RESTARTED_CODE, f"omproxy: the server was restarted ({cause}) and the new one "
                                                    f"failed: {why}")
        answered += len(carried)
        with self.cond:
            self.state = DOWN
            self.down_reason = (f"omproxy: the MCP server is not running: the restart ({cause}) failed: {why}. "
                                "It is retried on the next change or restart.")
            self._reack.clear()
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
        with self.cond:
            if self.pipe is not None:
                self.pipe.retire()
            self.pipe = None
            self.state = DOWN
            self.down_reason = (f"omproxy: the MCP server exited (code {code}); it is started again on the "
                                "next change or restart")
            left = list(self.pending.items())
            self.pending.clear()
            self.listens.clear()
            self.list_ids.clear()
        proc.omproxy_replaced = True
        self._revive_c2s()
        self._answer(left, RESTARTED_CODE, f"omproxy: the server exited (code {code}) before it answered this request")
        self.proxy.report(f"the server exited with code {code}; waiting for a change to restart it")
        return True

    def _carry_listens(self, pipe: ServerPipe, proc: Any, listens: dict[str, dict]) -> None:
        """Re-open the client's subscriptions/listen streams on the new server, under the client's
        own ids, so its subscriptions live on; the new acknowledgements are swallowed."""
        for key, obj in listens.items():
            with self.cond:
                self.pending[key] = (obj["id"], obj["method"])
                self.listens[key] = obj
                self._reack.add(key)
            self._send(pipe, proc, _encode(obj), obj["id"], "subscriptions/listen")

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
        for kind, seen in self.seen.items():
            if seen is None:
                continue  # the client never listed them: nothing it could have stale
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
