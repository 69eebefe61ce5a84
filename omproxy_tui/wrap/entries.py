"""Turning one server entry into its omproxy-wrapped form and back, as edits inside the entry.

Only ``command`` and ``args`` change for a stdio server (and ``url``/``headers``/``type`` for a
remote one); ``env``, ``envFile``, ``cwd``, ``disabled``, comments and ``${input:…}``-style
variables stay as written, because the client resolves them before it starts the command. The
original command and arguments are copied into the new ``args`` as their exact source text, so
escapes and variables survive byte for byte.

A wrapped entry is recognised by its command line alone (``omproxy stdio|http|sse … --name KEY``,
or ``python -m omproxy_tui …``), so wrapping twice changes nothing and unwrapping works even
without the journal that makes it byte-exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .jsonc import Edit, Node, delete_member, dumps, insert_member_after, render_array

__all__ = ["Wrapped", "EntryChange", "recognise", "wrap_entry", "unwrap_entry", "remote_kind", "options_ok"]

REMOTE_TYPES = {"http": "http", "streamable-http": "http", "streamablehttp": "http", "sse": "sse"}


@dataclass
class Wrapped:
    """A wrapped entry's command line, read back: which omproxy subcommand, and what it runs."""
    sub: str  # stdio, http or sse
    name: str | None
    inner: list[int] = field(default_factory=list)  # stdio: indexes into args of the server's argv
    url: int | None = None  # remote: index into args of the URL
    headers: list[str] = field(default_factory=list)
    inspect: bool = False  # serves the inspect channel, so omproxy-tui can see it


@dataclass
class EntryChange:
    action: str  # wrapped, unwrapped, already wrapped, not wrapped, skipped
    edits: list[Edit] = field(default_factory=list)
    reason: str = ""


def _strings(node: Node | None) -> list[str] | None:
    if node is None or node.kind != "array" or any(i.kind != "string" for i in node.items):
        return None
    return [i.value for i in node.items]


def _is_omproxy(command: str) -> bool:
    base = command.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for ext in (".exe", ".cmd", ".bat"):
        base = base.removesuffix(ext)
    return base == "omproxy"


def _subcommand_at(command: str, args: list[str]) -> int | None:
    """Where omproxy's subcommand sits in args, when this command line runs omproxy."""
    for i, a in enumerate(args):
        if a not in ("stdio", "http", "sse"):
            continue
        before = command if i == 0 else args[i - 1]
        if _is_omproxy(before) or (before == "omproxy_tui" and i >= 2 and args[i - 2] == "-m"):
            return i
        return None  # the first subcommand-like word is not omproxy's: a server's own argument
    return None


def recognise(entry: Node) -> Wrapped | None:
    """The wrapped form of an entry, or None when it is not one of ours."""
    if entry.kind != "object":
        return None
    cmd = entry.get("command")
    args_m = entry.get("args")
    args = _strings(args_m.value) if args_m else []
    if cmd is None or cmd.value.kind != "string" or args is None:
        return None
    # the launcher may be `omproxy`, `python -m omproxy_tui`, `uvx --from omproxy-tui omproxy`, …
    start = _subcommand_at(cmd.value.value, args)
    if start is None:
        return None
    w = Wrapped(sub=args[start], name=None)
    i = start + 1
    while i < len(args):
        a = args[i]
        if w.sub == "stdio" and a == "--":
            w.inner = list(range(i + 1, len(args)))
            break
        if a == "--name" and i + 1 < len(args):
            w.name = args[i + 1]
            i += 2
            continue
        if a.startswith("--name="):
            w.name = a[7:]
        if a in ("--inspect", "--inspect-wait") or a.startswith("--inspect-socket"):
            w.inspect = True
        if w.sub != "stdio":
            if a == "--url" and i + 1 < len(args):
                w.url = i + 1
                i += 2
                continue
            if a in ("-H", "--header") and i + 1 < len(args):
                w.headers.append(args[i + 1])
                i += 2
                continue
        i += 1
    if w.sub == "stdio" and not w.inner:
        return None
    if w.sub != "stdio" and w.url is None:
        return None
    return w


def remote_kind(entry: Node, url_key: str) -> str | None:
    """http or sse for a remote entry (from its type, else its URL), None for a stdio one."""
    url_m = entry.get("url") or entry.get("serverUrl") or entry.get(url_key)
    if url_m is None or entry.get("command") is not None:
        return None
    t = entry.get("type")
    if t is not None and t.value.kind == "string":
        return REMOTE_TYPES.get(t.value.value.lower().replace("_", "-"), t.value.value)
    url = url_m.value.value if url_m.value.kind == "string" else ""
    return "sse" if url.rstrip("/").endswith("/sse") else "http"


def wrap_entry(text: str, key: str, entry: Node, launcher: list[str], options: list[str],
               accepts_stdio: bool = True) -> EntryChange:
    if entry.kind != "object":
        return EntryChange("skipped", reason="not an object")
    w = recognise(entry)
    if w is not None:
        if not w.inspect:
            return EntryChange("already wrapped", reason="by hand, without --inspect: omproxy-tui cannot see "
                                                         "it (unwrap it, then wrap it again)")
        return EntryChange("already wrapped")
    cmd = entry.get("command")
    head = [dumps(a) for a in launcher[1:]]
    if cmd is not None:
        if cmd.value.kind != "string":
            return EntryChange("skipped", reason="its command is not a string")
        t = entry.get("type")
        if t is not None and t.value.py() not in ("stdio", None):
            return EntryChange("skipped", reason=f"it has a command but type {t.value.py()!r}")
        args_m = entry.get("args")
        if args_m is not None and args_m.value.kind != "array":
            return EntryChange("skipped", reason="its args is not a list")
        ours = [dumps(a) for a in ["stdio", "--inspect", "--name", key, *options, "--"]]
        inner = [cmd.value.text(text)] + ([i.text(text) for i in args_m.value.items] if args_m else [])
        new_args = render_array(text, args_m.value if args_m else None, head + ours + inner)
        edits = [Edit(cmd.value.start, cmd.value.end, dumps(launcher[0]))]
        if args_m is not None:
            edits.append(Edit(args_m.value.start, args_m.value.end, new_args))
        else:
            edits += insert_member_after(text, entry, cmd, "args", new_args)
        return EntryChange("wrapped", edits)
    url_m = entry.get("url") or entry.get("serverUrl")
    if url_m is None:
        return EntryChange("skipped", reason="neither a command nor a url")
    if url_m.value.kind != "string":
        return EntryChange("skipped", reason="its url is not a string")
    kind = remote_kind(entry, url_m.key)
    if kind not in ("http", "sse"):
        return EntryChange("skipped", reason=f"transport {kind!r} cannot be bridged to stdio")
    if not accepts_stdio:
        return EntryChange("skipped", reason="this client does not start stdio servers")
    for blocker, why in (("oauth", "the client runs its OAuth login"),
                         ("headersHelper", "its headers come from a helper command the client runs")):
        if entry.get(blocker) is not None:
            return EntryChange("skipped", reason=f"remote server: {why}, which omproxy cannot do")
    hdr_m = entry.get("headers")
    headers: list[str] = []
    if hdr_m is not None:
        if hdr_m.value.kind != "object" or any(m.value.kind != "string" for m in hdr_m.value.members):
            return EntryChange("skipped", reason="its headers are not all strings")
        for m in hdr_m.value.members:
            headers += ["-H", f"{m.key}: {m.value.value}"]
    ours = [dumps(a) for a in [kind, "--inspect", "--name", key, *options, "--url"]]
    ours.append(url_m.value.text(text))
    ours += [dumps(h) for h in headers]
    new_args = render_array(text, None, head + ours)
    edits = [Edit(url_m.key_start, url_m.value.end, f'"command": {dumps(launcher[0])}')]
    if hdr_m is not None:
        edits.append(Edit(hdr_m.key_start, hdr_m.value.end, f'"args": {new_args}'))
    else:
        edits += insert_member_after(text, entry, url_m, "args", new_args)
    t = entry.get("type")
    if t is not None:
        edits.append(Edit(t.value.start, t.value.end, dumps("stdio")))
    return EntryChange("wrapped", edits)


def unwrap_entry(text: str, entry: Node, url_key: str = "url") -> EntryChange:
    """Rebuild the original entry from the wrapped command line (used when the journal's copy of
    the original cannot be used: the entry was edited since, or the journal is gone)."""
    w = recognise(entry)
    if w is None:
        return EntryChange("not wrapped")
    cmd = entry.get("command")
    args_m = entry.get("args")
    assert cmd is not None and args_m is not None
    items = args_m.value.items
    if w.sub == "stdio":
        edits = [Edit(cmd.value.start, cmd.value.end, items[w.inner[0]].text(text))]
        rest = [items[i].text(text) for i in w.inner[1:]]
        if rest:
            edits.append(Edit(args_m.value.start, args_m.value.end, render_array(text, args_m.value, rest)))
        else:
            edits += delete_member(text, entry, args_m)
        return EntryChange("unwrapped", edits)
    if any(i.value == "--headers" or i.value.startswith("--headers=") for i in items):
        # omproxy 0.3's header form: rebuilding without it would silently drop credentials
        return EntryChange("skipped", reason="its --headers (old form) cannot be read back; edit it by hand")
    edits = [Edit(cmd.key_start, cmd.value.end, f"{dumps(url_key)}: {items[w.url].text(text)}")]
    headers = {}
    for h in w.headers:
        name, sep, value = h.partition(":")
        if not sep:
            return EntryChange("skipped", reason=f"cannot read header {h!r} back")
        headers[name.strip()] = value.strip()
    if headers:
        edits.append(Edit(args_m.key_start, args_m.value.end, f'"headers": {dumps(headers)}'))
    else:
        edits += delete_member(text, entry, args_m)
    t = entry.get("type")
    if t is not None:
        edits.append(Edit(t.value.start, t.value.end, dumps(w.sub)))
    return EntryChange("unwrapped", edits)


def options_ok(options: list[str]) -> str | None:
    """Why these omproxy options cannot be put on every wrapped server, or None."""
    for bad, why in (("--name", "each server gets its own --name (its key)"),
                     ("--inspect-socket", "servers cannot share one inspect socket"),
                     ("--record", "servers would all write the same file")):
        if any(o == bad or o.startswith(bad + "=") for o in options):
            return f"{bad}: {why}"
    if "--" in options:
        return "'--' is not an omproxy option"
    return None

