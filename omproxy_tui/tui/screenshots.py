"""Render SVG screenshots of the main screens from the real app on a canned session.

Run: ``python -m omproxy_tui.tui.screenshots [--out screenshots] [--size 140x40]``.
Times are shown in UTC so the pictures do not depend on where they are made.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from omproxy_tui.client.sources import write_recording
from omproxy_tui.demo.canned import T0, canned_session

SHOTS = ["main", "detail", "filter", "filter-error", "stats", "server-log", "help", "palette",
         "steer-held", "steer-editor-error", "steer-compose"]


async def _shoot(app, size: tuple[int, int], out: Path, name: str, setup, *,
                 ready, what: str, settle: float) -> Path:
    """Run app until ready(), set up the scene, and save it as out/name.svg."""
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 15
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not load")
            await pilot.pause(0.02)
        app.filter_bar.input.cursor_blink = False  # a blinking cursor would make the SVGs differ run to run
        app._refresh_sessions()
        app._refresh_status()
        await pilot.pause()
        await setup(app, pilot)
        await pilot.pause(settle)
        path = out / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out))
        return path


async def _render(out: Path, size: tuple[int, int]) -> list[Path]:
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from omproxy_tui.tui.app import build_app

    tmp = Path(tempfile.mkdtemp(prefix="omp-shots-"))
    first = tmp / "demo.jsonl"
    second = tmp / "files.jsonl"
    write_recording(canned_session(rounds=4), first)
    write_recording(canned_session(T0 + 0.5, rounds=2, name="files", pid=5151), second)
    written: list[Path] = []

    async def shoot(name: str, setup) -> None:
        app = build_app(recordings=[str(first), str(second)], clock=lambda: T0 + 14.0)
        written.append(await _shoot(
            app, size, out, name, setup, settle=0.1, what="canned session",
            ready=lambda: sum(1 for i in app.sessions.values() if i.state == "loaded") >= 2))

    def pick(app, predicate) -> None:
        log = app.log_widget
        pos = next(p for p, i in enumerate(app.view.indices) if predicate(app.store[i]))
        log.follow = False
        log.move_cursor(app.model.rows.row_of(pos))
        app._show_detail()  # skip the debounce

    async def main(app, pilot):
        pick(app, lambda r: r.kind == "response" and r.tool == "fail")

    async def detail(app, pilot):
        pick(app, lambda r: r.kind == "response" and r.tool == "progress")
        await pilot.press("tab")  # focus moves on; the log keeps the selection

    async def filt(app, pilot):
        app.apply_filter("~tool slow | ~e")
        await pilot.press("slash")  # the bar opens on the applied filter

    async def filt_error(app, pilot):
        await pilot.press("slash")
        await pilot.press(*"~m tools/call & ~slow")

    async def stats(app, pilot):
        await pilot.press("s")

    async def server_log(app, pilot):
        pick(app, lambda r: r.tool == "fail")
        await pilot.press("l")

    async def help_(app, pilot):
        await pilot.press("question_mark")

    async def palette(app, pilot):
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"stat")
        await pilot.pause(0.3)

    for name, setup in [("main", main), ("detail", detail), ("filter", filt), ("filter-error", filt_error),
                        ("stats", stats), ("server-log", server_log), ("help", help_), ("palette", palette)]:
        await shoot(name, setup)
    await _render_steering(out, size, written, pick)
    return written


async def _render_steering(out: Path, size: tuple[int, int], written: list[Path], pick) -> None:
    """Steering needs a live session: the canned one played by a source that says ok to commands."""

    from omproxy_tui.demo.steer_canned import CannedLiveSource
    from omproxy_tui.tui.app import OmproxyApp

    async def shoot(name: str, setup) -> None:
        app = OmproxyApp([CannedLiveSource()], clock=lambda: T0 + 14.0)
        written.append(await _shoot(
            app, size, out, name, setup, settle=0.2, what="canned live session",
            ready=lambda: any(s.held for s in app.sessions.values())))

    async def held(app, pilot):
        pick(app, lambda r: r.held and r.tool == "slow")

    async def editor(app, pilot):
        pick(app, lambda r: r.held and r.tool == "slow")
        await pilot.press("e")
        await pilot.pause(0.1)
        area = app.screen.query_one("#editor-text")
        area.cursor_blink = False
        area.text = area.text.replace('"seconds": 5', '"seconds": 0.5,')

    async def compose(app, pilot):
        pick(app, lambda r: r.method == "tools/list")
        await pilot.press("C")
        deadline = time.monotonic() + 10
        while not getattr(app.screen, "fields", None):
            if time.monotonic() > deadline:
                raise RuntimeError("compose form did not open")
            await pilot.pause(0.02)
        screen = app.screen
        screen.pick_target("deploy")
        while not (screen.form_ready and len(screen.fields) == 4):
            if time.monotonic() > deadline:
                raise RuntimeError("deploy form did not open")
            await pilot.pause(0.02)
        await pilot.pause(0.1)
        screen.query_one("#field-0").value = "api"
        screen.query_one("#field-2").value = '{"replicas": 20, "dry_run": false}'
        for inp in screen.query("Input"):
            inp.cursor_blink = False

    for name, setup in [("steer-held", held), ("steer-editor-error", editor), ("steer-compose", compose)]:
        await shoot(name, setup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="screenshots", help="output directory (default: screenshots)")
    parser.add_argument("--size", default="140x40", help="terminal size WxH (default: 140x40)")
    args = parser.parse_args(argv)
    os.environ["TZ"] = "UTC"
    time.tzset()
    width, height = (int(v) for v in args.size.lower().split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(_render(out, (width, height))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
