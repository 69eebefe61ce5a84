"""Nothing outside omproxy_tui.tui (and tui_cli) may import textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib, pkgutil, sys
import omproxy_tui
skip_prefixes = ("omproxy_tui.tui", "omproxy_tui.tui_cli")
names = []
for mod in pkgutil.walk_packages(omproxy_tui.__path__, "omproxy_tui."):
    if mod.name.startswith(skip_prefixes) or mod.name.endswith("__main__"):
        continue
    names.append(mod.name)
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:  # a module that cannot import is reported, not ignored
        failed.append(f"{name}: {exc!r}")
bad = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print("IMPORTED", len(names))
print("FAILED", failed)
print("TEXTUAL", bad[:5])
assert not failed, failed
assert not bad, f"textual imported by a non-tui module: {bad[:5]}"
"""


def test_no_textual_outside_tui():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPORTED" in proc.stdout


def test_client_and_discovery_are_textual_free():
    code = (
        "import sys, omproxy_tui.client, omproxy_tui.protocol.discovery, omproxy_tui.demo.canned;"
        "assert not any(m.split('.')[0] in {'textual', 'rich'} for m in sys.modules), 'textual/rich imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
