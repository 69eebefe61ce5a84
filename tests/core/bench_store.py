"""Benchmark of the core model (not collected by pytest: run it by hand).

    /work/venv/bin/python tests/core/bench_store.py [N]

Measures, for N (default 100k) message frames of ~1 KB each (a realistic mix: tools/call
requests, their results, progress and log notifications), with frames already decoded (the
connection's job):

* ingest: ``Store.add_frame`` for every frame (parse + record + pairing),
* stats: ``Stats.update`` on the changed indices,
* refilter: ``FilteredView.set_filter(parse("~m tools/call"))`` over the whole store,
* memory: tracemalloc peak of the store and the RSS growth.

Targets: ingest <= 1 s, refilter <= 100 ms, memory <= 400 MB.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omproxy_tui.core.filters import parse  # noqa: E402
from omproxy_tui.core.stats import Stats  # noqa: E402
from omproxy_tui.protocol.builder import message_frame  # noqa: E402
from omproxy_tui.core.store import Store  # noqa: E402
from omproxy_tui.core.view import FilteredView  # noqa: E402


def make_frames(n: int) -> list[dict]:
    """n frames, ~1 KB of raw each, cycling request -> progress -> log -> response."""
    frames = []
    t = 1000.0
    filler = "lorem ipsum dolor sit amet " * 40
    for seq in range(1, n + 1):
        i = seq // 4
        phase = seq % 4
        t += 0.001
        if phase == 0:
            msg = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {
                    "name": f"tool_{i % 17}",
                    "arguments": {"query": filler[: 800 + i % 50], "limit": i % 100},
                    "_meta": {"progressToken": f"p{i}"},
                },
            }
            d = "c2s"
        elif phase == 1:
            msg = {
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {"progressToken": f"p{i}", "progress": 1, "total": 2, "message": filler[:850]},
            }
            d = "s2c"
        elif phase == 2:
            msg = {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "logger": "bench", "data": filler[:880]},
            }
            d = "s2c"
        else:
            msg = {
                "jsonrpc": "2.0",
                "id": i,
                "result": {"content": [{"type": "text", "text": filler[:900]}], "isError": i % 13 == 0},
            }
            d = "s2c"
        frames.append(message_frame(seq, t, 1.7e9 + t, d, json.dumps(msg, separators=(",", ":"))))
    return frames


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    frames = make_frames(n)
    avg = sum(len(f["raw"]) for f in frames) / n
    # In the TUI frames are transient (decoded, ingested, dropped); here they are all kept
    # alive up front. Freeze them so the collector does not traverse them, which would charge
    # the store for garbage-collection work it does not cause in real use.
    gc.collect()
    gc.freeze()
    rss0 = rss_mb()

    # ingest, garbage collector on (as in the TUI)
    store = Store()
    t0 = time.perf_counter()
    add = store.add_frame
    for f in frames:
        add(f, "bench")
    t_ingest = time.perf_counter() - t0

    # the same with the collector off, to show what GC costs
    store2 = Store()
    gc.disable()
    t0 = time.perf_counter()
    for f in frames:
        store2.add_frame(f, "bench")
    t_ingest_nogc = time.perf_counter() - t0
    gc.enable()
    del store2
    gc.collect()

    stats = Stats()
    t0 = time.perf_counter()
    for rec in store.records:
        stats.update(rec)
    t_stats = time.perf_counter() - t0

    view = FilteredView(store)
    flt = parse("~m tools/call")
    best = min(_timed(lambda: view.set_filter(flt)) for _ in range(5))
    n_match = len(view.indices)
    t_slow = min(_timed(lambda: view.set_filter(parse("~slow 1 & ~tool tool_3"))) for _ in range(3))
    t_body = min(_timed(lambda: view.set_filter(parse("ipsum"))) for _ in range(3))

    rss1 = rss_mb()

    # memory of the store alone
    del view, stats
    store = None  # noqa: F841
    gc.collect()
    tracemalloc.start()
    store = Store()
    for f in frames:
        store.add_frame(f, "bench")
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"records: {n:,} frames, avg raw {avg:.0f} bytes")
    print(f"ingest (Store.add_frame):    {t_ingest:.3f} s  ({t_ingest / n * 1e6:.1f} us/frame)")
    print(f"ingest, gc disabled:         {t_ingest_nogc:.3f} s")
    print(f"stats update:                {t_stats:.3f} s")
    print(f"refilter '~m tools/call':    {best * 1000:.1f} ms  ({n_match:,} matches)")
    print(f"refilter '~slow 1 & ~tool':  {t_slow * 1000:.1f} ms")
    print(f"refilter bare word 'ipsum':  {t_body * 1000:.1f} ms")
    print(f"store memory (tracemalloc):  {peak / 2**20:.0f} MB  (raw text alone {avg * n / 2**20:.0f} MB)")
    print(f"process max RSS growth:      {rss1 - rss0:.0f} MB (includes the {n:,} input frames)")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
