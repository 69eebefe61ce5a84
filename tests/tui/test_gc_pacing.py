"""Full garbage collections wait for a quiet moment (tui/gc_pacing.py): real collections, a
clock the test moves."""

from __future__ import annotations

import gc

import pytest
from pilot_wait import wait_for

from omproxy_tui.tui import gc_pacing
from omproxy_tui.tui.app import OmproxyApp
from omproxy_tui.tui.gc_pacing import FullCollections

from test_responsiveness import QuietSource, requests  # noqa: E402

pytestmark = pytest.mark.anyio


def make_due() -> None:
    for _ in range(gc_pacing.DUE_AFTER):
        gc.collect(1)  # each counts as one collection of the middle generation


def test_a_due_collection_waits_for_quiet_or_runs_when_forced():
    now = [100.0]
    pacer = FullCollections(clock=lambda: now[0])
    saved = gc.get_threshold()
    pacer.start()
    try:
        assert gc.get_threshold()[2] > 1_000_000  # Python no longer runs them on its own
        gc.collect()
        assert not pacer.due and not pacer.tick(quiet=True)
        make_due()
        assert pacer.due
        assert not pacer.tick(quiet=False)  # keys are being pressed: it waits
        now[0] += gc_pacing.FORCE_AFTER - 1
        assert not pacer.tick(quiet=False)
        now[0] += 1
        assert pacer.tick(quiet=False) and pacer.last_reason == "forced"
        assert not pacer.due  # the collection reset the count
        make_due()
        assert pacer.tick(quiet=True) and pacer.last_reason == "quiet" and pacer.runs == 2
    finally:
        pacer.stop()
    assert gc.get_threshold() == saved


async def test_the_app_paces_full_collections_while_it_runs():
    saved = gc.get_threshold()
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert gc.get_threshold()[2] > 1_000_000
        from omproxy_tui.tui.app import FramesReceived

        app._frames(FramesReceived(app.initial_sources[0], requests(1, 500)))
        runs = app.full_collections.runs
        make_due()
        # nothing to ingest and no key: the next tick runs it
        await wait_for(pilot, lambda: app.full_collections.runs > runs)
        assert app.full_collections.last_reason == "quiet" and not app.full_collections.due
    assert gc.get_threshold() == saved  # given back when the app ends
