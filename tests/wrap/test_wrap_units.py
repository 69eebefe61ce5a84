"""The pieces of `omproxy wrap` on their own: the JSONC editor's layouts, each client's paths on
Linux, macOS and Windows, and the choice of the omproxy command the client will run."""

from __future__ import annotations

import json
import os
import stat
from pathlib import PureWindowsPath

import pytest

from omproxy_tui.wrap.clients import MACOS_GUI_PATH, client_by_name, client_path_env, config_files
from omproxy_tui.wrap.entries import recognise, unwrap_entry, wrap_entry
from omproxy_tui.wrap.jsonc import JsoncError, apply_edits, parse
from omproxy_tui.wrap.launcher import launcher_for, parse_override

# --- the JSONC reader --------------------------------------------------------------------------

VALID = [
    '{"a": [1, 2.5, -3e2, true, false, null, "x\\u00e9\\n"], "b": {}}',
    '\ufeff{"bom": 1}',
    "[]",
    '{"a": {"b": [{"c": "d"}]}}',
]


@pytest.mark.parametrize("text", VALID)
def test_parses_like_json(text):
    assert parse(text).py() == json.loads(text.lstrip("\ufeff"))


def test_comments_and_trailing_commas():
    text = '// top\n{\n  /* a */ "a": 1, // one\n  "b": [1, 2,],\n  "c": "// not a comment",\n}\n'
    assert parse(text).py() == {"a": 1, "b": [1, 2], "c": "// not a comment"}


@pytest.mark.parametrize("text", ["", "{", '{"a": }', '{"a" 1}', "[1 2]", "[1,,2]", '{"a": tru}', "{,}", "01"])
def test_invalid_is_an_error_never_a_guess(text):
    with pytest.raises(JsoncError):
        parse(text)


def spans_ok(text: str) -> None:
    """Every node's span re-parses to its own value (the editor relies on exact spans)."""
    def walk(node):
        assert parse(text[node.start:node.end]).py() == node.py()
        for m in node.members:
            assert json.loads(text[m.key_start:m.key_end]) == m.key
            walk(m.value)
        for i in node.items:
            walk(i)
    walk(parse(text))


def test_spans_are_exact():
    spans_ok('{ "a" : [ 1 , {"b":"c"} ] , /*x*/ "d" : { } }')


# --- one entry, in every layout ------------------------------------------------------------------

def wrapped(text: str, key: str = "s") -> str:
    root = parse(text)
    entry = root.get("mcpServers").value.get(key).value
    change = wrap_entry(text, key, entry, ["omproxy"], [])
    assert change.action == "wrapped", change.reason
    out = apply_edits(text, change.edits)
    spans_ok(out)
    return out


LAYOUTS = [
    # no args, inline
    '{"mcpServers": {"s": {"command": "x"}}}',
    # no args, multi-line, a comment after the command, no comma
    '{\n  "mcpServers": {\n    "s": {\n      "command": "x" // why\n    }\n  }\n}\n',
    # no args, trailing comma after command, then env
    '{\n "mcpServers": {\n  "s": {\n   "command": "x", // why\n   "env": {"A": "1"},\n  },\n },\n}',
    # args multi-line, CRLF
    '{\r\n  "mcpServers": {\r\n    "s": {\r\n      "command": "x",\r\n      "args": [\r\n        "a",\r\n'
    '        "b"\r\n      ]\r\n    }\r\n  }\r\n}\r\n',
    # args empty, odd spacing
    '{"mcpServers":{"s":{ "args" : [ ] ,"command":"x" }}}',
    # remote: url only, inline; url with headers multi-line; sse with type
    '{"mcpServers": {"s": {"url": "https://h/mcp"}}}',
    '{\n  "mcpServers": {\n    "s": {\n      "type": "sse",\n      "url": "https://h/sse",\n'
    '      "headers": {"A": "b: c"}\n    }\n  }\n}\n',
    '{"mcpServers": {"s": {"serverUrl": "https://h/sse", "disabled": true}}}',
]


@pytest.mark.parametrize("text", LAYOUTS)
def test_entry_wraps_and_rebuilds_in_every_layout(text):
    out = wrapped(text)
    entry = parse(out).py()["mcpServers"]["s"]
    before = parse(text).py()["mcpServers"]["s"]
    assert entry["command"] == "omproxy" and "--inspect" in entry["args"]
    if "command" in before:
        assert entry["args"][entry["args"].index("--") + 1:] == ["x", *before.get("args", [])]
    if "\r\n" in text:
        assert "\n" not in out.replace("\r\n", "")
    # recognised, so wrapping again does nothing
    node = parse(out).get("mcpServers").value.get("s").value
    assert recognise(node) is not None
    assert wrap_entry(out, "s", node, ["omproxy"], []).action == "already wrapped"
    # the rebuild (used without the journal) gives back the same values
    url_key = "serverUrl" if "serverUrl" in before else "url"
    back = unwrap_entry(out, node, url_key)
    assert back.action == "unwrapped"
    restored = apply_edits(out, back.edits)
    spans_ok(restored)
    # (an empty "args" comes back absent: only the journal knows it was there)
    assert norm(parse(restored).py()) == norm(parse(text).py())


def norm(doc: dict) -> dict:
    for e in doc["mcpServers"].values():
        if e.get("args") == []:
            del e["args"]
    return doc


def test_comment_after_command_stays_on_its_line():
    out = wrapped(LAYOUTS[1])
    assert '"command": "omproxy", // why\n      "args": ["stdio"' in out


def test_not_bridged_remote_entries_say_why():
    for entry, why in (({"type": "ws", "url": "wss://h"}, "transport 'ws'"),
                       ({"url": "https://h", "oauth": {"clientId": "x"}}, "OAuth"),
                       ({"url": "https://h", "headers": {"n": 1}}, "headers"),
                       ({"env": {}}, "neither a command nor a url"),
                       ({"command": "x", "type": "http"}, "type 'http'")):
        text = json.dumps({"mcpServers": {"s": entry}})
        node = parse(text).get("mcpServers").value.get("s").value
        change = wrap_entry(text, "s", node, ["omproxy"], [])
        assert change.action == "skipped" and why in change.reason, change.reason


def test_launcher_prefix_is_recognised():
    text = json.dumps({"mcpServers": {"s": {"command": "/usr/bin/python3",
                                            "args": ["-m", "omproxy_tui", "stdio", "--inspect", "--", "x"]}}})
    node = parse(text).get("mcpServers").value.get("s").value
    assert recognise(node).sub == "stdio"
    for launcher in (["uvx", "--from", "omproxy-tui", "omproxy"], ["/usr/bin/env", "omproxy"],
                     ["C:\\Tools\\omproxy.EXE"]):
        text = json.dumps({"mcpServers": {"s": {"command": "x", "args": ["y"]}}})
        node = parse(text).get("mcpServers").value.get("s").value
        out = apply_edits(text, wrap_entry(text, "s", node, launcher, []).edits)
        again = parse(out).get("mcpServers").value.get("s").value
        assert recognise(again) is not None, launcher
        assert wrap_entry(out, "s", again, launcher, []).action == "already wrapped"
    # a python server that is not omproxy is not mistaken for one
    text = json.dumps({"mcpServers": {"s": {"command": "python3", "args": ["-m", "mypkg", "stdio", "--", "x"]}}})
    assert recognise(parse(text).get("mcpServers").value.get("s").value) is None


# --- paths per OS --------------------------------------------------------------------------------

def paths(client: str, system: str, env: dict, project: str) -> list[str]:
    return [str(f.path) for f in config_files(client_by_name(client), system=system, env=env, project=project)]


def test_windows_paths():
    env = {"USERPROFILE": r"C:\Users\me", "APPDATA": r"C:\Users\me\AppData\Roaming"}
    proj = r"D:\src\app"
    assert paths("claude-desktop", "Windows", env, proj) == [r"C:\Users\me\AppData\Roaming\Claude\claude_desktop_config.json"]
    assert paths("claude-code", "Windows", env, proj) == [r"C:\Users\me\.claude.json", r"D:\src\app\.mcp.json"]
    assert paths("cursor", "Windows", env, proj) == [r"C:\Users\me\.cursor\mcp.json", r"D:\src\app\.cursor\mcp.json"]
    assert paths("vscode", "Windows", env, proj)[::2] == [r"C:\Users\me\AppData\Roaming\Code\User\mcp.json",
                                                          r"D:\src\app\.vscode\mcp.json"]
    assert paths("windsurf", "Windows", env, proj) == [r"C:\Users\me\.codeium\windsurf\mcp_config.json"]
    assert all(isinstance(f.path, PureWindowsPath)
               for f in config_files(client_by_name("cursor"), system="Windows", env=env, project=proj))


def test_macos_paths():
    env = {"HOME": "/Users/me", "XDG_CONFIG_HOME": "/ignored"}
    assert paths("claude-desktop", "Darwin", env, "/p") == [
        "/Users/me/Library/Application Support/Claude/claude_desktop_config.json"]
    assert paths("vscode", "Darwin", env, "/p")[0] == "/Users/me/Library/Application Support/Code/User/mcp.json"
    assert paths("windsurf", "Darwin", env, "/p") == ["/Users/me/.codeium/windsurf/mcp_config.json"]


def test_linux_paths_follow_xdg_and_claude_config_dir():
    env = {"HOME": "/home/me", "XDG_CONFIG_HOME": "/home/me/.cfg", "CLAUDE_CONFIG_DIR": "/home/me/.claude-work"}
    assert paths("claude-desktop", "Linux", env, "/p") == ["/home/me/.cfg/Claude/claude_desktop_config.json"]
    assert paths("vscode", "Linux", env, "/p")[0] == "/home/me/.cfg/Code/User/mcp.json"
    assert paths("claude-code", "Linux", env, "/p") == ["/home/me/.claude-work/.claude.json", "/p/.mcp.json"]
    assert paths("claude-desktop", "Linux", {"HOME": "/home/me"}, "/p") == [
        "/home/me/.config/Claude/claude_desktop_config.json"]


def test_vscode_profiles_have_their_own_files(tmp_path):
    user = tmp_path / ".config" / "Code" / "User"
    for prof in ("1a2b", "9f8e"):
        (user / "profiles" / prof).mkdir(parents=True)
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    got = paths("vscode", "Linux", env, str(tmp_path / "p"))
    assert got == [str(user / "mcp.json"), str(tmp_path / ".config" / "Code - Insiders" / "User" / "mcp.json"),
                   str(user / "profiles" / "1a2b" / "mcp.json"), str(user / "profiles" / "9f8e" / "mcp.json"),
                   str(tmp_path / "p" / ".vscode" / "mcp.json")]


# --- which omproxy command to write --------------------------------------------------------------

def test_bare_name_only_when_the_clients_path_finds_this_omproxy(tmp_path):
    mine = tmp_path / "venv" / "bin"
    other = tmp_path / "other"
    for d in (mine, other):
        d.mkdir(parents=True)
        (d / "omproxy").write_text("#!/bin/sh\n")
        (d / "omproxy").chmod(stat.S_IRWXU)
    exe = str(mine / "omproxy")
    assert launcher_for(f"/usr/bin{os.pathsep}{mine}", exe=exe) == ["omproxy"]
    assert launcher_for("/usr/bin", exe=exe) == [exe]  # not on the client's PATH
    assert launcher_for(f"{other}{os.pathsep}{mine}", exe=exe) == [exe]  # PATH finds a different omproxy
    assert launcher_for("/usr/bin", override=["py", "-m", "omproxy_tui"], exe=exe) == ["py", "-m", "omproxy_tui"]


def test_macos_gui_clients_do_not_get_the_shell_path():
    env = {"PATH": "/home/me/.local/bin:/usr/bin"}
    assert client_path_env(client_by_name("claude-desktop"), system="Darwin", env=env) == MACOS_GUI_PATH
    assert client_path_env(client_by_name("claude-code"), system="Darwin", env=env) == env["PATH"]
    assert client_path_env(client_by_name("cursor"), system="Linux", env=env) == env["PATH"]


def test_command_override_forms():
    assert parse_override('["C:\\\\Py\\\\python.exe", "-m", "omproxy_tui"]') == ["C:\\Py\\python.exe", "-m",
                                                                                  "omproxy_tui"]
    if os.name != "nt":
        assert parse_override("'/opt/my py/python' -m omproxy_tui") == ["/opt/my py/python", "-m", "omproxy_tui"]
    with pytest.raises(ValueError):
        parse_override("[1]")


def test_a_hand_wrapped_entry_without_inspect_is_pointed_out():
    text = json.dumps({"mcpServers": {"s": {"command": "omproxy", "args": ["stdio", "--", "uvx", "x"]}}})
    node = parse(text).get("mcpServers").value.get("s").value
    change = wrap_entry(text, "s", node, ["omproxy"], [])
    assert change.action == "already wrapped" and "without --inspect" in change.reason
    back = apply_edits(text, unwrap_entry(text, node).edits)
    assert parse(back).py() == {"mcpServers": {"s": {"command": "uvx", "args": ["x"]}}}


def test_atomic_write_keeps_mode_and_refuses_a_file_changed_underneath(tmp_path):
    from omproxy_tui.wrap.files import ChangedUnderneath, atomic_write, backup

    f = tmp_path / "c.json"
    f.write_bytes(b"old")
    f.chmod(0o604)
    with pytest.raises(ChangedUnderneath):
        atomic_write(f, b"new", expect=b"what we read earlier")
    assert f.read_bytes() == b"old"
    atomic_write(f, b"new", expect=b"old")
    assert f.read_bytes() == b"new" and stat.S_IMODE(f.stat().st_mode) == 0o604
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]  # no temp file left behind
    b1, b2 = backup(f, now=0), backup(f, now=0)  # same second: two distinct names
    assert b1 != b2 and b1.read_bytes() == b2.read_bytes() == b"new"
    assert stat.S_IMODE(b1.stat().st_mode) == 0o604


def test_rebuild_never_drops_old_form_headers():
    text = json.dumps({"mcpServers": {"s": {"command": "omproxy", "args": [
        "http", "--inspect", "--url", "https://h/mcp", "--headers", "Authorization=Bearer x"]}}})
    node = parse(text).get("mcpServers").value.get("s").value
    change = unwrap_entry(text, node)
    assert change.action == "skipped" and "--headers" in change.reason and not change.edits
