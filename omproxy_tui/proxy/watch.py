"""``--watch``: restart the server when its files change (a standard-library polling watcher).

Why polling: a native watcher (inotify, FSEvents) needs a third-party package; this needs
nothing and works the same everywhere. Its cost is one ``stat`` per watched file per poll (every
``debounce / 3`` seconds, at most every 100 ms): roughly 1-3 µs of CPU per file per poll, so a
source tree of 1,000 files costs ~1-3 % of one core. Watch the server's source directory, not a
whole project with its dependencies (``node_modules``, ``.venv`` and friends are ignored by default).

A burst of changes (an editor's save writes several files, a ``git checkout``) is one restart:
the callback runs once nothing has changed for ``debounce`` seconds.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from typing import Callable

DEFAULT_IGNORE = ("__pycache__", "*.pyc", "*.pyo", ".git", ".hg", ".svn", "node_modules", ".venv", "venv",
                  ".mypy_cache", ".pytest_cache", ".ruff_cache", "*.swp", "*.swx", "*~", ".#*", "#*#", ".DS_Store")
MAX_FILES = 100_000  # a runaway tree is cut here (and reported once) rather than eating memory


class PollingWatcher:
    def __init__(self, paths: list[str], on_change: Callable[[list[str]], None], ignore: tuple[str, ...] = (),
                 debounce: float = 0.3, report: Callable[[str], None] | None = None) -> None:
        self.paths = [os.path.abspath(p) for p in paths]
        self.ignore = tuple(DEFAULT_IGNORE) + tuple(ignore)
        self.debounce = debounce
        self.interval = min(0.1, max(0.02, debounce / 3))
        self.on_change = on_change
        self.report = report or (lambda text: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="omproxy-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def _ignored(self, name: str, rel: str) -> bool:
        return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(rel, pat) for pat in self.ignore)

    def scan(self) -> dict[str, tuple]:
        """path -> (mtime_ns, size, inode) of every watched file."""
        out: dict[str, tuple] = {}
        for root in self.paths:
            try:
                st = os.stat(root)
            except OSError:
                continue
            if not os.path.isdir(root):
                out[root] = (st.st_mtime_ns, st.st_size, st.st_ino)
                continue
            todo = [root]
            while todo:
                d = todo.pop()
                try:
                    entries = list(os.scandir(d))
                except OSError:
                    continue
                for e in entries:
                    rel = os.path.relpath(e.path, root)
                    if self._ignored(e.name, rel):
                        continue
                    try:
                        if e.is_dir(follow_symlinks=False):
                            todo.append(e.path)
                            continue
                        st = e.stat()
                    except OSError:
                        continue
                    out[e.path] = (st.st_mtime_ns, st.st_size, st.st_ino)
                    if len(out) >= MAX_FILES:
                        if not self._warned:
                            self._warned = True
                            self.report(f"--watch: more than {MAX_FILES} files; watching only the first ones "
                                        "(watch the server's source directory instead)")
                        return out
        return out

    def _run(self) -> None:
        before = self.scan()
        changed: set[str] = set()
        last = 0.0
        while not self._stop.wait(self.interval):
            try:
                now = self.scan()
            except Exception as exc:  # noqa: BLE001 -- the watcher must not die on a strange tree
                self.report(f"--watch: scanning failed: {exc}")
                continue
            if now != before:
                changed |= {p for p in set(now) | set(before) if now.get(p) != before.get(p)}
                before = now
                last = time.monotonic()
            elif changed and time.monotonic() - last >= self.debounce:
                files, changed = sorted(changed), set()
                try:
                    self.on_change(files)
                except Exception as exc:  # noqa: BLE001
                    self.report(f"--watch: restart request failed: {exc}")
