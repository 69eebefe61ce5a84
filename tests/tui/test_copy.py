"""Copy (issue 10.12): OSC 52 only where it can work, a system clipboard tool otherwise, or save."""

from __future__ import annotations

import os
import stat

import pytest
from pilot_wait import wait_for
from fake_proxy import FakeProxy, message

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.demo.canned import T0
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio
SIZE = (140, 40)


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.fixture
async def proxy(sockdir):
    fake = await FakeProxy(str(sockdir / "c.sock"), [
        message(1, "c2s", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}}),
        message(2, "s2c", {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "y" * 300_000}]}}),
    ]).start()
    yield fake
    await fake.stop()


def fake_tool(bindir, name: str, out) -> None:
    """A stand-in clipboard tool: a real executable that stores what it is given."""
    path = bindir / name
    path.write_text(f"#!/bin/sh\ncat > '{out}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


async def test_inside_tmux_a_clipboard_tool_is_used(proxy, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    out = tmp_path / "clip.txt"
    fake_tool(bindir, "xclip", out)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + "/usr/bin:/bin")
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == 2)
        app.log_widget.move_cursor(0)
        await pilot.press("c")
        await wait_for(pilot, lambda: out.exists() and out.read_text() == app.store[0].raw)
        assert app.clipboard == ""  # no OSC 52 sequence sent into tmux
        await wait_for(pilot, lambda: any("xclip" in n for n in notes(app)))


async def test_too_large_without_a_tool_offers_to_save(proxy, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.chdir(tmp_path)
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == 2)
        app.log_widget.move_cursor(1)
        await pilot.press("c")
        await wait_for(pilot, lambda: any("too large" in n and "W" in n for n in notes(app)))
        assert app.clipboard == ""
        await pilot.press("W")
        saved = tmp_path / "omproxy-message-fake-2.json"
        await wait_for(pilot, lambda: saved.exists() and saved.read_text() == app.store[1].raw)
        await wait_for(pilot, lambda: any(str(saved) in n for n in notes(app)))


async def test_small_message_outside_tmux_uses_osc52(proxy, monkeypatch):
    monkeypatch.delenv("TMUX", raising=False)
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == 2)
        app.log_widget.move_cursor(0)
        await pilot.press("c")
        assert app.clipboard == app.store[0].raw
