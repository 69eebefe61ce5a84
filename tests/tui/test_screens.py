"""Stats and server log screens (issue 10.11)."""

from __future__ import annotations


import pytest
from pilot_wait import wait_for
from fake_proxy import FakeProxy
from test_typing import type_now
from textual.widgets import DataTable, Log

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio
SIZE = (140, 40)


@pytest.fixture
async def app(sockdir):
    fake = await FakeProxy(str(sockdir / "p.sock"), canned_session()).start()
    app = OmproxyApp([SocketSource(fake.path)], clock=lambda: T0 + 10)
    yield app, sum(1 for f in fake.backlog if f["type"] == "message")
    await fake.stop()


async def test_stats_shows_the_sort_and_enter_filters_the_log(app):
    app, n = app
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n)
        await type_now(pilot, "s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "StatsScreen")
        table = app.screen.query_one(DataTable)
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[1] == "count ▼" and all("▼" not in x and "▲" not in x for x in labels[2:])
        await type_now(pilot, "R")
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[1] == "count ▲"
        # only what works here is offered: the log's actions are not
        assert app.check_action("pair", ()) is False and app.check_action("help", ()) is True
        # Enter on the tools/call:echo row filters the log to it
        keys = [row.value for row in table.rows]
        table.move_cursor(row=keys.index("tools/call:echo"))
        table.focus()
        await type_now(pilot, "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ != "StatsScreen")
        assert app.view.indices
        assert {(app.store[i].method, app.store[i].tool) for i in app.view.indices} == {("tools/call", "echo")}
        assert app.check_action("pair", ()) is True


async def test_server_log_search(app):
    app, n = app
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.store) == n)
        await type_now(pilot, "l")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ServerLogScreen")
        log = app.screen.query_one(Log)
        await wait_for(pilot, lambda: len(log.lines) >= 5)
        await type_now(pilot, "slash", *"traceback")
        await wait_for(pilot, lambda: len(log.lines) == 3)
        assert all("Traceback" in line for line in log.lines)
        await type_now(pilot, "escape")
        await wait_for(pilot, lambda: len(log.lines) >= 5)
