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
                     help="Use your own proxy subclass (a StdioProxy/SseProxy/StreamableHttpProxy subclass), "
                          "from a module (the current directory is searched too) or path/to/file.py:CLASS."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


class _Cli(click.Group):
    """Usage errors and bad values are one line on stderr and exit code 2: omproxy is started by
    MCP clients whose logs show a line, and a usage screen or traceback there helps nobody."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as exc:
            sys.stderr.write(_one_line(exc) + "\n")
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.stderr.write("omproxy: aborted\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _one_line(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "omproxy"
    if isinstance(exc, click.NoSuchOption):
        msg = f"no such option: {exc.option_name}"
        if exc.possibilities:
            msg += f" (did you mean {exc.possibilities[0]}?)"  # click lists the closest first
    else:
        msg = " ".join(exc.format_message().split())
        msg = msg[:1].lower() + msg[1:].rstrip(".")
    if isinstance(exc, click.UsageError) and not isinstance(exc, click.BadParameter):
        msg += f"; see '{path} --help'"
    return f"{path}: {msg}"


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
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


def _make_proxy(spec: str | None, default):
    """An instance of the --hooks class (or of `default`); any failure is a one-line usage error."""
    if not spec:
        return default()
    from .load_hooks import HooksError, create, load_class

    try:
        return create(load_class(spec, default), default)
    except HooksError as exc:
        raise click.BadParameter(str(exc), param_hint="--hooks") from None


def _attach_inspector(proxy, opts: dict, target, transport: str, named: dict[str, str],
                      headers: dict | None = None) -> None:
    """`named`: the NAME=value pairs given to us (--env, -H); those that are secrets (by name or
    by look, see inspect/redact.py) are masked wherever they appear in frames."""
    if not (opts["inspect"] or opts["inspect_socket"] or opts["record"] or opts["inspect_wait"]):
        return
    from .inspect.redact import secret_values
    from .inspect.server import InspectorAddon

    named = dict(named)
    if isinstance(target, str):  # a URL: ?api_key=… in its query is a secret too
        from urllib.parse import parse_qsl, urlsplit

        named.update((f"query:{k}", v) for k, v in parse_qsl(urlsplit(target).query))
    secrets = secret_values(named)

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


# Our options come before the server's command; from the command on, every word is the server's
# (`omproxy stdio srv --port 1` passes --port to srv, and `--` is optional, as in omproxy 0.3), so
# a mistyped option of ours before it is an error, not a command to run.
@main.command(epilog=STDIO_EXAMPLES, context_settings={"allow_interspersed_args": False})
@click.option("--env", "-e", "envs", multiple=True, metavar="KEY=VALUE",
              help="Extra environment for the server (repeatable). It gets our whole environment too.")
@click.option("--cwd", type=click.Path(exists=True, file_okay=False), help="Working directory of the server.")
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
    proxy = _make_proxy(opts["hooks"], StdioProxy)
    _attach_inspector(proxy, opts, list(command), "stdio", env)
    _exit(proxy.run(ServerParams(command=command[0], args=list(command[1:]), env=env, cwd=cwd)))


def _remote_command(kind: str):
    path = "sse" if kind == "sse" else "mcp"

    @click.option("--url", required=True, help="The server's endpoint URL.")
    @click.option("--header", "-H", "headers", multiple=True, metavar="'Name: value'",
                  help="HTTP header for every request (repeatable); split on the first colon.")
    @click.option("--timeout", type=float, default=30.0, show_default=True, help="HTTP timeout in seconds.")
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
        proxy = _make_proxy(opts["hooks"], SseProxy if kind == "sse" else StreamableHttpProxy)
        _attach_inspector(proxy, opts, url, kind, parsed, parsed)
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
