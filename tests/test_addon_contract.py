"""The addon contract (issue 7): declared once in proxy/addon.py, and the proxy calls nothing else."""

import os
import re

from helpers import RAW_SERVER, ROOT, run_proxy

from omproxy_tui.proxy import addon


def test_the_proxy_reads_only_declared_members_from_addons():
    """Every name the proxy looks up on an addon is in the contract."""
    used = set()
    for path in (ROOT / "omproxy_tui" / "proxy").glob("*.py"):
        used |= set(re.findall(r'getattr\((?:addon|a), "(\w+)"', path.read_text()))
    used |= set(addon.OTHER_HOOKS) | set(addon.MESSAGE_HOOKS)
    assert used and used <= set(addon.MEMBERS), used - set(addon.MEMBERS)
    declared = {n for n in vars(addon.Addon) if not n.startswith("__") and not n.startswith("_abc")
                and n not in ("_is_protocol", "_is_runtime_protocol")}
    declared |= set(addon.Addon.__annotations__)
    assert declared == set(addon.MEMBERS), declared ^ set(addon.MEMBERS)


def test_an_addon_is_called_in_the_documented_order():
    r = run_proxy(["stdio", "--hooks", "hardening_hooks:WithContractProbe"], [*RAW_SERVER, "stderr"],
                  b'{"jsonrpc":"2.0","id":1,"method":"m"}\n', env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")))
    assert r.returncode == 0, r.stderr[-2000:]
    calls = r.stderr.decode().split("CALLS ", 1)[1].split()
    assert calls[:4] == ["prepare", "loop_started", "lifecycle:spawned", "start"], calls
    middle = calls[4:]
    assert {"client_message", "server_message", "stderr"} <= set(middle)
    assert calls.index("lifecycle:closing") < calls.index("close") < calls.index("loop_stopping") \
        < calls.index("shutdown") == len(calls) - 1
    assert calls.index("lifecycle:exited") < calls.index("close")
