"""Full garbage collections wait for a quiet moment (tui/gc_pacing.py): real collections, a
clock the test moves."""

from __future__ import annotations

import gc

import pytest
from pilot_wait import wait_for

from omproxy_tui.tui import gc_pacing
from omproxy_tui.tui.app import OmproxyApp
from omproxy_tui.tui.gc_pacing import FullCollections

from test_responsiveness import QuietSource, requests, show_stats  # noqa: E402

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
        pacer.note_frozen(gc_pacing.THAW_AFTER)  # the app froze that many records meanwhile
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
        gc.collect()
        gc.freeze()
        pacer.note_frozen(gc_pacing.THAW_AFTER)
        assert not pacer.due
        assert not pacer.tick(quiet=False)  # keys being pressed: it waits
        now[0] += gc_pacing.FORCE_AFTER
        assert pacer.tick(quiet=False) and pacer.thaws == 1 and pacer.last_reason == "forced"
        assert not pacer.tick(quiet=True)  # nothing frozen since: nothing due
    finally:
        pacer.stop()


async def test_a_dialog_closed_before_a_freeze_is_freed_all_the_same(monkeypatch):
    # gc.freeze() keeps whatever it finds from the cyclic collector for good, garbage included.
    # A closed dialog is garbage in cycles among the old objects, which only a full collection
    # frees, and those now wait for a quiet moment: a freeze in between (a burst of 2,000
    # records while keys are pressed) kept every dialog closed since the last full one.
    import weakref

    from omproxy_tui.tui import app as app_module
    from omproxy_tui.tui.app import FramesReceived
    from omproxy_tui.tui.screens import HelpScreen

    monkeypatch.setattr(app_module, "QUIET_AFTER_KEY", 1e9)  # keys keep coming: never quiet
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        dialog = weakref.ref(app.screen)
        gc.collect(1)  # it was open a while: among the old objects by now
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen) and not dialog().is_attached)
        frozen_at = app._gc_frozen_at
        app._frames(FramesReceived(source, requests(1, app_module.GC_FREEZE_EVERY + 100)))
        await wait_for(pilot, lambda: not app._inbox and app._gc_frozen_at > frozen_at)
        gc.collect()
        assert dialog() is None, "the closed dialog was frozen with the records"


async def test_toasts_shown_while_records_arrive_are_freed_once_gone():
    # A toast is widgets in cycles, freed by the cyclic collector once it is gone: frozen while
    # shown (2,000 records arriving meanwhile: two seconds of a busy proxy), it was kept for good,
    # ~1,000 objects a notification.
    import weakref

    from textual.widgets._toast import Toast

    from omproxy_tui.tui import app as app_module
    from omproxy_tui.tui.app import FramesReceived

    frozen = gc.get_freeze_count()
    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: gc.get_freeze_count() > frozen)  # start-up is frozen
        source = app.initial_sources[0]
        count = app_module.GC_FREEZE_EVERY + 100
        toasts = []
        for n in range(3):
            app.notify(f"Filter {n} saved", timeout=1.5)
            await wait_for(pilot, lambda: any(app.screen.walk_children(Toast)))
            toasts += [weakref.ref(t) for t in app.screen.walk_children(Toast)]
            app._frames(FramesReceived(source, requests(n * count + 1, count)))
            await wait_for(pilot, lambda: len(app.store) == (n + 1) * count and not app._inbox)
            await wait_for(pilot, lambda: not any(app.screen.walk_children(Toast)))
        # (a toast gone is still held a while by the layouts that placed it: what follows
        # replaces those of the first two)
        for key in ["up", "down", "up", "slash", "escape", "question_mark", "escape"]:
            await pilot.press(key)
        await pilot.pause()
        gc.collect()
        assert toasts[0]() is None and toasts[1]() is None, "toasts were frozen with the records"
        # once no toast is shown, the records are frozen again
        frozen_at = app._gc_frozen_at
        app._frames(FramesReceived(source, requests(3 * count + 1, count)))
        await wait_for(pilot, lambda: len(app.store) == 4 * count and not app._inbox)
        assert app._gc_frozen_at > frozen_at


async def test_what_the_stats_table_shows_is_freed_when_replaced():
    # The Stats screen is kept for good, but what its table shows is not: its rows and their
    # rendering caches are replaced as the numbers change or the sort column does. Frozen while
    # Stats was on top (every 2,000 records), they were kept for good once replaced: ~5,000
    # objects each 2,000 records while Stats stayed open during traffic.
    import weakref

    from textual.widgets import DataTable

    from omproxy_tui.tui import app as app_module
    from omproxy_tui.tui.app import FramesReceived
    from omproxy_tui.tui.screens import StatsScreen

    app = OmproxyApp([QuietSource()])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        app._frames(FramesReceived(source, requests(1, 50)))
        stats = await show_stats(app, pilot)
        table = stats.query_one(DataTable)
        await wait_for(pilot, lambda: len(table.rows) == 1)
        rows = [weakref.ref(row) for row in table.rows.values()]
        count = app_module.GC_FREEZE_EVERY + 100
        app._frames(FramesReceived(source, requests(51, count)))
        await wait_for(pilot, lambda: len(app.store) == 50 + count and not app._inbox)
        sort = stats.sort_index
        await pilot.press("o")  # another sort column: the table is made anew
        await wait_for(pilot, lambda: stats.sort_index != sort and table.rows and not any(
            r() is row for r in rows for row in table.rows.values()))
        gc.collect()
        assert not [r for r in rows if r() is not None], "the replaced rows were frozen"


def test_a_tick_does_not_walk_the_frozen_objects(monkeypatch):
    # gc.get_freeze_count() walks every frozen object (6 ms at 100k records, every half second
    # from the app's tick, growing with the session): the pacer keeps its own count
    pacer = FullCollections()
    pacer.start()
    try:
        def walks() -> int:
            raise AssertionError("gc.get_freeze_count() walks every frozen object")

        monkeypatch.setattr(gc, "get_freeze_count", walks)
        make_due()
        pacer.note_frozen(gc_pacing.THAW_AFTER)
        assert pacer.tick(quiet=True) and pacer.thaws == 1
        assert not pacer.tick(quiet=True)
    finally:
        pacer.stop()


def test_a_thaw_waits_for_idle_where_a_full_collection_takes_quiet():
    now = [0.0]
    pacer = FullCollections(clock=lambda: now[0])
    pacer.start()
    try:
        pacer.note_frozen(gc_pacing.THAW_AFTER)
        assert not pacer.tick(quiet=True, idle=False)  # right after a burst: not yet
        assert pacer.tick(quiet=True, idle=True) and pacer.thaws == 1
        make_due()
        assert pacer.tick(quiet=True, idle=False) and pacer.thaws == 1  # a plain one: quiet will do
    finally:
        pacer.stop()
