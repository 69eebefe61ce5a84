"""Running hooks: resolving them once per addon chain, calling them so that none can hurt the relay.

:class:`HookRunner` is the part of :class:`~omproxy_tui.proxy.base.Proxy` that runs the hooks of
every addon (the contract is :class:`~omproxy_tui.proxy.addon.Addon`):

- traffic-changing hooks (``@modifies``) run before a line is forwarded
  (:meth:`HookRunner._apply_modifiers`), and fail open: whatever goes wrong, the line goes on
  unchanged;
- observe hooks run after it (:meth:`HookRunner._observe`): line-level ones inline, typed
  (seed-style) ones one relay thread at a time, after ``mcp_types`` has been imported off-thread;
- async hooks run on the proxy's event loop; those the relay waits for get ``hook_timeout``;
- no exception from a hook -- ``SystemExit`` included -- escapes into a relay thread or the loop.
"""

from __future__ import annotations

import collections
import sys
import threading
from concurrent.futures import TimeoutError as _FutureTimeout
from time import monotonic as _monotonic
from typing import Any, Callable

from .addon import MESSAGE_HOOKS, OTHER_HOOKS
from .line import _UNSET, C2S, DROP, S2C, Line, encode_replacement, parse_json

HOOK_FOR_DIRECTION = dict(zip((C2S, S2C), MESSAGE_HOOKS))


class HookExit(Exception):
    """An async hook raised SystemExit or KeyboardInterrupt: carried as an ordinary error, because
    raised inside a task those would stop the whole event loop."""


async def _guarded(coro: Any) -> Any:
    try:
        return await coro
    except (SystemExit, KeyboardInterrupt) as exc:
        raise HookExit(f"{type(exc).__name__}({exc})") from exc


def modifies(fn: Callable) -> Callable:
    """Mark a message hook as one that may change traffic: it runs before forwarding."""
    fn.__omproxy_modifies__ = True
    return fn


class _Hook:
    """One resolved hook: the bound callable and how to call it."""

    __slots__ = ("fn", "name", "wants", "is_async", "modifies", "whole")

    def __init__(self, fn: Callable, name: str, modifies_traffic: bool, whole: bool = False):
        self.fn = fn
        self.whole = whole  # sees a batch as one line (the inspector) instead of element by element
        self.name = f"{getattr(fn, '__self__', fn).__class__.__name__}.{name}"
        # Read the code object rather than import `inspect` (~20 ms of start-up).
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
        self.is_async = bool(code and code.co_flags & 0x80)  # CO_COROUTINE
        self.modifies = bool(getattr(fn, "__omproxy_modifies__", False) or modifies_traffic)
        if code is None:
            params = ["message"]
        else:
            skip = 1 if hasattr(fn, "__self__") else 0
            params = list(code.co_varnames[skip:code.co_argcount])
        if params and params[0] == "line":
            self.wants = "line"
        elif len(params) >= 2:
            self.wants = "both"
        else:
            self.wants = "message"

    def args(self, line: Line) -> tuple:
        if self.wants == "line":
            return (line,)
        if self.wants == "both":
            return (line.message, line)
        return (line.message,)



def default_hook(fn: Callable) -> Callable:
    """Mark the base class's empty hook: an addon that does not override it costs nothing."""
    fn.__omproxy_default__ = True
    return fn


class HookRunner:
    """Mixin of Proxy: the hook lists and everything that calls hooks."""

    #: seconds an async hook that is waited for (a traffic-changing one, _on_start, _on_close)
    #: may take; past it the hook is cancelled and reported, and the message goes on unchanged.
    #: None or 0: no deadline. ``omproxy --hook-timeout``.
    hook_timeout: float | None = 10.0

    def _init_hooks(self) -> None:
        self._pre: dict[str, list[_Hook]] = {C2S: [], S2C: []}
        self._post: dict[str, list[_Hook]] = {C2S: [], S2C: []}
        self._inline: dict[str, list[_Hook]] = {C2S: [], S2C: []}
        self._typed: dict[str, list[_Hook]] = {C2S: [], S2C: []}
        self._other: dict[str, list[_Hook]] = {}
        self._early: list[Line] = []  # typed-hook lines waiting for mcp_types (see _hold_for_types)
        self._typed_queue: collections.deque[Line] = collections.deque()
        self._async_pending: set = set()
        self._typed_lock = threading.Lock()
        self._early_lock = threading.RLock()
        self._types_ready = "mcp_types" in sys.modules
        self._import_started = False
        self._import_timer: threading.Timer | None = None

    def refresh_hooks(self) -> None:
        """Resolve every addon's hooks into per-direction lists (done once, not per message)."""
        for d, name in HOOK_FOR_DIRECTION.items():
            pre, post = [], []
            for addon in self.addons:
                fn = self._hook_fn(addon, name)
                if fn is None:
                    continue
                hook = _Hook(fn, name, getattr(addon, "modifies_traffic", False),
                             getattr(addon, "whole_lines", False))
                (pre if hook.modifies else post).append(hook)
            self._pre[d], self._post[d] = pre, post
            self._inline[d] = [h for h in post if h.whole or h.wants == "line"]
            self._typed[d] = [h for h in post if not (h.whole or h.wants == "line")]
        for name in OTHER_HOOKS:
            hooks = []
            for addon in self.addons:
                fn = self._hook_fn(addon, name)
                if fn is not None:
                    hooks.append(_Hook(fn, name, False))
            self._other[name] = hooks

    def _hook_fn(self, addon: Any, name: str) -> Callable | None:
        fn = getattr(addon, name, None)
        if fn is None:
            return None
        if addon is self and getattr(getattr(type(self), name, None), "__omproxy_default__", False):
            return None  # the base class's empty hook, not overridden: no cost at all
        return fn

    def _hook_failed(self, hook: _Hook, exc: BaseException, what: str) -> None:
        import traceback  # only on the error path: it costs start-up time

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-3)).rstrip()
        self.report(f"hook {hook.name} raised {type(exc).__name__}: {exc} ({what})\n{tb}")

    def call_hooks(self, name: str, *args: Any) -> None:
        for hook in self._other.get(name, ()):
            self._call(hook, args, name)

    def run_hook_now(self, name: str) -> None:
        """Run _on_start/_on_close hooks to completion, async ones included."""
        for hook in self._other.get(name, ()):
            result = self._call(hook, (), name) if not hook.is_async else hook.fn()
            if result is not None and hasattr(result, "__await__"):
                self._run_async(hook, result, name, wait=True)

    def _call(self, hook: _Hook, args: tuple, what: str) -> Any:
        try:
            result = hook.fn(*args)
        except BaseException as exc:  # noqa: BLE001 -- a hook must never kill the relay
            # SystemExit or GeneratorExit from a hook would end the relay thread silently; only
            # Ctrl-C on the main thread (a hook run at start-up or shutdown) still interrupts.
            if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
                raise
            self._hook_failed(hook, exc, what)
            return None
        if result is not None and (hook.is_async or hasattr(result, "__await__")):
            return self._run_async(hook, result, what, wait=hook.modifies)
        return result

    def _run_async(self, hook: _Hook, coro: Any, what: str, wait: bool) -> Any:
        if self.loop is None:
            self.start_loop()
        def done(f: Any) -> None:
            self._async_pending.discard(f)
            if not f.cancelled() and f.exception() is not None:
                self._hook_failed(hook, f.exception(), what)

        if threading.current_thread() is getattr(self, "_loop_thread", None):
            # On the loop itself, waiting would block the loop the hook needs. Every relay step
            # runs off the loop (the stdio threads; a remote proxy's stdin thread and the worker
            # thread its receiver hands each server message to), so only observe hooks called
            # from loop code (_on_lifecycle) come here, and are scheduled. A hook whose result
            # matters is never silently ignored: it is not run, and that is reported.
            if wait:
                coro.close()
                self.report(f"hook {hook.name} is async and was called on the event loop thread, where it "
                            f"cannot be awaited ({what}); not run")
                return None
            task = self.loop.create_task(_guarded(coro))
            self._async_pending.add(task)
            task.add_done_callback(done)
            return None
        fut = self.run_on_loop(_guarded(coro))
        if not wait:
            self._async_pending.add(fut)
            fut.add_done_callback(done)
            return None
        timeout = self.hook_timeout if self.hook_timeout and self.hook_timeout > 0 else None
        try:
            return fut.result(timeout)
        except _FutureTimeout:  # (the builtin TimeoutError since 3.11)
            fut.cancel()
            self.report(f"hook {hook.name} did not finish within {timeout} s ({what}); cancelled")
            return None
        except Exception as exc:  # noqa: BLE001
            self._hook_failed(hook, exc, what)
            return None

    def _apply_modifiers(self, line: Line, pre: list[_Hook]) -> bytes | None:
        """Run traffic-changing hooks; the bytes to send, or None when the message was dropped.
        Fails open: whatever goes wrong, the message goes on unchanged."""
        if not pre:
            return line.raw + b"\n"
        raw = line.raw
        try:
            return self._modify(line, pre)
        except BaseException as exc:  # noqa: BLE001 -- e.g. RecursionError on a hostile line
            self.report(f"changing a {line.direction} message failed ({type(exc).__name__}: {exc}); "
                        "forwarded unchanged")
            line.raw, line._json, line._message, line.changed = raw, _UNSET, _UNSET, None
            return raw + b"\n"

    def _modify(self, line: Line, pre: list[_Hook]) -> bytes | None:
        elements = line.elements() if line.json is not None else [line]
        out: list[Any] = []
        changed = False
        for el in elements:
            value: Any = el
            for hook in pre:
                result = self._call(hook, hook.args(el), "message forwarded unchanged")
                if result is None:
                    continue
                if result is DROP:
                    value = DROP
                    changed = True
                    line.changed = {"by": hook.name, "action": "dropped", "original": line.text}
                    self._answer_dropped(el, hook.name)
                    break
                try:
                    data = encode_replacement(result)
                except Exception as exc:  # noqa: BLE001 -- TypeError, ValueError, RecursionError
                    self._hook_failed(hook, exc, "replacement refused, message forwarded unchanged")
                    continue
                parsed, _ = parse_json(data)
                el = Line(data, line.direction, seq=line.seq, t=line.t, wall=line.wall, parsed=parsed)
                value = el
                changed = True
                line.changed = {"by": hook.name, "action": "replaced", "original": line.text}
            out.append(value)
        if not changed:
            return line.raw + b"\n"
        kept = [v for v in out if v is not DROP]
        if not kept:
            line.status = "dropped"
            self._observe(line)
            return None
        if len(elements) == 1 and not line.is_batch:
            new = kept[0].raw
        else:
            new = b"[" + b",".join(v.raw for v in kept) + b"]"
        line.raw = new
        line._json = parse_json(new)[0]
        line._message = _UNSET
        return new + b"\n"

    def _observe(self, line: Line) -> None:
        """After forwarding; never raises (a hostile line must not kill the relay thread)."""
        try:
            self._observe_line(line)
        except BaseException as exc:  # noqa: BLE001
            self.report(f"observing {line.direction} message #{line.seq} failed "
                        f"({type(exc).__name__}: {exc}); the relay goes on")

    def _observe_line(self, line: Line) -> None:
        """After forwarding. Line-level hooks (the inspector) run here, inline and cheap. Hooks that
        want the SDK's typed message run here too once `mcp_types` is imported, one relay thread
        at a time (see _typed_runner); until then their lines wait in order (see _hold_for_types)."""
        seqr = self.sequencer
        if seqr.observers and line.seq >= seqr._base:
            seqr.fill(line.seq, line)  # in case nobody did yet (a line that never reached relay_line)
        d = line.direction
        inline = self._inline[d]
        if inline:
            targets = None
            for hook in inline:
                if hook.whole:
                    self._call(hook, (line,), "after forwarding")
                else:
                    if targets is None:
                        targets = self._elements(line)
                    for el in targets:
                        self._call(hook, hook.args(el), "after forwarding")
        if self._typed[d]:
            if self._types_ready:
                if self._early:
                    self._flush_early()
                self._typed_runner(line)
            else:
                self._hold_for_types(line)

    def _typed_runner(self, line: Line) -> None:
        """Run typed hooks on one relay thread at a time: whoever holds the runner role also runs
        the lines the other thread queued meanwhile, and the other thread goes straight back to
        its I/O. Two threads both running Python would hand the GIL back and forth on every
        message, which costs more than the hooks themselves. Order is kept per direction."""
        q = self._typed_queue
        q.append(line)
        runner = self._typed_lock
        while q:
            if not runner.acquire(blocking=False):
                return  # the holder drains what we queued
            try:
                while q:
                    self._run_typed(q.popleft())
            finally:
                runner.release()

    @staticmethod
    def _elements(line: Line) -> list[Line]:
        targets = line.elements()
        if len(targets) > 1 or targets[0] is not line:
            for el in targets:
                el.status, el.changed = line.status, line.changed
        return targets

    def _run_typed(self, line: Line) -> None:
        try:
            targets = self._elements(line)
            for hook in self._typed[line.direction]:
                for el in targets:
                    self._call(hook, hook.args(el), "after forwarding")
        except BaseException as exc:  # noqa: BLE001 -- never lose the lines queued behind this one
            self.report(f"typed hooks on {line.direction} message #{line.seq} failed "
                        f"({type(exc).__name__}: {exc}); the relay goes on")

    # Seed-style hooks want the SDK's typed messages, and `mcp_types` takes ~200 ms to import,
    # much of it in native calls that hold the GIL. Importing it before the server's first reply
    # has been forwarded would delay that reply, so the first lines wait (in order) until a side
    # thread has imported it; after that, typed hooks run inline on the relay threads.
    def _hold_for_types(self, line: Line) -> None:
        with self._early_lock:
            if not self._types_ready:
                self._early.append(line)
                start_now = line.direction == S2C or len(self._early) > 64
                if not self._import_started and start_now:
                    self._import_started = True
                    threading.Thread(target=self._import_types, name="omproxy-types", daemon=True).start()
                elif not self._import_started and self._import_timer is None:
                    self._import_timer = threading.Timer(0.5, self._import_soon)
                    self._import_timer.daemon = True
                    self._import_timer.start()
                return
        self._flush_early()
        self._run_typed(line)

    def _import_soon(self) -> None:
        with self._early_lock:
            if self._import_started:
                return
            self._import_started = True
        self._import_types()

    def _import_types(self) -> None:
        try:
            __import__("mcp_types")
        except ImportError:
            pass
        with self._early_lock:
            self._types_ready = True
        self._flush_early()

    def _flush_early(self) -> None:
        with self._early_lock:
            early, self._early = self._early, []
            for line in early:  # under the lock: nobody runs typed hooks out of order meanwhile
                self._run_typed(line)

    def drain_hooks(self) -> None:
        """Before _on_close: typed hooks have seen everything that was relayed."""
        if self._early:
            if not self._types_ready:
                self._import_types()
            self._flush_early()
        with self._typed_lock:
            while self._typed_queue:
                self._run_typed(self._typed_queue.popleft())
        # ...and async observe hooks still running on the loop get a moment to finish.
        deadline = _monotonic() + 5.0
        while self._async_pending and _monotonic() < deadline:
            for f in list(self._async_pending):
                if hasattr(f, "result") and not hasattr(f, "get_loop"):  # a concurrent future
                    try:
                        f.result(max(0.0, deadline - _monotonic()))
                    except Exception:  # noqa: BLE001 - reported by its callback
                        pass
            if any(hasattr(f, "get_loop") for f in self._async_pending):
                break  # loop tasks (remote proxies): the loop finishes them itself
