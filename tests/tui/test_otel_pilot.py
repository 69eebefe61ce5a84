"""OpenTelemetry in the TUI: the export screen sends the filtered messages to an OTLP endpoint
(what `omproxy export --otlp` does), against the `oteltest` package's real OTLP/HTTP receiver."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("oteltest")

from fake_proxy import FakeProxy, plain  # noqa: E402
from pilot_wait import wait_for  # noqa: E402

from omproxy_tui.client.sources import SocketSource  # noqa: E402
from omproxy_tui.demo.canned import T0, canned_session  # noqa: E402
from omproxy_tui.tui.app import OmproxyApp  # noqa: E402
from tests.helpers import free_port  # noqa: E402
from tests.otel_sink import Receiver  # noqa: E402

pytestmark = pytest.mark.anyio
SIZE = (140, 40)


class NotedApp(OmproxyApp):
    """The app, keeping the text of every notification it shows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes: list[tuple[str, str]] = []

    def notify(self, message, *args, **kwargs):
        self.notes.append((str(message), kwargs.get("severity", "information")))
        return super().notify(message, *args, **kwargs)


@pytest.fixture
async def proxy(sockdir):
    fake = FakeProxy(str(sockdir / "p.sock"), canned_session())
    await fake.start()
    yield fake
    await fake.stop()


async def export_to(pilot, app, value: str) -> None:
    await wait_for(pilot, lambda: len(app.store) > 0 and app.view.indices)
    app.log_widget.focus()
    await pilot.press("E")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ExportScreen")
    screen = app.screen
    screen.query_one("#export-path").value = value
    await wait_for(pilot, lambda: "OTLP spans to" in plain(screen.query_one("#export-target")))
    screen.query_one("#export-path").focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ != "ExportScreen")


async def test_export_screen_sends_the_filtered_messages_as_otlp_spans(proxy):
    with Receiver() as receiver:
        app = NotedApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(app.store) == sum(1 for f in proxy.backlog if f.get("type") == "message"))
            assert app.apply_filter("~m tools/call")
            await export_to(pilot, app, receiver.url)
            await wait_for(pilot, lambda: any(t.startswith("Sent ") for t, _ in app.notes), what="the result")
        spans = receiver.collector.wait_spans(lambda s: len(s) > 0)
    names = {s["name"] for s in spans}
    assert names and all(n.startswith("tools/call") for n in names)  # the filtered ones only
    assert all(s["resource"]["omproxy.session.name"] == "demo" for s in spans)
    result = next(t for t, _ in app.notes if t.startswith("Sent "))
    assert f"Sent {len(spans)} spans (1 session) to {receiver.url}/v1/traces" == result


async def test_export_screen_says_when_the_receiver_is_down(proxy, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")  # give up on the dead endpoint soon
    dead = f"http://127.0.0.1:{free_port()}"
    app = NotedApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == sum(1 for f in proxy.backlog if f.get("type") == "message"))
        await export_to(pilot, app, dead)
        await wait_for(pilot, lambda: any("failed" in t for t, _ in app.notes), what="the failure")
    text, severity = next((t, s) for t, s in app.notes if "failed" in t)
    assert text.startswith(f"OTLP export to {dead}/v1/traces failed: ") and "spans dropped" in text
    assert severity == "error"


async def test_sessions_pane_counts_the_spans_a_down_receiver_made_the_proxy_drop(tmp_path):
    """A real `omproxy stdio --otlp` whose receiver is down: its `otlp_dropped` lifecycle events
    reach the TUI over the inspect socket, and the session's entry shows how many were dropped."""
    import os

    from omproxy_tui.tui.app import SessionList
    from tests.helpers import RAW_SERVER, Session, short_tmpdir

    sock = os.path.join(short_tmpdir(), "i.sock")
    env = dict(os.environ, OTEL_BSP_SCHEDULE_DELAY="100", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1",
               OMPROXY_OTLP_FLUSH_TIMEOUT="2")
    dead = f"http://127.0.0.1:{free_port()}"
    proxy = Session(["stdio", "--inspect-socket", sock, "--otlp", dead], [*RAW_SERVER, "echo"], env=env)
    try:
        app = NotedApp([SocketSource(sock)])
        async with app.run_test(size=SIZE) as pilot:
            proxy.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
            assert proxy.recv()["id"] == 0  # the handshake completes the resource: spans go out
            for i in range(1, 6):
                proxy.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "t"}})
                assert proxy.recv()["id"] == i
            [info] = app.sessions.values()
            entry = lambda: app.query_one(SessionList).get_option_at_index(0).prompt.plain  # noqa: E731
            await wait_for(pilot, lambda: "OTLP spans dropped" in entry(), what="the drop counter")
            assert any(e == "otlp_dropped" for _, e, _ in info.lifecycle)
            live = int(entry().split(" OTLP spans dropped")[0].split()[-1].replace(",", ""))
            assert live >= 1
            assert proxy.close() == 0  # the end of the session: the total, in an `otlp` event
            await wait_for(pilot, lambda: any(e == "otlp" for _, e, _ in info.lifecycle), what="the total")
            await wait_for(pilot, lambda: "6 OTLP spans dropped" in entry(), what="the total shown")
    finally:
        if proxy.proc.poll() is None:
            proxy.proc.kill()
