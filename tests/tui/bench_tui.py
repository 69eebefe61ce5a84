"""Benchmark for omproxy-tui (a script, not a test): ``python tests/tui/bench_tui.py [--n 100000]``.

1. ingest N recorded messages into the running app (headless), re-filter, memory, navigation keys;
2. live: a fake proxy over a real unix socket sends 2,000 msgs/s while keys are pressed;
3. open a 20 MB message in the detail pane;
4. steering: 1,000 messages held by a real proxy (keys p95 with them on screen, the held list,
   release-all and the order the server got them in); the compose form for 200 tools;
5. Stats open during 50k-message bursts through a real proxy, from a client process (``--only burst``);
6. ``--only nav``: only the navigation keys of part 1, at ``--n`` messages.

Keys (and re-filters) are timed key-to-paint: until the first screen update that shows their
effect (tests/tui/keypaint.py says exactly what that includes); not with ``pilot.press``, whose
idle detection sleeps at least 40 ms per key.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from fake_proxy import FakeProxy  # noqa: E402
from keypaint import KeyToPaint, percentile  # noqa: E402

from omproxy_tui.client.sources import Source  # noqa: E402
from omproxy_tui.protocol.builder import message_frame  # noqa: E402
from omproxy_tui.tui.app import OmproxyApp  # noqa: E402

TOOLS = ["echo", "search", "read_file", "write_file", "slow"]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_frames(n: int, start_seq: int = 1, wall0: float = 1_780_000_000.0) -> list[dict]:
    frames = []
    seq = start_seq
    i = 0
    while len(frames) < n:
        tool = TOOLS[i % len(TOOLS)]
        req = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                          "params": {"name": tool, "arguments": {"q": f"query number {i}", "n": i}}})
        frames.append(message_frame(seq, seq * 0.001, wall0 + seq * 0.001, "c2s", req))
        seq += 1
        if i % 10 == 3:
            note = json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                               "params": {"progressToken": i, "progress": 1, "total": 2}})
            frames.append(message_frame(seq, seq * 0.001, wall0 + seq * 0.001, "s2c", note))
            seq += 1
        if i % 17 == 5:
            res = json.dumps({"jsonrpc": "2.0", "id": i, "error": {"code": -32000, "message": "boom"}})
        else:
            res = json.dumps({"jsonrpc": "2.0", "id": i, "result": {"content": [{"type": "text", "text": f"result {i} " * 8}]}})
        frames.append(message_frame(seq, seq * 0.001 + 0.0005, wall0 + seq * 0.001, "s2c", res))
        seq += 1
        i += 1
    return frames[:n]


class NullSource(Source):
    key = "bench"
    label = "bench"

    async def run(self, emit) -> None:
        await asyncio.Event().wait()


async def bench_ingest(n: int) -> dict:
    frames = make_frames(n)
    gc.collect()
    before = rss_mb()
    app = OmproxyApp([NullSource()])
    out: dict = {}
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        source = app.initial_sources[0]
        t0 = time.perf_counter()
        for k in range(0, n, 1000):  # batches as the source worker would post them
            app.ingest(source, frames[k:k + 1000])
        await pilot.pause()
        out["ingest_s"] = time.perf_counter() - t0
        out["ingest_per_s"] = n / out["ingest_s"]
        del frames
        gc.collect()
        out["rss_mb_delta"] = rss_mb() - before
        # re-filter: applied (the view and the log reset) until the screen shows it; the median
        # of three rounds, each round all five expressions in turn
        kp = KeyToPaint(app)
        exprs = ["~tool echo", "~e", "~m tools/call & ~slow 1", "query number 99", ""]
        times: dict[str, list[float]] = {e: [] for e in exprs}
        for _ in range(3):
            for expr in exprs:
                await asyncio.sleep(0.1)
                t0 = time.perf_counter()
                app.apply_filter(expr)
                times[expr].append(await kp.wait(lambda: True) - t0)
                out[f"rows[{expr or 'none'}]"] = len(app.view.indices)
        for expr in exprs:
            out[f"refilter[{expr or 'none'}]_ms"] = percentile(times[expr], 0.5) * 1000
        out.update(await bench_navigation(app))
    return out


async def bench_nav_only(n: int) -> dict:
    """Only the navigation keys at ``n`` messages (``--only nav``): ingest, then the keys."""
    frames = make_frames(n)
    app = OmproxyApp([NullSource()])
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        for k in range(0, n, 1000):
            app.ingest(app.initial_sources[0], frames[k:k + 1000])
        await pilot.pause()
        del frames
        return await bench_navigation(app)


async def bench_navigation(app: OmproxyApp, rounds: int = 60) -> dict:
    """Key-to-paint (see keypaint.py) of the log's navigation keys at the app's current size,
    and of jumps (``move_cursor`` to a far row: what ``:`` seq, ``n`` next error or a click do).
    Keys are spaced 60 ms apart (a fast typist, slower than key repeat, which the detail pane's
    debounce absorbs); ``detail`` is key until the detail pane shows the new selection."""
    log = app.log_widget
    log.focus()
    log.move_cursor(len(app.view.indices) // 2)
    await asyncio.sleep(0.1)
    kp = KeyToPaint(app)
    out: dict = {}
    detail: list[float] = []
    for key in ("pagedown", "pageup", "down", "up"):
        times = []
        for _ in range(rounds):
            before = log.cursor
            ks = time.perf_counter()
            times.append(await kp.press(key, lambda b=before: log.cursor != b))
            if key == "pagedown":
                shown = lambda: app.detail.record is log.selected_record()  # noqa: E731
                detail.append((await kp.wait(shown) if not shown() else time.perf_counter()) - ks)
            await asyncio.sleep(0.06)
        out[f"key_{key}_p50_ms"] = percentile(times, 0.5) * 1000
        out[f"key_{key}_p95_ms"] = percentile(times, 0.95) * 1000
    out["key_pagedown_detail_p95_ms"] = percentile(detail, 0.95) * 1000
    times = []
    n = len(app.view.indices)
    for j in range(rounds):
        target = (j * 7919 + 13) % n
        if target == log.cursor:
            continue
        ks = time.perf_counter()
        log.move_cursor(target)
        times.append(await kp.wait(lambda t=target: log.cursor == t) - ks)
        await asyncio.sleep(0.06)
    out["jump_p50_ms"] = percentile(times, 0.5) * 1000
    out["jump_p95_ms"] = percentile(times, 0.95) * 1000
    return out


async def bench_live(rate: int = 2000, seconds: float = 5.0) -> dict:
    import tempfile

    d = tempfile.mkdtemp(prefix="ombench", dir="/tmp")
    fake = await FakeProxy(os.path.join(d, "b.sock")).start()
    app = OmproxyApp([__import__("omproxy_tui.client.sources", fromlist=["SocketSource"]).SocketSource(fake.path)])
    out: dict = {}
    async with app.run_test(size=(140, 40)) as pilot:
        while not fake.writers:
            await pilot.pause(0.01)
        total = int(rate * seconds)
        frames = make_frames(total)
        sent = 0

        async def producer() -> None:
            nonlocal sent
            start = time.perf_counter()
            tick = 0.01
            while sent < total:
                due = min(total, int((time.perf_counter() - start) * rate))
                if due > sent:
                    await fake.emit(*frames[sent:due], record=False)
                    sent = due
                await asyncio.sleep(tick)

        prod = asyncio.ensure_future(producer())

        log = app.log_widget
        log.focus()
        key_times: list[float] = []
        lags: list[float] = []

        async def lag_probe() -> None:
            while not prod.done():
                ts = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - ts - 0.01)

        probe = asyncio.ensure_future(lag_probe())
        while len(app.store) < 100:
            await asyncio.sleep(0.005)
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        k = 0
        kp = KeyToPaint(app)
        while not prod.done():
            # ↑ through the driver like a real keypress, timed key-to-paint (keypaint.py)
            before = log.cursor
            key_times.append(await kp.press("up", lambda b=before: log.cursor != b))
            k += 1
            await asyncio.sleep(0.03)
        await probe
        deadline = time.perf_counter() + 10
        while len(app.store) < total and time.perf_counter() < deadline:
            await pilot.pause(0.01)
        out["live_elapsed_s"] = time.perf_counter() - t0
        out["live_cpu_s"] = time.process_time() - cpu0
        out["live_received"] = len(app.store)
        out["live_sent"] = total
        key_times.sort()
        lags.sort()
        out["key_p50_ms"] = key_times[len(key_times) // 2] * 1000
        out["key_p95_ms"] = key_times[int(len(key_times) * 0.95)] * 1000
        out["key_max_ms"] = key_times[-1] * 1000
        out["loop_lag_p50_ms"] = lags[len(lags) // 2] * 1000
        out["loop_lag_p95_ms"] = lags[int(len(lags) * 0.95)] * 1000
        out["keys_pressed"] = len(key_times)
    await fake.stop()
    return out


async def bench_big(mb: int = 20) -> dict:
    text = "z" * (mb * 1024 * 1024)
    raw = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text}]}})
    frame = message_frame(1, 1.0, 1_780_000_000.0, "s2c", raw)
    app = OmproxyApp([NullSource()])
    out: dict = {}
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        t0 = time.perf_counter()
        app.ingest(app.initial_sources[0], [frame])
        await pilot.pause()
        out["big_ingest_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        app.log_widget.move_cursor(0)
        while app.detail.record is None:  # the detail pane is debounced (30 ms)
            await asyncio.sleep(0.001)
        await pilot.pause()
        out["big_detail_open_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        await pilot.press("o")
        await pilot.pause()
        out["big_raw_toggle_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        await pilot.press("c")
        out["big_copy_ms"] = (time.perf_counter() - t0) * 1000
        # search all 20 MB of the raw view (a thread, 1 MB slices): until the count shows, and the
        # longest the event loop went without a turn meanwhile (what a key would have waited)
        pane = app.detail
        if not pane.raw:
            await pilot.press("o")
        pane.open_search()
        lags: list[float] = []
        t0 = time.perf_counter()
        pane.search_input.value = "not-in-there"
        await asyncio.sleep(0)
        while pane._searching or pane.match_count == "":
            ts = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - ts - 0.005)
        out["big_search_20mb_ms"] = (time.perf_counter() - t0) * 1000
        out["big_search_loop_lag_max_ms"] = max(lags, default=0.0) * 1000
    return out


async def bench_steer(n_held: int = 1000, n_tools: int = 200) -> dict:
    """A real ``omproxy stdio --inspect-socket`` in front of an echo server; this process is the
    client (pipes) and the app (headless)."""
    import subprocess
    import tempfile
    import threading

    from omproxy_tui.client.sources import SocketSource

    d = tempfile.mkdtemp(prefix="ombench", dir="/tmp")
    sock = os.path.join(d, "s.sock")
    root = HERE.parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "omproxy_tui", "stdio", "--inspect-socket", sock, "--",
                             sys.executable, str(root / "tests" / "servers" / "raw_server.py"), "echo"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=root)
    answers: list = []

    def reader() -> None:
        for line in proc.stdout:
            answers.append(json.loads(line).get("id"))

    threading.Thread(target=reader, daemon=True).start()
    out: dict = {}
    app = OmproxyApp([SocketSource(sock)])
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            [info] = app.sessions.values()
            while info.state != "live" or not info.inspectors:
                await pilot.pause(0.02)
            await pilot.press("greater_than_sign")  # pause client -> server of the only live session
            while not (info.paused or {}).get("c2s"):
                await pilot.pause(0.01)
            # the same keys with nothing held yet: what this machine's key-to-paint is anyway
            for i in range(n_held):
                proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": -1 - i, "method": "ping"}).encode() + b"\n")
            proc.stdin.flush()
            while len(app.store) < n_held:
                await pilot.pause(0.01)
            await pilot.press("greater_than_sign")  # the pings are held too: release them first
            await pilot.press("A")
            while len(answers) < n_held or len(app.store) < 2 * n_held:
                await pilot.pause(0.01)
            answers.clear()
            log = app.log_widget
            log.focus()
            log.move_cursor(1)
            kp = KeyToPaint(app)
            times = await steer_keys(kp, log, ("down", "up"))
            out["steer_key_baseline_p50_ms"] = percentile(times, 0.5) * 1000
            out["steer_key_baseline_p95_ms"] = percentile(times, 0.95) * 1000
            await pilot.press("greater_than_sign")
            while not (info.paused or {}).get("c2s"):
                await pilot.pause(0.01)
            for i in range(n_held):
                proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                             "params": {"name": "echo", "arguments": {"i": i}}}).encode() + b"\n")
            proc.stdin.flush()
            t0 = time.perf_counter()
            while len(info.held) < n_held:
                await pilot.pause(0.01)
            out["steer_hold_1000_s"] = time.perf_counter() - t0
            log.focus()
            log.move_cursor(0)
            await asyncio.sleep(0.1)
            times = await steer_keys(kp, log, ("h", "up"))  # next held, then back up a row
            out["steer_key_held1000_p50_ms"] = percentile(times, 0.5) * 1000
            out["steer_key_held1000_p95_ms"] = percentile(times, 0.95) * 1000
            from omproxy_tui.tui.steer.dialogs import HeldScreen

            def held_list_shown() -> bool:
                screen = app.screen
                return isinstance(screen, HeldScreen) and screen.query_one("#held-table").row_count == len(screen.rows)

            out["steer_held_list_open_ms"] = await kp.press("H", held_list_shown, whole_screen=True) * 1000
            await pilot.press("escape")
            t0 = time.perf_counter()
            await pilot.press("A")
            while len(answers) < n_held:
                await pilot.pause(0.005)
            out["steer_release_all_1000_s"] = time.perf_counter() - t0
            out["steer_release_all_in_order"] = answers[:n_held] == list(range(n_held))
            await pilot.press("greater_than_sign")
            while (info.paused or {}).get("c2s"):
                await pilot.pause(0.01)
    finally:
        proc.stdin.close()
        proc.wait(15)
    out.update(await bench_compose(n_tools))
    return out


async def steer_keys(kp: KeyToPaint, log, keys: tuple[str, str], rounds: int = 100) -> list[float]:
    """Key-to-paint of ``rounds`` presses alternating ``keys`` (each moves the cursor)."""
    times = []
    for n in range(rounds):
        before = log.cursor
        times.append(await kp.press(keys[n % 2], lambda b=before: log.cursor != b))
        await asyncio.sleep(0.06)
    return times


#: The client of the burst benchmark, in a process of its own as a real client is (in a thread of
#: the benchmark it took the GIL from the app: every slice of the app's event loop waited for it).
#: It starts the proxy; each line on its stdin asks for a burst of N requests, written as fast as
#: the pipe takes them; it prints the ``time.monotonic()`` of the burst's last answer.
BURST_CLIENT = r"""
import json, subprocess, sys, threading, time
sock, root, tools = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
proc = subprocess.Popen([sys.executable, "-m", "omproxy_tui", "stdio", "--inspect-socket", sock, "--",
                         sys.executable, root + "/tests/servers/raw_server.py", "echo"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=root)
want = {"n": 0}
lock = threading.Condition()
def reader():
    got = 0
    for _line in proc.stdout:
        got += 1
        if got == want["n"]:
            print(time.monotonic(), flush=True)
threading.Thread(target=reader, daemon=True).start()
first = 0
for line in sys.stdin:
    n = int(line)
    want["n"] = first + n
    for i in range(first, first + n):
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
            "name": tools[i % len(tools)], "arguments": {"q": f"query number {i}"}}}).encode() + b"\n")
    proc.stdin.flush()
    first += n
proc.stdin.close()
proc.wait(15)
"""


async def bench_stats_burst(n_msgs: int = 50_000, rounds: int = 3) -> dict:
    """Stats open during a burst through a real ``omproxy stdio --inspect-socket`` (echo server):
    a client process (``BURST_CLIENT``) writes ``n_msgs / 2`` requests as fast as the pipe takes
    them (the proxy relays at its own pace: its burst rate), ``rounds`` bursts one after the other.
    During each, keys are pressed one after the other (30 ms apart) and timed key-to-paint
    (keypaint.py): ``o`` (sort column: the table is rebuilt; until an update shows the new
    column marked in the header), Esc (back to the log) and ``s`` (Stats again; both until an
    update repaints the whole screen). Then: how long after the client got its last answer the app had every
    message (ingest lag), and whether the proxy dropped frames for us (lost)."""
    import queue
    import subprocess
    import tempfile
    import threading

    from omproxy_tui.client.sources import SocketSource
    from omproxy_tui.tui.screens import STATS_COLUMNS, StatsScreen

    d = tempfile.mkdtemp(prefix="ombench", dir="/tmp")
    sock = os.path.join(d, "s.sock")
    root = HERE.parents[1]
    client = subprocess.Popen([sys.executable, "-c", BURST_CLIENT, sock, str(root), ",".join(TOOLS)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root)
    n_req = n_msgs // 2
    done: queue.Queue[float] = queue.Queue()

    def reader() -> None:
        for line in client.stdout:
            done.put(float(line))

    threading.Thread(target=reader, daemon=True).start()
    out: dict = {}
    app = OmproxyApp([SocketSource(sock)])
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            [info] = app.sessions.values()
            while info.state != "live":
                await pilot.pause(0.02)
            kp = KeyToPaint(app)
            on_stats = lambda: isinstance(app.screen, StatsScreen)  # noqa: E731
            idle: dict[str, list[float]] = {"s": [], "escape": []}
            for _ in range(5):  # the same keys before the burst
                idle["s"].append(await kp.press("s", on_stats, whole_screen=True))
                await asyncio.sleep(0.1)
                idle["escape"].append(await kp.press("escape", lambda: not on_stats(), whole_screen=True))
                await asyncio.sleep(0.1)
            for key, times in idle.items():
                out[f"stats_idle_key[{key}]_p50_ms"] = percentile(times, 0.5) * 1000
            keys: dict[str, list[float]] = {"o": [], "escape": [], "s": []}
            rates, behind = [], []
            cpu0 = time.process_time()
            k = 0
            for r in range(rounds):
                if not on_stats():
                    await kp.press("s", on_stats, whole_screen=True)
                await asyncio.sleep(0.3)
                t0 = time.monotonic()
                client.stdin.write(f"{n_req}\n")
                client.stdin.flush()
                while done.empty() and time.monotonic() - t0 < 120:
                    await asyncio.sleep(0.03)
                    if on_stats():
                        if k % 3 == 0:
                            screen = app.screen
                            before = screen.sort_index
                            # the table re-sorted on screen: its header shows the new column marked
                            title, _key, width = STATS_COLUMNS[(before + 1) % len(STATS_COLUMNS)]
                            header = f"{title} {'▼' if screen.reverse else '▲'}"
                            keys["o"].append(await kp.press("o", lambda: screen.sort_index != before,
                                                            shows=header if len(header) <= width else None))
                        else:
                            keys["escape"].append(await kp.press("escape", lambda: not on_stats(), whole_screen=True))
                    else:
                        keys["s"].append(await kp.press("s", on_stats, whole_screen=True))
                    k += 1
                client_done = done.get(timeout=60)
                while len(app.store) < (r + 1) * n_msgs and time.monotonic() - client_done < 60:
                    await asyncio.sleep(0.01)
                rates.append(n_msgs / (client_done - t0))
                behind.append(time.monotonic() - client_done)
            out["burst_msgs"] = n_msgs
            out["burst_rounds"] = rounds
            out["burst_proxy_msgs_per_s"] = percentile(rates, 0.5)
            out["burst_app_received"] = len(app.store)
            out["burst_lost"] = app.model.lost_count
            out["burst_app_behind_proxy_max_s"] = max(behind)
            out["burst_cpu_s"] = time.process_time() - cpu0
            everything = keys["o"] + keys["escape"] + keys["s"]
            out["burst_keys_pressed"] = len(everything)
            out["burst_key_p50_ms"] = percentile(everything, 0.5) * 1000
            out["burst_key_p95_ms"] = percentile(everything, 0.95) * 1000
            out["burst_key_max_ms"] = max(everything) * 1000
            for key, times in keys.items():
                if times:
                    out[f"burst_key[{key}]_p95_ms"] = percentile(times, 0.95) * 1000
    finally:
        client.stdin.close()
        client.wait(30)
    return out


async def bench_compose(n_tools: int = 200, rounds: int = 10) -> dict:
    """Open the compose screen on a session whose tools/list has ``n_tools`` tools (each with
    eight arguments: strings, numbers, an enum, a nested object, an array)."""
    from omproxy_tui.demo.steer_canned import CannedLiveSource, steer_session
    from omproxy_tui.tui.steer.compose import ComposeScreen

    tools = [{"name": f"tool_{i:03d}", "description": f"Tool number {i}", "inputSchema": {
        "type": "object", "required": ["query", "mode"],
        "properties": {
            "query": {"type": "string", "description": "what to look for"},
            "mode": {"type": "string", "enum": ["fast", "exact", "fuzzy"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            "score": {"type": "number"},
            "verbose": {"type": "boolean", "default": False},
            "filters": {"type": "object", "properties": {"lang": {"type": "string"}}},
            "paths": {"type": "array", "items": {"type": "string"}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        }}} for i in range(n_tools)]
    # the demo session without its own tools/list answer: the form opens on tool_000 (8 arguments)
    frames = [f for f in steer_session() if not (f.get("type") == "message" and f.get("dir") == "s2c"
                                                  and '"tools":[' in f.get("raw", ""))]
    last = max(f["seq"] for f in frames if "seq" in f)
    frames += [message_frame(last + 1, 1.0, 1_780_000_100.0, "c2s", {"jsonrpc": "2.0", "id": 5000, "method": "tools/list"}),
               message_frame(last + 2, 1.1, 1_780_000_100.1, "s2c", {"jsonrpc": "2.0", "id": 5000,
                                                                       "result": {"tools": tools}})]
    out: dict = {}
    app = OmproxyApp([CannedLiveSource(frames)])

    def form_ready(screen) -> bool:
        return (isinstance(screen, ComposeScreen) and bool(screen.fields)
                and len(screen.query(".field-input")) == len(screen.fields)
                and all(w.size.height > 0 for w in screen.query(".field-input")))

    # every frame the app paints (headless: rendered, not written), and whether the form was in it
    paints: list[tuple[float, bool, float]] = []
    display = app._display

    def probe(screen, renderable) -> None:
        if renderable is not None:
            paints.append((time.perf_counter(), form_ready(screen), time.process_time()))
        display(screen, renderable)

    app._display = probe  # type: ignore[method-assign]
    from textual import events

    async with app.run_test(size=(140, 40)) as pilot:
        while len(app.store) < len([f for f in frames if f.get("type") == "message"]):
            await pilot.pause(0.02)
        app.log_widget.move_cursor(0)
        await pilot.pause()
        times, painted, settled, cpu = [], [], [], []
        for _ in range(rounds):
            # 1. key-to-paint: the key goes through the driver like a real keypress; until the
            #    first frame with the whole form in it, and until the last frame of the opening
            #    (the first frame after which nothing is painted for 150 ms)
            paints.clear()
            ks, cpu0 = time.perf_counter(), time.process_time()
            ev = events.Key("C", "C")
            ev.set_sender(app)
            app._driver.send_message(ev)
            while time.perf_counter() - ks < 10:
                await asyncio.sleep(0.002)
                if any(ok for _, ok, _ in paints) and time.perf_counter() - paints[-1][0] > 0.15:
                    break
            painted.append(next(t for t, ok, _ in paints if ok) - ks)
            settled.append(paints[-1][0] - ks)
            cpu.append(paints[-1][2] - cpu0)  # CPU this process spent until then: less noisy
            await pilot.press("escape")
            await pilot.pause()
            # 2. as measured before: pilot.press, the form mounted, then pilot.pause (two idle
            #    waits of >= 20 ms each are part of this figure)
            ks = time.perf_counter()
            await pilot.press("C")
            while not (isinstance(app.screen, ComposeScreen) and app.screen.fields
                       and len(app.screen.query(".field-input")) == len(app.screen.fields)):
                await asyncio.sleep(0.001)
            await pilot.pause()
            times.append(time.perf_counter() - ks)
            await pilot.press("escape")
            await pilot.pause()
        for name, values in (("paint", painted), ("settled", settled), ("settled_cpu", cpu), ("pilot", times)):
            values.sort()
            out[f"compose_open_200_tools_{name}_min_ms"] = values[0] * 1000
            out[f"compose_open_200_tools_{name}_p50_ms"] = values[len(values) // 2] * 1000
            out[f"compose_open_200_tools_{name}_max_ms"] = values[-1] * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", choices=["steer", "compose", "burst", "nav"], help="run only this part")
    args = parser.parse_args()
    results = {}
    if args.only:
        part = {"steer": bench_steer, "compose": bench_compose, "burst": bench_stats_burst,
                "nav": lambda: bench_nav_only(args.n)}[args.only]
        results.update(asyncio.run(part()))
        for key, value in results.items():
            print(f"{key:<36}  {value:,.1f}" if isinstance(value, float) else f"{key:<36}  {value}")
        return
    results.update(asyncio.run(bench_ingest(args.n)))
    results.update(asyncio.run(bench_live(args.rate, args.seconds)))
    results.update(asyncio.run(bench_big()))
    results.update(asyncio.run(bench_steer()))
    results.update(asyncio.run(bench_stats_burst()))
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value:,.1f}" if isinstance(value, float) else f"{key:<{width}}  {value:,}")


if __name__ == "__main__":
    main()
