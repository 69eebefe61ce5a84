"""Fixtures for omproxy-tui tests: no animations, UTC clock, short socket paths, a fake proxy."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ["TEXTUAL_ANIMATIONS"] = "none"
os.environ["TZ"] = "UTC"
time.tzset()

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _own_config_file(tmp_path, monkeypatch):
    """Every app reads its config file (saved filters, keys) from the test's own directory, never
    the developer's ~/.config/omproxy/tui.json."""
    monkeypatch.setenv("OMPROXY_TUI_CONFIG", str(tmp_path / "omproxy-tui.json"))
    monkeypatch.delenv("OMPROXY_TUI_KEYMAP", raising=False)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def sockdir():
    """A short directory for unix sockets (AF_UNIX paths must stay under ~100 bytes)."""
    path = tempfile.mkdtemp(prefix="omt", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)
