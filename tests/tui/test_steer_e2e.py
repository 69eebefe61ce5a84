"""Steering from the TUI, end to end: the real app (Pilot) attached to a real
``omproxy stdio --inspect-socket`` subprocess in front of the real demo server (an SDK server),
with this test as the MCP client on the proxy's stdin/stdout. Every test asserts what the client
(and through its answers, the server) received, not only what the screen shows."""

from __future__ import annotations

import json
import queue
import sys
import time

import pytest
from pilot_wait import wait_for
from helpers import Inspector, Session

from omproxy_tui.client.sources import RecordingSource, SocketSource
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio
SIZE = (140, 40)
SERVER = [sys.executable, "-m", "omproxy_tui.demo.server"]


async def client_recv(pilot, session: Session, pred, timeout: float = 30.0, what: str = "message") -> dict:
    """The next line the client receives that matches ``pred`` (others are kept in ``seen``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = session.lines.get_nowait()
        except queue.Empty:
            if time.monotonic() > deadline:
                raise AssertionError(f"the client did not receive {what} in {timeout} s") from None
            await pilot.pause(0.05)
            continue
        assert line, "the proxy closed its stdout"
        msg = json.loads(line)
        session.seen.append(msg)
        if pred(msg):
            return msg


def call(rid, tool, args):
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": tool, "arguments": args}}


def text_of(msg: dict) -> str:
    return msg["result"]["content"][0]["text"]


@pytest.fixture
def live(sockdir):
    sock = str(sockdir / "s.sock")
    session = Session(["stdio", "--inspect-socket", sock, "--name", "steer"], SERVER)
    session.seen = []
    try:
        session.handshake()
        session.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert "tools" in session.recv(30)["result"]
        yield session, sock
    finally:
        session.close()


async def attached(pilot, app: OmproxyApp):
    [info] = app.sessions.values()
    await wait_for(pilot, lambda: info.state == "live" and any(
        r.method == "tools/list" and r.kind == "response" for r in app.store.records), what="session live")
    await wait_for(pilot, lambda: info.inspectors >= 1, what="first state frame")
    app.log_widget.focus()
    app.log_widget.move_cursor(0)  # the selected message decides the session steering acts on
    await pilot.pause()
    return info


def held_record(app, pred=lambda r: True):
    return next((r for r in app.store.records if r.held and pred(r)), None)


async def test_intercept_by_filter_then_edit_and_release(live):
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        await pilot.press("i")
        await pilot.pause()
        await pilot.press(*"~q & ~tool echo")  # requests only: ~tool also matches their answers
        await pilot.press("enter")
        await wait_for(pilot, lambda: info.intercept == "~q & ~tool echo", what="intercept set")
        assert "⚑ ~q & ~tool echo" in str(app.query_one("#status").content)
        session.send(call(7, "slow", {"seconds": 0}))  # does not match: flows
        assert text_of(await client_recv(pilot, session, lambda m: m.get("id") == 7)) == "slept 0.0 s"
        session.send(call(8, "echo", {"text": "original"}))
        await wait_for(pilot, lambda: held_record(app, lambda r: r.tool == "echo") is not None, what="echo held")
        await wait_for(pilot, lambda: len(info.held) == 1, what="state: 1 held")
        assert "1 held" in str(app.query_one("#status").content)
        await pilot.press("h")  # jump to the held message
        rec = app.log_widget.selected_record()
        assert rec.held and rec.tool == "echo"
        await pilot.press("e")
        await pilot.pause()
        from omproxy_tui.tui.steer.editor import EditorScreen

        assert isinstance(app.screen, EditorScreen)
        area = app.screen.query_one("#editor-text")
        area.text = area.text.replace('"original"', '"edited by the TUI"')
        await pilot.pause()
        assert "edited by the TUI" in str(app.screen.query_one("#editor-diff").content)
        await pilot.press("ctrl+s")
        answer = await client_recv(pilot, session, lambda m: m.get("id") == 8, what="the edited call's answer")
        assert text_of(answer) == "edited by the TUI"  # the server got the edited bytes
        await wait_for(pilot, lambda: any(r.changed and r.tool == "echo" for r in app.store.records),
                       what="edited message in the log")
        edited = next(r for r in app.store.records if r.changed and r.tool == "echo")
        assert edited.extra["changed"]["by"] == "inspector"
        app.log_widget.select_index(edited.index)
        app._show_detail()
        await pilot.pause()
        body = app.detail.body_text()
        assert '+      "text": "edited by the TUI"' in body and '-      "text": "original"' in body
        # one key clears the intercept: echo flows again
        await pilot.press("I")
        await wait_for(pilot, lambda: info.intercept is None, what="intercept cleared")
        session.send(call(9, "echo", {"text": "free"}))
        assert text_of(await client_recv(pilot, session, lambda m: m.get("id") == 9)) == "free"


async def test_drop_request_client_gets_error(live):
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        await pilot.press("greater_than_sign")  # pause client -> server
        await wait_for(pilot, lambda: info.paused["c2s"], what="c2s paused")
        assert "⏸→" in str(app.query_one("#status").content)
        session.send(call(11, "echo", {"text": "never"}))
        await wait_for(pilot, lambda: held_record(app) is not None, what="held")
        await pilot.press("h")
        await pilot.press("X")
        await pilot.pause()
        from omproxy_tui.tui.steer.dialogs import ChoiceScreen

        assert isinstance(app.screen, ChoiceScreen)
        assert "client will get a JSON-RPC error" in str(app.screen.query_one("#choice-body").content)
        await pilot.press("enter")  # "Drop it" has the focus
        answer = await client_recv(pilot, session, lambda m: m.get("id") == 11, what="the error answer")
        assert "dropped" in answer["error"]["message"].lower()
        await wait_for(pilot, lambda: any(r.status == "dropped" for r in app.store.records), what="dropped in log")
        await pilot.press("greater_than_sign")  # resume
        await wait_for(pilot, lambda: not info.paused["c2s"], what="resumed")
        session.send(call(12, "echo", {"text": "flows"}))
        assert text_of(await client_recv(pilot, session, lambda m: m.get("id") == 12)) == "flows"


async def test_compose_tools_call_form_while_s2c_paused(live):
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        await pilot.press("less_than_sign")  # pause server -> client
        await wait_for(pilot, lambda: info.paused["s2c"], what="s2c paused")
        await pilot.press("C")
        from textual.widgets import Input, Select

        from omproxy_tui.tui.steer.compose import ComposeScreen

        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen) and app.screen.fields, what="form")
        screen = app.screen
        assert screen.method == "tools/call"
        # the tools are a list with type-to-find: focus it, type part of the name
        screen.query_one("#compose-target").focus()
        await wait_for(pilot, lambda: screen.query_one("#compose-target").has_focus, what="the tool list focused")
        await pilot.press(*"dep")
        await wait_for(pilot, lambda: screen.form_ready and [f.name for f in screen.fields]
                       == ["service", "environment", "options", "tags"], what="deploy form")
        await pilot.press("ctrl+s")  # required fields empty: refused with per-field errors
        await pilot.pause()
        assert "need fixing" in str(screen.query_one("#compose-status").content)
        assert "required" in screen.field_error(0)
        assert "required" in str(screen.query_one("#field-label-0").content)
        screen.query_one("#field-0", Input).focus()
        await pilot.press(*"api")
        screen.query_one("#field-1").focus()
        await wait_for(pilot, lambda: screen.query_one("#field-1").has_focus, what="the choice focused")
        await pilot.press("right", "right", "right")  # choose… → dev → staging → prod
        assert screen.query_one("#field-1").value == "prod"
        screen.query_one("#field-2", Input).value = '{"replicas": 20}'
        await pilot.pause()
        assert "must be ≤ 10" in screen.field_error(2)
        screen.query_one("#field-2", Input).value = '{"replicas": 2, "dry_run": false}'
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ComposeScreen), what="compose closed")

        def answer():
            return next((r for r in app.store.records if r.to_inspector and r.kind == "response"), None)

        await wait_for(pilot, lambda: answer() is not None, what="the routed answer")
        ans = answer()
        req = app.store[ans.pair]
        assert req.injected and req.method == "tools/call" and req.tool == "deploy"
        assert json.loads(req.raw)["params"]["arguments"] == {"service": "api", "environment": "prod",
                                                              "options": {"replicas": 2, "dry_run": False}}
        assert ans.latency is not None and ans.method == "tools/call"
        assert "deployed api to prod x2" in ans.raw
        [inj] = info.injections.values()
        assert inj.state(req) == "answered" and inj.seq == req.seq
        # the answer never reached the client, even once s2c flows again
        await pilot.press("less_than_sign")
        await wait_for(pilot, lambda: not info.paused["s2c"], what="resumed")
        session.send({"jsonrpc": "2.0", "id": 30, "method": "ping"})
        await client_recv(pilot, session, lambda m: m.get("id") == 30)
        assert not any("deployed" in json.dumps(m) for m in session.seen)


async def test_compose_prompt_and_resource_after_injecting_their_lists(live):
    """prompts/get and resources/read: no list captured yet, so the composer offers to inject it
    (Ctrl+L); the server's answer becomes the list to pick from and the form."""
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot, app)
        from textual.widgets import Select

        from omproxy_tui.tui.steer.compose import ComposeScreen

        def routed(method: str, text: str):
            return next((r for r in app.store.records if r.to_inspector and r.kind == "response"
                         and r.method == method and text in r.raw), None)

        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen) and app.screen.fields, what="compose")
        screen = app.screen
        screen.query_one("#compose-method", Select).value = "prompts/get"
        await wait_for(pilot, lambda: any("No prompts/list answer" in str(w.content) for w in screen.query("#compose-note")),
                       what="the offer to inject prompts/list")
        await pilot.press("ctrl+l")
        # The rebuild ends by focusing the form's first field: wait for that, or it could take the
        # focus back from the list focused below (seen on a loaded machine).
        await wait_for(pilot, lambda: screen.form_ready and [f.name for f in screen.fields] == ["who"]
                       and any(w.has_focus for w in screen.query("#field-0")),
                       what="the greet form from the injected prompts/list, its field focused")
        assert not screen.query("#compose-note-row")
        screen.query_one("#compose-target").focus()
        await wait_for(pilot, lambda: screen.query_one("#compose-target").has_focus, what="the prompt list focused")
        await pilot.press(*"rev")
        await wait_for(pilot, lambda: screen.form_ready and [f.name for f in screen.fields] == ["code", "language"],
                       what="the review form")
        screen.query_one("#field-0").focus()
        await pilot.press(*"x = 1")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: routed("prompts/get", "x = 1") is not None, what="the prompt's answer")
        assert "prompts/list" in {r.method for r in app.store.records if r.injected}
        # resources/read: the same, the form's uri prefilled from the picked resource
        await wait_for(pilot, lambda: not isinstance(app.screen, ComposeScreen), what="compose closed")
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), what="compose again")
        screen = app.screen
        screen.query_one("#compose-method", Select).value = "resources/read"
        await wait_for(pilot, lambda: screen.query("#compose-fetch") and screen.query_one("#compose-fetch").region.width,
                       what="the inject button, laid out")
        await pilot.click("#compose-fetch")
        # As a user picks: in the list, by typing (a direct pick_target() call here could run before
        # the list's own highlight of its first row, queued by the rebuild, and be undone by it).
        await wait_for(pilot, lambda: screen.form_ready and screen.target == "demo://readme"
                       and any(w.has_focus for w in screen.query("#field-0")), what="resources, the rebuild done")
        screen.query_one("#compose-target").focus()
        await wait_for(pilot, lambda: screen.query_one("#compose-target").has_focus, what="the resource list focused")
        await pilot.press(*"con")
        await wait_for(pilot, lambda: screen.form_ready and screen.query_one("#field-0").value == "demo://config",
                       what="the config resource's form")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: routed("resources/read", "features") is not None, what="the resource")
        # the answers went to the TUI only: the client sees none of them before its own next answer
        session.send({"jsonrpc": "2.0", "id": 31, "method": "ping"})
        await client_recv(pilot, session, lambda m: m.get("id") == 31)
        assert not any("features" in json.dumps(m) or "x = 1" in json.dumps(m) for m in session.seen)


async def test_inject_notification_to_client_and_refusal(live):
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot, app)
        await pilot.press("C")
        from textual.widgets import Select, TextArea

        from omproxy_tui.tui.steer.compose import ComposeScreen

        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), what="compose")
        screen = app.screen
        screen.query_one("#compose-to").focus()
        await wait_for(pilot, lambda: screen.query_one("#compose-to").has_focus, what="the direction focused")
        await pilot.press("right")  # → to the client
        await wait_for(pilot, lambda: screen.to == "client", what="toward the client")
        screen.query_one("#compose-method", Select).value = "notifications/message"
        await wait_for(pilot, lambda: '"notifications/message"' in screen.json_text,
                       what="skeleton")
        await pilot.press("ctrl+s")
        msg = await client_recv(pilot, session, lambda m: m.get("method") == "notifications/message",
                                what="the injected notification")
        assert msg["params"]["data"] == "hello from omproxy-tui"
        # a message the proxy refuses: the reason is shown, the screen stays open
        await wait_for(pilot, lambda: not isinstance(app.screen, ComposeScreen), what="compose closed")
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), what="compose again")
        screen = app.screen
        screen.query_one("#compose-method", Select).value = "ping"
        await wait_for(pilot, lambda: '"ping"' in screen.json_text, what="ping")
        screen.query_one("#compose-json", TextArea).text = '{"jsonrpc": "2.0", "id": 1}'
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Not sent" in str(screen.query_one("#compose-status").content)
        assert isinstance(app.screen, ComposeScreen)


async def test_replay_and_cancel(live):
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        session.send(call(20, "echo", {"text": "once"}))
        await client_recv(pilot, session, lambda m: m.get("id") == 20)
        await wait_for(pilot, lambda: any(r.tool == "echo" and r.kind == "request" for r in app.store.records))
        req = next(r for r in app.store.records if r.tool == "echo" and r.kind == "request")
        app.log_widget.select_index(req.index)
        await pilot.press("r")
        await wait_for(pilot, lambda: any(r.to_inspector and "once" in r.raw for r in app.store.records),
                       what="the replay's answer")
        replayed = next(r for r in app.store.records if r.to_inspector and "once" in r.raw)
        assert app.store[replayed.pair].injected and app.store[replayed.pair].tool == "echo"
        # cancel: a slow injected call, then X on it while in flight
        await pilot.press("C")
        from textual.widgets import Input, Select

        from omproxy_tui.tui.steer.compose import ComposeScreen

        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen) and app.screen.fields is not None)
        screen = app.screen
        screen.pick_target("slow")
        await wait_for(pilot, lambda: screen.form_ready and [f.name for f in screen.fields] == ["seconds"],
                       what="slow form")
        screen.query_one("#field-0", Input).value = "8"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(i.method == "tools/call" and i.to == "server" and "slow" not in i.method
                                          for i in info.injections.values()) and len(info.injections) == 2,
                       what="in flight")
        inj = list(info.injections.values())[-1]
        await wait_for(pilot, lambda: app.store.find_seq(info.label, inj.seq) is not None, what="injected in log")
        rec = app.store[app.store.find_seq(info.label, inj.seq)]
        assert inj.state(rec) == "pending" and rec.tool == "slow"
        app.log_widget.select_index(rec.index)
        await pilot.press("X")
        await wait_for(pilot, lambda: inj.state(rec) == "cancelled", what="cancelled")
        await wait_for(pilot, lambda: any(r.method == "notifications/cancelled" and r.injected
                                          for r in app.store.records), what="cancel sent")
        assert not any("id" in m and str(m.get("id")).startswith("omproxy-") for m in session.seen)


async def test_quit_while_holding_releases(live):
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        other = Inspector(sock)  # a second inspector: the proxy would not fail open on our leaving
        try:
            await pilot.press("P")
            await wait_for(pilot, lambda: all(info.paused.values()), what="paused")
            session.send(call(40, "echo", {"text": "held at quit"}))
            await wait_for(pilot, lambda: held_record(app) is not None, what="held")
            await pilot.press("q")
            await pilot.pause()
            from omproxy_tui.tui.steer.dialogs import ChoiceScreen

            assert isinstance(app.screen, ChoiceScreen)
            await pilot.press("enter")  # "Release and quit"
            answer = await client_recv(pilot, session, lambda m: m.get("id") == 40, what="released at quit")
            assert text_of(answer) == "held at quit"
        finally:
            other.close()
    # traffic flows again after the TUI left
    session.send(call(41, "echo", {"text": "after"}))
    assert text_of(session.recv(30)) == "after"


async def test_other_inspectors_holds_are_shown(live):
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        other = Inspector(sock)
        try:
            assert other.send("pause", dir="c2s")["ok"]
            session.send(call(50, "echo", {"text": "theirs"}))
            await wait_for(pilot, lambda: len(info.held) == 1, what="their hold seen")
            await wait_for(pilot, lambda: held_record(app) is not None)
            assert "1 held" in str(app.query_one("#status").content)
            await pilot.press("H")
            await pilot.pause()
            from omproxy_tui.tui.steer.dialogs import HeldScreen

            assert isinstance(app.screen, HeldScreen) and len(app.screen.rows) == 1
            await pilot.press("a")  # release it from the list
            answer = await client_recv(pilot, session, lambda m: m.get("id") == 50)
            assert text_of(answer) == "theirs"
            assert other.send("resume", dir="c2s")["ok"]
        finally:
            other.close()


async def test_steering_disabled_for_files_and_ended_sessions(tmp_path):
    from omproxy_tui.client.sources import write_recording
    from omproxy_tui.demo.canned import canned_session

    path = tmp_path / "rec.jsonl"
    write_recording(canned_session(rounds=1), path)
    app = OmproxyApp([RecordingSource(str(path))])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(i.state == "loaded" for i in app.sessions.values()))
        app.log_widget.move_cursor(0)
        await pilot.press("P")
        await pilot.press("C")
        await pilot.pause()
        assert not app.screen.is_modal
        notes = [n.message for n in app._notifications]
        assert any("opened from a file" in n for n in notes)


async def test_demo_slow_call_can_be_held_and_edited():
    """`omproxy-tui --demo` is a live session to steer: hold its slow calls, edit one, release it."""
    from omproxy_tui.demo.runner import DemoRunner

    # No round limit: under load the intercept may be set after the first rounds went by; the
    # demo runs until stopped.
    runner = DemoRunner(speed=4.0)
    sock = runner.start()
    try:
        app = OmproxyApp([SocketSource(sock)], demo=runner)
        async with app.run_test(size=SIZE) as pilot:
            [info] = app.sessions.values()
            await wait_for(pilot, lambda: info.server_name == "omproxy-demo", what="handshake seen")
            assert any("~tool slow" in n.message for n in app._notifications)  # the demo's hint
            app.log_widget.move_cursor(0)
            await pilot.press("i")
            await pilot.pause()
            await pilot.press(*"~q & ~tool slow", "enter")
            await wait_for(pilot, lambda: info.intercept == "~q & ~tool slow", what="intercept set")
            # Every few rounds the demo also starts an 8 s slow call and cancels it: releasing that
            # one would be answered by nobody (the cancel follows it), so edit another.
            def editable(r) -> bool:
                return r.tool == "slow" and json.loads(r.raw)["params"]["arguments"].get("seconds") != 8

            await wait_for(pilot, lambda: held_record(app, editable) is not None, what="slow held")
            target = held_record(app, editable)
            app.log_widget.move_cursor(app.view.position(target.index))
            await wait_for(pilot, lambda: app.log_widget.selected_record() is target, what="held call selected")
            rec = app.log_widget.selected_record()
            assert rec.held and rec.tool == "slow"
            await pilot.press("e")
            await wait_for(pilot, lambda: bool(app.screen.query("#editor-text")), what="editor open")
            area = app.screen.query_one("#editor-text")
            # edit the value itself: a text replace of e.g. "2.0" hit "jsonrpc": "2.0" (or an id) first
            msg = json.loads(area.text)
            msg["params"]["arguments"]["seconds"] = 0.2
            area.text = json.dumps(msg, indent=2)
            await pilot.pause()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any(r.kind == "response" and r.tool == "slow" and "slept 0.2 s" in r.raw
                                              for r in app.store.records), what="the edited call answered")
            await pilot.press("I")  # stop holding; the demo runs on
            await wait_for(pilot, lambda: info.intercept is None, what="intercept cleared")
            await pilot.press("A")
            await wait_for(pilot, lambda: not info.held, what="nothing held")
    finally:
        runner.stop()


async def test_proxy_refusal_is_shown_in_the_composer(sockdir):
    """Before the handshake the proxy refuses requests toward the server: its reason is shown."""
    sock = str(sockdir / "r.sock")
    session = Session(["stdio", "--inspect-socket", sock], SERVER)
    try:
        app = OmproxyApp([SocketSource(sock)])
        async with app.run_test(size=SIZE) as pilot:
            [info] = app.sessions.values()
            await wait_for(pilot, lambda: info.state == "live" and info.inspectors >= 1, what="attached")
            await pilot.press("C")
            from textual.widgets import Select, TextArea

            from omproxy_tui.tui.steer.compose import ComposeScreen

            await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), what="compose")
            screen = app.screen
            screen.query_one("#compose-method", Select).value = "ping"
            await wait_for(pilot, lambda: '"ping"' in screen.json_text)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "refused" in str(screen.query_one("#compose-status").content),
                           what="the refusal")
            status = str(screen.query_one("#compose-status").content)
            assert "handshake" in status and isinstance(app.screen, ComposeScreen)
    finally:
        session.close()


async def test_detail_shows_a_hook_change_as_a_diff(tmp_path):
    from omproxy_tui.client.sources import write_recording
    from omproxy_tui.demo.canned import canned_session

    path = tmp_path / "rec.jsonl"
    write_recording(canned_session(rounds=1), path)
    app = OmproxyApp([RecordingSource(str(path))])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(i.state == "loaded" for i in app.sessions.values()))
        rec = next(r for r in app.store.records if r.changed)
        app.log_widget.select_index(rec.index)
        app._show_detail()
        await pilot.pause()
        from fake_proxy import plain

        body = app.detail.body_text()
        assert "changed by redact-hook: before → after" in body
        assert '-    "secret": "x"' in body


async def test_ctrl_r_opens_the_request_in_the_editor_and_injects_the_edit(live):
    """Ctrl+R by key (not only its action): the selected request in the editor, Ctrl+S injects the
    edited copy; the server answers it, the answer goes to the TUI only."""
    session, sock = live
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        session.send(call(30, "echo", {"text": "as the client sent it"}))
        await client_recv(pilot, session, lambda m: m.get("id") == 30)
        await wait_for(pilot, lambda: any(r.id == 30 and r.kind == "request" for r in app.store.records))
        req = next(r for r in app.store.records if r.id == 30 and r.kind == "request")
        assert app.log_widget.select_index(req.index)
        await pilot.press("ctrl+r")
        from omproxy_tui.tui.steer.editor import EditorScreen

        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen), what="the editor")
        area = app.screen.query_one("#editor-text")
        assert "as the client sent it" in area.text
        area.text = area.text.replace("as the client sent it", "replayed, edited")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(r.to_inspector and "replayed, edited" in r.raw for r in app.store.records),
                       what="the edited replay's answer")
        answer = next(r for r in app.store.records if r.to_inspector and "replayed, edited" in r.raw)
        sent = app.store[answer.pair]
        assert sent.injected and sent.tool == "echo" and "replayed, edited" in sent.raw
        assert len(info.injections) == 1 and not isinstance(app.screen, EditorScreen)
        # the client got nothing of it
        session.send({"jsonrpc": "2.0", "id": 31, "method": "ping"})
        await client_recv(pilot, session, lambda m: m.get("id") == 31)
        assert not any("replayed, edited" in json.dumps(m) for m in session.seen)


async def test_w_saves_the_selected_message_and_not_a_row_that_is_not_one(live, tmp_path, monkeypatch):
    """W by key on a live session: the selected message's raw line to a file in the current
    directory; on a marker row (a restart, a gap) there is nothing to save."""
    session, sock = live
    monkeypatch.chdir(tmp_path)
    app = OmproxyApp([SocketSource(sock)])
    async with app.run_test(size=SIZE) as pilot:
        info = await attached(pilot, app)
        session.send(call(32, "echo", {"text": "save me"}))
        await client_recv(pilot, session, lambda m: m.get("id") == 32)
        await wait_for(pilot, lambda: any(r.id == 32 and r.kind == "response" for r in app.store.records))
        resp = next(r for r in app.store.records if r.id == 32 and r.kind == "response")
        assert app.log_widget.select_index(resp.index)
        await pilot.press("W")
        saved = tmp_path / f"omproxy-message-{info.label}-{resp.seq}.json"
        await wait_for(pilot, lambda: saved.exists() and saved.read_text() == resp.raw, what="saved")
        assert json.loads(saved.read_text())["result"]["content"][0]["text"] == "save me"
        # a row that is not a message: the proxy reports frames it skipped for us
        app.ingest(info.source, [{"type": "lost", "n": 2}])
        log = app.log_widget
        await wait_for(pilot, lambda: log.selected_marker() is not None or log.row_count > len(app.view))
        log.move_cursor(log.row_count - 1)
        assert log.selected_marker() is not None
        await pilot.press("W")
        await wait_for(pilot, lambda: any("Nothing selected" in str(n.message) for n in app._notifications))
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("omproxy-message")) == [saved.name]
