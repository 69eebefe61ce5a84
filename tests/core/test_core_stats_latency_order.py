"""Stats percentiles stay exact when latencies arrive out of order between reads (the table is
read every second during a burst; each read sorts only what came since the last one)."""

from __future__ import annotations

import random

from omproxy_tui.core.stats import Stats, percentile
from omproxy_tui.core.store import Store
from omproxy_tui.protocol.builder import message_frame


def test_percentiles_are_exact_across_reads_with_out_of_order_latencies():
    rng = random.Random(7)
    store, stats = Store(), Stats()
    seq = 0
    latencies: list[float] = []
    for read in range(40):
        frames = []
        for _ in range(rng.randint(0, 60)):
            i = seq
            lat = rng.random() * 0.5
            frames.append(message_frame(seq := seq + 1, 0.0, 1_780_000_000.0, "c2s",
                                        {"jsonrpc": "2.0", "id": i, "method": "ping"}))
            frames.append(message_frame(seq := seq + 1, lat, 1_780_000_000.0 + lat, "s2c",
                                        {"jsonrpc": "2.0", "id": i, "result": {}}))
        changed: list[int] = []
        for f in frames:
            changed.extend(store.add_frame(f, "s") or ())
        stats.update_many([store[i] for i in sorted(set(changed))])
        latencies.extend(store[i].latency * 1000 for i in sorted(set(changed)) if store[i].kind == "response")
        row = stats.row("ping")
        if row is None:
            continue
        ordered = sorted(latencies)
        assert (row.p50, row.p95, row.p99, row.max) == (
            percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99), ordered[-1]), read
