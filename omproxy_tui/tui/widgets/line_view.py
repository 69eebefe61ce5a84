"""A Line-API scroll view that looks up its own style once per frame, not once per line.

``Widget.rich_style`` walks every ancestor's styles (~30 µs); the log and the detail pane looked
it up for every line they rendered, twice for some.
"""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineView(ScrollView):
    #: the widget's style while a frame's lines are rendered (see base_style)
    _frame_style: Style | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    @property
    def base_style(self) -> Style:
        """The widget's style: looked up once per frame while its lines are rendered."""
        return self._frame_style or self.rich_style
