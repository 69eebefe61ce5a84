"""A real third-party server: npm's @modelcontextprotocol/server-everything behind omproxy, driven
by the official SDK client. Skipped cleanly where node/npx is not installed."""

import shutil
import subprocess

import anyio
import pytest
from mcp import Client, StdioServerParameters

from helpers import ROOT, omproxy_cmd

NPX = shutil.which("npx")
pytestmark = pytest.mark.skipif(NPX is None, reason="node's npx is not installed")


@pytest.fixture(scope="module")
def everything():
    # Fetch the package once up front (npx caches it), so the test's own timeouts measure the proxy.
    r = subprocess.run([NPX, "-y", "@modelcontextprotocol/server-everything", "--help"], capture_output=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    if r.returncode not in (0, 1) and b"npm ERR" in r.stderr:
        pytest.skip(f"cannot fetch server-everything from npm: {r.stderr[-300:]!r}")
    return [NPX, "-y", "@modelcontextprotocol/server-everything"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sdk_client_through_omproxy_to_server_everything(everything, mode):
    cmd = omproxy_cmd("stdio", "--", *everything)
    logs = []

    async def on_log(params):
        logs.append(params)

    async def main():
        with anyio.fail_after(120):
            async with Client(StdioServerParameters(command=cmd[0], args=cmd[1:], cwd=str(ROOT)), mode=mode,
                              logging_callback=on_log) as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                assert "echo" in tools
                r = await client.call_tool("echo", {"message": "through omproxy \u00e9"})
                assert "through omproxy \u00e9" in r.content[0].text
                prompts = await client.list_prompts()
                assert prompts.prompts
                resources = await client.list_resources()
                assert resources.resources

    anyio.run(main)
