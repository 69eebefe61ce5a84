"""Attacks on the stdio relay and its hook runner (issue 8): no line, hook or server behaviour may
kill a relay thread, lose a reply, hang or orphan a process. Real subprocesses and pipes only."""

import json
import os

import pytest

from helpers import RAW_SERVER, ROOT, run_proxy

HOOK_ENV = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
GOOD_REPLY = b'{"jsonrpc":"2.0","id":1,"result":{}}'
HOSTILE = [
    b"[]",  # an empty batch: no elements at all
    b"[" * 990 + b"]" * 990,  # deep enough to break recursive re-encoding of batch elements
    b"[" * 1500 + b"]" * 1500,  # deeper than the C scanner's recursion limit
    b'[{"jsonrpc":"2.0","method":"a"},[]]',
]


def script_server(tmp_path, lines: list[bytes]) -> tuple[list[str], str]:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(line + b"\n" for line in lines))
    rec = tmp_path / "rec.jsonl"
    return [*RAW_SERVER, "script", str(out), str(rec)], str(rec)


@pytest.mark.parametrize("hooks", ["hardening_hooks:RawBoth", "hardening_hooks:TypedBoth",
                                   "omproxy_tui.examples.method_counter:MethodCounter",
                                   "hardening_hooks:ModifiesNested"])
def test_no_line_kills_a_relay_thread(tmp_path, hooks):
    """Issue 8 item 3: hostile lines both ways, with each kind of hook installed; every line after
    them is still relayed and omproxy exits at EOF."""
    server, rec = script_server(tmp_path, [*HOSTILE, GOOD_REPLY])
    nest = b'{"jsonrpc":"2.0","id":2,"method":"nest"}'
    sent = b"".join(x + b"\n" for x in [*HOSTILE, nest, b'{"jsonrpc":"2.0","id":3,"method":"m"}'])
    r = run_proxy(["stdio", "--hooks", hooks], server, sent, timeout=30, env=HOOK_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout.splitlines()
    assert out[-1] == GOOD_REPLY, r.stderr[-3000:]
    assert out[:2] == HOSTILE[:2]
    assert HOSTILE[3] in out
    with open(rec, "rb") as f:
        assert f.read() == sent  # every client line reached the server, unchanged
    assert b"Traceback" not in r.stderr or hooks.endswith("ModifiesNested"), r.stderr[-3000:]


def test_modifier_returning_a_too_deep_value_forwards_unchanged(tmp_path):
    server = [*RAW_SERVER, "echo"]
    sent = b'{"jsonrpc":"2.0","id":2,"method":"nest"}\n{"jsonrpc":"2.0","id":3,"method":"m"}\n'
    r = run_proxy(["stdio", "--hooks", "hardening_hooks:ModifiesNested"], server, sent, env=HOOK_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [2, 3]
    assert b"ModifiesNested._on_mcp_client_message" in r.stderr
    assert b"forwarded unchanged" in r.stderr


def test_hook_raising_system_exit_does_not_kill_the_relay():
    """Issue 8 item 4: SystemExit in an observe hook used to end the server->client thread
    silently (1 of 3 replies, exit code 0)."""
    sent = b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"m"}\n' % i for i in (1, 2, 3))
    r = run_proxy(["stdio", "--hooks", "hardening_hooks:ExitsInServerHook"], [*RAW_SERVER, "echo"], sent,
                  env=HOOK_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [1, 2, 3]
    assert b"ExitsInServerHook._on_mcp_server_message raised SystemExit" in r.stderr


def test_modifier_raising_system_exit_forwards_unchanged():
    sent = b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"m"}\n' % i for i in (1, 2, 3))
    r = run_proxy(["stdio", "--hooks", "hardening_hooks:ExitsInModifier"], [*RAW_SERVER, "echo"], sent,
                  env=HOOK_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [1, 2, 3]
    assert b"raised SystemExit" in r.stderr and b"raised GeneratorExit" in r.stderr


def test_server_lines_are_checked_as_exactly_rfc_8259(tmp_path):
    """Issue 8 item 16: NaN/Infinity are not JSON (strict clients reject them), while integers over
    Python's 4300-digit limit and nesting beyond 995 levels are valid JSON and must be forwarded."""
    valid = [b'{"jsonrpc":"2.0","id":1,"result":{"n":' + b"7" * 5000 + b"}}",
             b'{"jsonrpc":"2.0","id":2,"result":{"x":' + b"[" * 1200 + b"]" * 1200 + b"}}",
             b'{"jsonrpc":"2.0","id":3,"result":{"x":' + b"[" * 995 + b"-1" + b"0" * 4400 + b"]" * 995 + b"}}"]
    invalid = [b'{"jsonrpc":"2.0","id":4,"result":{"x":NaN}}', b'{"jsonrpc":"2.0","id":5,"result":{"x":Infinity}}',
               b'{"jsonrpc":"2.0","id":6,"result":{"x":-Infinity}}']
    server, _ = script_server(tmp_path, [valid[0], invalid[0], valid[1], invalid[1], invalid[2], valid[2]])
    for args in (["stdio"], ["stdio", "--hooks", "hardening_hooks:RawBoth"]):
        r = run_proxy(args, server, b"", env=HOOK_ENV)
        assert r.returncode == 0, r.stderr[-3000:]
        assert r.stdout.splitlines() == valid
        err = r.stderr.decode()
        assert err.count("not forwarded") == 3
        assert "NaN is not JSON" in err and "-Infinity is not JSON" in err
