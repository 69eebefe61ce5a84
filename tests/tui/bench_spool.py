"""Benchmark of the TUI's memory budget (a script, not a test)::

    python tests/tui/bench_spool.py [open|live|all] [--mb 600] [--n 1000000] [--max-memory 256m]

1. ``open``: ``omproxy-tui --open`` on a recording of N results of 1 MB each (600 MB by
   default), the real app headless in a fresh process: time to the first screen, then (while
   the file is still being read) scroll to the end, filter by method and open the detail of a
   1 MB body read back from the file ("usable"); then the time until the whole file is loaded
   and a raw-text search over every body. Targets: peak RSS <= 350 MB, usable within 5 s.
2. ``live``: a live session of N small messages (1,000,000 by default) fed batch by batch as a
   source does, in a fresh process: TUI RSS, the time the last 100k took to ingest, re-filter
   times over everything. Target: RSS <= 500 MB, the 100k targets (ingest <= 1 s, re-filter
   <= 100 ms per 100k) still met.

Each scenario runs in its own process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- open ---------------------------------------------------------------------------------------


def write_big_recording(path: Path, n: int) -> int:
    """n tools/call requests, each answered by a ~1 MB result (base64-looking text), streamed."""
    from omproxy_tui.protocol.builder import FrameBuilder
    from omproxy_tui.protocol.recording import write_recording

    chunk = "iVBORw0KGgoAAAANSUhEUgAAB4AAAAQ4CAIAAABnsVYUAAAAA3NCSVQICAjb4U/gAAAgAElEQVR4nOzdd3xT1f/H8XeS"

    def frames():
        b = FrameBuilder(1_780_000_000.0)
        for i in range(n):
            b.frames.clear()
            b.message("c2s", {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                              "params": {"name": f"screenshot_{i % 5}", "arguments": {"page": i}}})
            data = (f"shot-{i:05d}-" + chunk * (1_048_576 // len(chunk)))[:1_048_576]
            b.message("s2c", {"jsonrpc": "2.0", "id": i, "result": {
                "content": [{"type": "image", "data": data, "mimeType": "image/png"}]}}, dt=0.05)
            yield from b.frames

    write_recording(frames(), path)
    return path.stat().st_size


async def child_open(path: str) -> dict:
    from textual import events

    from omproxy_tui.core.spool import is_spooled
    from omproxy_tui.tui.app import build_app

    out: dict = {}
    t0 = time.perf_counter()
    app = build_app(recordings=[path], clock=time.time)
    loaded = lambda: any(s.state == "loaded" for s in app.sessions.values())  # noqa: E731
    async with app.run_test(size=(140, 40)) as pilot:
        # usable while the file is still being read: the first screen, then scroll, filter by
        # method and the detail of a body read back from the file
        while len(app.view.indices) < 40 and not loaded():
            await pilot.pause(0.01)
        out["first_screen_s"] = time.perf_counter() - t0
        # Keys go through the app's queue like a user's (behind the chunks being applied);
        # pilot.press would wait for an idle app, which a loading one is not.
        t = time.perf_counter()
        log = app.log_widget
        log.focus()
        for key in ("end", "pageup", "pageup", "up", "up"):
            before = log.cursor
            app._driver.send_message(events.Key(key, None))
            while log.cursor == before:
                await asyncio.sleep(0.002)
        out["scroll_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        assert app.apply_filter("~m tools/call & ~d s2c")
        await asyncio.sleep(0)
        out["filter_method_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        app.log_widget.move_cursor(0)
        while app.detail.record is None or app.detail.record.index != app.view.indices[0]:
            await asyncio.sleep(0.005)
        out["detail_spooled_1mb_ms"] = (time.perf_counter() - t) * 1000
        out["detail_record_spooled"] = is_spooled(app.detail.record)
        out["detail_body_mb"] = len(app.detail.record.raw) / 2**20
        out["usable_s"] = time.perf_counter() - t0
        out["messages_when_usable"] = len(app.store)
        out["still_loading_when_usable"] = not loaded()
        while not loaded():
            await pilot.pause(0.02)
        out["loaded_s"] = time.perf_counter() - t0
        out["messages"] = len(app.store)
        out["filtered_rows"] = len(app.view.indices)
        t = time.perf_counter()
        assert app.apply_filter("shot-00599-")
        searched_in_thread = app.body_search.current is not None
        while app.body_search.current is not None:  # runs in a thread (tui/body_search.py)
            await asyncio.sleep(0.01)
        await pilot.pause()
        out["raw_search_all_ms"] = (time.perf_counter() - t) * 1000
        out["raw_search_in_thread"] = searched_in_thread
        out["raw_search_hits"] = len(app.view.indices)
        out["rss_mb"] = rss_mb()
        out["body_bytes_in_memory_mb"] = app.store.body_bytes / 2**20
    out["peak_rss_mb"] = peak_mb()
    return out


# ---- live ---------------------------------------------------------------------------------------


class GeneratedSource:
    """A live session's frames, generated batch by batch (nothing held beside what the TUI keeps)."""

    key = "bench-live"
    label = "bench"
    state = "live"
    can_send = False

    def __init__(self, n: int, batch: int = 2000) -> None:
        self.n = n
        self.batch = batch
        self.proxy: dict = {}
        self.exit_code = None
        self.done = 0
        #: (messages emitted, when, seconds spent generating frames so far)
        self.marks: list[tuple[int, float, float]] = []
        self.generating = 0.0

    async def run(self, emit) -> None:
        from bench_tui import make_frames

        emit([{"type": "hello", "v": 1, "proxy": {"name": "bench", "transport": "stdio"}, "backlog": 0}])
        seq = 1
        while self.done < self.n:
            k = min(self.batch, self.n - self.done)
            g = time.perf_counter()
            frames = make_frames(k, start_seq=seq)
            self.generating += time.perf_counter() - g
            seq += k
            emit(frames)
            self.done += k
            if self.done % 100_000 == 0:
                self.marks.append((self.done, time.perf_counter(), self.generating))
            await asyncio.sleep(0)
        await asyncio.Event().wait()

    async def send(self, cmd):
        raise RuntimeError("read-only")

    def close(self) -> None:
        pass


async def child_live(n: int) -> dict:
    from omproxy_tui.tui.app import OmproxyApp

    out: dict = {}
    src = GeneratedSource(n)
    before = rss_mb()
    app = OmproxyApp([src])
    t0 = time.perf_counter()
    async with app.run_test(size=(140, 40)) as pilot:
        while len(app.store) < n:
            await pilot.pause(0.05)
        out["ingest_all_s"] = time.perf_counter() - t0
        marks = src.marks
        if len(marks) >= 2:
            out["ingest_last_100k_s"] = marks[-1][1] - marks[-2][1]
            out["ingest_first_100k_s"] = marks[1][1] - marks[0][1]
            # the same without building the frames (json.dumps of 100k messages: ~0.5 s here),
            # which a real session's source does not do in the TUI's process
            out["ingest_last_100k_without_generating_s"] = out["ingest_last_100k_s"] - (marks[-1][2] - marks[-2][2])
        out["rss_mb"] = rss_mb()
        out["peak_rss_after_ingest_mb"] = peak_mb()
        out["rss_growth_mb"] = out["rss_mb"] - before
        out["body_bytes_in_memory_mb"] = app.store.body_bytes / 2**20
        out["spooled"] = app.store.spool is not None
        for label, expr in [("method", "~m tools/call"), ("tool", "~tool echo"), ("errors", "~e"),
                            ("bare_word", "number 99999"), ("raw_regex", "~b query number 4242\\b")]:
            t = time.perf_counter()
            assert app.apply_filter(expr)
            while app.body_search.current is not None:  # (only when bodies were spooled)
                await asyncio.sleep(0.01)
            await pilot.pause()
            out[f"refilter_{label}_ms_per_100k"] = (time.perf_counter() - t) * 1000 / (n / 100_000)
        assert app.apply_filter("")
        await pilot.pause()
        t = time.perf_counter()
        app.log_widget.move_cursor(n // 3)
        while app.detail.record is None:
            await pilot.pause(0.01)
        out["jump_detail_ms"] = (time.perf_counter() - t) * 1000
    out["peak_rss_mb"] = peak_mb()
    return out


# ---- driver -------------------------------------------------------------------------------------


def run_child(args: list[str], max_memory: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEXTUAL_ANIMATIONS": "none"}
    proc = subprocess.run([sys.executable, __file__, *args, "--max-memory", max_memory], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all", choices=["open", "live", "all", "child-open", "child-live"])
    ap.add_argument("--mb", type=int, default=600)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--max-memory", default="256m")
    ap.add_argument("--path", default="")
    args = ap.parse_args()
    from omproxy_tui.core import spool

    spool.set_default_max_memory(spool.parse_size(args.max_memory))
    if args.what == "child-open":
        print(json.dumps(asyncio.run(child_open(args.path))))
        return
    if args.what == "child-live":
        print(json.dumps(asyncio.run(child_live(args.n))))
        return
    if args.what in ("open", "all"):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "big.jsonl"
            t = time.perf_counter()
            size = write_big_recording(path, args.mb)
            print(f"recording: {size / 1e6:.0f} MB ({args.mb} results of 1 MB), written in {time.perf_counter() - t:.1f} s")
            res = run_child(["child-open", "--path", str(path)], args.max_memory)
        print("open:", json.dumps(res, indent=1))
        print(f"  targets: peak RSS {res['peak_rss_mb']:.0f} MB (<= 350), usable in {res['usable_s']:.1f} s (<= 5)")
    if args.what in ("live", "all"):
        res = run_child(["child-live", "--n", str(args.n)], args.max_memory)
        print("live:", json.dumps(res, indent=1))
        print(f"  targets: RSS {res['rss_mb']:.0f} MB (<= 500), last 100k ingested in "
              f"{res.get('ingest_last_100k_s', float('nan')):.2f} s, "
              f"{res.get('ingest_last_100k_without_generating_s', float('nan')):.2f} s without generating the "
              f"frames (<= 1)")


if __name__ == "__main__":
    main()
