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


def test_a_thaw_frees_garbage_that_was_frozen(monkeypatch):
    # gc.freeze() keeps whatever is alive from the collector; what of it later dies in a cycle
    # is only freed by a thaw (a Textual strip caches itself: such a cycle)
    import weakref

    class Node:
        pass

    pacer = FullCollections()
    pacer.start()
    try:
        node = Node()
        node.me = node  # a cycle
        alive = weakref.ref(node)
        gc.freeze()
        del node
        gc.collect()
        assert alive() is not None  # frozen: a full collection does not see it
        monkeypatch.setattr(gc_pacing, "THAW_AFTER", 0)
        make_due()
        assert pacer.tick(quiet=True) and pacer.thaws == 1
        assert alive() is None
        assert gc.get_freeze_count() > 0  # what is alive is frozen again
    finally:
        pacer.stop()


def test_a_thaw_comes_without_a_due_collection_and_waits_for_quiet(monkeypatch):
    # gc.freeze() zeroes the collection counts: with the app freezing every few thousand
    # records, a full collection is never due during a long stream, and the thaw must not
    # wait for one
    now = [0.0]
    pacer = FullCollections(clock=lambda: now[0])
    pacer.start()
    try:
        monkeypatch.setattr(gc_pacing, "THAW_AFTER", 1)
        gc.collect()
        gc.freeze()
        keep = [[] for _ in range(10)]  # noqa: F841 - objects to freeze
        gc.freeze()
        assert not pacer.due
        assert not pacer.tick(quiet=False)  # keys being pressed: it waits
        now[0] += gc_pacing.FORCE_AFTER
        assert pacer.tick(quiet=False) and pacer.thaws == 1 and pacer.last_reason == "forced"
        assert not pacer.tick(quiet=True)  # nothing frozen since: nothing due
    finally:
        pacer.stop()
