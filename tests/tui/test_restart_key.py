"""The TUI's restart key on a real `omproxy stdio --inspect-socket` session (hot restart, issue 12)."""

from __future__ import annotations

import sys

import pytest

from pilot_wait import wait_for
from helpers import RAW_SERVER, Session, short_tmpdir
from omproxy_tui.client.sources import SocketSource
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio


async def test_restart_key_restarts_the_selected_sessions_server():
    sock = short_tmpdir() + "/i.sock"
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    try:
        s.handshake()
        app = OmproxyApp([SocketSource(sock)])
        async with app.run_test(size=(140, 40)) as pilot:
            [info] = app.sessions.values()
            await wait_for(pilot, lambda: info.state == "live" and len(app.store.records) >= 2, what="attached")
            await pilot.press("R")
            await wait_for(pilot, lambda: any(e == "restart" for _, e, _ in info.lifecycle), what="restarted")
            [(_, _, details)] = [x for x in info.lifecycle if x[1] == "restart"]
            assert details["cause"] == "command" and details["generation"] == 2
            assert any("generation 2" in str(n.message) for n in app._notifications)
            # the restart is a row of its own in the log: before the handshake the proxy replays to the
            # new server, and the next message
            s.send({"jsonrpc": "2.0", "id": 6, "method": "ping"})
            await wait_for(pilot, lambda: any(r.id == 6 for r in app.store.records), what="message after restart")
            [rec] = [r for r in app.store.records if r.id == 6 and r.kind == "request"]
            log = app.log_widget
            items = [log.rows.at(row) for row in range(log.row_count)]
            [marker] = [m for m in items if not isinstance(m, int)]
            assert marker.kind == "restart" and marker.event == "restart"
            assert "⟳ server restarted #2 (key or command)" in marker.text and " s down · no list changed" in marker.text
            after = items[items.index(marker) + 1]
            assert app.store[after].method == "initialize" and app.store[after].seq > 4
            assert items.index(marker) < log.position_of(rec.index)
            assert len(app.view) == len(app.store)  # not a message
        # the session goes on with the new server
        assert s.recv(30)["id"] == 6
        s.send({"jsonrpc": "2.0", "id": 7, "method": "ping"})
        assert s.recv(30)["id"] == 7
    finally:
        s.close()


async def test_a_failed_restart_is_a_row_and_the_next_restart_recovers(tmp_path):
    """Issue 12.5 on a real proxy: a new server that exits at start makes a `restart_failed` row
    saying why (with its stderr); the next R starts it again and its row says generation 3."""
    import os

    flag = tmp_path / "broken"
    sock = short_tmpdir() + "/f.sock"
    # the server exits at start while the flag file exists (its source "broken on purpose")
    server = ["sh", "-c", f'if [ -e "{flag}" ]; then echo "broken on purpose" >&2; exit 3; fi; exec "$0" "$@"',
              *RAW_SERVER, "echo"]
    s = Session(["stdio", "--inspect-socket", sock], server)
    try:
        s.handshake()
        app = OmproxyApp([SocketSource(sock)])
        async with app.run_test(size=(140, 40)) as pilot:
            [info] = app.sessions.values()
            await wait_for(pilot, lambda: info.state == "live" and len(app.store.records) >= 2, what="attached")
            log = app.log_widget

            def marker_rows():
                return [m for m in (log.rows.at(r) for r in range(log.row_count)) if not isinstance(m, int)]

            flag.write_text("")
            await pilot.press("R")
            await wait_for(pilot, lambda: any(m.failed for m in marker_rows()), what="the failed restart's row")
            [failed] = marker_rows()
            assert failed.text.startswith("⟳ restart #2 (key or command) FAILED after ")
            assert any("broken on purpose" in line for line in failed.explain())
            assert info.restart_failed
            os.unlink(flag)
            await pilot.press("R")
            await wait_for(pilot, lambda: len(marker_rows()) == 2 and marker_rows()[1].event == "restart",
                           what="the next restart's row")
            assert "server restarted #3 (key or command)" in marker_rows()[1].text
            assert info.generation == 3 and not info.restart_failed
        s.send({"jsonrpc": "2.0", "id": 8, "method": "ping"})
        assert s.recv(30)["id"] == 8
    finally:
        s.close()
