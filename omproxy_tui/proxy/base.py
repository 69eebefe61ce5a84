"""What every proxy shares: the hook API, the addon chain and the per-direction delivery gate.

Data flows one way. A *reader* (a thread per stdio leg, a task per remote leg) cuts its input into
lines and hands them to :meth:`Proxy.relay_line`. There, only hooks that may change traffic run before
the bytes move; the line is then written (or held) by its :class:`Direction`; observe-only hooks run
after the write, so they cost the message itself no latency.

Hooks (mitmproxy-style: the proxy subclass is the first addon, ``proxy.add_addon(obj)`` adds more,
e.g. the inspector) are methods named:

- ``_on_mcp_client_message(message[, line])`` / ``_on_mcp_server_message(message[, line])`` -- one
  per message (one per element of a batch). ``message`` is the SDK's ``JSONRPCMessage`` (or an
  Exception for a line that is not JSON-RPC, as in the seed); a hook whose first parameter is named
  ``line`` gets the :class:`~omproxy_tui.proxy.line.Line` instead and never pays for the typed view.
- ``_on_start()``, ``_on_close()``, ``_on_server_stderr(text)``, ``_on_lifecycle(event, info)``.

A message hook marked with :func:`modifies` (or on a class with ``modifies_traffic = True``) runs
*before* forwarding and may return None (forward unchanged), :data:`DROP`, or a replacement (a typed
message, dict, str or bytes). Any hook may be ``async``; async observe hooks run on the proxy's event
loop, async traffic-changing hooks are awaited before the message moves. An exception in a hook is
reported on stderr and the message is forwarded unchanged.

Threads: each relay thread calls observe hooks right after it forwarded a line. Typed (seed-style)
hooks never run concurrently with each other; hooks taking the raw ``line`` may run on both relay
threads at once, so such a hook that keeps shared state should guard it.

Running the hooks is :mod:`omproxy_tui.proxy.hooks` (Proxy's HookRunner mixin); what is called on
an addon is declared in :mod:`omproxy_tui.proxy.addon`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from typing import Any, Callable

from .addon import Addon
from .hooks import HookRunner, default_hook, modifies  # noqa: F401 (modifies is re-exported)
from .line import C2S, DROP, S2C, Line, encode_replacement, looks_like_json, parse_json
from .sequence import Sequencer

_GATES_LOCK = threading.Lock()

# Validate server lines with a full parse before forwarding up to this size; above it a cheap
# shape check decides and the full parse happens after forwarding (a 50 MB parse would otherwise
# add its whole cost to the message's latency).
PARSE_BEFORE_FORWARD_MAX = 1 << 20
# Outstanding (proxy/outstanding.py) keeps lines up to this size; longer ones it only peeks at.
FULL_TRACK_MAX = 64 << 10

# JSON-RPC error code for requests the proxy answers itself (implementation-defined range).
DROPPED_CODE = -32010


class Hold:
    """Returned by a gating hook (the inspector's): keep this message until released."""

    def __init__(self, reason: str):
        self.reason = reason


class _Routed:
    """Returned by a gating hook: the gate took the message (a reply to an injected request)."""

    def __repr__(self) -> str:
        return "ROUTED"


ROUTED = _Routed()


class Held:
    __slots__ = ("data", "line", "reason", "nbytes")

    def __init__(self, data: bytes, line: Line | None, reason: str):
        self.data = data  # the bytes to write, newline included
        self.line = line
        self.reason = reason  # "paused", "intercept" or "behind" (queued behind a held message)
        self.nbytes = len(data)


_STREAM = object()  # a streamed line's place in a Direction's write queue (see begin_stream)


class Direction:
    """Delivery for one direction, strictly in order: lines from the reader, releases of held
    messages and injections all go through one write queue, and one thread at a time (whoever
    holds the *writer token*) writes it, oldest first.

    Why a token and not a lock held across the write: a write blocks for as long as the other
    side does not read (a busy server, a stalled client). ``lock`` guards only state -- the held
    list, the paused flag, the queue, counts -- and is never held across I/O, so the event loop
    (state, pause, release, a new inspector's hello) and shutdown never wait on a blocked write.
    The reader waits (on a condition, not holding the lock) until its own line is written, so a
    destination that stops reading still stops the reader: back-pressure as before.

    A line streamed through (cut-through, :meth:`begin_stream`) is one unit of this order: it takes
    its place in the queue, its reader then holds the writer token until the line's last byte is
    written (:meth:`end_stream`), and whatever was queued meanwhile (injections, releases) follows it.
    """

    def __init__(self, name: str, write: Callable[[bytes], None], held_cap: int = 64 << 20):
        self.name = name
        self._write = write
        self.lock = threading.Lock()
        self._room = threading.Condition(self.lock)  # written/room/closed: waiters re-check
        self.held: deque[Held] = deque()
        self.held_bytes = 0
        self.held_cap = held_cap
        self.paused = False
        self.closed = False  # accepts nothing more: closed by us, or the destination is gone
        self.broken = False  # a write failed: the destination is gone
        self._out: deque[bytes] = deque()  # queued for the writer, in order
        self._issued = 0  # tickets handed out, one per queued write
        self._done = 0  # tickets written (or discarded once broken)
        self._failed_from: int | None = None  # first ticket that was not written
        self._writing = False  # the writer token
        self._closer: Callable[[], None] | None = None
        self._waiters = 0  # threads waiting on _room: notify only when someone listens (it costs)
        self.streamable = True  # lines may be streamed through (False: the writer needs whole lines)
        self._streaming = False  # a reader owns the writer token for a streamed line
        #: called with the bytes of each line :meth:`enqueue` accepts (queued or held), under the
        #: lock: what is tracked and what is queued then change together (hot restart relies on it
        #: to know which requests the old server got; stdio's outstanding-request tracking)
        self.track: Callable[[bytes], None] | None = None
        #: called (outside the lock) with the bytes whose write failed: the destination is gone --
        #: unless it returns True (the failure was expected and dealt with: the direction goes on)
        self.on_write_failed: Callable[[bytes], bool] | None = None

    # ---- queueing (lock held) ------------------------------------------------------------------
    def _queue_locked(self, data: bytes) -> int:
        self._issued += 1
        self._out.append(data)
        return self._issued

    def _kick_locked(self) -> bool:
        """Take the writer token for a new writer thread if nobody writes; True if one must start."""
        if self._writing or not self._out:
            return False
        self._writing = True
        return True

    def _start_writer(self) -> None:
        threading.Thread(target=self._write_queue, name=f"omproxy-{self.name}-writer", daemon=True).start()

    # ---- the writer ----------------------------------------------------------------------------
    def _notify_locked(self) -> None:
        if self._waiters:
            self._room.notify_all()

    def _wait_locked(self, timeout: float | None = None) -> None:
        self._waiters += 1
        try:
            self._room.wait(timeout)
        finally:
            self._waiters -= 1

    def _next_locked(self) -> bytes | None:
        if self.broken and self._out:
            self._done += len(self._out)  # nobody will read them: discard (waiters see it)
            self._out.clear()
        return self._out.popleft() if self._out else None

    def _release_token_locked(self) -> Callable[[], None] | None:
        self._writing = False
        closer = None
        if self.closed and self._closer is not None:
            closer, self._closer = self._closer, None
        return closer

    def _write_queue(self) -> None:
        """Take over as the token holder (already marked) and write what is queued."""
        with self.lock:
            data = self._next_locked()
            if data is _STREAM:
                self._hand_to_stream_locked()
                return
            closer = self._release_token_locked() if data is None else None
            if data is None:
                self._notify_locked()
        if data is not None:
            self._write_from(data)
        elif closer is not None:
            closer()

    def _write_from(self, data: bytes | None) -> None:
        """Holder of the token: write `data` and everything queued after it, in order, then hand
        the token back."""
        closer = None
        while data is not None:
            ok = True
            try:
                self._write(data)
            except (BrokenPipeError, ConnectionResetError, OSError, ValueError):
                ok = self.on_write_failed is not None and self._failed_write(data)
            with self.lock:
                self._done += 1
                if not ok:
                    self.broken = self.closed = True
                    if self._failed_from is None:
                        self._failed_from = self._done
                data = self._next_locked()
                if data is _STREAM:
                    self._hand_to_stream_locked()
                    return
                if data is None:
                    closer = self._release_token_locked()
                self._notify_locked()
        if closer is not None:
            closer()

    def _failed_write(self, data: bytes) -> bool:
        try:
            return self.on_write_failed(data) is True
        except Exception:  # noqa: BLE001 -- the writer must hand its token on whatever happens
            return False

    def _hand_to_stream_locked(self) -> None:
        """The queue reached a streamed line: its reader takes over the writer token."""
        self._streaming = True
        self._notify_locked()

    def settle(self, ticket: int) -> bool:
        """Wait until `ticket` has been written -- writing the queue ourselves when nobody else
        is. True if it was written, False if the destination went away first."""
        if not ticket:
            return False
        with self.lock:
            while self._done < ticket:
                if not self._writing:
                    self._writing = True
                    data = self._next_locked()
                    if data is _STREAM:  # a streamed line is next: its reader writes it
                        self._streaming = True
                        self._notify_locked()
                        continue
                    if data is None:  # discarded (broken) meanwhile
                        closer = self._release_token_locked()
                        self._notify_locked()
                        break
                    closer = None
                    break
                self._wait_locked()
            else:
                return self._failed_from is None or ticket < self._failed_from
        if data is not None:
            self._write_from(data)
        elif closer is not None:
            closer()
        failed = self._failed_from  # set once, never changed: no lock needed to read it
        return failed is None or ticket < failed

    # ---- streaming a line through (cut-through) ------------------------------------------------
    def begin_stream(self) -> bool:
        """Reader: take this direction's writer token for a line whose bytes will be written as
        they arrive (:meth:`stream_write`, then :meth:`end_stream`). Everything queued before is
        written first; what is queued after waits for the line's end. False (nothing taken) when
        something is held, the direction is paused, or the destination is gone: the caller relays
        the line whole, as usual."""
        with self.lock:
            if self.closed or self.held or self.paused or not self.streamable:
                return False
            ticket = self._queue_locked(_STREAM)
            while not self._streaming:
                if self._done >= ticket:
                    return False  # discarded: the destination went away first
                if self._writing:
                    self._wait_locked()
                    continue
                self._writing = True  # nobody writes: write what is ahead of us ourselves
                data = self._next_locked()
                if data is _STREAM:
                    self._streaming = True
                    break
                if data is None:
                    closer = self._release_token_locked()
                    self._notify_locked()
                    if closer is not None:
                        self.lock.release()
                        try:
                            closer()
                        finally:
                            self.lock.acquire()
                    continue
                self.lock.release()
                try:
                    self._write_from(data)  # stops at our marker and hands the token over
                finally:
                    self.lock.acquire()
            self._stream_ticket = ticket
            return True

    def stream_write(self, data: bytes) -> bool:
        """Token owner (after begin_stream): write part of the streamed line. False once the
        destination is gone (what follows is discarded)."""
        if self.broken:
            return False
        try:
            self._write(data)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError, ValueError):
            with self.lock:
                self.broken = self.closed = True
                if self._failed_from is None:
                    self._failed_from = self._stream_ticket
            return False

    def end_stream(self) -> bool:
        """Token owner: the streamed line is complete. Writes what was queued behind it (in order)
        and hands the token back. True if the whole line was written."""
        with self.lock:
            self._streaming = False
            self._done += 1
            ok = self._failed_from is None or self._stream_ticket < self._failed_from
            data = self._next_locked()
            closer = self._release_token_locked() if data is None else None
            self._notify_locked()
        if data is not None:
            self._write_from(data)
        elif closer is not None:
            closer()
        return ok

    # ---- entry points --------------------------------------------------------------------------
    def enqueue(self, data: bytes, hold: str | None, line: Line | None) -> tuple[str, int]:
        """Queue one message from the reader, or hold it. Returns (status, ticket): "relayed"
        with a ticket to :meth:`settle`, "held" or "closed" with 0. Never blocks."""
        with self.lock:
            if hold is None and not self.held:
                if self.closed:
                    return "closed", 0
                if self.track is not None:
                    self.track(data)
                return "relayed", self._queue_locked(data)
            if self.track is not None:
                self.track(data)
            self.held.append(Held(data, line, hold or "behind"))
            self.held_bytes += len(data)
            return "held", 0

    def submit(self, data: bytes, hold: str | None, line: Line | None) -> str:
        """Forward (waiting until written) or hold one message: "relayed", "held" or "closed"."""
        status, ticket = self.enqueue(data, hold, line)
        if ticket and not self.settle(ticket):
            return "closed"
        return status

    def send(self, data: bytes, wait: bool = True) -> bool:
        """Queue bytes that bypass the held list (an injection). With ``wait``, return once
        written (False: the destination is gone); without, return at once (False: closed)."""
        with self.lock:
            if self.closed:
                return False
            ticket = self._queue_locked(data)
            start = not wait and self._kick_locked()
        if wait:
            return self.settle(ticket)
        if start:
            self._start_writer()
        return True

    def write(self, data: bytes) -> bool:
        """Write now, in order with everything queued before. False when the destination is gone."""
        return self.send(data, wait=True)

    def queue(self, data: bytes) -> int:
        """Queue bytes that bypass the held list; a ticket for :meth:`settle` (then it is the
        caller's to write), or 0 when closed. Follow with settle() or :meth:`kick`."""
        with self.lock:
            return 0 if self.closed else self._queue_locked(data)

    def kick(self) -> None:
        """Make sure what is queued gets written, without waiting for it."""
        with self.lock:
            start = self._kick_locked()
        if start:
            self._start_writer()

    def wait_for_room(self) -> None:
        """Backpressure: the reader of this direction waits while held bytes exceed the cap."""
        with self.lock:
            while self.held_bytes > self.held_cap and not self.closed:
                self._wait_locked(0.5)

    def take(self, pred: Callable[[Held], bool]) -> Held | None:
        with self.lock:
            for item in self.held:
                if pred(item):
                    self._remove_locked(item)
                    return item
        return None

    def _remove_locked(self, item: Held) -> None:
        self.held.remove(item)
        self.held_bytes -= item.nbytes
        self._notify_locked()

    def release(self, pred: Callable[[Held], bool], data: bytes | None = None, drop: bool = False,
                wait: bool = False) -> tuple[Held | None, list[Held]]:
        """Take the first held message matching `pred` and queue it (its bytes, or `data` when
        edited; nothing when `drop`), then queue what may follow it -- atomically, so no line
        from the reader can slip in between. Returns (the message or None, the ones after it)."""
        with self.lock:
            item = next((h for h in self.held if pred(h)), None)
            if item is None:
                return None, []
            self._remove_locked(item)
            ticket = 0
            if not drop and not self.closed:
                ticket = self._queue_locked(item.data if data is None else data)
            after, last = self._flush_locked(False)
            ticket = last or ticket
            start = not wait and self._kick_locked()
        if wait and ticket:
            self.settle(ticket)
        elif start:
            self._start_writer()
        return item, after

    def _flush_locked(self, release_all: bool) -> tuple[list[Held], int]:
        out: list[Held] = []
        ticket = 0
        while self.held:
            head = self.held[0]
            if not (release_all or head.reason == "behind" or (head.reason == "paused" and not self.paused)):
                break
            self.held.popleft()
            self.held_bytes -= head.nbytes
            if not self.closed:
                ticket = self._queue_locked(head.data)
            out.append(head)
        self._notify_locked()
        return out, ticket

    def flush(self, release_all: bool = False, wait: bool = True) -> list[Held]:
        """Queue held messages from the head while they may go (all of them with release_all);
        returns them. With ``wait``, return once they are written; without, never block."""
        with self.lock:
            out, ticket = self._flush_locked(release_all)
            start = not wait and self._kick_locked()
        if wait and ticket:
            self.settle(ticket)
        elif start:
            self._start_writer()
        return out

    def close(self, closer: Callable[[], None] | None = None) -> None:
        """Accept nothing more; what is queued is still written in order, then `closer` runs (now,
        or when the writer in progress is done). Never blocks: a writer stuck on a destination
        that does not read runs the closer once its write fails (e.g. the server was killed)."""
        with self.lock:
            self.closed = True
            if closer is not None:
                self._closer = closer
            if self._writing:
                return
            if self._out:
                self._writing = True
                start = True
            else:
                start = False
                closer, self._closer = self._closer, None
        if start:
            self._start_writer()
        elif closer is not None:
            closer()

    def idle(self) -> bool:
        """Nothing queued and nobody writing."""
        with self.lock:
            return not self._out and not self._writing


class Proxy(HookRunner):
    """Base class of StdioProxy, SseProxy and StreamableHttpProxy: subclass and override hooks."""

    transport = "?"
    modifies_traffic = False
    #: bytes of held messages per direction before that direction's reader stops reading
    hold_limit = 64 << 20

    def __init__(self) -> None:
        self.addons: list[Any] = [self]
        self.loop: Any = None  # an asyncio loop in its own thread, started on demand
        self.directions: dict[str, Direction] = {}
        self._init_hooks()
        self._gates: dict[str, list[Callable[[Line], Any]]] = {C2S: [], S2C: []}
        # One numbering, taken before a line moves, that hooks and inspectors share (sequence.py).
        self.sequencer = Sequencer(self.report)
        self._err_lock = threading.Lock()
        self._loop_thread: threading.Thread | None = None
        self._loop_lock = threading.RLock()
        self.stderr_fd = 2

    # ---- seed hooks: override these ------------------------------------------------------------
    @default_hook
    def _on_mcp_client_message(self, message: Any) -> Any:
        """Called for every client -> server message (see module docstring)."""

    @default_hook
    def _on_mcp_server_message(self, message: Any) -> Any:
        """Called for every server -> client message, or an Exception for a bad line."""

    @default_hook
    def _on_start(self) -> None:
        """Called once the server side is up, before any message is relayed."""

    @default_hook
    def _on_close(self) -> None:
        """Called once when the proxy stops."""

    @default_hook
    def _on_server_stderr(self, text: str) -> None:
        """Called for each line the server writes to its stderr (already copied to ours)."""

    @default_hook
    def _on_lifecycle(self, event: str, info: dict) -> None:
        """Called on spawned / exited / connected / failed / client_eof / signal / closing."""

    # ---- addons -------------------------------------------------------------------------------
    def add_addon(self, addon: Addon | Any) -> None:
        """Add an addon (see :class:`~omproxy_tui.proxy.addon.Addon` for what is called on it)."""
        self.addons.append(addon)
        self.refresh_hooks()

    def set_gate(self, direction: str, gate: Callable[[Line], Any] | None, owner: Any) -> None:
        """Install (or remove, with None) a pre-forward gate of `owner` for one direction. Gates are
        how the inspector holds and routes traffic; they run before user hooks that modify."""
        with _GATES_LOCK:  # owners set gates from different threads (the loop, a hot restart)
            gates = [g for g in self._gates[direction] if getattr(g, "__self__", None) is not owner]
            if gate is not None:
                gates.append(gate)
            self._gates[direction] = gates

    # ---- reporting ----------------------------------------------------------------------------
    def report(self, text: str) -> None:
        """One line on our stderr (never stdout: that is the client's protocol stream)."""
        data = f"omproxy: {text}\n".encode("utf-8", "replace")
        with self._err_lock:
            try:
                os.write(self.stderr_fd, data)
            except OSError:
                pass

    def next_seq(self) -> int:
        """A fresh seq no ordered observer waits for."""
        return self.sequencer.number_gap()

    def make_line(self, raw: bytes, direction: str, parsed: Any = None, error: str | None = None,
                  parsed_known: bool = False) -> Line:
        """A numbered, timestamped view of a line, made *before* it is forwarded. The caller must
        hand it to :meth:`announce` (or :meth:`_observe`) once its fate is known."""
        seq, t, wall = self.sequencer.number()
        if parsed_known:
            return Line(raw, direction, seq, t, wall, parsed, error)
        return Line(raw, direction, seq, t, wall)

    def announce(self, line: Line) -> None:
        """The line's fate (status) is known: ordered observers (the inspector) get it in seq order.
        Idempotent; a no-op when nothing observes in order."""
        if self.sequencer.observers:
            self.sequencer.fill(line.seq, line)

    def _undelivered(self, line: Line) -> None:
        """A line was queued (and announced as relayed), then the destination went away before it
        was written: tell ordered observers with a ``resolved`` event."""
        line.status = "dropped"
        if self.sequencer.observers:
            self.sequencer.event("resolved", {"of": line.seq, "action": "dropped", "by": "proxy",
                                              "reason": "the other side went away before it was written"})

    def prepare_addons(self) -> None:
        """Sync set-up of addons before traffic flows (the inspector binds its socket here)."""
        for addon in self.addons:
            prepare = getattr(addon, "prepare", None)
            if prepare is not None and addon is not self:
                prepare()

    def shutdown_addons(self) -> None:
        for addon in self.addons:
            shutdown = getattr(addon, "shutdown", None)
            if shutdown is not None and addon is not self:
                try:
                    shutdown()
                except Exception as exc:  # noqa: BLE001
                    self.report(f"{type(addon).__name__} failed to shut down cleanly: {exc}")

    # ---- the event loop (only when something needs one) ---------------------------------------
    def needs_loop(self) -> bool:
        hooks = [h for d in (C2S, S2C) for h in self._pre[d] + self._post[d]]
        hooks += [h for hs in self._other.values() for h in hs]
        return any(h.is_async for h in hooks) or any(getattr(a, "needs_loop", False) for a in self.addons
                                                      if a is not self)

    def start_loop(self) -> None:
        """Run an asyncio loop in a daemon thread for async hooks and addons (the inspector)."""
        with self._loop_lock:
            self._start_loop()

    def _start_loop(self) -> None:
        if self.loop is not None:
            return
        import asyncio

        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop_thread = threading.Thread(target=run, name="omproxy-loop", daemon=True)
        self._loop_thread.start()
        ready.wait()
        self.loop = loop
        for addon in self.addons:
            start = getattr(addon, "loop_started", None)
            if start is not None:
                self.run_on_loop(start(), wait=True)

    def run_on_loop(self, coro: Any, wait: bool = False, timeout: float | None = None) -> Any:
        import asyncio

        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout) if wait else fut

    def stop_loop(self) -> None:
        with self._loop_lock:
            self._stop_loop()

    def _stop_loop(self) -> None:
        loop = self.loop
        if loop is None:
            return
        for addon in self.addons:
            stop = getattr(addon, "loop_stopping", None)
            if stop is not None:
                try:
                    self.run_on_loop(stop(), wait=True, timeout=5)
                except Exception as exc:  # noqa: BLE001
                    self.report(f"{type(addon).__name__} failed to stop cleanly: {exc}")
        loop.call_soon_threadsafe(loop.stop)
        self._loop_thread.join(5)
        self.loop = None

    # ---- calling hooks ------------------------------------------------------------------------
    # ---- the relay step -----------------------------------------------------------------------
    def relay_line(self, d: Direction, raw: bytes, validate: bool) -> None:
        """Forward one line (``raw`` includes its newline, or not at EOF) and tell the hooks.

        ``validate`` (server -> client on a stdio leg): a line that is not JSON is not forwarded
        (it would break the client) but reported and shown to hooks as an Exception.
        """
        # `body` (the line without its newline) is a copy: only made when someone will look at it.
        direction = d.name
        parsed = None
        error = None
        parsed_known = False
        if validate:
            if not raw or raw.isspace():
                return  # blank lines carry nothing; dropping them keeps strict clients happy
            if len(raw) <= PARSE_BEFORE_FORWARD_MAX:
                parsed, error = parse_json(raw)  # the trailing newline is JSON whitespace
                parsed_known = True
            elif not looks_like_json(raw):
                error = "not JSON (a large line that does not start with { or [)"
                parsed_known = True
            if error is not None:
                body = raw[:-1] if raw.endswith(b"\n") else raw
                line = self.make_line(body, direction, None, error, True)
                line.status = "blocked"
                shown = body[:200].decode("utf-8", "replace")
                self.report(f"server wrote a line that is not JSON-RPC ({error}); not forwarded: {shown!r}")
                self._observe(line)
                return
        pre = self._pre[direction]
        gates = self._gates[direction]
        data = raw if raw.endswith(b"\n") else raw + b"\n"
        if not pre and not gates and not self._post[direction] and not self.sequencer.observers:
            d.submit(data, None, None)  # nobody looks at this line: no view, no number
            return
        # Numbered before it moves (see sequence.py), announced once its fate is known -- before
        # any write that may block -- and shown to observe hooks after it was written.
        line = self.make_line(raw[:-1] if raw.endswith(b"\n") else raw, direction, parsed, error, parsed_known)
        ticket = 0
        observe = True
        try:
            hold = None
            for gate in gates:
                verdict = gate(line)
                if verdict is ROUTED:
                    observe = False  # the gate took it (a reply to an injected request)
                    return
                if verdict is DROP:
                    line.status = "dropped"
                    return
                if isinstance(verdict, Hold):
                    hold = verdict.reason
            if pre:
                data = self._apply_modifiers(line, pre)
                if data is None:
                    observe = False  # dropped by a hook (and already shown to observers)
                    return
            status, ticket = d.enqueue(data, hold, line)
            if status != "relayed":
                line.status = "held" if status == "held" else "dropped"
        finally:
            self.announce(line)
            if not ticket and observe:
                self._observe(line)
        if not ticket:
            if line.status == "held":
                d.wait_for_room()
            return
        if not d.settle(ticket):
            self._undelivered(line)
        self._observe(line)

    # ---- streaming big lines through (cut-through; the stdio legs) ------------------------------
    def may_stream(self, d: Direction) -> bool:
        """Whether the line a reader has started may be forwarded as it arrives: nothing in this
        direction may change or hold it -- no traffic-changing hook, and every gate's owner says
        it would not hold it now (``owner.may_stream(direction)``; a gate without one never lets
        lines stream), and so does every addon that has ``may_stream`` (e.g. the hot-restart
        writer). The direction itself refuses while anything is held or it is paused."""
        name = d.name
        if self._pre[name] or not d.streamable:
            return False
        for gate in self._gates[name]:
            ok = getattr(getattr(gate, "__self__", None), "may_stream", None)
            if ok is None or not ok(name):
                return False
        for addon in self.addons:  # addons that watch the wire some other way say so too
            ok = getattr(addon, "may_stream", None) if addon is not self else None
            if ok is not None and not ok(name):
                return False
        return True

    def begin_streamed(self, d: Direction) -> tuple | None:
        """Start streaming a line through `d` (the caller then writes its bytes with
        ``d.stream_write`` and ends with :meth:`end_streamed`). Numbered once it owns the
        direction, before its first byte moves. None: relay the line whole instead."""
        if not d.begin_stream():
            return None
        name = d.name
        if self._gates[name] or self._post[name] or self.sequencer.observers:
            return self.sequencer.number()
        return (0, 0.0, 0.0)

    def end_streamed(self, d: Direction, numbered: tuple, last: bytes, raw: bytes | bytearray, validate: bool,
                     track: Callable[[bytes], None], eof: bool = False) -> None:
        """The streamed line is complete (`raw`, with or without its newline; a bytearray the
        caller reuses is fine): tell gates, write its `last` piece, hand the direction back, then
        tell ordered observers and observe it.

        Its bytes have (mostly) reached the other side already, so nothing can stop it now: a
        hold that began mid-line applies from the next line on; a line that turns out not to be
        JSON is finished (so the reader's framing stays intact) and reported, not blocked. With
        nobody observing, no copy of the line is made and its validity is checked by shape only
        (first and last bytes), as for any line over 1 MiB. Observed, it is parsed for the
        observers once its last byte has moved (a parse of ~1 MiB would otherwise delay it)."""
        name = d.name
        seq, t, wall = numbered
        line = None
        error = None
        parse = False
        if seq or len(raw) <= FULL_TRACK_MAX:
            raw = bytes(raw)  # kept beyond this call
        try:
            if name == C2S:
                track(raw)  # a request is queued before its answer can exist
            if eof:
                error = "the line was cut off: the other side closed its output in the middle of it"
            elif validate and not (seq and len(raw) <= PARSE_BEFORE_FORWARD_MAX):
                if not looks_like_json(bytes(raw[:64]) + bytes(raw[-64:])):
                    error = "not JSON (it does not end with } or ])"
            if seq:
                body = raw[:-1] if raw.endswith(b"\n") else raw
                parse = validate and error is None and len(body) <= PARSE_BEFORE_FORWARD_MAX
                line = Line(body, name, seq, t, wall, None, error) if error is not None else Line(body, name, seq, t, wall)
                for gate in self._gates[name]:
                    gate(line)  # seen before its last byte moves; a verdict cannot apply any more
        except BaseException as exc:  # noqa: BLE001 -- the direction must be handed back whatever happens
            self.report(f"observing a streamed {name} line failed ({type(exc).__name__}: {exc})")
        if eof and not last:
            last = b"\n"
        written = d.stream_write(last) if last else True
        written = d.end_stream() and written
        if line is not None:
            if parse:
                line.json  # noqa: B018 -- parsed here, once, for every observer (sets line.error)
                error = line.error
            self.announce(line)
        if error is not None and written:  # (not when the reader is gone: nothing to warn about)
            what = "client" if name == C2S else "server"
            shown = bytes(raw[:200]).decode("utf-8", "replace")
            self.report(f"{what} line of {len(raw)} bytes streamed through is not JSON-RPC ({error}); "
                        f"it had already been forwarded as it arrived"
                        f"{' and was ended with a newline' if eof else ''}: {shown!r}")
        if name != C2S:
            try:
                track(raw)
            except Exception as exc:  # noqa: BLE001 -- no line may kill the relay thread
                self.report(f"tracking a streamed {name} line failed ({type(exc).__name__}: {exc})")
        if line is not None:
            if not written:
                self._undelivered(line)
            self._observe(line)

    def _told_client(self, data: bytes) -> None:
        """The proxy is about to send the client a message of its own (it may answer a request)."""

    def _answer_dropped(self, el: Line, by: str) -> None:
        """A dropped request would leave its sender waiting forever: answer it with an error."""
        obj = el.json
        if isinstance(obj, dict) and "method" in obj and "id" in obj:
            back = S2C if el.direction == C2S else C2S
            reply = {"jsonrpc": "2.0", "id": obj["id"],
                     "error": {"code": DROPPED_CODE, "message": f"Request dropped by omproxy ({by})"}}
            self.inject(back, reply, wait=False)  # never block this relay thread on the other side

    def inject(self, direction: str, obj: Any, injected: dict | None = None, changed: dict | None = None,
               wait: bool = True) -> Line | None:
        """Send a message the proxy made up (an answer, an injection) in one direction. It bypasses
        holds (it is not client or server traffic) and observe hooks see it with status "injected".
        Without ``wait`` it is only queued (in order) and this never blocks on the write."""
        d = self.directions.get(direction)
        if d is None:
            return None
        data = obj if isinstance(obj, bytes) else encode_replacement(obj)
        if direction == S2C:
            self._told_client(data)
        line = self.make_line(data, direction)
        line.status = "injected"
        line.injected = injected or {"by": "proxy", "id": None}
        line.changed = changed
        ticket = d.queue(data + b"\n")  # never blocks
        if not ticket:
            line.status = "dropped"
        self.announce(line)
        if ticket:
            if wait:
                if not d.settle(ticket):
                    self._undelivered(line)
            else:
                d.kick()
        self._observe(line)
        return line

class HeadTail:
    """What is kept of a long line streamed through that nobody observes: its first and last
    bytes (all that Outstanding and the shape check read of a line that long), not a copy."""

    __slots__ = ("head", "tail", "size")

    def __init__(self, head: bytes, tail: bytes, size: int) -> None:
        self.head, self.tail, self.size = head, tail, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, s: slice) -> bytes:
        """Only prefixes (``[:n]``) and suffixes (``[-n:]``) up to the kept lengths."""
        return self.head[:s.stop] if s.start is None else self.tail[s.start:]


def write_all(fd: int) -> Callable[[bytes], None]:
    """A blocking writer for one fd that writes everything (pipes take partial writes)."""

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    return write


def protect_stdout() -> int:
    """Keep fd 1 for protocol only: return a private dup for the wire and point fd 1 (and so any
    stray print() from a hook or library) at stderr."""
    sys.stdout.flush()
    wire = os.dup(1)
    os.dup2(2, 1)
    return wire


def restore_stdout(wire: int) -> None:
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        pass
    os.dup2(wire, 1)
    os.close(wire)


def exit_code(returncode: int | None) -> int:
    """A child's return code as a shell would report it (killed by signal N -> 128+N)."""
    if returncode is None:
        return 1
    return 128 - returncode if returncode < 0 else returncode
