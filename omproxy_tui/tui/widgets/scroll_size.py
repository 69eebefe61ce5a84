"""Setting a Line-API view's scrollable size without laying out the whole screen.

``virtual_size`` is a reactive that asks for a layout of the screen on every change. For our
views the size on screen is fixed by the layout (the log's and the detail pane's heights do not
depend on their content), so a new row count only moves the scrollbar's thumb, unless the
scrollbar appears or disappears (the width left for rows changes: then a layout is needed).
Every layout cost a navigation key 6-9 ms (the detail pane's size changes with each record) and
a repaint during a burst (the log grows with each batch) tens of milliseconds.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView


def set_virtual_size(view: ScrollView, size: Size) -> None:
    if size == view.virtual_size:
        return
    height = view.container_size.height
    if (not view.is_mounted or not height or view.styles.overflow_y != "auto"
            or view.styles.overflow_x != "hidden" and size.width > view.container_size.width
            or (size.height > height) != view.show_vertical_scrollbar):
        view.virtual_size = size  # the scrollbar comes or goes (or we cannot tell): lay out
        # scrollbars otherwise learn the new size only at that layout, so a repaint in between
        # (a busy machine, a screenshot) draws the thumb for the old size
        if view.container_size:
            view._scroll_update(size)
        return
    view.set_reactive(type(view).virtual_size, size)
    view._scroll_update(size)  # the scrollbar's thumb, and the scroll offset kept in range
