"""Getting a message to the user's clipboard, or to a file when that cannot work.

The terminal clipboard (OSC 52) is the default, but it silently does nothing inside tmux (off by
default there) and terminals drop large payloads; a multi-MB base64 escape written to the
terminal also stalls the UI. In those cases a system clipboard tool (run in a thread) is used
when one is installed, and otherwise the user is told why and offered to save the message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

#: Largest text sent with OSC 52 (many terminals cap the sequence near 100 kB of base64).
OSC52_MAX = 74_000

#: System clipboard tools, in order of preference (command line, text on stdin).
TOOLS: list[list[str]] = [
    ["wl-copy"],
    ["xclip", "-selection", "clipboard"],
    ["xsel", "--clipboard", "--input"],
    ["pbcopy"],
]


def osc52_problem(size: int, env: Mapping[str, str] | None = None) -> str | None:
    """Why OSC 52 would not work for ``size`` bytes of text (None: it should)."""
    env = os.environ if env is None else env
    if env.get("TMUX"):
        return "inside tmux, which drops the terminal clipboard sequence (OSC 52) by default"
    if size > OSC52_MAX:
        return f"too large for the terminal clipboard ({size:,} bytes; OSC 52 takes about {OSC52_MAX // 1000} kB)"
    return None


def clipboard_tool(path: str | None = None) -> list[str] | None:
    """The first system clipboard tool found on ``PATH``, as a command line, or None."""
    for cmd in TOOLS:
        if shutil.which(cmd[0], path=path) is not None:
            return cmd
    return None


def copy_with(cmd: list[str], text: str, timeout: float = 10.0) -> None:
    """Run ``cmd`` with ``text`` on stdin (blocking: call from a thread). Raises OSError or
    subprocess errors with the tool's complaint."""
    proc = subprocess.run(cmd, input=text.encode("utf-8", "surrogatepass"), capture_output=True, timeout=timeout,
                          start_new_session=True)  # fmt: skip
    if proc.returncode != 0:
        raise OSError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()[:200]}")
