"""Waiting in TUI tests: poll a condition under a deadline, never sleep and hope.

The deadline is generous (60 s) because the suite must pass on a loaded two-core machine, where
the app can be starved of CPU for seconds; a condition that holds returns at once.
"""

from __future__ import annotations

import asyncio
import time


async def wait_for(pilot, cond, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout} s")
        await pilot.pause(0.02)


async def until(pred, what: str, timeout: float = 30.0) -> None:
    """The same outside an app (a source, a socket): poll `pred` on the running loop."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
