"""A stdio server that writes big lines in two halves, the second only once the test says so.

    split_server.py DIR

Requests (one JSON object a line) by method:

- ``big`` (params ``half``, optional ``after``, ``idlast``: the id at the end, ``broken``: a raw
  control character in the text, so the line ends like JSON but is not): writes the first half of a reply line, then waits
  for the file DIR/go<id>, then writes the rest of the line (and ``after``, a line to write in the
  same write, if given).
- ``banner``: writes the first half of a non-JSON line, waits for DIR/go<id>, writes its end and
  then a JSON reply.
- ``die``: writes the first half of a reply line and exits.
- anything else: replied to with ``{"got": <bytes of the request line>}``.

Whenever a partial request line of 100,000 bytes or more has arrived, touches DIR/partial (the
test sees that the client's big request is streamed through to us).
"""
import json
import os
import sys
import time

DIR = sys.argv[1]
out = sys.stdout.buffer


def write(data: bytes) -> None:
    out.write(data)
    out.flush()


def wait_go(mid) -> None:
    path = os.path.join(DIR, f"go{mid}")
    deadline = time.monotonic() + 60
    while not os.path.exists(path):  # the test creates it; polling keeps this server simple
        if time.monotonic() > deadline:
            sys.exit(3)
        time.sleep(0.005)


def handle(line: bytes) -> None:
    req = json.loads(line)
    mid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
    if mid is None:
        return
    if method in ("big", "die"):
        half = params.get("half", 300_000)
        idlast = params.get("idlast")  # the id after the result (servers may put it anywhere)
        head = b'{"jsonrpc":"2.0",' + (b"" if idlast else b'"id":%s,' % json.dumps(mid).encode()) + b'"result":{"text":"'
        write(head + b"a" * half)
        if method == "die":
            os._exit(0)
        wait_go(mid)
        after = params.get("after")
        end = b'"},"id":%s}\n' % json.dumps(mid).encode() if idlast else b'"}}\n'
        broken = b"\x01" if params.get("broken") else b""
        write(b"b" * half + broken + end + (json.dumps(after).encode() + b"\n" if after else b""))
    elif method == "banner":
        write(b"Loading the very important server " + b"." * 200_000)
        wait_go(mid)
        write(b" done\n" + json.dumps({"jsonrpc": "2.0", "id": mid, "result": {}}).encode() + b"\n")
    else:
        write(json.dumps({"jsonrpc": "2.0", "id": mid, "result": {"got": len(line)}}).encode() + b"\n")


buf = bytearray()
while True:
    chunk = os.read(0, 1 << 16)
    if not chunk:
        break
    buf += chunk
    while (nl := buf.find(b"\n")) >= 0:
        line = bytes(buf[:nl + 1])
        del buf[:nl + 1]
        handle(line)
    if len(buf) >= 100_000 and not os.path.exists(os.path.join(DIR, "partial")):
        open(os.path.join(DIR, "partial"), "w").close()
