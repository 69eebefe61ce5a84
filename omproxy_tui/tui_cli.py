"""``omproxy-tui``: attach to running omproxy proxies (or a recording, or a demo) and watch."""

from __future__ import annotations

import sys

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--socket", "sockets", multiple=True, type=click.Path(dir_okay=False),
              help="Attach to this inspect socket (repeatable). Default: every running proxy.")
@click.option("--open", "recordings", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Open a recording (.jsonl of inspect frames, or an export) offline.")
@click.option("--demo", is_flag=True, help="Start a demo MCP server behind a real proxy, with a scripted client.")
@click.option("--runtime-dir", type=click.Path(file_okay=False), default=None,
              help="Where to look for proxies (default: $XDG_RUNTIME_DIR/omproxy or <tmp>/omproxy-<uid>).")
@click.option("--list", "list_only", is_flag=True, help="List running proxies and exit.")
@click.option("--max-memory", "max_memory", default="256m", show_default=True, metavar="SIZE",
              help="Memory for message bodies (k/m/g suffixes); older bodies beyond it are kept in a "
                   "private spool file and read back when shown, searched or exported.")
def main(sockets: tuple[str, ...], recordings: tuple[str, ...], demo: bool, runtime_dir: str | None,
         list_only: bool, max_memory: str) -> None:
    """Watch MCP traffic through running `omproxy stdio --inspect` proxies, live.

    With no options every running proxy is attached and new ones are picked up as they start.
    """
    from omproxy_tui.core import spool

    try:
        spool.set_default_max_memory(spool.parse_size(max_memory))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-memory") from None
    if list_only:
        from omproxy_tui.protocol.discovery import list_proxies

        proxies = list_proxies(runtime_dir)
        if not proxies:
            click.echo("no running proxies")
        for p in proxies:
            target = p.get("target")
            target = " ".join(target) if isinstance(target, list) else (target or "")
            click.echo(f"{p['pid']:>7}  {p.get('name', '?'):<16} {p.get('transport', '?'):<6} {p['socket']}  {target}")
        return

    from omproxy_tui.tui.app import build_app

    runner = None
    sockets_all = list(sockets)
    if demo:
        from omproxy_tui.demo.runner import DemoRunner

        runner = DemoRunner()
        try:
            sockets_all.append(runner.start())
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    discover = not sockets_all and not recordings
    app = build_app(sockets=sockets_all, recordings=recordings, discover=discover, discover_dir=runtime_dir,
                    demo=runner)
    try:
        app.run()
    finally:
        if runner is not None:
            runner.stop()
    if app.return_code:
        sys.exit(app.return_code)


if __name__ == "__main__":  # pragma: no cover
    main()
