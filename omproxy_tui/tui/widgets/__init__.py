"""Widgets of the omproxy-tui main screen."""
