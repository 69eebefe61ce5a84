"""Attacks on the stdio relay and its hook runner (issue 8): no line, hook or server behaviour may
kill a relay thread, lose a reply, hang or orphan a process. Real subprocesses and pipes only."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import RAW_SERVER, ROOT, omproxy_cmd, pid_alive, run_proxy

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


@pytest.mark.parametrize("hooks", ["ExitsInServerHook", "ExitsAsync"])
def test_hook_raising_system_exit_does_not_kill_the_relay(hooks):
    """Issue 8 item 4: SystemExit in an observe hook used to end the server->client thread
    silently (1 of 3 replies, exit code 0); in an async hook it would stop the event loop."""
    sent = b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"m"}\n' % i for i in (1, 2, 3))
    r = run_proxy(["stdio", "--hooks", f"hardening_hooks:{hooks}"], [*RAW_SERVER, "echo"], sent,
                  env=HOOK_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [1, 2, 3]
    assert f"{hooks}._on_mcp_server_message raised".encode() in r.stderr
    assert b"SystemExit" in r.stderr
    if hooks == "ExitsAsync":
        assert f"{hooks}._on_mcp_client_message raised".encode() in r.stderr


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER is Linux-only")
@pytest.mark.parametrize("how", ["client_eof", "sigterm"])
def test_detached_grandchildren_do_not_survive(tmp_path, how):
    """Issue 8 item 13: grandchildren that setsid() (node's detached spawn, a browser under
    Puppeteer), directly or through a double fork, are outside the server's process group."""
    pidfile = tmp_path / "pids"
    proc = subprocess.Popen(omproxy_cmd("stdio", "--", *RAW_SERVER, "detach", str(pidfile)), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"m"}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        pids = [int(p) for p in pidfile.read_text().split()]
        assert all(pid_alive(p) for p in pids)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.stdin.close()
        assert proc.wait(30) == 0  # the server itself exits at stdin EOF
        dead_by = time.monotonic() + 10
        while any(pid_alive(p) for p in pids) and time.monotonic() < dead_by:
            time.sleep(0.05)
        assert [p for p in pids if pid_alive(p)] == [], proc.stderr.read().decode()[-2000:]
    finally:
        for p in [int(x) for x in pidfile.read_text().split()] if pidfile.exists() else []:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("cli_timeout", [None, "0.5"])
def test_async_modifier_that_never_finishes_has_a_deadline(cli_timeout):
    """Issue 8 item 12: an async @modifies hook that never finishes used to block the message and
    exit at client EOF forever, with no report. Past the deadline the message goes on unchanged."""
    sent = b'{"jsonrpc":"2.0","id":1,"method":"hang"}\n{"jsonrpc":"2.0","id":2,"method":"m"}\n'
    args = ["stdio", "--hooks", "hardening_hooks:HangsAsync"]
    if cli_timeout:
        args += ["--hook-timeout", cli_timeout]
    r = run_proxy(args, [*RAW_SERVER, "echo"], sent, timeout=30, env=HOOK_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [1, 2]
    err = r.stderr.decode()
    assert f"HangsAsync._on_mcp_client_message did not finish within {cli_timeout or '1.0'} s" in err
    assert "forwarded unchanged" in err


def test_signal_exits_while_a_sync_modifier_hangs(tmp_path):
    """A sync hook cannot be interrupted (documented); a signal still ends the session."""
    proc = subprocess.Popen(omproxy_cmd("stdio", "--hooks", "hardening_hooks:HangsSync", "--", *RAW_SERVER, "echo"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env=HOOK_ENV)
    try:
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"m"}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        proc.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"hang"}\n')
        proc.stdin.flush()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER is Linux-only")
def test_the_embedding_programs_own_children_are_left_alone(tmp_path):
    """The subreaper ends the server's strays only: a child the embedding program started before
    (and one it starts from a hook) outlives the session."""
    pidfile = tmp_path / "pids"
    script = tmp_path / "embed.py"
    script.write_text(
        "import subprocess, sys\n"
        "from omproxy_tui.proxy import ServerParams, StdioProxy\n"
        "before = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "class Embedded(StdioProxy):\n"
        "    def _on_start(self):\n"
        "        self.mine = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"raw = {RAW_SERVER!r}\n"
        "p = Embedded()\n"
        f"code = p.run(ServerParams(raw[0], raw[1:] + ['detach', {str(pidfile)!r}]))\n"
        "alive = [x.poll() is None for x in (before, p.mine)]\n"
        "before.kill(); p.mine.kill()\n"
        "sys.stderr.write(f'ALIVE {alive}\\n')\n"
        "sys.exit(code)\n")
    r = subprocess.run([sys.executable, str(script)], input=b'{"jsonrpc":"2.0","id":1,"method":"m"}\n',
                       capture_output=True, timeout=60, cwd=ROOT)
    pids = [int(p) for p in pidfile.read_text().split()]
    assert r.returncode == 0, r.stderr[-2000:]
    assert b"ALIVE [True, True]" in r.stderr
    assert [p for p in pids if pid_alive(p)] == []
