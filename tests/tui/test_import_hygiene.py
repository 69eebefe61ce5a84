"""Import hygiene, per package, each checked in a fresh interpreter (what the README promises):

* ``protocol/`` imports only the standard library (third parties can vendor it);
* ``core/`` never imports mcp, pydantic, rich or textual (the proxy evaluates filters with it);
* ``proxy/`` and ``inspect/`` never import textual (nor rich);
* ``client/``, ``demo/canned`` and ``core/`` never import textual or rich;
* nothing outside ``tui/`` (and ``tui_cli``) imports textual;
* a plain relay (``omproxy stdio -- server``, no hooks, no inspector) never imports asyncio.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from helpers import RAW_SERVER, omproxy_cmd  # noqa: E402

PROBE = r"""
import importlib, json, pkgutil, sys
pkg = importlib.import_module(sys.argv[1])
names = [pkg.__name__]
if hasattr(pkg, "__path__"):
    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
names = [n for n in names if not n.endswith("__main__")]  # importing it would run the CLI
before = set(sys.modules)
for name in names:
    importlib.import_module(name)
print(json.dumps({"names": names, "modules": sorted(set(sys.modules) - before)}))
"""


def imported_by(package: str) -> tuple[list[str], set[str]]:
    """(modules of ``package``, the modules importing all of them loaded beyond start-up's)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, package], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["names"], set(out["modules"])


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_protocol_imports_only_the_standard_library():
    names, modules = imported_by("omproxy_tui.protocol")
    assert "omproxy_tui.protocol.builder" in names and "omproxy_tui.protocol.recording" in names
    third_party = {t for t in tops(modules) if t not in sys.stdlib_module_names and t != "omproxy_tui"}
    assert not third_party, third_party
    ours = {m for m in modules if m.startswith("omproxy_tui.") and not m.startswith("omproxy_tui.protocol")}
    assert not ours, f"protocol/ imports the rest of omproxy_tui: {sorted(ours)}"


@pytest.mark.parametrize("package, forbidden", [
    ("omproxy_tui.core", {"mcp", "mcp_types", "pydantic", "rich", "textual"}),
    ("omproxy_tui.client", {"mcp", "mcp_types", "pydantic", "rich", "textual"}),
    ("omproxy_tui.demo.canned", {"mcp", "mcp_types", "pydantic", "rich", "textual"}),
    ("omproxy_tui.proxy", {"textual", "rich"}),
    ("omproxy_tui.inspect", {"textual", "rich"}),
])
def test_package_never_imports(package, forbidden):
    names, modules = imported_by(package)
    assert names
    bad = tops(modules) & forbidden
    assert not bad, f"{package} imports {sorted(bad)}"


def test_no_textual_outside_tui():
    names, modules = imported_by("omproxy_tui")
    skip = ("omproxy_tui.tui", "omproxy_tui.tui_cli")
    checked = [n for n in names if not n.startswith(skip) and not n.endswith("__main__")]
    # import everything but tui/ in one fresh interpreter
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({n!r})\n" for n in checked) + (
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\nassert not bad, bad[:5]\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(checked) > 20


def test_a_plain_relay_never_imports_asyncio():
    """``-X importtime`` lists every module the relay process imports, on its stderr."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *omproxy_cmd("stdio", "--", *RAW_SERVER, "echo")[1:]],
                          input=b'{"jsonrpc":"2.0","id":1,"method":"m"}\n', capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["id"] == 1
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()
                if line.startswith("import time:")}
    assert "omproxy_tui.proxy.stdio" in imported  # the probe sees the relay's own imports
    heavy = {m for m in imported if m.split(".")[0] in {"asyncio", "textual", "mcp", "pydantic", "opentelemetry"}}
    assert not heavy, sorted(heavy)
