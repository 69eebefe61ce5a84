import os
import subprocess
import sys

import pytest

from helpers import ROOT, free_port, wait_port

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture
def http_server():
    """Start the SDK test server over HTTP (streamable or sse) on 127.0.0.1 with uvicorn."""
    procs = []

    def start(kind: str) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tests.servers.sdk_server", kind, str(port)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        wait_port(port, proc)
        return f"http://127.0.0.1:{port}/" + ("mcp" if kind == "http" else "sse")

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
