"""End to end: `omproxy wrap` edits a client config, then the wrapped command line is launched
exactly as the config says (command, args and env taken from the JSON, as the client would), with a
real SDK Client session through it to a real SDK server; omproxy-tui's discovery sees the proxy
under the server's key, `omproxy status` says it is running, and `omproxy unwrap` restores the file
byte for byte."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from helpers import ROOT, short_tmpdir
from machine import Machine

from omproxy_tui.protocol.discovery import list_proxies


def wait_for_proxy(runtime: Path, name: str, deadline_s: float = 30.0) -> dict:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = [p for p in list_proxies(runtime) if p.get("name") == name]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no proxy named {name!r} in {list_proxies(runtime)}")


def launch_as_the_client_would(m: Machine, entry: dict, runtime: str) -> StdioServerParameters:
    # the client's own environment, plus the entry's env block on top (what Claude Desktop does)
    env = {"PATH": m.env["PATH"], "HOME": m.env["HOME"], "XDG_RUNTIME_DIR": runtime,
           "PYTHONPATH": m.env["PYTHONPATH"], **entry.get("env", {})}
    return StdioServerParameters(command=entry["command"], args=entry["args"], env=env, cwd=str(m.home))


async def session_through(m: Machine, entry: dict, runtime: str, name: str, check_env: bool) -> dict:
    with anyio.fail_after(90):
        async with Client(launch_as_the_client_would(m, entry, runtime)) as client:
            r = await client.call_tool("echo", {"text": "through the wrapped config"})
            assert r.content[0].text == "through the wrapped config"
            if check_env:
                r = await client.call_tool("env", {"name": "WRAP_E2E"})
                assert r.content[0].text == "from the config's env block"
            proxy = await anyio.to_thread.run_sync(wait_for_proxy, Path(runtime) / "omproxy", name)
            status = await anyio.to_thread.run_sync(lambda: m.run("status"))
            tui_list = await anyio.to_thread.run_sync(lambda: subprocess.run(
                [sys.executable, "-m", "omproxy_tui.tui_cli", "--list"], env=m.env, capture_output=True,
                text=True, timeout=60))
            assert tui_list.returncode == 0, tui_list.stderr
            assert f"{proxy['pid']:>7}  {name}" in tui_list.stdout
            r = await client.call_tool("echo", {"text": "still relaying"})
            assert r.content[0].text == "still relaying"
    return {"proxy": proxy, "status": status}


def test_wrapped_stdio_server_runs_as_written_and_is_discovered_by_its_key(tmp_path):
    runtime = short_tmpdir()
    try:
        m = Machine(tmp_path, runtime_dir=runtime)
        path = m.path_for("claude-desktop")
        path.parent.mkdir(parents=True)
        config = {"mcpServers": {"my-sdk": {
            "command": sys.executable,
            "args": [str(ROOT / "tests" / "servers" / "sdk_server.py")],
            "env": {"WRAP_E2E": "from the config's env block"},
        }}, "globalShortcut": ""}
        path.write_text(json.dumps(config, indent=2) + "\n")
        original = path.read_bytes()

        r = m.run("wrap", "claude-desktop")
        assert r.returncode == 0, r.stderr
        entry = json.loads(path.read_text())["mcpServers"]["my-sdk"]
        assert entry["args"][entry["args"].index("stdio"):][:4] == ["stdio", "--inspect", "--name", "my-sdk"]
        assert Path(entry["command"]).name == "omproxy" and (entry["command"] == "omproxy"
                                                             or Path(entry["command"]).is_absolute())
        out = anyio.run(session_through, m, entry, runtime, "my-sdk", True)
        proxy = out["proxy"]
        assert proxy["transport"] == "stdio"
        status = out["status"]
        assert status.returncode == 0, status.stderr
        row = next(line for line in status.stdout.splitlines() if "my-sdk" in line)
        assert "yes (stdio)" in row and f"yes, pid {proxy['pid']}" in row

        r = m.run("unwrap")
        assert r.returncode == 0, r.stderr
        assert path.read_bytes() == original
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_wrapped_remote_server_is_bridged_with_its_headers(tmp_path, http_server):
    url = http_server("http")
    runtime = short_tmpdir()
    try:
        m = Machine(tmp_path, runtime_dir=runtime)
        path = m.path_for("claude-code", "project")
        text = ('{\n  "mcpServers": {\n    "remote-sdk": {\n      "type": "http",\n'
                f'      "url": "{url}",\n      "headers": {{"X-Wrap-Test": "yes"}}\n    }}\n  }}\n}}\n')
        path.write_text(text)
        r = m.run("wrap", "claude-code")
        assert r.returncode == 0, r.stderr
        entry = json.loads(path.read_text())["mcpServers"]["remote-sdk"]
        assert entry["type"] == "stdio" and "url" not in entry and "headers" not in entry
        out = anyio.run(session_through, m, entry, runtime, "remote-sdk", False)
        assert out["proxy"]["transport"] == "http"
        assert out["proxy"]["target"] == url
        assert "X-Wrap-Test" in out["proxy"].get("headers", {})
        assert m.run("unwrap").returncode == 0
        assert path.read_text() == text
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
