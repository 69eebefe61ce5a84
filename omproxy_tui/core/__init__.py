"""The TUI's model, free of any UI or SDK dependency (standard library only).

The proxy imports parts of it too (``records`` + ``filters`` evaluate intercept rules on each
relayed line), so nothing here may import textual, rich, pydantic or mcp, and importing it must
stay cheap. Modules:

* :mod:`.records` -- ``Record`` (one relayed line), ``classify``, ``record_from_line/frame``
* :mod:`.store`   -- append-only ``Store`` with request/response pairing
* :mod:`.filters` -- the filter language (``parse``, ``HELP``, ``suggest``)
* :mod:`.view`    -- ``FilteredView``: indices of the records a filter keeps
* :mod:`.stats`   -- per-method/per-tool ``Stats`` and the message-rate history
* :mod:`.export`  -- recordings as JSONL ``message`` frames
* :mod:`.sessions` -- ``SessionModel``: store, view, stats and per-session state, fed frames
"""
