"""omproxy stdio as a real subprocess between real pipes: fidelity, faults, shutdown, hooks."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import RAW_SERVER, ROOT, omproxy_cmd, run_proxy, short_tmpdir, wait_dead

ODD_CLIENT_LINES = [
    b'{"jsonrpc":"2.0","id":1.0,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"e","arguments":{"a":1.50,"b":1e400}}}',
    b'{"method":"m","id":7,"jsonrpc":"2.0","x-vendor":{"kept":true}}',
    b'{"jsonrpc":"2.0","id":8,"method":"t","params":{"s":"\\u00e9\\ud83d\\ude00"}}',
    b'  {"jsonrpc":"2.0","id":9,"method":"spaces"}  ',
    b'{"jsonrpc":"2.0","id":10,"method":"crlf"}\r',
    b'[{"jsonrpc":"2.0","id":11,"method":"a"},{"jsonrpc":"2.0","method":"b"}]',
]
ODD_SERVER_LINES = [
    b'{"jsonrpc":"2.0","id":1.0,"result":{}}',
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
    b'{"id":"x","result":{"n":1.50,"huge":1e400,"e":"\\u00e9"},"jsonrpc":"2.0","unknown":1}',
    b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"\\ud83d\\ude00"}}',
    b'[{"jsonrpc":"2.0","id":11,"result":{}}]',
]


def script_server(tmp_path, lines: list[bytes]) -> tuple[list[str], str]:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(line + b"\n" for line in lines))
    rec = tmp_path / "rec.jsonl"
    return [*RAW_SERVER, "script", str(out), str(rec)], str(rec)


def test_byte_exact_both_directions(tmp_path):
    server, rec = script_server(tmp_path, ODD_SERVER_LINES)
    sent = b"".join(line + b"\n" for line in ODD_CLIENT_LINES)
    r = run_proxy(["stdio"], server, sent)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"".join(line + b"\n" for line in ODD_SERVER_LINES)
    with open(rec, "rb") as f:
        assert f.read() == sent


def test_garbage_banner_and_invalid_utf8_from_server_are_blocked_not_fatal(tmp_path):
    good = b'{"jsonrpc":"2.0","id":1,"result":{}}'
    lines = [b"Server v1.2 starting...", good, b"\xff\xfe not utf8", b"{broken json", b"", good]
    server, _ = script_server(tmp_path, lines)
    r = run_proxy(["stdio"], server, b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
    assert r.returncode == 0
    assert r.stdout == good + b"\n" + good + b"\n"
    err = r.stderr.decode()
    assert err.count("not forwarded") == 3
    assert "Server v1.2 starting" in err and "invalid UTF-8" in err


def test_garbage_from_client_is_forwarded_as_is(tmp_path):
    server, rec = script_server(tmp_path, [])
    sent = b"hello not json\n\xff\xfe\n" + ODD_CLIENT_LINES[0] + b"\n"
    r = run_proxy(["stdio"], server, sent)
    assert r.returncode == 0
    assert open(rec, "rb").read() == sent


def test_last_line_without_newline_is_delivered(tmp_path):
    server, rec = script_server(tmp_path, [])
    r = run_proxy(["stdio"], server, b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
    assert open(rec, "rb").read() == b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    assert r.returncode == 0


def test_server_dies_mid_request_client_gets_eof_and_exit_code():
    proc = subprocess.Popen(omproxy_cmd("stdio", "--", *RAW_SERVER, "die", "3"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"tools/call"}\n')
    proc.stdin.flush()
    # The client keeps its end open: the proxy must still notice and exit.
    assert proc.stdout.read() == b""
    assert proc.wait(10) == 3
    proc.stdin.close()


def test_client_eof_with_replies_in_flight_delivers_all():
    reqs = b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"m"}\n' % i for i in range(50))
    r = run_proxy(["stdio"], [*RAW_SERVER, "late", "0.5"], reqs)
    assert r.returncode == 0
    ids = [json.loads(line)["id"] for line in r.stdout.splitlines()]
    assert ids == list(range(50))


def test_stubborn_server_and_grandchild_are_killed(tmp_path):
    pidfile = tmp_path / "pids"
    # The proxy waits exit_grace + term_grace (5 s) by design; a hang is caught by the generous
    # timeout (TimeoutExpired), not by a latency bound a loaded machine could miss.
    r = run_proxy(["stdio"], [*RAW_SERVER, "stubborn", str(pidfile)], b'{"jsonrpc":"2.0","id":1,"method":"m"}\n',
                  timeout=60)
    assert json.loads(r.stdout)["id"] == 1
    server_pid, grandchild_pid = map(int, pidfile.read_text().split())
    wait_dead(server_pid, grandchild_pid)
    assert r.returncode == 128 + signal.SIGKILL  # it ignored SIGTERM


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_to_proxy_stops_server_orderly(tmp_path, sig):
    pidfile = tmp_path / "pids"
    proc = subprocess.Popen(omproxy_cmd("stdio", "--", *RAW_SERVER, "stubborn", str(pidfile)), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"m"}\n')
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["id"] == 1
    server_pid, grandchild_pid = map(int, pidfile.read_text().split())
    proc.send_signal(sig)
    assert proc.wait(15) == 128 + signal.SIGKILL
    assert f"got {signal.Signals(sig).name}" in proc.stderr.read().decode()
    wait_dead(server_pid, grandchild_pid)


def test_fifty_megabyte_messages_both_ways():
    size = 50 * 1024 * 1024
    req = b'{"jsonrpc":"2.0","id":1,"method":"big","params":{"blob":"' + b"y" * size + b'"}}\n'
    r = run_proxy(["stdio"], [*RAW_SERVER, "big", str(size)], req, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    line = r.stdout
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert hashlib.sha256(line).hexdigest() == hashlib.sha256(
        b'{"jsonrpc":"2.0","id":1,"result":{"data":"' + b"x" * size + b'","got":' + str(len(req)).encode() + b"}}\n"
    ).hexdigest()


def test_stdin_regular_file(tmp_path):
    f = tmp_path / "msgs.jsonl"
    f.write_bytes(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"m"}\n' % i for i in range(5)))
    with open(f, "rb") as stdin:
        r = subprocess.run(omproxy_cmd("stdio", "--", *RAW_SERVER, "echo"), stdin=stdin, capture_output=True,
                           timeout=30, cwd=ROOT)
    assert r.returncode == 0
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == list(range(5))


def test_env_and_cwd_flags(tmp_path):
    code = "import os,sys; sys.stdout.write(os.environ['FOO']+'|'+os.environ['INHERITED']+'|'+os.getcwd()+'\\n')"
    env = dict(os.environ, INHERITED="yes")
    r = run_proxy(["stdio", "--env", "FOO=a=b,c", "--cwd", str(tmp_path)], [sys.executable, "-c", code], b"",
                  env=env)
    # the child's output is not JSON, so it is blocked and reported: read it from stderr
    assert f"a=b,c|yes|{tmp_path}" in r.stderr.decode()


def test_missing_server_command_is_a_clear_error():
    r = run_proxy(["stdio"], ["definitely-not-a-command-xyz"], b"")
    assert r.returncode == 127
    assert "cannot start server 'definitely-not-a-command-xyz'" in r.stderr.decode()
    assert r.stdout == b""


def test_hook_that_raises_is_reported_and_traffic_flows():
    reqs = b'{"jsonrpc":"2.0","id":1,"method":"m"}\n{"jsonrpc":"2.0","id":2,"method":"m"}\n'
    r = run_proxy(["stdio", "--hooks", "hook_examples:Raises"], [*RAW_SERVER, "echo"], reqs,
                  env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")))
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [1, 2]
    err = r.stderr.decode()
    assert "hook Raises._on_mcp_client_message raised RuntimeError: hook exploded on purpose" in err
    assert "raised KeyError" in err
    assert "a stray print from a hook must not reach the client" in err


def test_hook_that_drops_answers_the_client():
    reqs = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n{"jsonrpc":"2.0","id":2,"method":"m"}\n'
    r = run_proxy(["stdio", "--hooks", "hook_examples:DropsPing"], [*RAW_SERVER, "echo"], reqs,
                  env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")))
    replies = {json.loads(x)["id"]: json.loads(x) for x in r.stdout.splitlines()}
    assert replies[1]["error"]["code"] == -32010 and "dropped" in replies[1]["error"]["message"]
    # the server only saw request 2: its reply carries the length of that line
    assert replies[2]["result"]["n"] == len(b'{"jsonrpc":"2.0","id":2,"method":"m"}\n')


def test_hook_that_rewrites_both_directions():
    req = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","arguments":{"text":"abc"}}}\n'
    r = run_proxy(["stdio", "--hooks", "hook_examples:Rewrites"], [*RAW_SERVER, "echo"], req,
                  env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")))
    reply = json.loads(r.stdout)
    assert reply["result"]["tagged"] is True
    assert reply["result"]["n"] == len(req.replace(b"abc", b"ABC"))  # the server got the rewritten line


def test_seed_style_hooks_see_typed_messages_batch_elements_and_stderr(tmp_path):
    rec = tmp_path / "seen.jsonl"
    lines = [b'{"jsonrpc":"2.0","id":1,"method":"m"}', b'[{"jsonrpc":"2.0","id":2,"method":"a"},'
             b'{"jsonrpc":"2.0","method":"b"}]', b"not json"]
    r = run_proxy(["stdio", "--hooks", "hook_examples:Records"], [*RAW_SERVER, "stderr"],
                  lines[0] + b"\n" + lines[1] + b"\n" + lines[2] + b"\n",
                  env=dict(os.environ, PYTHONPATH=str(ROOT / "tests"), OMPROXY_RECORD=str(rec)))
    assert r.returncode == 0, r.stderr
    seen = [json.loads(x) for x in rec.read_text().splitlines()]
    c2s = [s for s in seen if s.get("d") == "c2s"]
    assert [(s["kind"], s["element"]) for s in c2s] == [
        ("JSONRPCRequest", None), ("JSONRPCRequest", 0), ("JSONRPCNotification", 1), ("ValueError", None)]
    # the server's stderr is copied to ours, line by line
    assert b"server starting\nsecond stderr line\n" in r.stderr
    assert any(s.get("d") == "s2c" and s["kind"] == "JSONRPCResponse" for s in seen)
    assert {"stderr": "server starting"} in seen
    assert seen[-1] == {"closed": True}
    # the batch reached the server untouched, as one line
    assert r.stdout.count(b"\n") == 1


def test_library_api_with_the_sdks_server_parameters(tmp_path):
    """The seed's API: StdioProxy().run(StdioServerParameters(...)) from a user's own script."""
    script = tmp_path / "my_proxy.py"
    script.write_text(
        "import sys\n"
        "from mcp import StdioServerParameters\n"
        "from omproxy_tui.proxy import StdioProxy\n"
        "class Mine(StdioProxy):\n"
        "    seen = []\n"
        "    def _on_mcp_client_message(self, message):\n"
        "        self.seen.append(type(message).__name__ + ':' + message.method)\n"
        "    async def _on_mcp_server_message(self, message):\n"
        "        self.seen.append(type(message).__name__)\n"
        "    def _on_close(self):\n"
        "        sys.stderr.write('SEEN ' + ','.join(sorted(self.seen)) + '\\n')\n"
        f"raw = {RAW_SERVER!r}\n"
        "sys.exit(Mine().run(StdioServerParameters(command=raw[0], args=raw[1:] + ['echo'])))\n")
    r = subprocess.run([sys.executable, str(script)], input=b'{"jsonrpc":"2.0","id":1,"method":"m"}\n',
                       capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == 1
    assert "SEEN JSONRPCRequest:m,JSONRPCResponse" in r.stderr.decode()


@pytest.mark.parametrize("inspect", [False, True])
def test_raw_line_hooks_and_unwatched_inspect_stay_light(inspect, tmp_path):
    """The README's claims: a hook taking the raw `line` never imports the SDK's types, an
    `--inspect` proxy nobody attaches to never imports asyncio, and the proxy never imports textual."""
    args = ["stdio", "--hooks", "hook_examples:ImportProbe"]
    if inspect:
        args += ["--inspect-socket", os.path.join(short_tmpdir(), "p.sock")]
    r = run_proxy(args, [*RAW_SERVER, "echo"], b'{"jsonrpc":"2.0","id":1,"method":"m"}\n',
                  env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")))
    assert json.loads(r.stdout)["id"] == 1
    loaded = json.loads(r.stderr.decode().split("LOADED ", 1)[1].splitlines()[0])
    assert loaded == {"mcp_types": False, "asyncio": False, "textual": False, "pydantic": False}, loaded
