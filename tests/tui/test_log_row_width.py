"""Every log row covers the log's whole width (issue 10: "stray characters right of short log rows
after a toast"). A row narrower than the widget leaves whatever the terminal showed there before
(a toast, a dialog) on screen; the rows said they were full width while their text was not."""

from __future__ import annotations

import pytest
from fake_proxy import FakeProxy, message
from pilot_wait import wait_for
from rich.cells import cell_len

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.demo.canned import T0
from omproxy_tui.tui.app import OmproxyApp

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("size", [(140, 30), (80, 24)])
async def test_short_rows_and_marker_rows_are_padded_to_the_full_width(sockdir, size):
    # seq 41 first: 40 earlier frames not in the backlog, a marker row at the top
    frames = [message(41, "c2s", {"jsonrpc": "2.0", "id": 1, "method": "ping"}),
              message(42, "s2c", {"jsonrpc": "2.0", "id": 1, "result": {}}),
              message(43, "c2s", {"jsonrpc": "2.0", "method": "x"})]
    fake = await FakeProxy(str(sockdir / "w.sock"), frames).start()
    try:
        app = OmproxyApp([SocketSource(fake.path)], clock=lambda: T0 + 10)
        async with app.run_test(size=size) as pilot:
            log = app.log_widget
            await wait_for(pilot, lambda: len(app.store) == 3 and log.row_count == 4)
            width = log.scrollable_content_region.width
            for y in range(log.row_count):
                for cursor in (None, y):  # plain and selected
                    log.cursor = cursor
                    log._cache.clear()
                    strip = log.render_line(y)
                    assert strip.cell_length == width, (y, strip.text)
                    assert cell_len(strip.text) == width, (y, strip.text)  # what it says it is
    finally:
        await fake.stop()
