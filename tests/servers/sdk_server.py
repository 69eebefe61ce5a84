"""An SDK MCPServer exercising every round trip a proxy must carry: tools, resources, prompts,
logging, progress, sampling and elicitation. Run over stdio (default) or HTTP:

    python -m tests.servers.sdk_server [stdio | http PORT | sse PORT]
"""

from __future__ import annotations

import sys

from typing import Annotated

from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve, Sample
from mcp.types import CreateMessageResult
from pydantic import BaseModel

app = MCPServer("omproxy-test-server")


@app.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@app.tool()
def env(name: str) -> str:
    """Read an environment variable of the server process."""
    import os

    return os.environ.get(name, "<unset>")


@app.tool()
def big(size: int) -> str:
    """Return `size` bytes of 'x'."""
    return "x" * size


@app.tool()
def fail(reason: str = "boom") -> str:
    """Always raises."""
    from mcp.server.mcpserver.exceptions import ToolError

    raise ToolError(reason)


@app.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Report progress `steps` times and log a message."""
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
    await ctx.info("progress done")
    return f"did {steps} steps"


def _sample(prompt: str) -> Sample:
    from mcp.types import SamplingMessage, TextContent

    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=prompt))], max_tokens=20)


class Answer(BaseModel):
    ok: bool


def _ask(question: str) -> Elicit[Answer]:
    return Elicit(question, Answer)


# Resolvers, not ctx.session.create_message: they follow the negotiated era (server->client requests
# in the handshake era, InputRequiredResult + retry in 2026-07-28), so both eras are exercised.
@app.tool()
async def ask_llm(prompt: str, sampled: Annotated[CreateMessageResult, Resolve(_sample)]) -> str:
    """Round trip to the client's sampling handler."""
    return getattr(sampled.content, "text", str(sampled.content))


@app.tool()
async def confirm(question: str, answer: Annotated[Answer, Resolve(_ask)]) -> str:
    """Round trip to the client's elicitation handler."""
    return f"accept:{answer.ok}"


@app.tool()
def header(name: str, ctx: Context) -> str:
    """The value of an HTTP request header this server received (HTTP transports only)."""
    headers = ctx.headers or {}
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "<unset>")


@app.resource("test://greeting")
def greeting() -> str:
    """A static resource."""
    return "hello from a resource"


@app.prompt()
def review(code: str) -> str:
    """A prompt with an argument."""
    return f"Please review: {code}"


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "stdio":
        app.run()
    else:
        port = int(sys.argv[2])
        app.run(transport="streamable-http" if mode == "http" else "sse", host="127.0.0.1", port=port)
