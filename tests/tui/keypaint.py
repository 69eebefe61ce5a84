"""Key-to-paint latency for the TUI benchmark: what a user waits for after pressing a key.

``Pilot.press`` is no measure of that: after sending the key it waits for the process to look
idle (``wait_for_idle``: at least two 20 ms sleeps, repeated while any CPU is used, so a timer or
a repaint elsewhere counts too). Here a key is sent through the driver, as a keypress from the
terminal arrives, and the clock stops at the first screen update (the compositor's
``render_update`` handed to ``App._display``) made after the key's effect is in the model
(``changed()`` is true): key queued → handled → rows rendered → screen composed. A headless
driver writes nothing, so the update is also encoded to terminal escape sequences here (what a
real terminal driver does next) to count that cost too; only writing to the tty is left out.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Callable

from textual import events

#: terminal escape sequences (cursor moves, colours): what is left is the text an update writes
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


class KeyToPaint:
    """Install on a running (``run_test``) app; :meth:`press` returns seconds key → painted."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._waiting: tuple[Callable[[], bool], asyncio.Future, bool, str | None] | None = None
        self.paints = 0
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            render = getattr(renderable, "render_segments", None)
            # the escape sequences a terminal driver would write
            written = render(app.console) if render is not None else ""
            self.paints += 1
            waiting = self._waiting
            if (waiting is not None and waiting[0]() and (not waiting[2] or self._covers_screen(renderable))
                    and (waiting[3] is None or waiting[3] in _ESCAPES.sub("", written))):
                self._waiting = None
                if not waiting[1].done():
                    waiting[1].set_result(time.perf_counter())

        app._display = display

    def _covers_screen(self, renderable: Any) -> bool:
        """Whether an update repaints every line of the screen, whole (what another screen
        being shown takes; an update of a few of its lines first is not that screen shown)."""
        width, height = self.app.size
        region = getattr(renderable, "region", None)
        if region is not None:  # a LayoutUpdate
            return region.width >= width and region.height >= height
        spans = getattr(renderable, "spans", None)
        if spans is None:
            return False
        full = {y for y, x1, x2 in spans if x1 <= 0 and x2 >= width}
        return len(full) >= height

    async def press(self, key: str, changed: Callable[[], bool], timeout: float = 10.0,
                    whole_screen: bool = False, shows: str | None = None) -> float:
        """Send ``key``; wait until a screen update shows ``changed()``; seconds it took.
        ``whole_screen``: the key shows another screen, and only an update that repaints all of
        the screen counts; ``shows``: only an update whose text includes this counts.

        ``changed`` must be false when called (so the update is caused by this key)."""
        if changed():
            raise ValueError("changed() is already true before the key")
        future = self._expect(changed, whole_screen, shows)
        char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(self.app)
        start = time.perf_counter()
        self.app._driver.send_message(event)
        return await self._until(future, timeout) - start

    async def wait(self, changed: Callable[[], bool], timeout: float = 10.0) -> float:
        """The ``perf_counter`` time of the next screen update at which ``changed()`` holds
        (for a change made by the caller, e.g. ``move_cursor``, just before)."""
        return await self._until(self._expect(changed), timeout)

    def _expect(self, changed: Callable[[], bool], whole_screen: bool = False,
                shows: str | None = None) -> asyncio.Future:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting = (changed, future, whole_screen, shows)
        return future

    async def _until(self, future: asyncio.Future, timeout: float) -> float:
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting = None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]
