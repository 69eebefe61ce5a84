"""``omproxy-tui --max-memory``."""

from __future__ import annotations

from click.testing import CliRunner

from omproxy_tui.core import spool
from omproxy_tui.core.store import Store
from omproxy_tui.tui_cli import main


def test_max_memory_sets_the_budget_of_new_stores(sockdir, monkeypatch):
    monkeypatch.setattr(spool, "_default_max", spool.DEFAULT_MAX_MEMORY)
    assert Store().max_memory == 256 * 1024**2
    result = CliRunner().invoke(main, ["--max-memory", "64k", "--list", "--runtime-dir", str(sockdir)])
    assert result.exit_code == 0, result.output
    assert Store().max_memory == 64 * 1024
    assert "--max-memory" in CliRunner().invoke(main, ["--help"]).output


def test_bad_max_memory_is_a_one_line_error(sockdir, monkeypatch):
    monkeypatch.setattr(spool, "_default_max", spool.DEFAULT_MAX_MEMORY)
    result = CliRunner().invoke(main, ["--max-memory", "lots", "--list", "--runtime-dir", str(sockdir)])
    assert result.exit_code == 2
    assert "--max-memory" in result.output and "not a size: 'lots'" in result.output
    assert Store().max_memory == spool.DEFAULT_MAX_MEMORY
