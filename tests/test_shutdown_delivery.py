"""Shutdown under pressure (issue 8 items 1, 2, 9, 11): a server that does not read, a client that
reads slowly, replies held at the hold limit, a reply still being computed at client EOF. Real
processes and pipes; every wait is for a condition with a deadline."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

from helpers import RAW_SERVER, ROOT, Inspector, omproxy_cmd, pid_alive, short_tmpdir, wait_until


class SlowReader:
    """Reads a pipe in 64 KiB gulps with a pause between them (~10 MB/s): a slow client."""

    def __init__(self, pipe, pause: float = 0.006):
        self.data = bytearray()
        self.done = threading.Event()

        def run():
            while chunk := pipe.read1(65536):
                self.data += chunk
                time.sleep(pause)
            self.done.set()

        threading.Thread(target=run, daemon=True).start()


def spawn(args, server, stdin=subprocess.PIPE):
    return subprocess.Popen(omproxy_cmd(*args, "--", *server), stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)


def test_sigterm_while_the_server_does_not_read_and_a_big_request_is_being_written(tmp_path):
    """Item 1: shutdown never waits on a blocked write: omproxy exits, the server group is killed."""
    pidfile = tmp_path / "pid"
    proc = spawn(["stdio"], [*RAW_SERVER, "mute", str(pidfile)])
    try:
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), "the server to start", timeout=20)
        server = int(pidfile.read_text())
        big = b'{"jsonrpc":"2.0","id":1,"method":"m","params":{"x":"' + b"y" * (1 << 20) + b'"}}\n'
        writer = threading.Thread(target=lambda: (proc.stdin.write(big), proc.stdin.flush()), daemon=True)
        writer.start()
        # the proxy is now stuck writing to a server that does not read
        wait_until(lambda: _pipe_full(proc.pid), "the proxy blocked in a write to the server", timeout=20)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        assert code in (128 + signal.SIGTERM, 0), proc.stderr.read()[-2000:]
        wait_until(lambda: not pid_alive(server), "the server to be gone", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def _pipe_full(pid: int) -> bool:
    """True once the proxy's thread writing to the server is blocked in write(2)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                if "pipe_write" in f.read():
                    return True
    except OSError:
        pass
    return False


def test_fifty_megabyte_reply_then_exit_reaches_a_slow_reader():
    """Item 2: the server writes one 50 MB reply and exits at once; the client reads at ~10 MB/s.
    It used to get ~1.4 MB and a stdout cut in the middle of the line."""
    size = 50 * 1024 * 1024
    proc = spawn(["stdio"], [*RAW_SERVER, "bigexit", str(size)])
    proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"big"}\n')
    proc.stdin.flush()
    reader = SlowReader(proc.stdout)
    try:
        assert proc.wait(120) == 0
        assert reader.done.wait(30)
        expected = b'{"jsonrpc":"2.0","id":1,"result":{"data":"' + b"x" * size + b'"}}\n'
        assert len(reader.data) == len(expected)
        assert hashlib.sha256(reader.data).digest() == hashlib.sha256(expected).digest()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_requests_from_a_file_with_thirty_megabytes_of_replies_and_a_slow_reader(tmp_path):
    """Item 2: `omproxy stdio -- srv < requests.jsonl`: client EOF comes first; the server is only
    waiting on omproxy's own back-pressure, so the grace period must not kill it."""
    reqs = tmp_path / "requests.jsonl"
    reqs.write_bytes(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"m"}\n' % i for i in range(30)))
    with open(reqs, "rb") as stdin:
        proc = spawn(["stdio"], [*RAW_SERVER, "big", str(1 << 20)], stdin=stdin)
    reader = SlowReader(proc.stdout, pause=0.01)
    try:
        assert proc.wait(180) == 0, proc.stderr.read()[-2000:]
        assert reader.done.wait(30)
        ids = [json.loads(line)["id"] for line in bytes(reader.data).splitlines()]
        assert ids == list(range(30))
    finally:
        if proc.poll() is None:
            proc.kill()


def test_replies_held_at_the_hold_limit_are_released_at_shutdown():
    """Item 11: s2c paused, the server writes 7 replies (past the 1 KiB hold limit, so the reader
    parks) and exits. The reader must still see EOF and the release at shutdown must happen."""
    sock = os.path.join(short_tmpdir(), "p.sock")
    proc = spawn(["stdio", "--inspect-socket", sock, "--inspect-hold-limit", "1024"],
                 [*RAW_SERVER, "burst", "7", "5000"])
    insp = Inspector(sock)
    try:
        insp.read()
        assert insp.send("pause", dir="s2c")["ok"]
        proc.stdin.write(b'{"jsonrpc":"2.0","id":0,"method":"go"}\n')
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
        assert [json.loads(x)["id"] for x in out.splitlines()] == [1, 2, 3, 4, 5, 6, 7], err[-2000:]
        assert proc.returncode == 0
    finally:
        insp.close()
        if proc.poll() is None:
            proc.kill()


def test_client_eof_with_a_slow_reply_outstanding(tmp_path):
    """Item 9: stdin from a file (EOF at once) and a tool call that takes longer than the exit
    grace: the reply used to be dropped silently when the server was stopped after 3 s."""
    reqs = tmp_path / "requests.jsonl"
    reqs.write_bytes(b'{"jsonrpc":"2.0","id":"slow-1","method":"tools/call"}\n'
                     b'{"jsonrpc":"2.0","id":2,"method":"tools/call"}\n')
    with open(reqs, "rb") as stdin:
        r = subprocess.run(omproxy_cmd("stdio", "--", *RAW_SERVER, "slow", "2.5"), stdin=stdin,
                           capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == ["slow-1", 2]
    assert b"unanswered" not in r.stderr


def test_requests_never_answered_are_reported(tmp_path):
    """...bounded: a server that never answers is stopped after reply_timeout, and says so."""
    reqs = tmp_path / "requests.jsonl"
    reqs.write_bytes(b'{"jsonrpc":"2.0","id":1,"method":"m"}\n{"jsonrpc":"2.0","id":"two","method":"m"}\n'
                     b'{"jsonrpc":"2.0","method":"notifications/x"}\n')
    script = tmp_path / "quick.py"
    script.write_text("import sys\n"
                      "from omproxy_tui.proxy import ServerParams, StdioProxy\n"
                      "class Quick(StdioProxy):\n"
                      "    reply_timeout = 1.0\n"
                      "    exit_grace = 0.5\n"
                      f"raw = {RAW_SERVER!r}\n"
                      f"sys.exit(Quick().run(ServerParams(raw[0], raw[1:] + ['mute', {str(tmp_path / 'pid')!r}])))\n")
    with open(reqs, "rb") as stdin:
        r = subprocess.run([sys.executable, str(script)], stdin=stdin, capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 128 + signal.SIGTERM
    assert "stopping the server with 2 request(s) unanswered (id 1, 'two')" in r.stderr.decode()


def test_outstanding_tracks_ids_of_small_big_and_batched_lines():
    from omproxy_tui.proxy.outstanding import Outstanding

    o = Outstanding()
    o.sent(b'{"jsonrpc":"2.0","id":1,"method":"a"}')
    o.sent(b'[{"jsonrpc":"2.0","id":"b","method":"b"},{"jsonrpc":"2.0","method":"note"}]')
    o.sent(b'{"jsonrpc":"2.0","id":3,"method":"big","params":{"x":"' + b"y" * 100000 + b'"}}')
    o.sent(b'{"jsonrpc":"2.0","id":9,"result":{}}')  # the client answering the server: not a request
    assert sorted(o.ids()) == sorted(["1", "'b'", "3"])
    o.answered(b'{"jsonrpc":"2.0","id":1.0,"result":{}}')
    o.answered(b'{"jsonrpc":"2.0","id":3,"result":{"data":"' + b"x" * 100000 + b'"}}')
    o.answered(b'{"jsonrpc":"2.0","id":"b","method":"sampling/createMessage"}')  # a request, not an answer
    assert o.ids() == ["'b'"]
    o.answered(b'[{"jsonrpc":"2.0","id":"b","error":{"code":1,"message":"no"}}]')
    assert not o


def test_outstanding_splits_blocks_of_lines_and_tells_its_listener():
    """The relay hands a block of complete client lines over in one piece (one write, one queue
    append); the tracker splits it when it parses, off the relay path, and tells a listener (hot
    restart) of each client message and each answer to a pending request."""
    from omproxy_tui.proxy.outstanding import Outstanding

    heard = []

    class Listener:
        def client_message(self, key, obj):
            heard.append(("client", key, obj.get("method")))

        def server_answer(self, key, obj):
            heard.append(("answer", key, None if obj is None else obj.get("id")))

    o = Outstanding()
    o.listener = Listener()
    o.sent(b'{"jsonrpc":"2.0","id":1,"method":"a"}\n{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
           b'{"jsonrpc":"2.0","id":"x","method":"tools/list"}\n')
    assert sorted(o.ids()) == sorted(["1", "'x'"])
    o.answered(b'{"jsonrpc":"2.0","id":"x","result":{"tools":[]}}')
    o.answered(b'{"jsonrpc":"2.0","id":1,"result":{"data":"' + b"x" * 100000 + b'"}}')  # only peeked at
    o.answered(b'{"jsonrpc":"2.0","id":1,"result":{}}')  # answered already: nobody is told again
    assert not o
    assert heard == [("client", "1.0", "a"), ("client", None, "notifications/initialized"),
                     ("client", "s:x", "tools/list"), ("answer", "s:x", "x"), ("answer", "1.0", None)]


def test_a_request_the_inspector_dropped_is_not_left_outstanding(tmp_path):
    """A request an inspector drops is answered by the proxy (-32010): at the end of the session it
    is not reported as unanswered (and shutdown does not wait for the server to answer it)."""
    sock = short_tmpdir() + "/i.sock"
    proc = spawn(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    try:
        ins = Inspector(sock)
        ins.read()
        assert ins.send("pause", dir="c2s")["ok"]
        proc.stdin.write(b'{"jsonrpc":"2.0","id":7,"method":"m"}\n')
        proc.stdin.flush()
        held = ins.message(lambda f, m: m.get("id") == 7 and f["dir"] == "c2s" and f["held"])
        assert ins.send("drop", seq=held["seq"])["ok"]
        assert json.loads(proc.stdout.readline())["error"]["code"] == -32010
        ins.close()
        proc.stdin.close()
        assert proc.wait(60) == 0
        err = proc.stderr.read().decode()
        assert "unanswered" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_client_that_stops_reading_is_given_up_on(tmp_path):
    """Delivery at shutdown is bounded: a client that reads nothing for delivery_stall seconds is
    given up on (with a report) instead of keeping omproxy alive forever."""
    script = tmp_path / "stall.py"
    script.write_text("import sys\n"
                      "from omproxy_tui.proxy import ServerParams, StdioProxy\n"
                      "class Stall(StdioProxy):\n"
                      "    delivery_stall = 1.0\n"
                      f"raw = {RAW_SERVER!r}\n"
                      f"sys.exit(Stall().run(ServerParams(raw[0], raw[1:] + ['bigexit', '{150_000}'])))\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    try:
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"big"}\n')
        proc.stdin.flush()
        # never read stdout: the reply cannot be delivered. (It fits in the pipes' buffers so
        # that the server can exit: a big line is streamed through, so a larger reply would hold
        # the server in its write by back-pressure, as a direct connection would, and nothing
        # would start the shutdown.)
        assert proc.wait(60) == 0
        assert b"the client read nothing for 1 s" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
