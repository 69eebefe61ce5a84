"""A footer that rebuilds only when what it shows changes.

Textual's ``Footer`` recomposes (removes and mounts one widget per key) on every change of the
screen's bindings, and a focus change is one: on a dialog with many inputs that was two
recompositions and ~40 ms of layout while it opened, for the same three keys each time.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class SteadyFooter(Footer):
    _shown: tuple | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # compose the keys with the screen (Footer waits for the first bindings signal, then
        # recomposes: one more mount and layout while the screen opens)
        self._bindings_ready = True

    @staticmethod
    def _keys(screen: Screen) -> tuple:
        return tuple((binding.key, binding.description, enabled)
                     for _, binding, enabled, _ in screen.active_bindings.values() if binding.show)

    def compose(self) -> ComposeResult:
        self._shown = self._keys(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if not screen.is_active:
            # a screen under another one (the main screen under Stats, Stats under a dialog):
            # what the app's keys do while another screen is on top is not what they do on
            # this one; it is asked again when it is on top. (Not is_current: Textual counts
            # the screen just below the top one as current, as it may show through.)
            return
        shown = self._keys(screen)
        if shown == self._shown:
            return
        super().bindings_changed(screen)
