"""omproxy-tui: the Textual inspector (the only package that imports textual)."""
