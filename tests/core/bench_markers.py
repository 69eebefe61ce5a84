"""What the log's marker rows (core/markers.py) cost (not collected by pytest: run it by hand).

    /work/venv/bin/python tests/core/bench_markers.py [N]

For a view of N (default 100k) store indices, with 0, 100 and 10,000 markers:

* ``at``: what a log row shows, for a screenful (50 rows) at random places -- the log widget's
  ``render_line`` calls it once per visible row; compared with ``view.indices[row]``, the plain
  list access it replaced;
* ``append``: re-placing after 200 records are appended (one ingest batch);
* ``refilter``: re-placing every marker after the view changed (a re-filter, a row inserted or
  removed).

Interleaved rounds, medians; the load average is printed with the figures.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omproxy_tui.core.markers import LogRows, Markers  # noqa: E402


class View:
    """Just what LogRows reads from a FilteredView."""

    def __init__(self, n: int) -> None:
        self.indices = list(range(0, 2 * n, 2))  # every other record shown: a filter
        self.version = 0
        self.start = 0

    def position(self, index: int):  # pragma: no cover - unused here
        return None


def run(n: int, n_markers: int, rounds: int) -> dict[str, float]:
    view = View(n)
    markers = Markers()
    store_len = 2 * n
    for k, at in enumerate(sorted(random.sample(range(store_len), n_markers))):
        markers.add(at, "s", "restart", 0.0, details={"generation": k})
    rows = LogRows(view, markers)
    total = len(rows)
    out: dict[str, list[float]] = {"at (50 rows)": [], "indices[row] (50 rows)": [], "append 200": [], "refilter": []}
    for _ in range(rounds):
        top = random.randrange(total - 50)
        t = time.perf_counter()
        for row in range(top, top + 50):
            rows.at(row)
        out["at (50 rows)"].append(time.perf_counter() - t)
        idx = view.indices
        t = time.perf_counter()
        for row in range(top, top + 50):
            idx[row % len(idx)]
        out["indices[row] (50 rows)"].append(time.perf_counter() - t)
        view.indices.extend(range(store_len, store_len + 400, 2))
        store_len += 400
        t = time.perf_counter()
        rows.sync()
        out["append 200"].append(time.perf_counter() - t)
        view.version += 1
        t = time.perf_counter()
        rows.sync()
        out["refilter"].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1e6 for k, v in out.items()}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    random.seed(1)
    print(f"view of {n:,} rows; load average {os.getloadavg()[0]:.2f}; medians of 30 rounds, µs")
    for n_markers in (0, 100, 10_000):
        res = run(n, n_markers, 30)
        print(f"  {n_markers:>6,} markers: " + ", ".join(f"{k} {v:,.1f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
