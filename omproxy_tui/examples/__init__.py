"""Runnable examples of the hook API (see the README)."""
