"""The official SDK Client -> omproxy -> an SDK MCPServer: every kind of round trip, in both the
2026 (default `Client()`, `server/discover`) and the legacy handshake era, over stdio, streamable
HTTP and SSE. Nothing is mocked: real processes, real pipes, uvicorn on 127.0.0.1."""

import json
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp import types

from helpers import ROOT, omproxy_cmd

MODES = ["auto", "legacy"]


def proxied(*omproxy_args: str, env: dict | None = None) -> StdioServerParameters:
    cmd = omproxy_cmd(*omproxy_args)
    return StdioServerParameters(command=cmd[0], args=cmd[1:], cwd=str(ROOT), env=env)


def stdio_target(env: dict | None = None) -> StdioServerParameters:
    return proxied("stdio", "--", sys.executable, "-m", "tests.servers.sdk_server", env=env)


async def exercise(params: StdioServerParameters, mode: str, check_env: bool = False) -> dict:
    seen: dict = {"progress": [], "logs": [], "sampled": 0, "elicited": 0}

    async def sampling(context, p):
        seen["sampled"] += 1
        return types.CreateMessageResult(role="assistant", model="test-model",
                                         content=types.TextContent(type="text", text="sampled!"))

    async def elicitation(context, p):
        seen["elicited"] += 1
        return types.ElicitResult(action="accept", content={"ok": True})

    async def logging_cb(p):
        seen["logs"].append(p.data)

    async def on_progress(progress, total, message):
        seen["progress"].append((progress, total, message))

    with anyio.fail_after(60):
        async with Client(params, mode=mode, sampling_callback=sampling, elicitation_callback=elicitation,
                          logging_callback=logging_cb, log_level="info") as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"echo", "big", "fail", "progress", "ask_llm", "confirm"} <= tools
            r = await client.call_tool("echo", {"text": "h\u00e9llo \U0001F600"})
            assert r.content[0].text == "h\u00e9llo \U0001F600"
            r = await client.call_tool("fail", {"reason": "on purpose"})
            assert r.is_error and "on purpose" in r.content[0].text
            res = await client.read_resource("test://greeting")
            assert res.contents[0].text == "hello from a resource"
            assert any(str(x.uri) == "test://greeting" for x in (await client.list_resources()).resources)
            prompts = await client.list_prompts()
            assert [p.name for p in prompts.prompts] == ["review"]
            got = await client.get_prompt("review", {"code": "x = 1"})
            assert "x = 1" in got.messages[0].content.text
            r = await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
            assert r.content[0].text == "did 3 steps"
            r = await client.call_tool("ask_llm", {"prompt": "hi"})
            assert r.content[0].text == "sampled!"
            r = await client.call_tool("confirm", {"question": "sure?"})
            assert r.content[0].text == "accept:True"
            r = await client.call_tool("big", {"size": 3_000_000})
            assert len(r.content[0].text) == 3_000_000
            if check_env:
                r = await client.call_tool("env", {"name": "OMPROXY_TEST_SECRET"})
                seen["env"] = r.content[0].text
    return seen


def check(seen: dict) -> None:
    assert [p[0] for p in seen["progress"]] == [1, 2, 3]
    assert seen["sampled"] == 1 and seen["elicited"] == 1
    assert "progress done" in seen["logs"]


@pytest.mark.parametrize("mode", MODES)
def test_stdio_sdk_client_all_round_trips(mode):
    seen = anyio.run(exercise, stdio_target(env={"OMPROXY_TEST_SECRET": "s3cret"}), mode, True)
    check(seen)
    # The SDK would filter the environment down to six variables; our child gets all of ours.
    assert seen["env"] == "s3cret"


@pytest.mark.parametrize("mode", MODES)
def test_streamable_http_sdk_client_all_round_trips(mode, http_server, tmp_path):
    url = http_server("http")
    rec = tmp_path / "rec.jsonl"
    check(anyio.run(exercise, proxied("http", "--url", url, "-H", "X-Test: a=b,c", "--record", str(rec)), mode))
    sent = [json.loads(f["raw"]) for f in map(json.loads, rec.read_text().splitlines())
            if f["type"] == "message" and f["dir"] == "c2s"]
    methods = [m.get("method") for m in sent]
    if mode == "auto":
        # The 2026 client kept its era through the proxy: no fallback to the handshake.
        assert methods[0] == "server/discover" and "initialize" not in methods
        got = [json.loads(f["raw"]) for f in map(json.loads, rec.read_text().splitlines())
               if f["type"] == "message" and f["dir"] == "s2c"]
        discover = next(m for m in got if m.get("id") == sent[0]["id"])
        assert "result" in discover, discover
    else:
        assert methods[0] == "initialize"


@pytest.mark.parametrize("mode", MODES)
def test_sse_sdk_client_all_round_trips(mode, http_server):
    url = http_server("sse")
    check(anyio.run(exercise, proxied("sse", "--url", url), mode))
