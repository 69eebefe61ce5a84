"""omproxy http|sse under attack (issue 8): odd ids and batches, a pipelining client, HTTP error
statuses, a server that dies or restarts, a client that closes stdin before its replies are in.

Real processes only: omproxy as a subprocess driven through its stdin/stdout, and the SDK test
server under uvicorn on 127.0.0.1 behind a thin ASGI layer that logs what reached it
(tests/servers/remote_server.py)."""

import json
import os
import queue
import subprocess
import sys

import pytest

from helpers import ROOT, free_port, omproxy_cmd, pump_output, wait_port, wait_until

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call(mid, tool, **arguments):
    return {"jsonrpc": "2.0", "id": mid, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


class Server:
    """tests.servers.remote_server on a fixed port, which a test can kill and start again."""

    def __init__(self, kind: str, tmp_path, *args: str):
        self.kind, self.args = kind, args
        self.port = free_port()
        self.log = tmp_path / "server.jsonl"
        self.proc = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/" + ("mcp" if self.kind == "http" else "sse")

    def start(self) -> None:
        env = dict(os.environ, REMOTE_SERVER_LOG=str(self.log))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.servers.remote_server", self.kind,
                                      str(self.port), *self.args], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def entries(self) -> list[dict]:
        if not self.log.exists():
            return []
        return sorted((json.loads(x) for x in self.log.read_text().splitlines()), key=lambda e: e["n"])


@pytest.fixture
def server(tmp_path):
    made = []

    def start(kind: str, *args: str) -> Server:
        s = Server(kind, tmp_path, *args)
        made.append(s)
        return s

    yield start
    for s in made:
        if s.proc.poll() is None:
            s.stop()


class Client:
    """omproxy http|sse as a subprocess; the test is its MCP client."""

    def __init__(self, kind: str, url: str, *args: str):
        self.proc = subprocess.Popen(omproxy_cmd(kind, "--url", url, *args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        self.err = b""
        self.lines, self._err_thread = pump_output(self.proc, self._add_err)

    def _add_err(self, chunk: bytes) -> None:
        self.err += chunk

    def send(self, *objs) -> None:
        data = b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, timeout: float = 30.0) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no message from the proxy; stderr: {self.stderr}") from None
        if not line:
            raise EOFError(f"proxy stdout closed; stderr: {self.stderr}")
        return json.loads(line)

    def replies(self, ids, timeout: float = 30.0) -> dict:
        """Read until a reply for every id in `ids` arrived; {id: reply} (ids made hashable)."""
        want = {json.dumps(i) for i in ids}
        got = {}
        while want - set(got):
            msg = self.recv(timeout)
            if "method" not in msg:
                got[json.dumps(msg.get("id"))] = msg
        return got

    def handshake(self) -> None:
        self.send(INIT)
        assert "result" in self.recv(), self.stderr
        self.send(INITIALIZED)

    @property
    def stderr(self) -> str:
        return self.err.decode("utf-8", "replace")

    def wait(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._err_thread.join(5)
        return code

    def close(self, timeout: float = 30.0) -> int:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        return self.wait(timeout)


def frames(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "ExceptionGroup" not in err, err


# ---- issue 8 item 5: odd ids and batches never kill the reader, every request gets an answer ----
@pytest.mark.parametrize("kind", ["http", "sse"])
def test_invalid_ids_and_batches_are_answered(kind, server):
    srv = server(kind)
    c = Client(kind, srv.url)
    try:
        c.handshake()
        c.send({"jsonrpc": "2.0", "id": [1], "method": "ping"},
               {"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"},
               {"jsonrpc": "2.0", "id": 1.5, "method": "ping"},
               {"jsonrpc": "2.0", "id": True, "method": "ping"},
               [{"jsonrpc": "2.0", "id": 10, "method": "ping"}, {"jsonrpc": "2.0", "id": [2], "method": "ping"},
                {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
                call(11, "echo", text="in a batch")],
               [],
               {"jsonrpc": "2.0", "id": 99, "method": "ping"})
        got = []
        want = {"10", "11", "99", "1.5", "true"}
        while not (want <= {json.dumps(m.get("id")) for m in got}
                   and sum(m.get("id") is None for m in got) >= 4):
            got.append(c.recv())
        by_id = {json.dumps(m.get("id")): m for m in got if m.get("id") is not None}
        assert by_id["10"]["result"] == {}
        assert by_id["11"]["result"]["content"][0]["text"] == "in a batch"
        assert by_id["99"]["result"] == {}
        for bad in ("1.5", "true"):  # scalar ids the SDK would turn into notifications: answered, not sent
            assert by_id[bad]["error"]["code"] == -32600 and "id" in by_id[bad]["error"]["message"]
        # ids that cannot be echoed (array, object) and the empty batch: errors with id null
        nulls = [m for m in got if m.get("id") is None and "error" in m]
        assert len(nulls) == 4, got
        assert all(m["error"]["code"] == -32600 for m in nulls)
        assert c.close() == 0
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    sent = [e["method"] for e in srv.entries() if e["http"] == "POST"]
    assert "notifications/roots/list_changed" in sent


# ---- item 15: a pipelining client's messages leave in its order, each after its session exists ----
def test_pipelined_handshake_keeps_order_and_session(server):
    srv = server("http")
    c = Client("http", srv.url)
    try:
        # One write, no waiting: what a pipelining client does.
        # The first call is large: its body takes longest to send, a later one must still wait for it.
        calls = [call(1, "echo", text="x" * 3_000_000)] + [call(i, "echo", text=f"piped {i}") for i in range(2, 21)]
        c.send(INIT, INITIALIZED, *calls)
        got = c.replies(range(21))
        assert len(got["1"]["result"]["content"][0]["text"]) == 3_000_000
        assert all(got[str(i)]["result"]["content"][0]["text"] == f"piped {i}" for i in range(2, 21)), got
        assert c.close() == 0
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    posts = [e for e in srv.entries() if e["http"] == "POST"]
    assert [e["method"] for e in posts[:2]] == ["initialize", "notifications/initialized"], posts
    assert posts[0]["session"] is None and posts[1]["session"], posts
    assert posts[1]["status"] == 202, posts  # the server accepted it: it saw `initialized`
    # every call started in the client's order (each request is on the wire before the next message
    # goes), in the session, with the negotiated version
    assert [e["id"] for e in posts[2:]] == list(range(1, 21)), posts
    assert all(e["session"] == posts[1]["session"] and e["version"] == "2025-06-18" for e in posts[2:]), posts
    assert all(e["status"] < 400 for e in srv.entries()), srv.entries()


def test_sse_pipelined_messages_keep_their_order(server):
    srv = server("sse")
    c = Client("sse", srv.url)
    try:
        c.send(INIT, INITIALIZED, *(call(i, "echo", text=str(i)) for i in range(1, 21)))
        got = c.replies(range(21))
        assert all(got[str(i)]["result"]["content"][0]["text"] == str(i) for i in range(1, 21)), got
        assert c.close() == 0
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    posts = [e for e in srv.entries() if e["http"] == "POST"]
    assert [e["method"] for e in posts[:2]] == ["initialize", "notifications/initialized"], posts
    assert [e["id"] for e in posts[2:]] == list(range(1, 21)), posts


# ---- item 8 (and item 7's rejected POST): HTTP error statuses are visible, the session goes on ----
@pytest.mark.parametrize("kind", ["http", "sse"])
def test_http_error_status_is_visible_and_the_session_goes_on(kind, server, tmp_path):
    srv = server(kind, "--max-body", "65536")
    rec = tmp_path / "rec.jsonl"
    c = Client(kind, srv.url, "--record", str(rec))
    try:
        c.handshake()
        c.send(call(1, "http_status", code=500))
        err = c.recv()
        assert err["id"] == 1 and "500" in err["error"]["message"], err
        assert "Internal Server Error" in err["error"]["message"], err
        c.send(call(2, "echo", text="x" * 100_000))  # over the server's body limit: a real 413
        err = c.recv()
        assert err["id"] == 2 and "413" in err["error"]["message"], err
        c.send(call(3, "echo", text="still here"))
        ok = c.recv()
        assert ok["id"] == 3 and ok["result"]["content"][0]["text"] == "still here", (ok, c.stderr)
        assert c.close() == 0
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    lines = [x for x in c.stderr.splitlines() if "HTTP 500" in x or "HTTP 413" in x]
    assert len(lines) == 2, c.stderr
    no_traceback(c.stderr)
    events = [f for f in frames(rec) if f["type"] == "lifecycle" and f["event"] == "http_error"]
    assert sorted(e["status"] for e in events) == [413, 500], events


# ---- item 7: an SSE server that dies, restarts or goes quiet: one line, exit 1 ----
@pytest.mark.parametrize("restart", [False, True])
def test_sse_server_gone_is_one_line_and_exit_1(server, restart):
    srv = server("sse")
    c = Client("sse", srv.url)
    try:
        c.handshake()
        c.send(call(1, "echo", text="a"))
        assert c.recv()["id"] == 1
        srv.stop()
        if restart:
            srv.start()
        code = c.wait()  # stdin stays open: the proxy must end by itself
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert code == 1, c.stderr
    no_traceback(c.stderr)
    lines = c.stderr.strip().splitlines()
    assert any("SSE" in x and "closed" in x for x in lines), c.stderr


def test_sse_read_timeout_is_one_line_and_exit_1(server):
    srv = server("sse")
    c = Client("sse", srv.url, "--sse-read-timeout", "1")
    try:
        c.handshake()
        code = c.wait()  # the server sends nothing more: the read timeout ends the session
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert code == 1, c.stderr
    no_traceback(c.stderr)
    assert "--sse-read-timeout" in c.stderr, c.stderr


# ---- item 6: an HTTP server restart mid-session ----
def test_http_server_restart_reinitialises_transparently(server, tmp_path):
    srv = server("http")
    rec = tmp_path / "rec.jsonl"
    c = Client("http", srv.url, "--record", str(rec))
    try:
        c.handshake()
        c.send(call(1, "echo", text="before"))
        assert c.recv()["result"]["content"][0]["text"] == "before"
        srv.stop()
        srv.start()  # a new process: it knows no session
        c.send(call(2, "echo", text="after"))
        reply = c.recv()
        assert reply["id"] == 2 and reply["result"]["content"][0]["text"] == "after", (reply, c.stderr)
        c.send(call(3, "echo", text="again"))
        assert c.recv()["result"]["content"][0]["text"] == "again"
        assert c.close() == 0
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    no_traceback(c.stderr)
    assert "re-initialised" in c.stderr, c.stderr
    # The client never saw the replayed handshake's answer.
    events = [f for f in frames(rec) if f["type"] == "lifecycle" and f["event"] == "reinitialized"]
    assert len(events) == 1, frames(rec)
    posts = [e for e in srv.entries() if e["http"] == "POST"]
    methods = [e["method"] for e in posts]
    # After the first call: one replayed handshake (started by the first 404, either the call's or
    # the event stream's), then the calls in the new session.
    after = posts[methods.index("tools/call") + 1:]
    assert [e["method"] for e in after].count("initialize") == 1, methods
    i = [e["method"] for e in after].index("initialize")
    assert after[i]["session"] is None and after[i]["status"] == 200, after
    assert after[i + 1]["method"] == "notifications/initialized" and after[i + 1]["status"] == 202, after
    new = after[i + 1]["session"]
    assert all(e["status"] == 404 for e in after[:i]), after
    assert [(e["method"], e["session"], e["status"]) for e in after[i + 2:]] == [("tools/call", new, 200)] * 2


def test_http_server_restart_refusing_the_replayed_handshake_is_exit_1(server):
    srv = server("http")
    c = Client("http", srv.url)
    try:
        c.handshake()
        c.send(call(1, "echo", text="before"))
        assert c.recv()["id"] == 1
        srv.stop()
        srv.args = ("--refuse-initialize",)
        srv.start()
        c.send(call(2, "echo", text="after"))
        reply = c.recv()  # the request is answered (an error), then the proxy ends
        assert reply["id"] == 2 and "error" in reply, reply
        code = c.wait()
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert code == 1, c.stderr
    no_traceback(c.stderr)
    assert "session" in c.stderr and "503" in c.stderr, c.stderr


def test_http_2026_client_survives_a_server_restart(server):
    """The 2026-07-28 era has no session: a restarted server simply answers the next request."""
    import anyio
    from mcp import Client as SdkClient, StdioServerParameters

    srv = server("http")
    cmd = omproxy_cmd("http", "--url", srv.url)
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], cwd=str(ROOT))

    async def session() -> list[str]:
        out = []
        with anyio.fail_after(60):
            async with SdkClient(params) as client:
                out.append((await client.call_tool("echo", {"text": "one"})).content[0].text)
                await anyio.to_thread.run_sync(srv.stop)
                await anyio.to_thread.run_sync(srv.start)
                out.append((await client.call_tool("echo", {"text": "two"})).content[0].text)
        return out

    assert anyio.run(session) == ["one", "two"]
    methods = [e["method"] for e in srv.entries() if e["http"] == "POST"]
    assert "initialize" not in methods and methods[0] == "server/discover", methods


# ---- item 9: the client closes stdin while a slow reply is outstanding ----
@pytest.mark.parametrize("kind", ["http", "sse"])
def test_slow_reply_after_client_eof_is_delivered(kind, server, tmp_path):
    srv = server(kind)
    flag = tmp_path / "go"
    c = Client(kind, srv.url, "--timeout", "120")
    try:
        c.handshake()
        c.send(call(1, "wait_for", path=str(flag)))
        wait_until(lambda: any(e["method"] == "tools/call" for e in srv.entries()), "the call reached the server")
        c.proc.stdin.close()
        # Longer than any fixed grace the proxy might have had: it must still be waiting for the reply.
        with pytest.raises(subprocess.TimeoutExpired):
            c.proc.wait(6)
        flag.write_text("")
        reply = c.recv()
        assert reply["id"] == 1 and reply["result"]["content"][0]["text"] == "done", reply
        assert c.wait() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()


@pytest.mark.parametrize("kind", ["http", "sse"])
def test_reply_abandoned_after_timeout_is_reported(kind, server, tmp_path):
    srv = server(kind)
    rec = tmp_path / "rec.jsonl"
    c = Client(kind, srv.url, "--timeout", "1", "--record", str(rec))
    try:
        c.handshake()
        c.send(call(7, "wait_for", path=str(tmp_path / "never")))
        wait_until(lambda: any(e["method"] == "tools/call" for e in srv.entries()), "the call reached the server")
        code = c.close()
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert code == 1, c.stderr
    no_traceback(c.stderr)
    line = [x for x in c.stderr.splitlines() if "abandoned" in x]
    assert len(line) == 1 and "tools/call" in line[0] and "7" in line[0], c.stderr
    events = [f for f in frames(rec) if f["type"] == "lifecycle" and f["event"] == "abandoned"]
    assert len(events) == 1 and events[0]["ids"] == [7], events


def test_http_request_while_the_server_restarts_fails_alone(server):
    """A request sent while the server is down gets an error; once it is back, the session goes on."""
    srv = server("http")
    c = Client("http", srv.url)
    try:
        c.handshake()
        c.send(call(1, "echo", text="before"))
        assert c.recv()["id"] == 1
        srv.stop()
        c.send(call(2, "echo", text="while down"))
        reply = c.recv()
        assert reply["id"] == 2 and "cannot reach the server" in reply["error"]["message"], reply
        srv.start()
        c.send(call(3, "echo", text="after"))
        reply = c.recv()
        assert reply["id"] == 3 and reply["result"]["content"][0]["text"] == "after", (reply, c.stderr)
        assert c.close() == 0
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    no_traceback(c.stderr)
    assert "cannot reach the server for tools/call (id 2)" in c.stderr, c.stderr


def test_sigterm_while_waiting_for_replies_after_eof(server, tmp_path):
    """The wait after client EOF (up to --timeout) ends at once on SIGTERM, reporting what it abandons."""
    import signal

    srv = server("http")
    rec = tmp_path / "rec.jsonl"
    c = Client("http", srv.url, "--timeout", "600", "--record", str(rec))
    try:
        c.handshake()
        c.send(call(4, "wait_for", path=str(tmp_path / "never")))
        wait_until(lambda: any(e["method"] == "tools/call" for e in srv.entries()), "the call reached the server")
        c.proc.stdin.close()
        wait_until(lambda: any(f.get("event") == "client_eof" for f in frames(rec)), "the proxy saw EOF")
        c.proc.send_signal(signal.SIGTERM)
        code = c.wait(60)
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert code == 1, c.stderr
    assert "SIGTERM" in c.stderr and "abandoned 1 request" in c.stderr and "id 4 (tools/call)" in c.stderr, c.stderr


def test_readme_remote_guarantees_name_tests_that_exist():
    """Each guarantee of README's `omproxy http|sse` section names a test of this file that exists."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### `omproxy http|sse"):]
    section = section[section.index("What it guarantees"):section.index("\n## ")]
    bullets = re.split(r"\n- ", section)[1:]
    assert len(bullets) >= 7
    source = (ROOT / "tests" / "test_remote_legs.py").read_text()
    for bullet in bullets:
        names = re.findall(r"`(test_\w+)`", bullet)
        assert names, bullet[:80]
        for name in names:
            assert re.search(rf"^def {name}\(", source, re.M), name
