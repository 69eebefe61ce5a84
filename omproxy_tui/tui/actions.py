"""The one registry of user actions: it drives key bindings, the footer, the palette and help.

Steering keys follow mitmproxy where it has one (``i`` intercept, ``a``/``A`` accept = release,
``e`` edit, ``r`` replay, ``X`` kill = drop, ``E`` export, ``m`` view mode = raw/pretty); their
``action_*`` methods are in ``tui/steer/controller.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class ActionSpec:
    id: str  # binding id (user keymaps use it)
    action: str  # textual action string, run on the app
    keys: str  # default keys, comma separated
    description: str  # short, for the footer
    help: str  # one line, for the palette and the help screen
    group: str = "View"
    footer: bool = False
    priority: bool = False
    #: the action opens a text input: keys typed right after its key are kept for that input
    #: (see ``OmproxyApp.type_into``)
    opens_input: bool = False
    #: "app": bound on the app; "detail": bound on the detail pane's view, active while it has
    #: focus (its action is the view's)
    scope: str = "app"

    @property
    def key_display(self) -> str:
        return ", ".join(KEY_NAMES.get(k, k) for k in self.keys.split(","))


KEY_NAMES = {
    "slash": "/",
    "colon": ":",
    "backslash": "\\",
    "question_mark": "?",
    "escape": "Esc",
    "enter": "Enter",
    "end": "End",
    "home": "Home",
    "ctrl+p": "Ctrl+P",
    "ctrl+l": "Ctrl+L",
    "ctrl+r": "Ctrl+R",
    "ctrl+s": "Ctrl+S",
    "f1": "F1",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "greater_than_sign": ">",
    "less_than_sign": "<",
    "asterisk": "*",
    "ctrl+f": "Ctrl+F",
    "left": "←",
    "right": "→",
    "minus": "-",
    "plus": "+",
}

ACTIONS: list[ActionSpec] = [
    ActionSpec("filter", "filter", "slash", "Filter", "Open the filter bar (filter expression, see help)", "Filter", footer=True, opens_input=True),
    ActionSpec("clear_filter", "clear_filter", "backslash", "Clear filter", "Remove the filter and show every message", "Filter"),
    ActionSpec("save_filter", "save_filter", "ctrl+s", "Save filter", "Save the current filter under a name, in the config file (Ctrl+S in the filter bar saves what is typed)", "Filter",
               opens_input=True),
    ActionSpec("saved_filters", "saved_filters", "F", "Saved filters", "Pick a saved filter to apply, or delete one (x); @name in the filter bar too", "Filter"),
    ActionSpec("follow", "follow", "f,end", "Follow", "Follow new messages (jump to the end and stay there)", "Log", footer=True),
    ActionSpec("pair", "pair", "p", "Pair", "Jump to the paired request/response", "Log", footer=True),
    ActionSpec("next_error", "next_error", "n", "Next error", "Jump to the next error", "Log"),
    ActionSpec("prev_error", "prev_error", "N", "Prev error", "Jump to the previous error", "Log"),
    ActionSpec("time_mode", "time_mode", "t", "Time column", "Time column: wall clock, time since the session's first message, time since the row above", "Log"),
    ActionSpec("clear_log", "clear_log", "ctrl+l", "Clear log", "Clear the log (new messages still show; stats, pairing and counts keep everything)", "Log"),
    ActionSpec("mark", "mark", "m", "Mark", "Mark or unmark the selected message (~marked shows the marked ones)", "Log"),
    ActionSpec("jump", "jump", "colon", "Jump", "Jump to a message by seq or JSON-RPC id, without filtering (: 42, : id abc)", "Log",
               opens_input=True),
    ActionSpec("next_pending", "next_pending", "w", "Next pending", "Jump to the next request still awaiting its response", "Log"),
    ActionSpec("raw", "toggle_raw", "o", "Raw/pretty", "Toggle the detail pane between pretty JSON and the raw line", "Detail"),
    ActionSpec("copy", "copy", "c", "Copy", "Copy the selected message (raw line) to the clipboard", "Detail"),
    ActionSpec("save_message", "save_message", "W", "Save message", "Save the selected message (raw line) to a file in the current directory", "Detail"),
    ActionSpec("detail", "toggle_detail", "d", "Detail", "Show or hide the detail pane", "Detail"),
    ActionSpec("detail_search", "detail_search", "ctrl+f", "Search detail",
               "Search inside the detail pane's message (smart case; Enter/Shift+Enter or n/N: next/previous match)",
               "Detail", opens_input=True),
    # ---- the detail pane, while it has focus (tui/widgets/detail_view.py) ------------------
    ActionSpec("detail_next_match", "next_match", "n", "Next match",
               "In the detail pane after a search: next match (elsewhere n is next error)", "Detail", scope="detail"),
    ActionSpec("detail_prev_match", "prev_match", "N", "Prev match",
               "In the detail pane after a search: previous match", "Detail", scope="detail"),
    ActionSpec("detail_fold", "fold", "left", "Fold",
               "In the detail pane: fold the object/array at the cursor line (inside one: go to its start)",
               "Detail", scope="detail"),
    ActionSpec("detail_unfold", "unfold", "right", "Unfold", "In the detail pane: unfold at the cursor line",
               "Detail", scope="detail"),
    ActionSpec("detail_toggle_fold", "toggle_fold", "enter", "Fold/unfold",
               "In the detail pane: fold or unfold at the cursor line", "Detail", scope="detail"),
    ActionSpec("detail_fold_all", "fold_all", "minus", "Fold all",
               "In the detail pane: fold every object and array below the top level", "Detail", scope="detail"),
    ActionSpec("detail_unfold_all", "unfold_all", "plus", "Unfold all", "In the detail pane: unfold everything",
               "Detail", scope="detail"),
    ActionSpec("zoom", "zoom", "z", "Zoom", "Maximise the focused pane (z or Esc restores)", "Detail"),
    ActionSpec("restore", "restore", "escape", "Restore", "Restore a maximised pane", "Detail"),
    ActionSpec("sessions", "toggle_sessions", "v", "Sessions", "Show or hide the sessions list", "View"),
    ActionSpec("all_sessions", "all_sessions", "asterisk", "All sessions", "Show every session's messages (undo a session selection)", "View"),
    ActionSpec("stats", "stats", "s", "Stats", "Per-method statistics and message rate", "Screens", footer=True),
    ActionSpec("server_log", "server_log", "l", "Server log", "Server stderr and lifecycle events per session", "Screens"),
    ActionSpec("export", "export", "E", "Export", "Export the filtered messages as JSONL", "Screens", footer=True,
               opens_input=True),
    ActionSpec("restart_server", "restart_server", "R", "Restart server",
               "Restart the selected session's server under the live client (omproxy stdio; see README Hot restart)",
               "Steer"),
    # ---- steering (tui/steer/controller.py) ---------------------------------------------
    ActionSpec("pause", "steer_pause('both')", "P", "Pause", "Pause/resume both directions of the selected session", "Steer", footer=True),
    ActionSpec("pause_c2s", "steer_pause('c2s')", "greater_than_sign", "Pause →", "Pause/resume client → server", "Steer"),
    ActionSpec("pause_s2c", "steer_pause('s2c')", "less_than_sign", "Pause ←", "Pause/resume server → client", "Steer"),
    ActionSpec("intercept", "steer_intercept", "i", "Intercept", "Hold only messages matching a filter (same language as /)", "Steer", footer=True,
               opens_input=True),
    ActionSpec("clear_intercept", "steer_clear_intercept", "I", "Clear intercept", "Stop intercepting (held messages stay held)", "Steer"),
    ActionSpec("release", "steer_release", "a", "Release", "Release (accept) the selected held message", "Steer", footer=True),
    ActionSpec("release_all", "steer_release_all", "A", "Release all", "Release everything held in the session (or everywhere)", "Steer"),
    ActionSpec("drop", "steer_drop", "X", "Drop", "Drop the selected held message (asks first for requests); cancel an injected request in flight", "Steer"),
    ActionSpec("edit", "steer_edit", "e", "Edit", "Edit the selected held message, then release it", "Steer"),
    ActionSpec("next_held", "next_held", "h", "Next held", "Jump to the next held message", "Steer"),
    ActionSpec("held_list", "held_list", "H", "Held list", "Everything held, across sessions, oldest first", "Steer"),
    ActionSpec("compose", "steer_compose", "C", "Compose", "Compose and inject a message toward the server or the client", "Steer", footer=True),
    ActionSpec("replay", "steer_replay", "r", "Replay", "Replay the selected request as is (an injection)", "Steer"),
    ActionSpec("replay_edited", "steer_replay_edited", "ctrl+r", "Replay edited", "Edit the selected request, then inject it", "Steer"),
    # ---- end of steering ------------------------------------------------------------------
    ActionSpec("help", "help", "question_mark,f1", "Help", "Keys, filter language, columns", "Screens", footer=True),
    ActionSpec("quit", "quit", "q", "Quit", "Quit omproxy-tui (proxies keep running)", "App", footer=True),
]

BY_ID = {spec.id: spec for spec in ACTIONS}


#: Shown first in the footer, so a narrow terminal never cuts them off.
FOOTER_FIRST = ("help", "quit")


def bindings() -> list[Binding]:
    ordered = sorted(ACTIONS, key=lambda spec: spec.id not in FOOTER_FIRST)  # stable: otherwise as listed
    return [
        Binding(spec.keys, spec.action, spec.description, show=spec.footer, id=spec.id, priority=spec.priority)
        for spec in ordered if spec.scope == "app"
    ]


def scoped_bindings(scope: str) -> list[Binding]:
    """The bindings of a widget's scope (remappable by id like the others)."""
    return [Binding(spec.keys, spec.action, spec.description, show=spec.footer, id=spec.id)
            for spec in ACTIONS if spec.scope == scope]


def keymap_from_env(value: str | None = None) -> dict[str, str]:
    """``OMPROXY_TUI_KEYMAP="stats=S;filter=ctrl+f,slash"`` -> {binding id: keys}; unknown ids are ignored."""
    value = os.environ.get("OMPROXY_TUI_KEYMAP", "") if value is None else value
    out: dict[str, str] = {}
    for item in value.split(";"):
        if "=" not in item:
            continue
        key, _, keys = item.partition("=")
        key, keys = key.strip(), keys.strip()
        if key in BY_ID and keys:
            out[key] = keys
    return out


def display_keys(keys: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k) for k in keys.split(","))
