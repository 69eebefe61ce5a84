"""Remote proxies fail clearly: unreachable URL, 401 with its challenge, 404 -> one line on stderr,
non-zero exit, nothing on stdout but protocol."""

import json
import subprocess
import sys

import pytest

from helpers import ROOT, free_port, omproxy_cmd, wait_port

INIT = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "t", "version": "1"}}}).encode() + b"\n"


@pytest.fixture
def status_server():
    procs = []

    def start(status: int) -> int:
        port = free_port()
        p = subprocess.Popen([sys.executable, "-m", "tests.servers.status_server", str(port), str(status)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_port(port, p)
        return port

    yield start
    for p in procs:
        p.kill()
        p.wait()


def run(kind: str, url: str) -> subprocess.CompletedProcess:
    # The client keeps stdin open (as a real one would): the proxy must exit by itself.
    p = subprocess.Popen(omproxy_cmd(kind, "--url", url, "--timeout", "5"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    p.stdin.write(INIT)
    p.stdin.flush()
    try:
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.mark.parametrize("kind", ["http", "sse"])
def test_unreachable_url(kind):
    port = free_port()  # nothing listens there
    r = run(kind, f"http://127.0.0.1:{port}/mcp")
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "remote server failed" in err and ("ConnectError" in err or "connect" in err.lower()), err
    for line in r.stdout.splitlines():
        json.loads(line)  # only protocol on stdout


@pytest.mark.parametrize("kind", ["http", "sse"])
def test_401_shows_the_challenge(kind, status_server):
    port = status_server(401)
    r = run(kind, f"http://127.0.0.1:{port}/mcp")
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "answered 401" in err and 'WWW-Authenticate: Bearer realm="omproxy-test"' in err, err


@pytest.mark.parametrize("kind", ["http", "sse"])
def test_404_is_a_clear_error(kind, status_server):
    port = status_server(404)
    r = run(kind, f"http://127.0.0.1:{port}/nowhere")
    assert r.returncode != 0
    assert "answered 404" in r.stderr.decode()
