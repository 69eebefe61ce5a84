"""Bounded JSON pretty-printing for the detail pane (multi-MB messages stay cheap)."""

from __future__ import annotations

import json

#: messages larger than this are not parsed; their prefix is re-indented textually
PARSE_LIMIT = 1024 * 1024
#: at most this many characters of pretty text are shown
SHOW_LIMIT = 64 * 1024


def indent_prefix(raw: str, limit: int = SHOW_LIMIT, indent: str = "  ") -> str:
    """Pretty-print the first ``limit`` characters of a JSON text without parsing it whole.

    Works on truncated input (newlines after ``{ [ ,``, before ``} ]``, outside strings).
    """
    out: list[str] = []
    depth = 0
    in_str = False
    esc = False
    size = 0
    for ch in raw:
        if size >= limit:
            break
        if in_str:
            out.append(ch)
            size += 1
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
            piece = ch
        elif ch in "{[":
            depth += 1
            piece = ch + "\n" + indent * depth
        elif ch in "}]":
            depth = max(0, depth - 1)
            piece = "\n" + indent * depth + ch
        elif ch == ",":
            piece = ",\n" + indent * depth
        elif ch == ":":
            piece = ": "
        elif ch in " \t\r\n":
            continue
        else:
            piece = ch
        out.append(piece)
        size += len(piece)
    return "".join(out)


def pretty(raw: str, limit: int = SHOW_LIMIT) -> tuple[str, str | None]:
    """(text to show, note or None). Small messages are parsed and re-dumped; big ones re-indented."""
    if len(raw) <= PARSE_LIMIT:
        try:
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except ValueError:
            text = raw
            if len(text) > limit:
                return text[:limit], f"not valid JSON; showing the first {limit // 1024} KB"
            return text, "not valid JSON; shown as received"
        if len(text) > limit:
            cut = text.rfind("\n", 0, limit)
            cut = cut if cut > 0 else limit
            return text[:cut], f"showing the first {cut // 1024} KB of {len(text) // 1024} KB pretty-printed"
        return text, None
    text = indent_prefix(raw, limit)
    size_mb = len(raw.encode("utf-8", "replace")) / 1024 / 1024
    return text, (
        f"message is {size_mb:.1f} MB: showing the first {limit // 1024} KB, re-indented without parsing"
    )
