"""The demo MCP server behind ``omproxy-tui --demo`` (an SDK ``MCPServer`` over stdio).

Tools: ``echo`` (fast), ``slow`` (sleeps: hold it and edit it), ``deploy`` (required, enum and
nested arguments: compose it), ``fail`` (raises), ``big`` (large result),
``progress`` (progress notifications), ``log`` (log notifications + stderr); a few resources and
prompts; it writes to stderr as it goes so the server log has something to show.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from typing import Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*deprecated.*")

server = MCPServer(
    "omproxy-demo",
    version="1.0.0",
    instructions="A demo server for omproxy-tui: fast, slow, failing, large, chatty tools.",
)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@server.tool(description="Echo the text back (fast).")
def echo(text: str) -> str:
    return text


@server.tool(description="Sleep for `seconds` (at most 10) and then answer.")
async def slow(seconds: float = 1.0) -> str:
    seconds = max(0.0, min(seconds, 10.0))
    _err(f"slow: sleeping {seconds:.1f} s")
    await asyncio.sleep(seconds)
    return f"slept {seconds:.1f} s"


class DeployOptions(BaseModel):
    replicas: int = Field(1, ge=1, le=10, description="How many copies to run")
    dry_run: bool = Field(True, description="Only say what would happen")


@server.tool(description="Pretend to deploy a service (required, enum and nested arguments: try composing it).")
def deploy(service: str, environment: Literal["dev", "staging", "prod"], options: DeployOptions | None = None,
           tags: list[str] | None = None) -> str:
    opts = options or DeployOptions()
    what = "would deploy" if opts.dry_run else "deployed"
    return f"{what} {service} to {environment} x{opts.replicas}" + (f" tags={','.join(tags)}" if tags else "")


@server.tool(description="Always fails (tool error).")
def fail(reason: str = "demo failure") -> str:
    _err(f"fail: raising ToolError({reason!r})")
    raise ToolError(reason)


@server.tool(description="Return a large text result of `kb` kilobytes (at most 20000).")
def big(kb: int = 256) -> str:
    kb = max(1, min(kb, 20000))
    line = "The quick brown fox jumps over the lazy dog. " * 2 + "\n"
    return (line * (kb * 1024 // len(line) + 1))[: kb * 1024]


@server.tool(description="Report progress over `steps` steps.")
async def progress(ctx: Context, steps: int = 5, delay: float = 0.2) -> str:
    steps = max(1, min(steps, 50))
    for i in range(1, steps + 1):
        await asyncio.sleep(delay)
        await ctx.report_progress(i, steps, f"step {i}/{steps}")
    return f"done in {steps} steps"


@server.tool(description="Send log notifications to the client and a line to stderr.")
async def log(ctx: Context, level: str = "info", message: str = "hello from the demo server") -> str:
    _err(f"log: {level}: {message}")
    if level == "warning":
        await ctx.warning(message)
    elif level == "error":
        await ctx.error(message)
    else:
        await ctx.info(message)
    return f"logged at {level}"


@server.resource("demo://readme", name="readme", mime_type="text/plain")
def readme() -> str:
    return "omproxy demo server\nTry the tools: echo, slow, fail, big, progress, log.\n"


@server.resource("demo://config", name="config", mime_type="application/json")
def config() -> str:
    return '{"mode": "demo", "features": ["tools", "resources", "prompts"]}'


@server.resource("demo://items/{item}", name="item")
def item(item: str) -> str:
    return f"item {item}"


@server.prompt(description="Greet someone.")
def greet(who: str = "world") -> str:
    return f"Say hello to {who}, warmly."


@server.prompt(description="Review a piece of code.")
def review(code: str, language: str = "python") -> str:
    return f"Please review this {language} code:\n\n{code}"


def main() -> None:
    _err("omproxy demo server starting (stdio)")
    server.run("stdio")


if __name__ == "__main__":
    main()
