"""Raw-text filters over spooled bodies, run off the UI thread.

Why: a raw-text filter (``~b``, bare words) over bodies that left memory reads the spool or the
opened recording back (hundreds of MB for a day of screenshots). On the UI thread that freezes
the app for as long; here it runs in a worker thread while the log keeps showing the previous
selection (and keeps following new messages), the status line shows how far it got once it has
taken more than :data:`SHOW_AFTER`, and a newer filter (or Esc in the filter bar, which goes back
to the previous one) cancels it. The rows it finds are exactly what the same filter finds on the
UI thread: it runs the same ``Filter.select`` over the rows that existed when it started, and
the model checks the rows that arrived or changed meanwhile when it shows the result.

Only filters that read bodies, when some body is spooled, go this way; every other re-filter
stays synchronous (milliseconds).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from omproxy_tui.core import filters, spool

__all__ = ["BodySearch", "reads_bodies", "SHOW_AFTER"]

#: A search running longer than this (seconds) shows its progress in the status line.
SHOW_AFTER = 0.2


def reads_bodies(f: Any) -> bool:
    """Whether filter ``f`` looks at raw lines (``~b``, bare words), anywhere in it."""
    if isinstance(f, filters.FBody):
        return True
    if isinstance(f, filters.FNot):
        return reads_bodies(f.inner)
    items = getattr(f, "items", None)
    return bool(items) and any(reads_bodies(i) for i in items)


class _Search:
    __slots__ = ("filter", "upto", "start", "cancel", "changed", "t0", "done", "total", "previous")

    def __init__(self, f: Any, upto: int, start: int, previous: tuple) -> None:
        self.filter = f
        #: the model's (filter_text, filter_obj) the log shows while this runs
        self.previous = previous
        self.upto = upto
        self.start = start
        self.cancel = threading.Event()
        # rows before ``upto`` whose state changed while searching (re-checked at the end)
        self.changed: set[int] = set()
        self.t0 = time.monotonic()
        self.done = 0
        self.total = 0


class BodySearch:
    """The app's one running body search (see the module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.current: _Search | None = None
        #: the last search's thread (tests join it)
        self.thread: threading.Thread | None = None
        self._timer: Any = None
        # the model's (filter_text, filter_obj) the log shows (Esc during a search goes back to it)
        self.shown: tuple = ("", None)

    # ---- called by the model and the app --------------------------------------------------

    def start(self, f: Any) -> bool:
        """The model's ``refilter_elsewhere`` hook: take over re-filtering with ``f`` if it
        reads spooled bodies (returns True), else let the model do it at once (False)."""
        model = self.app.model
        running = self.current
        self.cancel()
        if f is None or not spool.any_spooled() or not reads_bodies(f):
            self.shown = (model.filter_text, model.filter_obj)  # the model applies it now
            return False
        if running is not None and model.view.filter is not None and str(model.view.filter) == str(f):
            # back to what the log still shows (Esc in the filter bar): nothing to search
            self.shown = running.previous
            return True
        records = model.store.records
        previous = running.previous if running is not None else self.shown
        search = self.current = _Search(f, len(records), model.view.start, previous)
        worker = threading.Thread(target=self._run, args=(search, records), name="omproxy-body-search", daemon=True)
        self.thread = worker
        worker.start()
        if self._timer is None:
            self._timer = self.app.set_interval(0.1, self._tick)
        return True

    def cancel(self) -> None:
        """Stop the running search (its result is never shown)."""
        search = self.current
        if search is not None:
            search.cancel.set()
            self.current = None
        self._stop_timer()

    def revert(self) -> None:
        """Cancel the running search and make the model's filter the one the log shows."""
        search = self.current
        if search is None:
            return
        self.cancel()
        model = self.app.model
        model.filter_text, model.filter_obj = search.previous
        self.shown = search.previous
        self.app._refresh_status()

    def note_changed(self, indices: Any) -> None:
        """Rows whose state changed (ingest): the running search re-checks those it covered."""
        search = self.current
        if search is not None:
            upto = search.upto
            search.changed.update(i for i in indices if i < upto)

    def status(self) -> str | None:
        """What the status line says about the running search (None: nothing to say yet)."""
        search = self.current
        if search is None or time.monotonic() - search.t0 < SHOW_AFTER:
            return None
        if search.total:
            return f"searching bodies {search.done * 100 // search.total}% of {search.total / 1e6:,.0f} MB…"
        return "searching bodies…"

    # ---- the worker thread ----------------------------------------------------------------

    def _run(self, search: _Search, records: Any) -> None:
        def progress(done: int, total: int) -> None:
            if search.cancel.is_set():
                raise spool.Cancelled
            search.done, search.total = done, total

        f = search.filter
        rows = range(search.start, search.upto)
        try:
            with spool.searching(progress):
                # what FilteredView.set_filter computes, over the rows that existed at the start
                select = getattr(f, "select", None)
                indices = select(records, rows) if select is not None else [i for i in rows if f(records[i])]
        except spool.Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - a broken body must not kill the app: say it
            if not search.cancel.is_set():
                self._call(self._failed, search, f"{type(exc).__name__}: {exc}")
            return
        if not search.cancel.is_set():
            self._call(self._finished, search, indices)

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app is gone
            pass

    # ---- back on the UI thread ------------------------------------------------------------

    def _finished(self, search: _Search, indices: list[int]) -> None:
        if search is not self.current:
            return  # replaced meanwhile
        self.current = None
        self._stop_timer()
        model = self.app.model
        self.shown = (model.filter_text, model.filter_obj)
        model.show_selection(search.filter, indices, search.upto, search.changed)
        self.app._refiltered()

    def _failed(self, search: _Search, why: str) -> None:
        if search is not self.current:
            return
        self.current = None
        self._stop_timer()
        model = self.app.model
        model.filter_text, model.filter_obj = self.shown = search.previous
        self.app.notify(f"The search failed: {why}", title="Filter", severity="error")
        self.app._refresh_status()

    def _tick(self) -> None:
        if self.current is not None:
            self.app._refresh_status()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
