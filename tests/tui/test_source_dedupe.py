"""The socket source de-duplicates only the replayed backlog (its size comes in ``hello``), never
live frames (issue 7): a real unix socket, a scripted proxy peer."""

from __future__ import annotations

import asyncio

import pytest
from fake_proxy import FakeProxy, message

from pilot_wait import until as _until

from omproxy_tui.client.sources import SocketSource

pytestmark = pytest.mark.anyio


async def test_live_frames_are_never_dropped_and_only_the_replay_is_deduplicated(sockdir):
    fake = await FakeProxy(str(sockdir / "s.sock"), [message(i, "c2s", {"jsonrpc": "2.0", "id": i, "method": "m"})
                                                     for i in (1, 2, 3)]).start()
    frames: list[dict] = []
    src = SocketSource(fake.path)
    task = asyncio.ensure_future(src.run(frames.extend))

    def seqs() -> list[int]:
        return [f["seq"] for f in frames if f["type"] == "message"]

    try:
        await _until(lambda: seqs() == [1, 2, 3], "the backlog")
        # Live frames whose seq is not above the last one seen (a peer that numbers differently,
        # a frame addressed to this inspector only) are still shown: nothing live is dropped.
        await fake.emit(message(3, "s2c", {"jsonrpc": "2.0", "id": 3, "result": {}}),
                        message(2, "s2c", {"jsonrpc": "2.0", "id": 2, "result": {}}))
        await _until(lambda: seqs() == [1, 2, 3, 3, 2], "live frames with low seqs")
        # Reconnect: the replay (hello says its size) repeats what was seen; only that is skipped.
        fake.backlog = [message(i, "c2s", {"jsonrpc": "2.0", "id": i, "method": "m"}) for i in (1, 2, 3, 4)]
        await fake.drop_clients()
        await _until(lambda: seqs()[-1:] == [4] and src.state == "live" and fake.writers, "the replay's new frame")
        await fake.emit(message(4, "s2c", {"jsonrpc": "2.0", "id": 4, "result": {}}))
        await _until(lambda: len(seqs()) == 7, "a live frame after the replay")
        assert seqs() == [1, 2, 3, 3, 2, 4, 4]
    finally:
        src.close()
        task.cancel()
        await fake.stop()
