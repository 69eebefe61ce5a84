"""The `omproxy` command. Imports stay inside the commands: Claude Desktop starts one proxy per
server, so start-up time is paid many times (the SDK alone costs ~600 ms to import; a stdio relay
needs none of it)."""

from __future__ import annotations

import re
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
  omproxy {cmd} --url https://example.com/{path} --headers 'Authorization=Bearer tok==,X-Team=a'  (old form)
"""


class _Size(click.ParamType):
    """A size in bytes: 1048576, 64k, 64m, 1g (powers of 1024)."""

    name = "SIZE"
    _UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().removesuffix("b").removesuffix("i")
        unit = text[-1:] if text[-1:] in "kmg" else ""
        number = text[:-1] if unit else text
        try:
            size = int(float(number) * self._UNITS[unit])
        except ValueError:
            self.fail(f"{value!r} is not a size (like 65536, 64k, 64m or 1g)", param, ctx)
        if size < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return size


SIZE = _Size()


def _inspect_options(f):
    opts = [
        click.option("--inspect", is_flag=True, help="Serve the inspect channel (a unix socket) for omproxy-tui."),
        click.option("--inspect-socket", metavar="PATH", help="Serve the inspect channel at PATH (implies --inspect)."),
        click.option("--inspect-backlog", type=click.IntRange(0), default=10000, show_default=True,
                     help="Messages kept and replayed to each inspector that attaches."),
        click.option("--inspect-backlog-bytes", type=SIZE, default="64m", show_default=True,
                     help="Bytes of messages kept for replay (oldest go first; the handshake is always kept)."),
        click.option("--inspect-queue-bytes", type=SIZE, default=None,
                     help="Bytes queued per inspector; one that falls further behind loses frames (and is told). "
                          "[default: 32m]"),
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
        click.option("--hook-timeout", type=click.FloatRange(0), metavar="SECONDS",
                     help="Deadline for async hooks that change traffic (and async _on_start/_on_close); "
                          "past it the message goes on unchanged. 0: none. [default: 10]"),
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
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `omproxy`: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
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
        backlog_bytes=opts["inspect_backlog_bytes"],
        queue_bytes=opts["inspect_queue_bytes"],
        wait=opts["inspect_wait"],
        name=opts["name"],
        record=opts["record"],
        redact=not opts["no_redact"],
        secrets=secrets,
        target=target,
        transport=transport,
        headers=headers,
    ))


def _otlp_options(f):
    """--otlp and friends (OpenTelemetry export; see omproxy_tui/otel/)."""
    opts = [
        click.option("--otlp", "otlp", is_flag=False, flag_value="", default=None, metavar="[ENDPOINT]",
                     help="Export every MCP call as an OpenTelemetry span (OTLP/HTTP) to ENDPOINT (a base URL, "
                          "default $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318). Put -- before the "
                          "server command, or write --otlp=URL."),
        click.option("--otlp-content", is_flag=True,
                     help="With --otlp: add tool arguments and results to spans (secrets masked, truncated)."),
        click.option("--otlp-propagate", is_flag=True,
                     help="With --otlp: write each request's traceparent into its params._meta so the server's "
                          "spans join the trace. This CHANGES THE BYTES sent (the request is re-encoded); off by "
                          "default."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _attach_otlp(proxy, opts: dict, target, transport: str, named: dict[str, str]) -> None:
    """`named`: the NAME=value pairs given to us (--env, -H); secrets among them (and in the
    command line) are masked in --otlp-content attributes, as in inspect frames."""
    endpoint = opts.get("otlp")
    if endpoint is None:
        if opts.get("otlp_content") or opts.get("otlp_propagate"):
            raise click.BadParameter("needs --otlp", param_hint="--otlp-content/--otlp-propagate")
        return
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise click.BadParameter(f"{endpoint!r} is not an http(s) URL (put -- before the server command)",
                                 param_hint="--otlp")
    from .otel.addon import attach, sdk_missing

    missing = sdk_missing()
    if missing:
        raise click.ClickException(f"--otlp needs {missing}: pip install 'omproxy-tui[otlp]'")
    from .inspect.redact import mask_argv, secret_values
    from .inspect.server import session_name

    secrets = secret_values(named) + (mask_argv(target)[1] if isinstance(target, list) else [])
    name = opts.get("name") or (session_name(target) if isinstance(target, list) else str(target))
    attach(proxy, endpoint=endpoint or None, name=name, transport=transport, target=target,
           content=opts["otlp_content"], propagate=opts["otlp_propagate"], secrets=secrets,
           redact=not opts.get("no_redact"))


def _restart_options(f):
    """Hot restart (see omproxy_tui/proxy/restart.py)."""
    opts = [
        click.option("--watch", "watch", multiple=True, metavar="PATH", type=click.Path(exists=True),
                     help="Restart the server when a file under PATH changes (repeatable; files or directories; "
                          "polled, see README 'Hot restart' for the cost)."),
        click.option("--watch-ignore", "watch_ignore", multiple=True, metavar="GLOB",
                     help="With --watch: ignore files or directories matching GLOB (repeatable; __pycache__, "
                          ".git, node_modules, editor swap files are always ignored)."),
        click.option("--watch-debounce", type=click.IntRange(10, 60000), default=300, show_default=True,
                     metavar="MS", help="With --watch: restart once nothing changed for MS milliseconds."),
        click.option("--restart-tool", is_flag=True,
                     help="Add a restart_server tool to the tool list the client sees (handled by omproxy, so an "
                          "agent that edits the server can restart it). This CHANGES THE BYTES of tools/list "
                          "answers; off by default."),
        click.option("--restart-timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
                     metavar="SECONDS", help="How long a restarted server gets to answer the replayed handshake."),
        click.option("--no-restart", is_flag=True,
                     help="No hot restart at all (SIGUSR1 then ends the proxy as it would any program). Hot "
                          "restart costs nothing measurable until one happens; without it, client lines over "
                          "64 KiB are also streamed through to the server."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _attach_restarter(proxy, opts: dict) -> None:
    """Every stdio proxy can restart its server (SIGUSR1, the inspect channel); --watch and
    --restart-tool add triggers."""
    from .proxy.restart import Restarter

    if (opts["watch_ignore"] or opts["watch_debounce"] != 300) and not opts["watch"]:
        raise click.BadParameter("needs --watch", param_hint="--watch-ignore/--watch-debounce")
    if opts["no_restart"]:
        if opts["watch"] or opts["restart_tool"]:
            raise click.BadParameter("cannot be combined with --watch or --restart-tool", param_hint="--no-restart")
        return
    restarter = Restarter(proxy, tool=opts["restart_tool"], keep_alive=bool(opts["watch"]),
                          handshake_timeout=opts["restart_timeout"])
    if opts["watch"]:
        from .proxy.watch import PollingWatcher

        restarter.watcher = PollingWatcher(list(opts["watch"]), restarter.files_changed,
                                           ignore=tuple(opts["watch_ignore"]),
                                           debounce=opts["watch_debounce"] / 1000, report=proxy.report)


# Our options come before the server's command; from the command on, every word is the server's
# (`omproxy stdio srv --port 1` passes --port to srv, and `--` is optional, as in omproxy 0.3), so
# a mistyped option of ours before it is an error, not a command to run.
@main.command(epilog=STDIO_EXAMPLES, context_settings={"allow_interspersed_args": False})
@click.option("--env", "-e", "envs", multiple=True, metavar="KEY=VALUE",
              help="Extra environment for the server (repeatable). It gets our whole environment too.")
@click.option("--cwd", type=click.Path(exists=True, file_okay=False), help="Working directory of the server.")
@_inspect_options
@_otlp_options
@_restart_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def stdio(envs, cwd, command, **opts) -> None:
    """Run a local stdio MCP server (COMMAND and its arguments, after our options; the -- before it
    is optional) and relay our stdin/stdout to it.

    Hot restart: SIGUSR1, the TUI (or the inspect channel's `restart` command), --watch or
    --restart-tool start a fresh server under the live client, keeping its session."""
    from .proxy.stdio import ServerParams, StdioProxy

    env = {}
    for item in envs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
        env[key] = value
    proxy = _make_proxy(opts["hooks"], StdioProxy)
    if opts["hook_timeout"] is not None:
        proxy.hook_timeout = opts["hook_timeout"]
    _attach_inspector(proxy, opts, list(command), "stdio", env)
    _attach_otlp(proxy, opts, list(command), "stdio", env)
    _attach_restarter(proxy, opts)
    _exit(proxy.run(ServerParams(command=command[0], args=list(command[1:]), env=env, cwd=cwd)))


# A comma followed by an HTTP header name (RFC 9110 token) and "=", or by nothing, ends a --headers pair.
_OLD_HEADER_START = re.compile(r",\s*(?=[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=|$)")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_old_headers(text: str) -> list[tuple[str, str]]:
    """``--headers 'k1=v1,k2=v2'`` (omproxy 0.3's form) -> [(name, value)…].

    Each pair splits on its first ``=``, so values may hold ``=`` (base64 padding); a comma starts
    a new pair only when ``NAME=`` follows it, so values may hold commas too (``Accept=a/b, c/d``).
    The one ambiguous case, a value holding ``,word=``, is read as two headers: use -H for it.
    (0.3 split on every ``,`` and ``=``, and failed on both.)"""
    pairs = []
    for piece in _OLD_HEADER_START.split(text):
        if not piece.strip():
            continue
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{piece.strip()!r} is not NAME=VALUE (the form is 'k1=v1,k2=v2'; "
                             f"for 'Name: value' use -H)")
        pairs.append((name, value.strip()))
    return pairs


def _remote_command(kind: str):
    path = "sse" if kind == "sse" else "mcp"

    @click.option("--url", required=True, help="The server's endpoint URL.")
    @click.option("--header", "-H", "headers", multiple=True, metavar="'Name: value'",
                  help="HTTP header for every request (repeatable); split on the first colon. "
                       "The recommended form.")
    @click.option("--headers", "old_headers", multiple=True, metavar="'k1=v1,k2=v2'",
                  help="The old form (omproxy 0.3) of -H, kept for existing configs: NAME=VALUE pairs "
                       "separated by commas; values may hold '=', and ',' unless NAME= follows it. "
                       "-H wins for the same name.")
    @click.option("--timeout", type=float, default=30.0, show_default=True,
                  help="HTTP timeout in seconds; also how long replies are awaited after the client closes stdin.")
    @click.option("--sse-read-timeout", type=float, default=300.0, show_default=True,
                  help="Seconds to wait for the next server-sent event.")
    @_inspect_options
    @_otlp_options
    def command(url, headers, old_headers, timeout, sse_read_timeout, **opts) -> None:
        from .proxy.remote import SseProxy, StreamableHttpProxy, parse_header

        parsed: dict[str, str] = {}

        def put(name: str, value: str) -> None:  # header names are case-insensitive: the last one wins
            for known in [k for k in parsed if k.lower() == name.lower()]:
                del parsed[known]
            parsed[name] = value

        for text in old_headers:
            try:
                pairs = parse_old_headers(text)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--headers") from None
            for name, value in pairs:
                put(name, value)
        for h in headers:
            try:
                name, value = parse_header(h)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--header") from None
            put(name, value)
        proxy = _make_proxy(opts["hooks"], SseProxy if kind == "sse" else StreamableHttpProxy)
        if opts["hook_timeout"] is not None:
            proxy.hook_timeout = opts["hook_timeout"]
        _attach_inspector(proxy, opts, url, kind, parsed, parsed)
        _attach_otlp(proxy, opts, url, kind, parsed)
        _exit(proxy.run(url, headers=parsed, timeout=timeout, sse_read_timeout=sse_read_timeout))

    command.__doc__ = (
        "Bridge our stdio to a remote server over SSE (the 2024-11-05 HTTP+SSE transport)."
        if kind == "sse" else
        "Bridge our stdio to a remote server over streamable HTTP."
    )
    return main.command(name=kind, epilog=REMOTE_EXAMPLES.format(cmd=kind, path=path))(command)


@main.command(name="export")
@click.option("--otlp", "endpoint", required=True, metavar="ENDPOINT",
              help="OTLP/HTTP base URL to send the spans to (e.g. http://localhost:4318).")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def export_cmd(endpoint, files) -> None:
    """Send recordings (--record files, TUI exports) to an OpenTelemetry backend as the spans
    --otlp would have sent live, with their original timestamps."""
    if not endpoint.startswith(("http://", "https://")):
        raise click.BadParameter(f"{endpoint!r} is not an http(s) URL", param_hint="--otlp")
    from .otel.addon import sdk_missing
    from .otel.replay import send_recordings

    missing = sdk_missing()
    if missing:
        raise click.ClickException(f"export needs {missing}: pip install 'omproxy-tui[otlp]'")

    def report(text: str) -> None:
        click.echo(f"omproxy: {text}", err=True)

    sent = send_recordings(endpoint, list(files), report)
    failed = False
    for name, (exported, dropped, _why) in sent.items():
        click.echo(f"{name}: {exported} spans exported" + (f", {dropped} dropped" if dropped else ""), err=True)
        failed = failed or bool(dropped)
    if not sent:
        raise click.ClickException("no MCP messages in " + ", ".join(files))
    sys.exit(1 if failed else 0)


sse = _remote_command("sse")
http = _remote_command("http")


# --- omproxy wrap / unwrap / status ------------------------------------------------------------
# Edits MCP clients' own config files; the logic lives in omproxy_tui/wrap/. Self-contained so the
# other commands above can change without touching it.

WRAP_EXAMPLES = """\b
Clients: claude-desktop, claude-code, cursor, vscode, windsurf (default: every one with a config).
\b
Examples:
  omproxy wrap --dry-run                      # show the diff for every client, change nothing
  omproxy wrap                                # wrap every server of every client found
  omproxy wrap claude-desktop --server fetch  # one server of one client
  omproxy wrap cursor --inspect-wait --no-redact   # omproxy options go on every wrapped server
  omproxy wrap --config ~/work/.mcp.json
  omproxy unwrap                              # put everything back as it was
  omproxy status                              # what is wrapped, and which proxies are running
"""


def _wrap_clients(tokens, configs, project):
    from .wrap import client_by_name, config_files, select_files

    clients = []
    for t in tokens:
        c = client_by_name(t)
        if c is None:
            raise click.UsageError(f"unknown client {t!r} (known: claude-desktop, claude-code, cursor, vscode, "
                                   "windsurf)")
        if c not in clients:
            clients.append(c)
    files = select_files(clients, configs, project=project)
    for c in clients:
        if not any(f.client == c for f in files):
            looked = ", ".join(str(f.path) for f in config_files(c, project=project))
            click.echo(f"{c.title}: no config found (looked in {looked})", err=True)
    return files


def _split_wrap_args(tokens):
    """CLIENT names and pass-through omproxy options, told apart using `omproxy stdio`'s own options."""
    takes_value = {}
    for p in stdio.params:
        if isinstance(p, click.Option):
            for o in p.opts + p.secondary_opts:
                takes_value[o] = not p.is_flag
    clients, options = [], []
    it = iter(tokens)
    for t in it:
        if t.startswith("-"):
            name = t.split("=", 1)[0]
            if name not in takes_value:
                raise click.UsageError(f"no such omproxy option: {name}")
            options.append(t)
            if takes_value[name] and "=" not in t:
                value = next(it, None)
                if value is None:
                    raise click.UsageError(f"{name} needs a value")
                options.append(value)
        else:
            clients.append(t)
    return clients, options


def _print_results(plans, mode, dry_run) -> bool:
    from .wrap.report import diff, results

    if dry_run:
        for plan in plans:
            if plan.changed:
                click.echo(diff(plan))
    bad = False
    for line, is_error in results(plans, mode, dry_run):
        click.echo(line, err=is_error)
        bad |= is_error
    return bad


def _missing_servers(plans, servers) -> bool:
    seen = {e.server for p in plans for e in p.entries}
    missing = [s for s in servers if s not in seen]
    if missing:
        click.echo(f"no server named {', '.join(missing)} in the files looked at", err=True)
    return bool(missing)


_WRAP_COMMON = [
    click.option("--server", "-s", "servers", multiple=True, metavar="NAME",
                 help="Only the server with this key (repeatable)."),
    click.option("--config", "configs", multiple=True, metavar="PATH", type=click.Path(dir_okay=False),
                 help="Also this config file, of any client's shape (repeatable)."),
    click.option("--project", metavar="DIR", type=click.Path(file_okay=False),
                 help="Where project files are looked for (.mcp.json, .cursor/, .vscode/); default: here."),
]


def _wrap_common(f):
    for opt in reversed(_WRAP_COMMON):
        f = opt(f)
    return f


@main.command(epilog=WRAP_EXAMPLES, context_settings={"ignore_unknown_options": True})
@_wrap_common
@click.option("--dry-run", is_flag=True, help="Print a coloured diff per file of what would change; write nothing.")
@click.option("--omproxy-command", envvar="OMPROXY_COMMAND", metavar="CMD",
              help="The command to write for omproxy (a command line or a JSON list) [env: OMPROXY_COMMAND]; "
                   "default: 'omproxy' if the client's PATH finds this one, else its absolute path.")
@click.option("--no-remote", is_flag=True, help="Leave remote (url) servers alone instead of bridging them.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[CLIENT]... [OMPROXY OPTIONS]...")
def wrap(servers, configs, project, dry_run, omproxy_command, no_remote, args) -> None:
    """Put the servers in your MCP clients' configs behind `omproxy stdio --inspect`.

    Each stdio server's command becomes `omproxy stdio --inspect --name KEY [OPTIONS] -- command args`
    (env, cwd, envFile, type and ${...} variables stay as they were); remote servers are bridged with
    `omproxy http|sse --url`. A timestamped backup is written next to each file first; `omproxy unwrap`
    restores the entries exactly. Restart the client afterwards.

    OMPROXY OPTIONS are `omproxy stdio` options put on every wrapped server (not --name,
    --inspect-socket or --record, which must differ per server).
    """
    from .wrap.clients import client_path_env
    from .wrap.entries import options_ok
    from .wrap.journal import Journal
    from .wrap.launcher import launcher_for, parse_override
    from .wrap.plan import apply, plan_file

    tokens, options = _split_wrap_args(args)
    options = [o for o in options if o != "--inspect"]  # always there already
    why = options_ok(options)
    if why:
        raise click.UsageError(f"cannot put {why}")
    try:  # bad values are refused now, not when the client starts the server
        stdio.make_context("stdio", [*options, "--", "server"])
    except click.UsageError as exc:
        raise click.UsageError(f"omproxy option: {exc.format_message()}") from None
    remote_why = "remote server (--no-remote)" if no_remote else None
    if not remote_why and any(o == "--hooks" or o.startswith("--hooks=") for o in options):
        remote_why = "remote server: --hooks names a StdioProxy subclass"
    if not remote_why:
        try:
            http.make_context("http", [*options, "--url", "http://x"])
        except click.ClickException:
            remote_why = "remote server: the omproxy options given are for stdio servers only"
    try:
        override = parse_override(omproxy_command) if omproxy_command else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--omproxy-command") from None
    files = _wrap_clients(tokens, configs, project)
    journal = Journal()
    plans = [plan_file(f, "wrap", servers=set(servers) or None, journal=journal, options=options,
                       launcher=launcher_for(client_path_env(f.client), override=override), skip_remote=remote_why)
             for f in files]
    if not dry_run:
        apply(plans, journal)
    bad = _print_results(plans, "wrap", dry_run) | _missing_servers(plans, servers)
    touched = sorted({p.config.client.title for p in plans if p.changed and not dry_run})
    if touched:
        click.echo(f"Restart {', '.join(touched)} to start the servers through omproxy; "
                   "then `omproxy-tui` shows them. `omproxy unwrap` undoes this.")
    if not files:
        click.echo("No MCP client config found.", err=True)
    sys.exit(1 if bad else 0)


@main.command(epilog=WRAP_EXAMPLES)
@_wrap_common
@click.option("--dry-run", is_flag=True, help="Print a coloured diff per file of what would change; write nothing.")
@click.argument("clients", nargs=-1, metavar="[CLIENT]...")
def unwrap(servers, configs, project, dry_run, clients) -> None:
    """Take servers out from behind omproxy again, restoring each entry exactly as it was."""
    from .wrap.journal import Journal
    from .wrap.plan import apply, plan_file

    files = _wrap_clients(clients, configs, project)
    journal = Journal()
    plans = [plan_file(f, "unwrap", servers=set(servers) or None, journal=journal) for f in files]
    if not dry_run:
        apply(plans, journal)
    bad = _print_results(plans, "unwrap", dry_run) | _missing_servers(plans, servers)
    if not files:
        click.echo("No MCP client config found.", err=True)
    sys.exit(1 if bad else 0)


@main.command(epilog=WRAP_EXAMPLES)
@_wrap_common
@click.argument("clients", nargs=-1, metavar="[CLIENT]...")
def status(servers, configs, project, clients) -> None:
    """Every configured server: its client and file, whether it is wrapped, and whether a proxy is
    running for it now (the ones `omproxy-tui` will see)."""
    from rich.console import Console

    from .protocol.discovery import list_proxies
    from .wrap.journal import Journal
    from .wrap.plan import plan_file
    from .wrap.report import status_rows, status_table

    files = _wrap_clients(clients, configs, project)
    journal = Journal()
    plans = [plan_file(f, "status", servers=set(servers) or None, journal=journal) for f in files]
    rows = status_rows(plans, list_proxies())
    if not rows:
        click.echo("No MCP servers configured in any client config found.")
        sys.exit(0)
    Console(soft_wrap=False).print(status_table(rows))
    idle = sorted({r["client"] for r in rows if r["wrapped"].startswith("yes") and r["running"] == "no"})
    if idle:
        click.echo(f"Wrapped but not running: restart {', '.join(idle)} (or it has not started them yet).")
    sys.exit(1 if any(r["wrapped"] == "error" for r in rows) else 0)

# --- end of omproxy wrap / unwrap / status -----------------------------------------------------


if __name__ == "__main__":
    main()
