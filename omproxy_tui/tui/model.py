"""The core model, as the TUI uses it (one import point; falls back to a temporary shim)."""

from __future__ import annotations

try:  # pragma: no cover - depends on the core package being present
    from omproxy_tui.core import filters
    from omproxy_tui.core.export import export_jsonl
    from omproxy_tui.core.records import Record
    from omproxy_tui.core.stats import Stats
    from omproxy_tui.core.store import Store
    from omproxy_tui.core.view import FilteredView
except ImportError:  # pragma: no cover
    from omproxy_tui.tui import _shim as filters  # type: ignore[no-redef]
    from omproxy_tui.tui._shim import FilteredView, Record, Stats, Store, export_jsonl  # type: ignore[assignment]

FilterError = filters.FilterError

__all__ = ["FilteredView", "FilterError", "Record", "Stats", "Store", "export_jsonl", "filters"]
