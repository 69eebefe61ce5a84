"""`omproxy wrap` / `unwrap` / `status` on real-shaped configs of every client, through the real CLI
in a subprocess, on a fake HOME: round trips are byte-identical, wrapping is idempotent, dry runs
write nothing, invalid files are refused with their location and left alone."""

from __future__ import annotations

import json
import os
import stat

import pytest

from machine import Machine

from omproxy_tui.wrap.jsonc import parse

CASES = [
    # id, client, scope, fixture, windows (CRLF + BOM)
    ("claude-desktop", "claude-desktop", "user", "claude_desktop_config.json", False),
    ("claude-desktop-windows", "claude-desktop", "user", "windows_claude_desktop_config.json", True),
    ("claude-code-user", "claude-code", "user", "claude.json", False),
    ("claude-code-project", "claude-code", "project", "project.mcp.json", False),
    ("cursor-user", "cursor", "user", "cursor.mcp.json", False),
    ("cursor-project", "cursor", "project", "cursor.mcp.json", False),
    ("vscode-user", "vscode", "user", "vscode.mcp.json", False),
    ("vscode-workspace", "vscode", "project", "vscode.mcp.json", False),
    ("windsurf", "windsurf", "user", "windsurf.mcp_config.json", False),
]

# entries the fixtures hold that must be skipped, with a word of the reason
SKIPPED = {"corp": "helper command"}


def load(path) -> dict:
    return parse(path.read_bytes().decode("utf-8")).py()


def tables(doc: dict) -> dict[str, dict]:
    """Every server entry of a document, by a readable path."""
    out = {}
    for t in ("mcpServers", "servers"):
        for k, v in (doc.get(t) or {}).items():
            out[f"{t}/{k}"] = (k, v)
    for p, proj in (doc.get("projects") or {}).items():
        for k, v in (proj.get("mcpServers") or {}).items():
            out[f"projects/{p}/{k}"] = (k, v)
    return out


def without_servers(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for t in ("mcpServers", "servers"):
        doc.pop(t, None)
    for proj in (doc.get("projects") or {}).values():
        proj.pop("mcpServers", None)
    return doc


def check_wrapped(key: str, orig: dict, new: dict) -> None:
    """The wrapped entry runs omproxy with --inspect --name KEY in front of exactly the original."""
    args = new["args"]
    if "command" in orig:
        sep = args.index("--")
        ours = args[:sep]
        assert ours[ours.index("stdio"):][:4] == ["stdio", "--inspect", "--name", key]
        assert args[sep + 1:] == [orig["command"], *orig.get("args", [])]
        rest = {k: v for k, v in new.items() if k not in ("command", "args")}
        assert rest == {k: v for k, v in orig.items() if k not in ("command", "args")}
    else:
        url = orig.get("url", orig.get("serverUrl"))
        kind = orig.get("type") or ("sse" if url.endswith("/sse") else "http")
        start = next(i for i, a in enumerate(args) if a in ("http", "sse"))
        assert args[start:start + 4] == [kind, "--inspect", "--name", key]
        assert args[args.index("--url") + 1] == url
        hs = [args[i + 1] for i, a in enumerate(args) if a == "-H"]
        assert hs == [f"{k}: {v}" for k, v in (orig.get("headers") or {}).items()]
        if "type" in orig:
            assert new["type"] == "stdio"
        rest = {k: v for k, v in new.items() if k not in ("command", "args", "type")}
        assert rest == {k: v for k, v in orig.items() if k not in ("url", "serverUrl", "headers", "type")}
    assert os.path.basename(new["command"]).startswith("omproxy") or args[:2] == ["-m", "omproxy_tui"]


@pytest.mark.parametrize("client,scope,fixture,windows", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrap_is_idempotent_and_unwrap_is_byte_identical(tmp_path, client, scope, fixture, windows):
    m = Machine(tmp_path)
    path = m.place(client, fixture, scope, windows=windows)
    path.chmod(0o640)
    original = path.read_bytes()

    r = m.run("wrap", client)
    assert r.returncode == 0, r.stderr
    wrapped = path.read_bytes()
    assert wrapped != original
    if windows:
        assert wrapped.startswith(b"\xef\xbb\xbf") and b"\n" not in wrapped.replace(b"\r\n", b"")
    before, after = load_bytes(original), load(path)
    assert without_servers(after) == without_servers(before)  # nothing else in the file changed
    old_entries, new_entries = tables(before), tables(after)
    assert old_entries.keys() == new_entries.keys()
    for where, (key, orig) in old_entries.items():
        new = new_entries[where][1]
        if key in SKIPPED:
            assert new == orig
            assert SKIPPED[key] in r.stdout
        else:
            check_wrapped(key, orig, new)
    # a backup of the original, beside it; permissions kept on both
    [bak] = m.backups(path)
    assert bak.read_bytes() == original
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 == stat.S_IMODE(bak.stat().st_mode)

    again = m.run("wrap", client)
    assert again.returncode == 0, again.stderr
    assert path.read_bytes() == wrapped
    assert "already wrapped" in again.stdout
    assert len(m.backups(path)) == 1  # nothing written, so no new backup

    r = m.run("unwrap", client)
    assert r.returncode == 0, r.stderr
    assert path.read_bytes() == original
    assert "unwrapped" in r.stdout


def load_bytes(data: bytes) -> dict:
    return parse(data.decode("utf-8")).py()


def test_dry_run_changes_nothing_and_prints_a_diff(tmp_path):
    m = Machine(tmp_path)
    paths = [m.place("vscode", "vscode.mcp.json", "project"), m.place("claude-code", "claude.json")]
    before = [p.read_bytes() for p in paths]
    r = m.run("wrap", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert [p.read_bytes() for p in paths] == before
    assert not any(m.backups(p) for p in paths)
    assert not m.journal().exists()
    for p in paths:
        assert f"--- {p}" in r.stdout or f"--- ~" in r.stdout
    assert '-\t\t\t"command": "npx", // from the user\'s PATH' in r.stdout
    assert '"args": ["stdio", "--inspect", "--name", "Perplexity", "--", "npx", "-y"' in r.stdout
    assert "would be wrapped" in r.stdout

    # unwrap --dry-run of a wrapped file writes nothing either
    assert m.run("wrap").returncode == 0
    wrapped = [p.read_bytes() for p in paths]
    r = m.run("unwrap", "--dry-run")
    assert r.returncode == 0 and "would be unwrapped" in r.stdout
    assert [p.read_bytes() for p in paths] == wrapped


def test_diff_is_coloured(tmp_path):
    from omproxy_tui.wrap.clients import custom_file
    from omproxy_tui.wrap.journal import Journal
    from omproxy_tui.wrap.plan import plan_file
    from omproxy_tui.wrap.report import diff

    p = tmp_path / "c.json"
    p.write_text('{"mcpServers": {"a": {"command": "x"}}}\n')
    plan = plan_file(custom_file(p), "wrap", journal=Journal(tmp_path / "j.json"), launcher=["omproxy"])
    out = diff(plan)
    assert "\x1b[31m-" in out and "\x1b[32m+" in out and "\x1b[36m@@" in out


BROKEN = [
    ('{\n  "mcpServers": {\n    "a": {"command": "x"}\n    "b": {"command": "y"}\n  }\n}\n', 4, 5, "expected ','"),
    ('{\n  "servers": {} /* never closed\n}\n', 2, 17, "unterminated"),
    ('{"mcpServers": {}}\n}', 2, 1, "after the end"),
    ("{\n  'mcpServers': {}\n}\n", 2, 3, "double quotes"),
    ('{\n  "mcpServers": {"a": {"command": "bad\tTAB"}}\n}\n', 2, 39, "control character"),
    ('{"mcpServers": {"a": {"command": "x\\q"}}}', 1, 36, "invalid escape"),
    ('{"mcpServers": {"a": {"command": "x}}}\n', 1, 39, "unterminated string"),
]


@pytest.mark.parametrize("text,line,col,what", BROKEN)
def test_invalid_json_is_refused_with_its_location(tmp_path, text, line, col, what):
    m = Machine(tmp_path)
    bad = m.path_for("cursor")
    bad.parent.mkdir(parents=True)
    bad.write_text(text)
    good = m.place("windsurf", "windsurf.mcp_config.json")
    r = m.run("wrap")
    assert r.returncode == 1
    assert f"mcp.json: line {line}, column {col}: " in r.stderr
    assert what in r.stderr
    assert bad.read_text() == text and not m.backups(bad)
    # the other client's file is still wrapped: one bad file loses nothing else
    assert "omproxy" in good.read_text() and m.backups(good)


def test_unwrap_after_user_edits_restores_what_it_can_and_reports_the_rest(tmp_path):
    m = Machine(tmp_path)
    path = m.place("vscode", "vscode.mcp.json", "project")
    original = load(path)
    assert m.run("wrap").returncode == 0
    text = path.read_text()
    # the user changes one wrapped entry's env, and replaces another's command altogether
    text = text.replace('"${input:perplexity-key}"\n', '"${input:other-key}"\n', 1)
    text = text.replace('"fetch": {"type": "stdio", "command": "omproxy"', '"fetch": {"type": "stdio", "command": "mine"')
    text = text.replace(f'"fetch": {{"type": "stdio", "command": "{_launcher(path)}"',
                        '"fetch": {"type": "stdio", "command": "mine"')
    path.write_text(text)
    r = m.run("unwrap")
    assert r.returncode == 0, r.stderr
    now = load(path)
    p = now["servers"]["Perplexity"]
    assert p["command"] == "npx" and p["args"] == ["-y", "server-perplexity-ask"]
    assert p["env"] == {"PERPLEXITY_API_KEY": "${input:other-key}"}  # the user's edit survives
    assert now["servers"]["github"] == original["servers"]["github"]  # untouched since: exact
    assert now["servers"]["fetch"]["command"] == "mine"
    assert "Perplexity: unwrapped — edited since it was wrapped" in r.stdout
    assert "fetch: skipped — changed since it was wrapped" in r.stdout


def _launcher(path) -> str:
    return load(path)["servers"]["github"]["command"]


def test_unwrap_without_the_journal_rebuilds_from_the_command_line(tmp_path):
    m = Machine(tmp_path)
    paths = [m.place("claude-code", "claude.json"), m.place("windsurf", "windsurf.mcp_config.json"),
             m.place("cursor", "cursor.mcp.json")]
    originals = [load(p) for p in paths]
    assert m.run("wrap").returncode == 0
    m.journal().unlink()
    r = m.run("unwrap")
    assert r.returncode == 0, r.stderr
    assert [load(p) for p in paths] == originals
    assert "rebuilt from its command line" in r.stdout


def test_symlinked_config_stays_a_symlink(tmp_path):
    m = Machine(tmp_path)
    real = tmp_path / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    real.write_bytes(m.place("cursor", "cursor.mcp.json").read_bytes())
    link = m.path_for("cursor")
    link.unlink()
    link.symlink_to(real)
    original = real.read_bytes()
    assert m.run("wrap").returncode == 0
    assert link.is_symlink() and real.read_bytes() != original
    assert m.run("unwrap").returncode == 0
    assert link.is_symlink() and real.read_bytes() == original


def test_omproxy_options_go_on_every_server_and_bad_ones_are_refused(tmp_path):
    m = Machine(tmp_path)
    path = m.place("cursor", "cursor.mcp.json")
    original = path.read_bytes()
    for bad, why in ((["--name", "x"], "--name"), (["--record", "f.jsonl"], "--record"),
                     (["--bogus"], "no such omproxy option"), (["nosuch"], "unknown client"),
                     (["--inspect-backlog", "many"], "many")):
        r = m.run("wrap", *bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert why in r.stderr
        assert path.read_bytes() == original
    r = m.run("wrap", "cursor", "--inspect-wait", "--inspect-backlog", "50", "--no-redact")
    assert r.returncode == 0, r.stderr
    doc = load(path)
    gh = doc["mcpServers"]["github"]["args"]
    assert gh[gh.index("stdio"):gh.index("--")] == ["stdio", "--inspect", "--name", "github", "--inspect-wait",
                                                     "--inspect-backlog", "50", "--no-redact"]
    c7 = doc["mcpServers"]["context7"]["args"]
    assert "--inspect-wait" in c7 and c7[c7.index("--url") + 1] == "https://mcp.context7.com/mcp"
    # a stdio-only option cannot go on a remote bridge: the remote server is skipped, not broken
    assert m.run("unwrap").returncode == 0 and path.read_bytes() == original
    r = m.run("wrap", "--cwd", "/tmp")
    assert r.returncode == 0, r.stderr
    assert "context7: skipped — remote server: the omproxy options given are for stdio servers only" in r.stdout
    assert "url" in load(path)["mcpServers"]["context7"]


def test_server_and_client_selection(tmp_path):
    m = Machine(tmp_path)
    cursor = m.place("cursor", "cursor.mcp.json")
    vscode = m.place("vscode", "vscode.mcp.json", "project")
    vs_before = vscode.read_bytes()
    r = m.run("wrap", "cursor", "--server", "github")
    assert r.returncode == 0, r.stderr
    doc = load(cursor)
    assert "--inspect" in doc["mcpServers"]["github"]["args"]
    assert "url" in doc["mcpServers"]["context7"]  # not selected
    assert vscode.read_bytes() == vs_before  # another client
    r = m.run("wrap", "--server", "nope")
    assert r.returncode == 1 and "no server named nope" in r.stderr
    r = m.run("wrap", "cursor", "--no-remote")
    assert "context7: skipped — remote server (--no-remote)" in r.stdout


def test_config_option_takes_any_file_of_a_known_shape(tmp_path):
    m = Machine(tmp_path)
    f = tmp_path / "elsewhere.json"
    f.write_bytes((m.place("claude-code", "claude.json")).read_bytes())
    m.path_for("claude-code").unlink()
    original = f.read_bytes()
    r = m.run("wrap", "--config", str(f))
    assert r.returncode == 0, r.stderr
    assert "postgres (project /home/me/src/app): wrapped" in r.stdout
    assert m.run("unwrap", "--config", str(f)).returncode == 0
    assert f.read_bytes() == original


def test_status_table(tmp_path):
    m = Machine(tmp_path, runtime_dir=str(tmp_path / "run"))
    m.place("windsurf", "windsurf.mcp_config.json")
    m.place("claude-code", "project.mcp.json", "project")
    assert m.run("wrap", "windsurf").returncode == 0
    r = m.run("status")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert ["client", "file", "server", "wrapped", "running"] == rows[0]
    assert any(row[:1] == ["Windsurf"] and "git" in row and "yes" in row for row in rows)
    assert any(row[:2] == ["Claude", "Code"] and "api" in row and "no" in row for row in rows)
    assert "Wrapped but not running: restart Windsurf" in r.stdout
