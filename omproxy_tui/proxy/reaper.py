"""Descendants that escape the server's process group: adopt them, reap them, end them.

Killing the server's process group catches children under ``npx``/``uvx``/``sh -c``, but not a
grandchild that called ``setsid()`` (node's ``spawn({detached: true})``, a browser launched by
Puppeteer, any double-forking daemon). On Linux omproxy makes itself a *child subreaper*
(``PR_SET_CHILD_SUBREAPER``): such orphans are re-parented to omproxy instead of init, so at
shutdown every one of them can be found below omproxy in ``/proc`` and ended.

What counts as the server's: a process below omproxy whose session is not omproxy's own (the
server runs in a session of its own, and everything it starts stays there or makes a new one),
and that was not already omproxy's child before the server started. So children of the program
that embeds ``StdioProxy``, and processes its hooks start, are left alone.

Other platforms have no subreaper: macOS and the BSDs get the process-group kill only (a
grandchild that leaves the group survives omproxy there).
"""

from __future__ import annotations

import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
LINUX = sys.platform.startswith("linux")


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False where the platform cannot."""
    if not LINUX:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _table() -> dict[int, tuple[int, int, bytes]]:
    """pid -> (ppid, session, state) for every process we can see."""
    out = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # the command name may hold spaces and ')'
        try:
            out[int(name)] = (int(fields[1]), int(fields[3]), fields[0])
        except (IndexError, ValueError):
            continue
    return out


# Helper processes omproxy itself starts after the server (e.g. the OTLP exporter): never strays.
_OWN: set[int] = set()


def mark_own(pid: int) -> None:
    """Declare a process omproxy started for itself, so shutdown does not end it as the server's."""
    _OWN.add(pid)


def children() -> set[int]:
    """Our direct children now (taken before the server starts: those are not the server's)."""
    if not LINUX:
        return set()
    me = os.getpid()
    return {pid for pid, (ppid, _, _) in _table().items() if ppid == me}


class Reaper:
    """Finds, reaps and ends the server's strays below this process (Linux only; a no-op elsewhere)."""

    def __init__(self, keep: set[int], server_pid: int) -> None:
        self.keep = keep  # our children from before the server: not ours to touch
        self.server_pid = server_pid  # subprocess.Popen reaps this one itself
        self.me = os.getpid()
        self.session = os.getsid(0)

    def strays(self) -> list[tuple[int, bytes]]:
        """(pid, state) of every process below us that belongs to the server's tree."""
        if not LINUX:
            return []
        table = _table()
        below: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            below.setdefault(ppid, []).append(pid)
        out = []
        todo = [p for p in below.get(self.me, ()) if p not in self.keep and p not in _OWN]
        while todo:
            pid = todo.pop()
            todo.extend(below.get(pid, ()))
            ppid, session, state = table[pid]
            if session != self.session and pid != self.server_pid:
                out.append((pid, state))
        return out

    def reap(self) -> None:
        """Collect adopted orphans that have exited (zombies would pile up in a long session)."""
        for pid, state in self.strays():
            if state == b"Z":
                self._waitpid(pid)

    def end_all(self, term_grace: float) -> list[int]:
        """SIGTERM every stray, SIGKILL what is left after term_grace; returns the pids ended."""
        ended: list[int] = []
        for sig, wait in ((signal.SIGTERM, term_grace), (signal.SIGKILL, 5.0)):
            live = [pid for pid, state in self.strays() if state != b"Z"]
            if not live:
                break
            for pid in live:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            ended += [p for p in live if p not in ended]
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.reap()
                if not any(state != b"Z" for _, state in self.strays()):
                    break
                time.sleep(0.02)
        self.reap()
        return ended

    def _waitpid(self, pid: int) -> None:
        try:
            os.waitpid(pid, os.WNOHANG)  # only our own children can be waited for; others: ECHILD
        except ChildProcessError:
            pass
