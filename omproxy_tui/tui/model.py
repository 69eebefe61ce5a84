"""The core model, as the TUI uses it (one import point)."""

from __future__ import annotations

from omproxy_tui.core import filters
from omproxy_tui.core.export import export_jsonl
from omproxy_tui.core.records import Record
from omproxy_tui.core.stats import Stats
from omproxy_tui.core.store import Store
from omproxy_tui.core.view import FilteredView

FilterError = filters.FilterError

__all__ = ["FilteredView", "FilterError", "Record", "Stats", "Store", "export_jsonl", "filters"]
