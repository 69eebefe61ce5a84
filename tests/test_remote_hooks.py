"""Traffic-changing hooks on the remote legs (`omproxy http|sse --hooks …`): replacements and DROP
in both directions, sync and async, line-level and typed (seed-style); async ones awaited in order
before the message moves, with the `hook_timeout` deadline of the stdio relay.

Real processes only: omproxy as a subprocess with a --hooks subclass of StreamableHttpProxy /
SseProxy (tests/remote_hooks.py), the test as its MCP client on stdin/stdout, and the SDK test server
under uvicorn on 127.0.0.1 logging what reached it (tests/servers/remote_server.py)."""

import json

import pytest

from test_remote_legs import INIT, INITIALIZED, Client, call, no_traceback, wait_until
from test_remote_legs import server  # noqa: F401  (the pytest fixture, shared rather than re-written)

KINDS = ["http", "sse"]
#: hook styles in tests/remote_hooks.py: @modifies async (line), modifies_traffic class with async
#: typed hooks and typed replacements, @modifies sync (line)
STYLES = ["Async", "AsyncClass", "Sync"]
INIT_SAMPLING = json.loads(json.dumps(INIT))
INIT_SAMPLING["params"]["capabilities"] = {"sampling": {}}


@pytest.fixture
def hooks_log(tmp_path, monkeypatch):
    path = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("REMOTE_HOOKS_LOG", str(path))
    return path


def proxy(kind: str, style: str, url: str, *args: str) -> Client:
    return Client(kind, url, "--hooks", f"tests/remote_hooks.py:{kind.capitalize()}{style}", *args)


def text_of(reply: dict) -> str:
    assert "result" in reply, reply
    return reply["result"]["content"][0]["text"]


def read_to_eof(c: Client) -> list[dict]:
    """Close the client's stdin and read everything the proxy still writes, until it exits."""
    c.proc.stdin.close()
    out = []
    while True:
        try:
            out.append(c.recv())
        except EOFError:
            return out


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", KINDS)
def test_modifier_replaces_and_drops_both_directions(kind, style, server, hooks_log):
    srv = server(kind)
    c = proxy(kind, style, srv.url)
    try:
        c.handshake()
        c.send(call(1, "echo", text="c2s-replace"))
        assert text_of(c.recv()) == "replaced on the way in", c.stderr  # the server got the replacement
        c.send(call(2, "echo", text="c2s-drop"))
        reply = c.recv()
        assert reply["id"] == 2 and reply["error"]["code"] == -32010, reply
        assert "dropped by omproxy" in reply["error"]["message"], reply
        c.send(call(3, "echo", text="s2c-replace"))
        reply = c.recv()
        assert reply["id"] == 3 and text_of(reply) == "replaced on the way out", reply
        c.send(call(4, "echo", text="s2c-drop"), call(5, "echo", text="after"))
        assert c.recv()["id"] == 5
        rest = read_to_eof(c)
        assert c.wait() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert rest == [], rest  # the dropped answer never reached the client
    no_traceback(c.stderr)
    calls = [e for e in srv.entries() if e["method"] == "tools/call"]
    assert [e["id"] for e in calls] == [1, 3, 4, 5], calls  # the dropped request never left


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", KINDS)
def test_modifier_drops_server_notifications_and_requests(kind, style, server, hooks_log):
    """A dropped server notification never reaches the client; a dropped server->client request
    (sampling) is answered to the server with -32010, so its tool call fails instead of hanging."""
    srv = server(kind)
    c = proxy(kind, style, srv.url)
    try:
        c.send(INIT_SAMPLING)
        assert "result" in c.recv(), c.stderr
        c.send(INITIALIZED)
        progress = call(1, "progress", steps=3)
        progress["params"]["_meta"] = {"progressToken": "tok"}
        c.send(progress)
        seen = []
        while not seen or seen[-1].get("id") != 1:
            seen.append(c.recv())
        assert text_of(seen[-1]) == "did 3 steps", seen
        assert not [m for m in seen if m.get("method") == "notifications/progress"], seen
        c.send(call(2, "ask_llm", prompt="hi"))
        seen = []
        while not seen or seen[-1].get("id") != 2:
            seen.append(c.recv())
        assert not [m for m in seen if m.get("method") == "sampling/createMessage"], seen
        reply = seen[-1]
        answer = json.dumps(reply)
        assert "dropped by omproxy" in answer, reply  # the server's error names our -32010 answer
        assert c.close() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    no_traceback(c.stderr)


@pytest.mark.parametrize("kind", KINDS)
def test_async_modifiers_keep_the_clients_order(kind, server, hooks_log):
    """Pipelined messages through an async modifier that suspends on some of them: they reach the
    server in the client's order, and the hooks ran in that order."""
    srv = server(kind)
    c = proxy(kind, "Async", srv.url)
    try:
        texts = {i: ("c2s-replace" if i % 3 == 0 else f"plain {i}") for i in range(1, 21)}
        c.send(INIT, INITIALIZED, *(call(i, "echo", text=texts[i]) for i in range(1, 21)))
        got = c.replies(range(21))
        for i in range(1, 21):
            want = "replaced on the way in" if i % 3 == 0 else f"plain {i}"
            assert text_of(got[str(i)]) == want, got[str(i)]
        assert c.close() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    posts = [e for e in srv.entries() if e["http"] == "POST"]
    assert [e["method"] for e in posts[:2]] == ["initialize", "notifications/initialized"], posts
    assert [e["id"] for e in posts[2:]] == list(range(1, 21)), posts
    seen = [json.loads(x) for x in hooks_log.read_text().splitlines()]
    c2s = [v for d, v in seen if d == "c2s"]
    assert c2s == [0, "notifications/initialized", *range(1, 21)], c2s


@pytest.mark.parametrize("kind", KINDS)
def test_slow_async_modifier_delays_only_its_direction(kind, server, hooks_log, tmp_path):
    """While an async client->server modifier waits, the server's answers still reach the client
    (the event loop is not blocked), and later client messages wait behind the slow one."""
    srv = server(kind)
    flag, gate = tmp_path / "reply", tmp_path / "gate"
    c = proxy(kind, "Async", srv.url, "--hook-timeout", "0")  # no deadline: only the gate ends the wait
    try:
        c.handshake()
        c.send(call(1, "wait_for", path=str(flag)))
        wait_until(lambda: any(e["id"] == 1 for e in srv.entries()), "call 1 reached the server")
        c.send(call(2, "echo", text=f"c2s-slow:{gate}"), call(3, "echo", text="behind the slow one"))
        wait_until(lambda: hooks_log.exists() and '["c2s", 2]' in hooks_log.read_text(), "the hook holds call 2")
        flag.write_text("")
        reply = c.recv()  # the server's answer comes through while call 2 is held in its hook
        assert reply["id"] == 1 and text_of(reply) == "done", reply
        assert not any(e["id"] in (2, 3) for e in srv.entries()), srv.entries()
        gate.write_text("")
        got = c.replies([2, 3])
        assert text_of(got["3"]) == "behind the slow one"
        assert c.close() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    calls = [e["id"] for e in srv.entries() if e["method"] == "tools/call"]
    assert calls == [1, 2, 3], calls


@pytest.mark.parametrize("direction", ["c2s", "s2c"])
@pytest.mark.parametrize("kind", KINDS)
def test_async_modifier_past_the_deadline_forwards_unchanged(kind, direction, server, hooks_log):
    """The stdio relay's deadline (`hook_timeout`, here 2 s on the class, or --hook-timeout):
    past it the hook is cancelled, reported, and the message goes on unchanged."""
    srv = server(kind)
    c = proxy(kind, "Async", srv.url, "--hook-timeout", "1")
    try:
        c.handshake()
        c.send(call(1, "echo", text=f"{direction}-hang"), call(2, "echo", text="next"))
        got = c.replies([1, 2])
        assert text_of(got["1"]) == f"{direction}-hang" and text_of(got["2"]) == "next", got
        assert c.close() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    hook = "_on_mcp_client_message" if direction == "c2s" else "_on_mcp_server_message"
    assert f"{kind.capitalize()}Async.{hook} did not finish within 1.0 s" in c.stderr, c.stderr
    assert "forwarded unchanged" in c.stderr, c.stderr


@pytest.mark.parametrize("style", ["Typed", "AsyncTyped"])
@pytest.mark.parametrize("kind", KINDS)
def test_typed_observers_see_every_message_in_order(kind, style, server, hooks_log):
    """Seed-style hooks (typed messages), sync and async, see each message once per direction,
    in order, and change nothing."""
    srv = server(kind)
    c = proxy(kind, style, srv.url)
    try:
        c.send(INIT, INITIALIZED, *(call(i, "echo", text=f"t{i}") for i in range(1, 11)))
        got = c.replies(range(11))
        assert all(text_of(got[str(i)]) == f"t{i}" for i in range(1, 11)), got
        assert c.close() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    no_traceback(c.stderr)
    seen = [json.loads(x) for x in hooks_log.read_text().splitlines()]
    assert [v for d, v in seen if d == "c2s"] == [0, "notifications/initialized", *range(1, 11)], seen
    assert sorted(v for d, v in seen if d == "s2c") == list(range(11)), seen


def test_async_modifier_called_on_the_loop_thread_is_reported_not_ignored():
    """The guard behind the tests above: relay steps run off the loop, because on it an async
    modifier cannot be awaited. Should one ever be called there, it is reported and not run, never
    scheduled and silently ignored (the message would move before its replacement or DROP)."""
    import asyncio
    import os
    import threading

    from remote_hooks import HttpAsync

    proxy = HttpAsync()
    read_end, proxy.stderr_fd = os.pipe()
    proxy.refresh_hooks()
    sent = json.dumps(call(1, "echo", text="c2s-replace")).encode()

    async def on_the_loop():
        proxy.loop, proxy._loop_thread = asyncio.get_running_loop(), threading.current_thread()
        line = proxy.make_line(sent, "c2s")
        out = proxy._apply_modifiers(line, proxy._pre["c2s"])
        assert asyncio.all_tasks() == {asyncio.current_task()}, "the modifier was scheduled"
        # Let anything it scheduled (call_soon, a task) start: that takes loop iterations, not time.
        for _ in range(3):
            await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}, "the modifier was scheduled"
        return out

    try:
        assert asyncio.run(on_the_loop()) == sent + b"\n"
        os.close(proxy.stderr_fd)
        err = os.read(read_end, 65536).decode()
    finally:
        os.close(read_end)
    assert "HttpAsync._on_mcp_client_message is async and was called on the event loop thread" in err, err


def test_readme_remote_hooks_paragraph_names_tests_that_exist():
    import re

    from helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    start = readme.index("Hooks work on the remote legs")
    paragraph = readme[start:readme.index("\n\n", start)]
    names = re.findall(r"`(test_\w+)`", paragraph)
    assert len(names) >= 6
    source = (ROOT / "tests" / "test_remote_hooks.py").read_text()
    for name in names:
        assert re.search(rf"^def {name}\(", source, re.M), name


@pytest.mark.parametrize("style", ["Sync", "Async"])
@pytest.mark.parametrize("direction", ["c2s", "s2c"])
@pytest.mark.parametrize("kind", KINDS)
def test_signal_ends_the_session_while_a_modifier_hangs(kind, direction, style, server, hooks_log):
    """A sync hook cannot be interrupted, nor an async one without a deadline (--hook-timeout 0);
    a signal still ends the session, in either direction (as on stdio)."""
    import signal

    srv = server(kind)
    c = proxy(kind, style, srv.url, "--hook-timeout", "0")
    try:
        c.handshake()
        c.send(call(1, "echo", text=f"{direction}-hang"))
        wait_until(lambda: hooks_log.exists() and f'["{direction}", 1]' in hooks_log.read_text(),
                   "the hook holds message 1")
        c.proc.send_signal(signal.SIGTERM)
        code = c.wait(30)
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert code in (0, 1), c.stderr
    assert "SIGTERM" in c.stderr, c.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_slow_async_server_modifier_delays_only_server_messages(kind, server, hooks_log, tmp_path):
    """While an async server->client modifier waits, client messages still reach the server, and
    later server messages wait behind the slow one (they reach the client in order)."""
    srv = server(kind)
    gate = tmp_path / "gate"
    c = proxy(kind, "Async", srv.url, "--hook-timeout", "0")
    try:
        c.handshake()
        c.send(call(1, "echo", text=f"s2c-slow:{gate}"))
        wait_until(lambda: hooks_log.exists() and '["s2c", 1]' in hooks_log.read_text(), "the hook holds reply 1")
        c.send(call(2, "echo", text="meanwhile"))
        wait_until(lambda: any(e["id"] == 2 and e.get("status") for e in srv.entries()), "call 2 reached the server")
        gate.write_text("")
        first, second = c.recv(), c.recv()
        assert (first["id"], second["id"]) == (1, 2), (first, second)
        assert text_of(second) == "meanwhile"
        assert c.close() == 0, c.stderr
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
