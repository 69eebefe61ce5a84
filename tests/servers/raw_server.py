"""A line-level stdio 'server' for fault and fidelity tests (stdlib only, no SDK).

    raw_server.py MODE [ARG...]

Modes:
  script OUT_FILE REC_FILE   write the bytes of OUT_FILE to stdout at start, record stdin to REC_FILE
  echo                       for each request line, reply {"jsonrpc":"2.0","id":<id>,"result":{"n":<len>}}
  die CODE                   read one line, exit with CODE without answering
  stubborn PIDFILE           ignore EOF and SIGTERM; start a grandchild that does too; pids to PIDFILE
  late DELAY                 read requests until EOF, then wait DELAY s and answer them all
  big SIZE                   answer each request with a result holding SIZE bytes of 'x'
  stderr                     write lines to stderr, then behave like echo
  chatty                     a stderr line, then the reply, for every request
  deaf                       echo; on method "deafen" answer it, write two notifications, then never
                             read stdin again (a busy server); exits when its parent (the proxy) dies
"""

import json
import os
import signal
import subprocess
import sys
import time

out = sys.stdout.buffer


def reply(obj):
    out.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
    out.flush()


def main(argv):
    mode = argv[0]
    if mode == "script":
        with open(argv[1], "rb") as f:
            out.write(f.read())
            out.flush()
        with open(argv[2], "wb") as rec:
            while chunk := os.read(0, 1 << 16):
                rec.write(chunk)
        return 0
    if mode == "chatty":  # a stderr line with every reply: events from two of our threads at once
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            sys.stderr.write(f"handling {msg.get('id')}\n")
            sys.stderr.flush()
            reply({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
        return 0
    if mode in ("echo", "stderr"):
        if mode == "stderr":
            sys.stderr.write("server starting\nsecond stderr line\n")
            sys.stderr.flush()
        for line in sys.stdin.buffer:
            try:
                msg = json.loads(line)
            except (ValueError, RecursionError):  # hostile lines from robustness tests
                continue
            if isinstance(msg, dict) and "id" in msg and "method" in msg:
                reply({"jsonrpc": "2.0", "id": msg["id"], "result": {"n": len(line)}})
        return 0
    if mode == "die":
        sys.stdin.buffer.readline()
        return int(argv[1])
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c",
                                  "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
        with open(argv[1], "w") as f:
            f.write(f"{os.getpid()} {child.pid}\n")
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            reply({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
        time.sleep(600)  # stdin closed: keep going anyway
        return 0
    if mode == "late":
        pending = [json.loads(line) for line in sys.stdin.buffer]
        time.sleep(float(argv[1]))
        for msg in pending:
            reply({"jsonrpc": "2.0", "id": msg["id"], "result": {"late": True}})
        return 0
    if mode == "big":
        size = int(argv[1])
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            out.write(b'{"jsonrpc":"2.0","id":' + json.dumps(msg["id"]).encode() + b',"result":{"data":"'
                      + b"x" * size + b'","got":' + str(len(line)).encode() + b"}}\n")
            out.flush()
        return 0
    if mode == "deaf":
        parent = os.getppid()
        while True:
            line = sys.stdin.buffer.readline()
            if not line:
                return 0
            msg = json.loads(line)
            reply({"jsonrpc": "2.0", "id": msg.get("id"), "result": {"pid": os.getpid()}})
            if msg.get("method") == "deafen":
                for n in (1, 2):
                    reply({"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n}})
                break
        while os.getppid() == parent:  # stop reading; go when the proxy goes
            time.sleep(0.1)
        return 0
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
