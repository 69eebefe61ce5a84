"""Benchmark of hot restart (not a test): the pause a client sees, against starting the server directly.

    python tests/bench/restart_bench.py [--rounds 5] [--server sdk|raw]

Per round, interleaved so machine noise hits both alike:
- direct: spawn the server, send ``initialize``, time until its answer (the server's own start-up),
  and time from closing its stdin to its exit (its own shutdown);
- restart: a client session through ``omproxy stdio --inspect-socket``; the inspector sends
  ``restart`` and, once the ``restarting`` frame says traffic is held, the client sends a
  ``tools/call``; the pause is the time from the command to that call's answer.
The overhead omproxy adds is pause - (direct start-up + direct shutdown): the restart runs the
server's shutdown and start-up back to back (a server is never run twice at once).
Prints a markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SDK_SERVER = '''from mcp.server.mcpserver import MCPServer
app = MCPServer("bench")

@app.tool()
def one(x: int) -> int:
    """Add one."""
    return x + 1

if __name__ == "__main__":
    app.run()
'''

# A minimal line server (no SDK): start-up is the interpreter's alone, so omproxy's own share shows.
RAW_SERVER = '''import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if m["method"] == "initialize":
        r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}},
             "serverInfo": {"name": "raw", "version": "1"}}
    elif m["method"] == "tools/list":
        r = {"tools": [{"name": "one", "inputSchema": {"type": "object"}}]}
    else:
        r = {"content": [{"type": "text", "text": "2"}]}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}) + "\\n")
    sys.stdout.flush()
'''

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}


def send(p: subprocess.Popen, obj: dict) -> None:
    p.stdin.write(json.dumps(obj).encode() + b"\n")
    p.stdin.flush()


def recv(p: subprocess.Popen, want_id) -> dict:
    while True:
        line = p.stdout.readline()
        if not line:
            raise EOFError("closed")
        m = json.loads(line)
        if m.get("id") == want_id:
            return m


def direct(server: list[str]) -> tuple[float, float]:
    t0 = time.monotonic()
    p = subprocess.Popen(server, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    send(p, INIT)
    recv(p, 0)
    start = time.monotonic() - t0
    send(p, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    t1 = time.monotonic()
    p.stdin.close()
    p.wait()
    return start, time.monotonic() - t1


def restart(server: list[str], sock: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "omproxy_tui", "stdio", "--inspect-socket", sock, "--", *server]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        send(p, INIT)
        recv(p, 0)
        send(p, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(p, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        recv(p, 1)
        deadline = time.monotonic() + 20
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        f = s.makefile("rwb")
        frames = iter(f)
        for line in frames:  # attached (the first inspector starts the proxy's event loop)
            if json.loads(line).get("type") == "state":
                break
        t0 = time.monotonic()
        f.write(b'{"cmd":"restart","id":1}\n')
        f.flush()
        for line in frames:  # the call must reach the proxy once traffic is held, not before
            if json.loads(line).get("event") == "restarting":
                break
        send(p, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "one", "arguments": {"x": 1}}})
        recv(p, 2)
        pause = time.monotonic() - t0
        info: dict = {}
        for line in frames:
            frame = json.loads(line)
            if frame.get("type") == "lifecycle" and frame.get("event") in ("restart", "restart_failed"):
                info = frame
                break
        s.close()
        return pause, info
    finally:
        p.stdin.close()
        p.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--server", choices=("sdk", "raw"), default="sdk")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ompb", dir="/tmp")
    src = os.path.join(tmp, "server.py")
    with open(src, "w") as fh:
        fh.write(SDK_SERVER if args.server == "sdk" else RAW_SERVER)
    server = [sys.executable, src]
    starts, stops, pauses, stop_ms, start_ms, lists_ms = [], [], [], [], [], []
    for i in range(args.rounds):
        a, b = direct(server)
        starts.append(a * 1000)
        stops.append(b * 1000)
        pause, info = restart(server, os.path.join(tmp, f"{i}.sock"))
        pauses.append(pause * 1000)
        t = info.get("timings", {})
        stop_ms.append(t.get("stop_ms", 0))
        start_ms.append(t.get("start_ms", 0))
        lists_ms.append(t.get("lists_ms", 0))
    med = statistics.median
    print(f"| server | direct start-up (ms) | direct shutdown (ms) | client-visible pause (ms) | "
          f"of which stop / start / lists (ms) | pause - (start-up + shutdown) (ms) |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.server} | {med(starts):.0f} | {med(stops):.0f} | {med(pauses):.0f} | "
          f"{med(stop_ms):.0f} / {med(start_ms):.0f} / {med(lists_ms):.0f} | "
          f"{med(pauses) - med(starts) - med(stops):+.0f} |")


if __name__ == "__main__":
    main()
