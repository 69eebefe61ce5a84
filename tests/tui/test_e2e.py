"""End to end: real `omproxy stdio --inspect-socket` proxy + SDK demo server + scripted client + the app."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pilot_wait import wait_for
from omproxy_tui.client.sources import SocketSource
from omproxy_tui.tui.app import OmproxyApp

ROOT = Path(__file__).resolve().parents[2]


def _proxy_has_inspect() -> bool:
    try:
        out = subprocess.run([sys.executable, "-m", "omproxy_tui.cli", "stdio", "--help"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--inspect-socket" in out.stdout


pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not _proxy_has_inspect(), reason="`omproxy stdio --inspect-socket` is not available yet"),
]


async def test_demo_end_to_end():
    from omproxy_tui.demo.runner import DemoRunner

    runner = DemoRunner(rounds=2, speed=4.0)
    sock = runner.start()
    try:
        app = OmproxyApp([SocketSource(sock)])
        async with app.run_test(size=(140, 40)) as pilot:
            [info] = app.sessions.values()
            await wait_for(pilot, lambda: info.server_name == "omproxy-demo", what="handshake seen")
            assert info.state == "live"
            assert info.proxy.get("transport") == "stdio"
            # traffic of every kind arrives, paired
            await wait_for(pilot, lambda: any(
                r.kind == "response" and r.latency is not None and (r.tool == "progress")
                for r in app.store.records), what="progress call answered")
            methods = {r.method for r in app.store.records}
            assert {"initialize", "tools/list", "tools/call", "notifications/progress"} <= methods
            assert any(getattr(r, "tool_error", False) for r in app.store.records)  # the `fail` tool
            await wait_for(pilot, lambda: len(info.stderr) > 0, what="stderr lines")
            # filter and detail on live data
            assert app.apply_filter("~tool echo")
            assert app.view.indices and all(app.store[i].tool == "echo" for i in app.view.indices)
            app.log_widget.move_cursor(0)
            await wait_for(pilot, lambda: app.detail.record is not None
                           and app.detail.record is app.log_widget.selected_record(), what="detail shown")
            assert app.detail.record.tool == "echo"
            # the client stops after its rounds: the proxy exits and the session ends with code 0
            await wait_for(pilot, lambda: info.state == "ended", timeout=60, what="session ended")
            assert info.exit_code == 0
            assert any(event == "exited" for _, event, _ in info.lifecycle)
    finally:
        runner.stop()


def test_demo_client_exits_when_its_parent_dies(tmp_path):
    """A killed omproxy-tui must not leave the demo running: the client watches its parent."""
    import os
    import signal

    sock = tmp_path / "d.sock"
    # an intermediate shell is the client's parent; killing it orphans the client
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f'"{sys.executable}" -m omproxy_tui.demo.client --socket {sock} --parent-pid $$ & '
                          'echo $! ; wait'],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    client_pid = int(shell.stdout.readline())
    deadline = time.monotonic() + 20
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sock.exists(), "demo proxy did not start"
    os.kill(shell.pid, signal.SIGKILL)
    shell.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(client_pid, 0)
        except ProcessLookupError:
            break
        # reap if it became our child's zombie (it is re-parented to init, so normally not ours)
        time.sleep(0.1)
    else:
        os.kill(client_pid, signal.SIGKILL)
        raise AssertionError("the demo client outlived its parent")
