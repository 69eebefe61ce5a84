"""The omproxy-tui click entry point."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from omproxy_tui.tui_cli import main


def test_help_lists_options():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for opt in ("--socket", "--open", "--demo", "--list"):
        assert opt in result.output


def test_list_running_proxies(sockdir):
    pid = os.getpid()
    (sockdir / f"{pid}.sock").write_text("")
    (sockdir / f"{pid}.json").write_text(json.dumps({"pid": pid, "name": "mine", "transport": "stdio",
                                                     "target": ["srv", "--x"]}))
    result = CliRunner().invoke(main, ["--list", "--runtime-dir", str(sockdir)])
    assert result.exit_code == 0
    assert "mine" in result.output and "srv --x" in result.output
    empty = CliRunner().invoke(main, ["--list", "--runtime-dir", str(sockdir / "nope")])
    assert "no running proxies" in empty.output


def test_open_missing_file_is_a_clear_error():
    result = CliRunner().invoke(main, ["--open", "/nonexistent/x.jsonl"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
