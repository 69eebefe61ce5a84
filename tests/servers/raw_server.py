"""A line-level stdio 'server' for fault and fidelity tests (stdlib only, no SDK).

    raw_server.py MODE [ARG...]

Modes:
  script OUT_FILE REC_FILE   write the bytes of OUT_FILE to stdout at start, record stdin to REC_FILE
  echo                       for each request line, reply {"jsonrpc":"2.0","id":<id>,"result":{"n":<len>}}
  die CODE                   read one line, exit with CODE without answering
  stubborn PIDFILE           ignore EOF and SIGTERM; start a grandchild that does too; pids to PIDFILE
  detach PIDFILE             start two grandchildren that leave our process group and session (one
                             directly with setsid, one through a double fork) and ignore SIGTERM;
                             their pids to PIDFILE; then behave like echo
  mute PIDFILE               never read stdin at all; pid to PIDFILE; sleep
  bigexit SIZE               read one request, answer it with SIZE bytes of 'x', exit at once
  burst N SIZE               read one request, write N replies (ids 1..N) of SIZE bytes each, exit
  slow DELAY                 answer each request DELAY s after reading it (requests in turn)
  late DELAY                 read requests until EOF, then wait DELAY s and answer them all
  big SIZE                   answer each request with a result holding SIZE bytes of 'x'
  sized                      answer each request with a result holding params.size bytes of 'x' (0 if none)
  progress N                 for each request, N notifications/progress for its params._meta.progressToken
                             (and N notifications/message), then its answer
  stderr                     write lines to stderr, then behave like echo
  chatty                     a stderr line, then the reply, for every request
  closein                    answer one request, then close stdin (writes to it fail) and stay until the
                             proxy goes
  busy                       echo; on method "deafen" answer it, write two notifications, then never
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
    if mode == "detach":
        stubborn = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        # (this one keeps our stdin/stdout/stderr open, as a detached node child does by default)
        direct = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True)
        # the double fork of a daemon: the middle process starts the grandchild in a new session
        # and exits, so the grandchild has no parent left but whoever adopts orphans
        middle = subprocess.run([sys.executable, "-c", "import subprocess,sys; print(subprocess.Popen("
                                 f"[sys.executable, '-c', {stubborn!r}], start_new_session=True, stdin=subprocess.DEVNULL, "
                                 "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"],
                                capture_output=True, text=True, check=True)
        with open(argv[1], "w") as f:
            f.write(f"{os.getpid()} {direct.pid} {int(middle.stdout)}\n")
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            reply({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
        return 0
    if mode == "mute":
        with open(argv[1], "w") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(600)
        return 0
    if mode == "bigexit":
        msg = json.loads(sys.stdin.buffer.readline())
        out.write(b'{"jsonrpc":"2.0","id":' + json.dumps(msg["id"]).encode() + b',"result":{"data":"'
                  + b"x" * int(argv[1]) + b'"}}\n')
        out.flush()
        return 0
    if mode == "burst":
        sys.stdin.buffer.readline()
        for i in range(1, int(argv[1]) + 1):
            reply({"jsonrpc": "2.0", "id": i, "result": {"pad": "x" * int(argv[2])}})
        return 0
    if mode == "slow":
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            time.sleep(float(argv[1]))
            reply({"jsonrpc": "2.0", "id": msg["id"], "result": {"slow": True}})
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
            if "id" not in msg:
                continue  # a notification
            out.write(b'{"jsonrpc":"2.0","id":' + json.dumps(msg["id"]).encode() + b',"result":{"data":"'
                      + b"x" * size + b'","got":' + str(len(line)).encode() + b"}}\n")
            out.flush()
        return 0
    if mode == "sized":
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            if "id" not in msg:
                continue
            size = int((msg.get("params") or {}).get("size", 0))
            out.write(b'{"jsonrpc":"2.0","id":' + json.dumps(msg["id"]).encode() + b',"result":{"data":"'
                      + b"x" * size + b'"}}\n')
            out.flush()
        return 0
    if mode == "progress":
        for line in sys.stdin.buffer:
            msg = json.loads(line)
            if "id" not in msg:
                continue
            token = ((msg.get("params") or {}).get("_meta") or {}).get("progressToken")
            for i in range(int(argv[1])):
                reply({"jsonrpc": "2.0", "method": "notifications/progress",
                       "params": {"progressToken": token, "progress": i}})
                reply({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": i}})
            reply({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
        return 0
    if mode == "closein":
        parent = os.getppid()
        msg = json.loads(sys.stdin.buffer.readline())
        os.close(0)
        reply({"jsonrpc": "2.0", "id": msg.get("id"), "result": {}})
        while os.getppid() == parent:
            time.sleep(0.1)
        return 0
    if mode == "busy":
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
