"""Hot restart (issue 12): a real SDK client session held open through `omproxy stdio` while the
real SDK server behind it is restarted -- by the inspect channel's command, SIGUSR1, --watch and
the restart tool -- with the server's source rewritten between restarts. Both protocol eras.

Nothing sleeps for correctness: every wait is for a condition (a frame, a notification) with a deadline.
"""

import json
import os
import signal
import sys
import threading
import time

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters

from helpers import ROOT, Inspector, omproxy_cmd, short_tmpdir

MODES = ["auto", "legacy"]

TOOLS = {
    "one": 'def one(x: int) -> int:\n    """Add one."""\n    return x + 1\n',
    "two": 'def two(x: int) -> int:\n    """Double."""\n    return x * 2\n',
    "three": 'def three(x: int) -> int:\n    """Triple."""\n    return x * 3\n',
    # Deaf to cancellation: the server cannot answer it even as it shuts down (an SDK server
    # answers what it can with its own error when its stdin closes).
    "slow": 'async def slow() -> str:\n    """Never answers."""\n'
            '    import anyio\n    with anyio.CancelScope(shield=True):\n        await anyio.sleep(3600)\n'
            '    return "late"\n',
    "note": 'def note(n: int) -> str:\n    """Remember n (in this process)."""\n    NOTES.append(n)\n    return str(n)\n',
    "notes": 'def notes() -> str:\n    """What this process was told, in order."""\n    return ",".join(map(str, NOTES))\n',
    # A tool list answer over 64 KiB: longer than the tracker keeps of a line.
    "huge": 'def huge() -> str:\n    """' + "A long description. " * 4000 + '"""\n    return "huge"\n',
}


def server_source(tools, crash: bool = False) -> str:
    out = ["from mcp.server.mcpserver import MCPServer\n"]
    if crash:
        out.append('raise SystemExit("broken on purpose")\n')
    out.append('app = MCPServer("hot")\nNOTES = []\n\n')
    for name in tools:
        out.append("@app.tool()\n" + TOOLS[name] + "\n")
    out.append('if __name__ == "__main__":\n    app.run()\n')
    return "".join(out)


class Rig:
    """The server's source in a temp dir, the proxy's inspect socket, and the frames seen."""

    def __init__(self, tools):
        self.dir = short_tmpdir()
        self.src = os.path.join(self.dir, "srv", "server.py")
        os.makedirs(os.path.dirname(self.src))
        self.write(tools)
        self.sock = os.path.join(self.dir, "i.sock")
        self.ins: Inspector | None = None
        self.notes: list = []

    def write(self, tools, crash: bool = False) -> None:
        with open(self.src + ".tmp", "w") as f:
            f.write(server_source(tools, crash))
        os.replace(self.src + ".tmp", self.src)

    def params(self, *opts: str) -> StdioServerParameters:
        cmd = omproxy_cmd("stdio", "--inspect-socket", self.sock, *opts, "--", sys.executable, self.src)
        return StdioServerParameters(command=cmd[0], args=cmd[1:], cwd=str(ROOT))

    def client(self, mode: str, *opts: str) -> Client:
        async def handler(message):
            self.notes.append(message)

        return Client(self.params(*opts), mode=mode, message_handler=handler)

    async def inspector(self) -> Inspector:
        if self.ins is None:
            self.ins = await anyio.to_thread.run_sync(Inspector, self.sock)
        return self.ins

    async def frame(self, pred, timeout: float = 60.0) -> dict:
        ins = await self.inspector()
        return await anyio.to_thread.run_sync(_until, ins, pred, timeout)

    async def lifecycle(self, *events: str, timeout: float = 60.0) -> dict:
        return await self.frame(lambda f: f.get("type") == "lifecycle" and f.get("event") in events, timeout)

    async def command(self, cmd: str, **args) -> dict:
        ins = await self.inspector()
        return await anyio.to_thread.run_sync(lambda: ins.send(cmd, **args))

    async def list_changed(self, n: int = 1, timeout: float = 30.0) -> None:
        with anyio.fail_after(timeout):
            while sum(getattr(m, "method", None) == "notifications/tools/list_changed" for m in self.notes) < n:
                await anyio.sleep(0.01)

    def close(self) -> None:
        if self.ins is not None:
            self.ins.close()


def _until(ins: Inspector, pred, timeout: float) -> dict:
    ins.sock.settimeout(timeout)
    return ins.until(pred)


async def names(client: Client) -> list[str]:
    return sorted(t.name for t in (await client.list_tools()).tools)


async def text(client: Client, tool: str, args: dict | None = None) -> str:
    r = await client.call_tool(tool, args or {})
    assert not r.is_error, r
    return r.content[0].text


@pytest.mark.parametrize("mode", MODES)
def test_restart_by_command_keeps_the_session(mode):
    """The client keeps its session through a restart: it is told the tools changed, sees and calls
    the new tool; a request in flight gets an error answer; requests sent during the restart all
    reach the new server, once each, in order."""
    rig = Rig(["one", "slow", "note", "notes"])

    async def main():
        with anyio.fail_after(120):
            async with rig.client(mode) as client:
                assert await names(client) == ["note", "notes", "one", "slow"]
                assert await text(client, "one", {"x": 1}) == "2"
                await rig.frame(lambda f: f.get("type") == "hello")
                failures = []

                async def in_flight():
                    try:
                        await client.call_tool("slow", {})
                    except MCPError as exc:
                        failures.append(exc)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(in_flight)
                    await rig.frame(lambda f: f.get("type") == "message" and f["dir"] == "c2s"
                                    and '"slow"' in f.get("raw", ""))
                    rig.write(["one", "two", "slow", "note", "notes"])
                    reply = await rig.command("restart")
                    assert reply["ok"] and reply["restarting"]
                    started = await rig.lifecycle("restarting")
                    assert started["cause"] == "command" and started["generation"] == 2
                    results = {}

                    async def note(n):
                        results[n] = await text(client, "note", {"n": n})

                    for n in range(1, 6):  # sent while the restart holds traffic, one after the other
                        tg.start_soon(note, n)
                        await rig.frame(lambda f, n=n: f.get("type") == "message" and f["dir"] == "c2s"
                                        and '"note"' in f.get("raw", "") and f'"n":{n}' in f["raw"].replace(" ", ""))
                    done = await rig.lifecycle("restart", "restart_failed")
                assert done["event"] == "restart", done
                assert done["generation"] == 2 and done["cause"] == "command"
                assert done["changed"] == {"tools": {"added": ["two"], "removed": [], "changed": []}}
                assert done["answered"] == 1 and done["downtime_ms"] > 0
                assert len(failures) == 1 and failures[0].error.code == -32011
                assert "restarted" in failures[0].error.message
                assert results == {n: str(n) for n in range(1, 6)}
                # None lost or duplicated. (The SDK server runs sync tools in worker threads, so the
                # order in which it *handles* a burst of released requests is not the order they
                # arrived in; release order itself is covered by the inspector's release tests.)
                assert sorted(map(int, (await text(client, "notes")).split(","))) == [1, 2, 3, 4, 5]
                await rig.list_changed()
                assert await names(client) == ["note", "notes", "one", "slow", "two"]
                assert await text(client, "two", {"x": 21}) == "42"
                assert await text(client, "one", {"x": 41}) == "42"

    try:
        anyio.run(main)
    finally:
        rig.close()
    assert sum(getattr(m, "method", None) == "notifications/tools/list_changed" for m in rig.notes) == 1


@pytest.mark.parametrize("mode", MODES)
def test_restart_tool(mode):
    """--restart-tool: the client sees restart_server, an agent calls it after editing the server,
    and the answer says what changed."""
    rig = Rig(["one"])

    async def main():
        with anyio.fail_after(120):
            async with rig.client(mode, "--restart-tool") as client:
                assert await names(client) == ["one", "restart_server"]
                rig.write(["one", "two"])
                r = await client.call_tool("restart_server", {})
                assert not r.is_error, r
                assert "generation 2" in r.content[0].text and "added two" in r.content[0].text
                await rig.list_changed()
                assert await names(client) == ["one", "restart_server", "two"]
                assert await text(client, "two", {"x": 4}) == "8"
                done = await rig.lifecycle("restart")
                assert done["cause"] == "tool"

    try:
        anyio.run(main)
    finally:
        rig.close()


def test_restart_tool_is_off_by_default():
    rig = Rig(["one"])

    async def main():
        with anyio.fail_after(60):
            async with rig.client("legacy") as client:
                assert await names(client) == ["one"]
                r = await client.call_tool("restart_server", {})
                assert r.is_error  # the server's own "unknown tool": the proxy did not take it

    anyio.run(main)


@pytest.mark.parametrize("mode", MODES)
def test_watch_burst_is_one_restart_and_a_crashing_server_recovers(mode):
    """--watch: ten saves in a burst give one restart; a save that makes the server crash on start
    is reported and requests get a clear error; the next good save recovers the session."""
    rig = Rig(["one"])

    async def main():
        with anyio.fail_after(180):
            async with rig.client(mode, "--watch", os.path.dirname(rig.src), "--watch-debounce", "300") as client:
                assert await names(client) == ["one"]
                await rig.frame(lambda f: f.get("type") == "hello")
                for i in range(10):
                    rig.write(["one", "two"] if i % 2 else ["one"])
                done = await rig.lifecycle("restart", "restart_failed")
                assert done["event"] == "restart" and done["cause"] == "watch", done
                assert any(f.endswith("server.py") for f in done["files"])
                await rig.list_changed(1)
                assert await names(client) == ["one", "two"]
                # A sync point: the next restart is ours, so the burst made exactly one.
                await rig.command("restart")
                nxt = await rig.lifecycle("restart", "restart_failed")
                assert nxt["cause"] == "command" and nxt["generation"] == done["generation"] + 1

                rig.write(["one", "two"], crash=True)
                failed = await rig.lifecycle("restart_failed")
                assert failed["cause"] == "watch"
                assert "exited" in failed["error"]
                assert any("broken on purpose" in line for line in failed["stderr"])
                with pytest.raises(MCPError) as err:
                    await client.call_tool("one", {"x": 1})
                assert err.value.error.code == -32012 and "not running" in err.value.error.message

                rig.write(["one", "two", "three"])
                ok = await rig.lifecycle("restart", "restart_failed")
                assert ok["event"] == "restart", ok
                assert ok["changed"]["tools"]["added"] == ["three"]
                await rig.list_changed(2)
                assert await names(client) == ["one", "three", "two"]
                assert await text(client, "three", {"x": 2}) == "6"

    try:
        anyio.run(main)
    finally:
        rig.close()


def test_sigusr1_restarts():
    rig = Rig(["one"])

    async def main():
        with anyio.fail_after(120):
            async with rig.client("legacy") as client:
                assert await names(client) == ["one"]
                hello = await rig.frame(lambda f: f.get("type") == "hello")
                rig.write(["two"])
                os.kill(hello["proxy"]["pid"], signal.SIGUSR1)
                done = await rig.lifecycle("restart", "restart_failed")
                assert done["event"] == "restart" and done["cause"] == "signal"
                assert done["changed"]["tools"] == {"added": ["two"], "removed": ["one"], "changed": []}
                await rig.list_changed()
                assert await names(client) == ["two"]

    try:
        anyio.run(main)
    finally:
        rig.close()


def test_replayed_handshake_is_the_clients_own_and_shutdown_does_not_wait_for_answered_requests():
    """A raw client: the new server gets the client's initialize params as sent (answers swallowed,
    shown to inspectors as dropped), notifications/initialized follows; after the restart answered
    the in-flight request, the session still ends at once when the client closes its stdin."""
    from helpers import Session

    rig = Rig(["one", "slow"])
    s = Session(["stdio", "--inspect-socket", rig.sock], [sys.executable, rig.src])
    try:
        init = {"jsonrpc": "2.0", "id": "init-1", "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {"roots": {"listChanged": True}},
                           "clientInfo": {"name": "raw-client", "version": "9.9"}, "x-extra": [1, 2]}}
        s.send(init)
        assert s.recv(60)["id"] == "init-1"
        s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        s.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert [t["name"] for t in s.recv(30)["result"]["tools"]] == ["one", "slow"]
        s.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "slow", "arguments": {}}})
        ins = Inspector(rig.sock)
        ins.sock.settimeout(60)
        ins.message(lambda f, m: f["dir"] == "c2s" and isinstance(m, dict) and m.get("id") == 2)
        rig.write(["one"])
        assert ins.send("restart")["ok"]
        answer = s.recv(60)
        assert answer["id"] == 2 and answer["error"]["code"] == -32011
        note = s.recv(60)
        assert note == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
        assert done["event"] == "restart" and done["changed"]["tools"]["removed"] == ["slow"]
        replayed = ins.message(lambda f, m: f["dir"] == "c2s" and f["status"] == "injected"
                               and m.get("method") == "initialize")
        sent = json.loads(replayed["raw"])
        assert sent["params"] == init["params"] and sent["id"] != "init-1"
        swallowed = ins.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == sent["id"])
        assert swallowed["status"] == "dropped" and swallowed["changed"]["by"] == "omproxy restart"
        ins.message(lambda f, m: f["dir"] == "c2s" and f["status"] == "injected"
                    and m.get("method") == "notifications/initialized")
        s.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "one", "arguments": {"x": 1}}})
        reply = s.recv(60)
        assert reply["id"] == 3 and reply["result"]["content"][0]["text"] == "2"
        ins.close()
        assert s.close(timeout=20) == 0  # nothing left outstanding to wait for
        assert b"unanswered" not in s.stderr, s.stderr
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
        rig.close()


def test_a_tool_list_too_long_to_keep_is_announced_as_changed_after_a_restart():
    """What the client saw of a list is learned off the relay path, and a list answer over 64 KiB
    is not kept: after a restart that list cannot be compared, so the client is told to list
    again (list_changed, `compared: false`) rather than left with a list that may be stale."""
    from helpers import Session

    rig = Rig(["one", "huge"])
    s = Session(["stdio", "--inspect-socket", rig.sock], [sys.executable, rig.src])
    try:
        s.handshake()
        s.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert [t["name"] for t in s.recv(30)["result"]["tools"]] == ["one", "huge"]
        ins = Inspector(rig.sock)
        ins.sock.settimeout(60)
        ins.message(lambda f, m: f["dir"] == "s2c" and isinstance(m, dict) and m.get("id") == 1)
        assert ins.send("restart")["ok"]  # the same server: nothing to compare would say "changed"
        done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
        assert done["event"] == "restart", done
        assert done["changed"] == {"tools": {"added": [], "removed": [], "changed": [], "compared": False}}
        assert s.recv(60) == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        s.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "one", "arguments": {"x": 1}}})
        assert s.recv(60)["result"]["content"][0]["text"] == "2"
        ins.close()
        assert s.close(timeout=20) == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
        rig.close()


def test_2026_listen_subscription_lives_through_a_restart():
    """2026-07-28: an open subscriptions/listen stream is carried over to the new server (not ended
    with an error) and gets the tools list_changed event on the stream itself."""
    rig = Rig(["one"])

    async def main():
        with anyio.fail_after(120):
            async with rig.client("auto") as client:
                assert await names(client) == ["one"]
                async with client.listen(tools_list_changed=True) as sub:
                    rig.write(["one", "two"])
                    assert (await rig.command("restart"))["ok"]
                    done = await rig.lifecycle("restart", "restart_failed")
                    assert done["event"] == "restart" and done["answered"] == 0, done
                    event = await sub.__anext__()
                    assert "tool" in type(event).__name__.lower(), event
                    assert await names(client) == ["one", "two"]
                    assert await text(client, "two", {"x": 5}) == "10"
                    ack = await rig.frame(lambda f: f.get("type") == "message" and f["dir"] == "s2c"
                                          and "subscriptions/acknowledged" in f.get("raw", "")
                                          and f["status"] == "dropped")
                    assert ack["changed"]["by"] == "omproxy restart"

    try:
        anyio.run(main)
    finally:
        rig.close()


def test_watch_scan_ignores_globs_and_editor_files(tmp_path):
    """The polling watcher's view of a tree: ignore globs (--watch-ignore and the defaults) apply to
    names and to paths relative to the watched directory."""
    from omproxy_tui.proxy.watch import PollingWatcher

    for rel in ("server.py", "pkg/mod.py", "pkg/__pycache__/mod.cpython-311.pyc", ".git/HEAD", "data/big.db",
                "notes.swp", "node_modules/x/index.js", "other.txt"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    w = PollingWatcher([str(tmp_path)], lambda files: None, ignore=("data", "*.txt"))
    seen = sorted(os.path.relpath(p, tmp_path) for p in w.scan())
    assert seen == ["pkg/mod.py", "server.py"]
    one = PollingWatcher([str(tmp_path / "other.txt")], lambda files: None)
    assert list(one.scan()) == [str(tmp_path / "other.txt")]  # a file given by name is watched


@pytest.mark.parametrize("args, error", [
    (["--no-restart", "--watch", "."], "--no-restart: cannot be combined"),
    (["--watch-ignore", "*.txt"], "needs --watch"),
    (["--watch", "/nonexistent/dir"], "--watch"),
])
def test_restart_option_errors_are_one_line(args, error):
    import subprocess

    r = subprocess.run(omproxy_cmd("stdio", *args, "--", "true"), capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2
    assert error in r.stderr.decode() and len(r.stderr.decode().strip().splitlines()) == 1, r.stderr


def test_a_server_that_closed_its_stdin_is_answered_for_and_a_restart_revives_the_session():
    """A request the server can no longer read is answered with an error (never left waiting),
    the failed write is still reported to inspectors, and a restart brings a working server."""
    from helpers import RAW_SERVER, Session

    sock = short_tmpdir() + "/i.sock"
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "closein"])
    try:
        s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})
        assert s.recv(30)["id"] == 1  # the server has closed its stdin by now
        s.send({"jsonrpc": "2.0", "id": 2, "method": "m"})
        answer = s.recv(30)
        assert answer["id"] == 2 and answer["error"]["code"] == -32011
        ins = Inspector(sock)
        ins.sock.settimeout(60)
        sent = ins.message(lambda f, m: m.get("id") == 2 and f["dir"] == "c2s")
        ins.until(lambda f: f["type"] == "resolved" and f["of"] == sent["seq"] and f["action"] == "dropped")
        assert ins.send("restart")["ok"]
        done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
        assert done["event"] == "restart", done
        s.send({"jsonrpc": "2.0", "id": 3, "method": "m"})
        assert s.recv(30)["id"] == 3
        ins.close()
    finally:
        s.proc.kill()
        s.proc.wait(10)


def test_a_restart_while_a_write_to_the_old_server_blocks_keeps_what_follows_for_the_new_one():
    """The old server stopped reading in the middle of a big request: the restart stops it (the
    blocked write then fails), answers that request with the restart error, and the request
    sent after it reaches the new server -- the failed write to the server being replaced does
    not close the client -> server direction."""
    from helpers import RAW_SERVER, Session

    sock = short_tmpdir() + "/i.sock"
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "busy"])
    try:
        s.send({"jsonrpc": "2.0", "id": 1, "method": "deafen"})
        first = s.recv(30)
        assert first["id"] == 1
        for _ in (1, 2):
            assert s.recv(30)["method"] == "notifications/message"
        ins = Inspector(sock)
        ins.sock.settimeout(60)
        # Bigger than a pipe holds: its write to the server that no longer reads blocks.
        s.send({"jsonrpc": "2.0", "id": 2, "method": "m", "params": {"x": "y" * (1 << 20)}})
        ins.message(lambda f, m: f["dir"] == "c2s" and m.get("id") == 2)
        s.send({"jsonrpc": "2.0", "id": 3, "method": "m"})
        assert ins.send("restart")["ok"]
        answers = {m["id"]: m for m in (s.recv(60), s.recv(60))}
        assert answers[2]["error"]["code"] == -32011
        assert answers[3]["result"]["pid"] != first["result"]["pid"]  # the new server answered it
        done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
        assert done["event"] == "restart" and done["answered"] == 1, done
        ins.close()
    finally:
        s.proc.kill()
        s.proc.wait(10)



def test_a_request_an_inspector_holds_through_a_restart_goes_to_the_new_server():
    """A held request never reached the old server: the restart does not answer it with its error;
    released afterwards, the new server answers it (once)."""
    from helpers import RAW_SERVER, Session

    sock = short_tmpdir() + "/i.sock"
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "busy"])
    try:
        s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})
        first = s.recv(30)
        ins = Inspector(sock)
        ins.sock.settimeout(60)
        assert ins.send("pause", dir="c2s")["ok"]
        s.send({"jsonrpc": "2.0", "id": 2, "method": "m"})
        ins.message(lambda f, m: f["dir"] == "c2s" and m.get("id") == 2 and f["held"])
        assert ins.send("restart")["ok"]
        done = ins.until(lambda f: f.get("type") == "lifecycle" and f.get("event") in ("restart", "restart_failed"))
        assert done["event"] == "restart" and done["answered"] == 0, done
        assert ins.send("resume", dir="c2s")["released"] == 1
        answer = s.recv(60)
        assert answer["id"] == 2 and answer["result"]["pid"] != first["result"]["pid"]
        assert s.nothing_within(0.3)  # and nothing else (no restart error for it)
        ins.close()
    finally:
        s.proc.kill()
        s.proc.wait(10)
