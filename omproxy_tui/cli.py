"""The `omproxy` command. Imports stay inside the commands: Claude Desktop starts one proxy per
server, so start-up time is paid many times (the SDK alone costs ~600 ms to import; a stdio relay
needs none of it)."""

from __future__ import annotations

import sys

import click

from . import __version__

STDIO_EXAMPLES = """\b
Examples:
  omproxy stdio -- uvx mcp-server-fetch
  omproxy stdio --env API_KEY=xyz --cwd ~/srv -- python server.py
  omproxy stdio --inspect --name fetch -- npx -y @modelcontextprotocol/server-everything
  omproxy stdio --hooks mypkg.audit:AuditProxy -- python server.py

\b
Claude Desktop (claude_desktop_config.json):
  "command": "omproxy", "args": ["stdio", "--", "uvx", "mcp-server-fetch"]
"""

REMOTE_EXAMPLES = """\b
Examples:
  omproxy {cmd} --url https://example.com/{path}
  omproxy {cmd} --url https://example.com/{path} -H 'Authorization: Bearer tok=='
  omproxy {cmd} --inspect --url http://127.0.0.1:8000/{path}
"""


def _inspect_options(f):
    opts = [
        click.option("--inspect", is_flag=True, help="Serve the inspect channel (a unix socket) for omproxy-tui."),
        click.option("--inspect-socket", metavar="PATH", help="Serve the inspect channel at PATH (implies --inspect)."),
        click.option("--inspect-backlog", type=click.IntRange(0), default=10000, show_default=True,
                     help="Messages kept and replayed to each inspector that attaches."),
        click.option("--inspect-wait", is_flag=True, help="Hold all traffic until the first inspector attaches."),
        click.option("--inspect-hold-limit", type=click.IntRange(1024), default=64 << 20, show_default=True,
                     metavar="BYTES", help="Held bytes per direction before that side is made to wait."),
        click.option("--name", metavar="NAME", help="Session name shown by omproxy-tui (default: from the command)."),
        click.option("--record", metavar="FILE.jsonl", type=click.Path(dir_okay=False),
                     help="Write every inspect frame to FILE as it happens (implies the inspector machinery)."),
        click.option("--no-redact", is_flag=True, help="Do not mask secrets (auth headers, tokens) in frames."),
        click.option("--hooks", "hooks", metavar="MODULE:CLASS",
                     help="Use your own proxy subclass (a StdioProxy/SseProxy/StreamableHttpProxy subclass)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="omproxy")
def main() -> None:
    """omproxy: a transparent MCP proxy you can see into and steer.

    Put it between any MCP client and server; the client cannot tell the difference. Add
    --inspect and run `omproxy-tui` in another terminal to watch and steer the session.
    """


def _exit(code: int) -> None:
    """Leave at once: the session is over and everything is flushed. Interpreter teardown with the
    SDK loaded costs ~150 ms, which a client waiting for us to exit would otherwise pay."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(code)


def _load_class(spec: str | None, default):
    if not spec:
        return default
    import importlib

    module, _, attr = spec.partition(":")
    if not attr:
        raise click.BadParameter("expected MODULE:CLASS", param_hint="--hooks")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {spec}: {exc}", param_hint="--hooks") from None
    if not (isinstance(cls, type) and issubclass(cls, default)):
        raise click.BadParameter(f"{spec} is not a subclass of {default.__name__}", param_hint="--hooks")
    return cls


def _attach_inspector(proxy, opts: dict, target, transport: str, secrets: list[str],
                      headers: dict | None = None) -> None:
    if not (opts["inspect"] or opts["inspect_socket"] or opts["record"] or opts["inspect_wait"]):
        return
    from .inspect.server import InspectorAddon

    proxy.hold_limit = opts["inspect_hold_limit"]
    proxy.add_addon(InspectorAddon(
        proxy,
        socket_path=opts["inspect_socket"],
        serve=bool(opts["inspect"] or opts["inspect_socket"] or opts["inspect_wait"]),
        backlog=opts["inspect_backlog"],
        wait=opts["inspect_wait"],
        name=opts["name"],
        record=opts["record"],
        redact=not opts["no_redact"],
        secrets=secrets,
        target=target,
        transport=transport,
        headers=headers,
    ))


@main.command(epilog=STDIO_EXAMPLES, context_settings={"ignore_unknown_options": True})
@click.option("--env", "-e", "envs", multiple=True, metavar="KEY=VALUE",
              help="Extra environment for the server (repeatable). It gets our whole environment too.")
@click.option("--cwd", type=click.Path(file_okay=False), help="Working directory of the server.")
@_inspect_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def stdio(envs, cwd, command, **opts) -> None:
    """Run a local stdio MCP server (everything after --) and relay our stdin/stdout to it."""
    from .proxy.stdio import ServerParams, StdioProxy

    env = {}
    for item in envs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
        env[key] = value
    cls = _load_class(opts["hooks"], StdioProxy)
    proxy = cls()
    _attach_inspector(proxy, opts, list(command), "stdio", list(env.values()))
    _exit(proxy.run(ServerParams(command=command[0], args=list(command[1:]), env=env, cwd=cwd)))


def _remote_command(kind: str):
    path = "sse" if kind == "sse" else "mcp"

    @click.option("--url", required=True, help="The server's endpoint URL.")
    @click.option("--header", "-H", "headers", multiple=True, metavar="'Name: value'",
                  help="HTTP header for every request (repeatable); split on the first colon.")
    @click.option("--timeout", type=float, default=30.0, show_default=True,
                  help="HTTP timeout in seconds; also how long replies are awaited after the client closes stdin.")
    @click.option("--sse-read-timeout", type=float, default=300.0, show_default=True,
                  help="Seconds to wait for the next server-sent event.")
    @_inspect_options
    def command(url, headers, timeout, sse_read_timeout, **opts) -> None:
        from .proxy.remote import SseProxy, StreamableHttpProxy, parse_header

        parsed = {}
        for h in headers:
            try:
                name, value = parse_header(h)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--header") from None
            parsed[name] = value
        cls = _load_class(opts["hooks"], SseProxy if kind == "sse" else StreamableHttpProxy)
        proxy = cls()
        _attach_inspector(proxy, opts, url, kind, list(parsed.values()), parsed)
        _exit(proxy.run(url, headers=parsed, timeout=timeout, sse_read_timeout=sse_read_timeout))

    command.__doc__ = (
        "Bridge our stdio to a remote server over SSE (the 2024-11-05 HTTP+SSE transport)."
        if kind == "sse" else
        "Bridge our stdio to a remote server over streamable HTTP."
    )
    return main.command(name=kind, epilog=REMOTE_EXAMPLES.format(cmd=kind, path=path))(command)


sse = _remote_command("sse")
http = _remote_command("http")


if __name__ == "__main__":
    main()
