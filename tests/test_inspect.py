"""The inspect channel, end to end: a real proxy subprocess, a real SDK server (or the raw line
server where a test needs exact control), and a scripted inspector on the real unix socket."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from helpers import RAW_SERVER, ROOT, Inspector, Session, short_tmpdir

SDK_SERVER = [sys.executable, "-m", "tests.servers.sdk_server"]


def call(i: int, tool: str = "echo", **args) -> dict:
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": tool, "arguments": args or {"text": f"t{i}"}}}


@pytest.fixture
def sock():
    d = short_tmpdir()
    yield os.path.join(d, "i.sock")


def test_late_attach_sees_backlog_from_initialize(sock):
    s = Session(["stdio", "--inspect-socket", sock, "--name", "demo"], SDK_SERVER)
    s.handshake()
    s.send(call(1))
    assert s.recv()["id"] == 1
    insp = Inspector(sock)
    hello = insp.read()
    assert hello["type"] == "hello" and hello["v"] == 1
    assert hello["proxy"]["name"] == "demo" and hello["proxy"]["transport"] == "stdio"
    assert hello["proxy"]["pid"] == s.proc.pid
    first = insp.until(lambda f: f["type"] == "message")
    assert json.loads(first["raw"])["method"] == "initialize" and first["dir"] == "c2s"
    insp.message(lambda f, m: m.get("id") == 1 and "result" in m)
    assert s.close() == 0
    ended = insp.until(lambda f: f["type"] == "lifecycle" and f["event"] == "exited")
    assert ended["code"] == 0
    assert not os.path.exists(sock)


def test_socket_permissions_and_discovery_sidecar_and_stale_cleanup():
    runtime = short_tmpdir()
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    rdir = os.path.join(runtime, "omproxy")
    os.makedirs(rdir, mode=0o700)
    stale = os.path.join(rdir, "999999.sock")  # no such pid
    open(stale, "w").close()
    open(os.path.join(rdir, "999999.json"), "w").close()
    s = Session(["stdio", "--inspect"], [*RAW_SERVER, "echo"], env=env)
    path = os.path.join(rdir, f"{s.proc.pid}.sock")
    insp = Inspector(path)
    insp.read()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(rdir).st_mode) == 0o700
    sidecar = json.load(open(os.path.join(rdir, f"{s.proc.pid}.json")))
    assert sidecar["pid"] == s.proc.pid and sidecar["socket"] == path and sidecar["transport"] == "stdio"
    assert not os.path.exists(stale)
    assert s.close() == 0
    assert not os.path.exists(path) and not os.path.exists(os.path.join(rdir, f"{s.proc.pid}.json"))


def test_subscriber_that_never_reads_does_not_slow_relay_and_gets_lost(sock):
    env = dict(os.environ, OMPROXY_INSPECT_MAX_BYTES="50000")
    s = Session(["stdio", "--inspect-socket", sock, "--inspect-backlog", "100"], [*RAW_SERVER, "echo"], env=env)
    stuck = Inspector(sock)  # connects and never reads
    n = 5000
    t0 = time.monotonic()
    for i in range(n):
        s.send({"jsonrpc": "2.0", "id": i, "method": "m", "params": {"pad": "x" * 200}})
        if i % 50 == 49:
            for j in range(i - 49, i + 1):
                assert s.recv()["id"] == j
    took = time.monotonic() - t0
    assert took < 30, took  # keeps flowing (a stalled relay would block on a full socket forever)
    lost = stuck.until(lambda f: f["type"] == "lost")
    assert lost["n"] > 0
    assert s.close() == 0


def test_pause_release_edit_drop_both_directions_in_order(sock):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    assert insp.send("pause", dir="c2s")["ok"]
    for i in (1, 2, 3, 4):
        s.send({"jsonrpc": "2.0", "id": i, "method": "m", "params": {"v": i}})
    held = [insp.message(lambda f, m, i=i: m.get("id") == i and f["dir"] == "c2s") for i in (1, 2, 3, 4)]
    assert all(f["held"] and f["status"] == "held" for f in held)
    assert s.nothing_within(0.3)  # nothing reached the server, so no replies
    # edit #2 (a bad edit first), drop #3 (a request: the client gets an error), then resume
    bad = insp.send("release", seq=held[1]["seq"], raw="{not json")
    assert not bad["ok"] and "not valid JSON" in bad["error"]
    edited = {"jsonrpc": "2.0", "id": 2, "method": "m", "params": {"v": 2, "edited": "yes, longer"}}
    assert insp.send("release", seq=held[1]["seq"], raw=json.dumps(edited))["ok"]
    assert insp.send("drop", seq=held[2]["seq"])["ok"]
    got = {m["id"]: m for m in (s.recv(), s.recv())}
    assert got[3]["error"]["code"] == -32010  # the dropped request was answered
    assert got[2]["result"]["n"] == len(json.dumps(edited)) + 1  # the server got the edited line
    assert insp.send("resume", dir="c2s")["released"] == 2
    assert [s.recv()["id"] for _ in range(2)] == [1, 4]
    # server -> client: hold replies, release them all in order
    assert insp.send("pause", dir="s2c")["ok"]
    for i in (5, 6, 7):
        s.send({"jsonrpc": "2.0", "id": i, "method": "m"})
    for i in (5, 6, 7):
        insp.message(lambda f, m, i=i: m.get("id") == i and f["dir"] == "s2c" and f["held"])
    assert s.nothing_within(0.3)
    assert insp.send("release_all", dir="s2c")["released"] == 3
    assert [s.recv()["id"] for _ in range(3)] == [5, 6, 7]
    resolved = [f for f in insp.seen if f["type"] == "resolved"]
    assert {r["action"] for r in resolved} >= {"edited", "dropped", "released"}
    assert s.close() == 0


def test_intercept_holds_only_matching_and_bad_filter_is_refused(sock):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    bad = insp.send("intercept", filter="~m (")
    assert not bad["ok"] and "bad filter" in bad["error"]
    assert insp.send("intercept", filter="~m tools/call & ~c2s")["ok"]
    s.send({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert s.recv()["id"] == 1  # not matching: flows
    s.send(call(2))
    held = insp.message(lambda f, m: m.get("id") == 2)
    assert held["held"]
    assert s.nothing_within(0.3)
    assert insp.send("release", seq=held["seq"])["ok"]
    assert s.recv()["id"] == 2
    assert s.close() == 0


def test_inspector_killed_while_holding_releases_traffic(sock):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    code = ("import socket,sys,time,json; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
            "s.sendall(b'{\"cmd\":\"pause\",\"dir\":\"both\",\"id\":1}\\n'); time.sleep(600)")
    watcher = Inspector(sock)
    watcher.read()
    holder = subprocess.Popen([sys.executable, "-c", code, sock])
    watcher.until(lambda f: f["type"] == "state" and f["paused"]["c2s"])
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})
    watcher.message(lambda f, m: m.get("id") == 1 and f["held"])
    # A second inspector is still attached: nothing is released yet. Kill the holder, then leave.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert s.nothing_within(0.3)
    watcher.close()
    assert s.recv()["id"] == 1  # fail open: released in order when the last inspector left
    s.send({"jsonrpc": "2.0", "id": 2, "method": "m"})
    assert s.recv()["id"] == 2  # and no longer holding
    assert s.close() == 0


def test_inject_tools_call_while_s2c_held_answer_goes_to_inspector_only(sock):
    s = Session(["stdio", "--inspect-socket", sock], SDK_SERVER)
    s.handshake()
    insp = Inspector(sock)
    insp.read()
    assert insp.send("pause", dir="s2c")["ok"]
    s.send(call(1, text="from client"))
    insp.message(lambda f, m: m.get("id") == 1 and f["held"])
    r = insp.send("inject", to="server", message=call(77, text="injected!"))
    assert r["ok"] and r["inject_id"].startswith("omproxy-") and r["original_id"] == 77
    answer = insp.until(lambda f: f["type"] == "message" and f.get("to_inspector"))
    body = json.loads(answer["raw"])
    assert body["id"] == r["inject_id"] and "injected!" in answer["raw"]
    assert answer["injected"]["id"] == r["inject_id"]
    assert s.nothing_within(0.3)
    assert insp.send("resume", dir="s2c")["ok"]
    assert s.recv()["id"] == 1
    # nothing injected leaked to the client
    s.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert s.recv()["id"] == 2
    assert s.close() == 0
    assert b"omproxy-" not in s.rest()


def test_inject_before_handshake_is_refused_with_clear_error(sock):
    s = Session(["stdio", "--inspect-socket", sock], SDK_SERVER)
    insp = Inspector(sock)
    insp.read()
    r = insp.send("inject", to="server", message=call(1))
    assert not r["ok"] and "handshake" in r["error"]
    s.close()


def test_inject_notification_and_request_to_client(sock):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    note = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    assert insp.send("inject", to="client", message=note)["ok"]
    assert s.recv() == note
    r = insp.send("inject", to="client", message={"jsonrpc": "2.0", "id": 5, "method": "ping"})
    ping = s.recv()
    assert ping["method"] == "ping" and ping["id"] == r["inject_id"]
    s.send({"jsonrpc": "2.0", "id": ping["id"], "result": {}})  # the client answers
    answer = insp.until(lambda f: f["type"] == "message" and f.get("to_inspector"))
    assert json.loads(answer["raw"])["id"] == r["inject_id"]
    # the answer went to the inspector, not the server (the echo server would have counted it)
    s.send({"jsonrpc": "2.0", "id": 9, "method": "m"})
    assert s.recv()["id"] == 9
    assert s.close() == 0


def test_inject_timeout_sends_cancel_and_swallows_late_reply(sock):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    r = insp.send("inject", to="client", message={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=0.3)
    ping = s.recv()
    assert insp.until(lambda f: f["type"] == "inject_timeout")["inject_id"] == r["inject_id"]
    cancel = s.recv()
    assert cancel["method"] == "notifications/cancelled" and cancel["params"]["requestId"] == r["inject_id"]
    s.send({"jsonrpc": "2.0", "id": ping["id"], "result": {}})  # late: swallowed, not sent to the server
    s.send({"jsonrpc": "2.0", "id": 2, "method": "m"})
    assert s.recv()["id"] == 2
    assert s.close() == 0


def test_replay_a_captured_request(sock):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"a": 1}})
    assert s.recv()["id"] == 1
    insp = Inspector(sock)
    insp.read()
    orig = insp.message(lambda f, m: m.get("id") == 1 and f["dir"] == "c2s")
    r = insp.send("replay", seq=orig["seq"], force=True)
    assert r["ok"], r
    answer = insp.until(lambda f: f["type"] == "message" and f.get("to_inspector"))
    assert json.loads(answer["raw"])["result"]["n"] > 0
    assert s.close() == 0


def test_malformed_frames_get_errors_and_never_affect_the_relay(sock):
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    for garbage in [b"not json", b"[1,2]", b'{"cmd":42}', b'{"cmd":"pause","dir":"sideways"}',
                    b'{"cmd":"release","seq":-1}', b'{"cmd":"nope"}', b"\xff\xfe"]:
        insp.f.write(garbage + b"\n")
        insp.f.flush()
        frame = insp.until(lambda f: f["type"] in ("error", "reply"))
        assert frame.get("ok") is False or frame["type"] == "error"
        assert frame["error"]
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})
    assert s.recv()["id"] == 1
    assert insp.send("ping")["ok"]
    assert s.close() == 0


def test_inspect_wait_holds_until_first_inspector(sock):
    s = Session(["stdio", "--inspect-socket", sock, "--inspect-wait"], [*RAW_SERVER, "echo"])
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})
    assert s.nothing_within(0.5)
    insp = Inspector(sock)
    assert s.recv()["id"] == 1
    insp.read()
    assert s.close() == 0


def test_record_file_and_redaction(tmp_path):
    sock = os.path.join(short_tmpdir(), "r.sock")
    rec = tmp_path / "rec.jsonl"
    s = Session(["stdio", "--inspect-socket", sock, "--record", str(rec), "--env", "API_KEY=supersecret123"],
                [*RAW_SERVER, "echo", "--token", "tok-abcdef"])
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"leak": "supersecret123"}})
    assert s.recv()["id"] == 1
    insp = Inspector(sock)
    hello = insp.read()
    assert hello["proxy"]["target"][-1] == "***"  # the value after --token
    frame = insp.message(lambda f, m: m.get("id") == 1 and f["dir"] == "c2s")
    assert "supersecret123" not in frame["raw"] and "***" in frame["raw"]
    assert s.close() == 0
    lines = [json.loads(x) for x in rec.read_text().splitlines()]
    assert lines[0]["type"] == "hello"
    assert any(f["type"] == "message" and "\"id\": 1" in f.get("raw", "").replace('"id":1', '"id": 1')
               for f in lines)
    assert "supersecret123" not in rec.read_text() and "tok-abcdef" not in rec.read_text()
    assert lines[-1]["type"] == "lifecycle"


def test_no_redact_keeps_values(tmp_path):
    rec = tmp_path / "rec.jsonl"
    s = Session(["stdio", "--record", str(rec), "--no-redact", "--env", "API_KEY=supersecret123"],
                [*RAW_SERVER, "echo"])
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"leak": "supersecret123"}})
    assert s.recv()["id"] == 1
    s.close()
    assert "supersecret123" in rec.read_text()


def test_user_subclass_with_inspect_still_gets_its_hooks(sock, tmp_path):
    seen = tmp_path / "seen.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"), OMPROXY_RECORD=str(seen))
    s = Session(["stdio", "--inspect-socket", sock, "--hooks", "hook_examples:Records"], [*RAW_SERVER, "echo"],
                env=env)
    insp = Inspector(sock)
    insp.read()
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m"})
    assert s.recv()["id"] == 1
    insp.message(lambda f, m: m.get("id") == 1 and f["dir"] == "s2c")
    assert s.close() == 0
    kinds = [json.loads(x).get("kind") for x in seen.read_text().splitlines()]
    assert "JSONRPCRequest" in kinds and "JSONRPCResponse" in kinds


def test_held_bytes_cap_backpressures_that_direction_only(sock):
    s = Session(["stdio", "--inspect-socket", sock, "--inspect-hold-limit", "20000"], [*RAW_SERVER, "echo"])
    insp = Inspector(sock)
    insp.read()
    assert insp.send("pause", dir="c2s")["ok"]
    import threading

    def flood():
        for i in range(200):  # ~200 KB: far past the cap
            s.send({"jsonrpc": "2.0", "id": i, "method": "m", "params": {"pad": "x" * 1000}})

    t = threading.Thread(target=flood, daemon=True)
    t.start()

    def flood_blocked() -> bool:
        """The flooding thread sits in write(2) on a full pipe: the proxy stopped reading."""
        try:
            with open(f"/proc/self/task/{t.native_id}/wchan") as f:
                return "pipe_write" in f.read()
        except OSError:
            return False

    # wait for the back-pressure itself, not for a fixed time (a loaded machine may need many seconds)
    deadline = time.monotonic() + 60
    while t.is_alive() and not flood_blocked():
        assert time.monotonic() < deadline, "the flood neither finished nor blocked"
        time.sleep(0.02)
    assert t.is_alive(), "the proxy read all 200 KB past its 20 KB hold limit"
    def held() -> list:
        insp.send("ping")  # read what has arrived so far
        return [f for f in insp.seen if f.get("type") == "message" and f.get("held")]

    while len(held()) < 15:
        assert time.monotonic() < deadline, f"only {len(held())} held frames"
        time.sleep(0.02)
    assert 15 <= len(held()) < 100  # it stopped reading near the cap instead of buffering everything
    # the other direction still flows while the client side is made to wait
    note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hi"}}
    assert insp.send("inject", to="client", message=note)["ok"]
    assert s.recv() == note
    assert insp.send("resume", dir="c2s")["ok"]
    assert [s.recv()["id"] for _ in range(200)] == list(range(200))
    t.join(10)
    assert s.close() == 0


def test_modern_era_injection_copies_the_clients_meta(sock):
    s = Session(["stdio", "--inspect-socket", sock], SDK_SERVER)
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}
    s.send({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}})
    assert "result" in s.recv()
    s.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}})
    assert "result" in s.recv()
    insp = Inspector(sock)
    insp.read()
    r = insp.send("inject", to="server", message=call(3, text="modern"))  # no _meta of its own
    assert r["ok"], r
    answer = json.loads(insp.until(lambda f: f["type"] == "message" and f.get("to_inspector"))["raw"])
    assert "result" in answer and "modern" in json.dumps(answer), answer
    sent = insp.message(lambda f, m: f["status"] == "injected")
    assert json.loads(sent["raw"])["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    assert s.close() == 0


def test_remote_http_proxy_with_inspect(sock, http_server):
    url = http_server("http")
    s = Session(["http", "--url", url, "--inspect-socket", sock, "-H", "Authorization: Bearer hunter2-secret"], [])
    s.handshake()
    s.send(call(1, text="over http"))
    assert "over http" in json.dumps(s.recv())
    insp = Inspector(sock)
    hello = insp.read()
    assert hello["proxy"]["transport"] == "http" and hello["proxy"]["target"] == url
    assert hello["proxy"]["headers"] == {"Authorization": "***"}
    insp.message(lambda f, m: m.get("method") == "initialize")
    insp.message(lambda f, m: m.get("id") == 1 and f["dir"] == "s2c")
    r = insp.send("inject", to="server", message=call(2, text="injected over http"))
    assert r["ok"], r
    answer = insp.until(lambda f: f["type"] == "message" and f.get("to_inspector"))
    assert "injected over http" in answer["raw"]
    assert "hunter2-secret" not in json.dumps(insp.seen)
    assert s.close() == 0


def test_frames_arrive_in_seq_order_across_threads(sock):
    """Both relay threads and the stderr thread emit events; inspectors must get them in seq
    order with no duplicates (a TUI de-duplicates a replayed backlog by seq)."""
    s = Session(["stdio", "--inspect-socket", sock], [*RAW_SERVER, "chatty"])
    insp = Inspector(sock)
    insp.read()
    for i in range(300):
        s.send({"jsonrpc": "2.0", "id": i, "method": "m"})
    for i in range(300):
        assert s.recv()["id"] == i
    insp.message(lambda f, m: m.get("id") == 299 and f["dir"] == "s2c")
    assert s.close() == 0
    insp.until(lambda f: f["type"] == "lifecycle" and f["event"] == "exited")
    seqs = [f["seq"] for f in insp.seen if "seq" in f and f["type"] != "reply"]
    assert seqs == sorted(set(seqs)), "frames out of seq order or duplicated"
    assert any(f["type"] == "stderr" for f in insp.seen)
