"""A span-preserving JSON/JSONC reader and editor.

Client configs are hand-edited files: VS Code's ``mcp.json`` has ``//`` and ``/* */`` comments and
trailing commas, ``~/.claude.json`` is megabytes of state we must not reformat. So we never
re-serialise a document: the parser records where every value, key and comma sits in the original
text, and edits are (start, end, replacement) splices. Everything we do not touch stays byte for byte
as it was.

Written by hand rather than taken from PyPI: the round-trip JSON5 libraries build a whitespace model
that is awkward to edit and slow on a multi-megabyte file, and the JSONC ones only strip comments.
Standard library only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JsoncError", "Node", "Member", "Edit", "parse", "apply_edits", "dumps", "location"]

_WS = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}


class JsoncError(ValueError):
    """Not valid JSON/JSONC; ``offset`` is where the parser gave up."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


def location(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of an offset."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


@dataclass
class Member:
    key: str
    key_start: int
    key_end: int
    value: "Node"
    comma: int | None = None  # offset of the comma that follows this member, if any


@dataclass
class Node:
    kind: str  # object, array, string, number, literal
    start: int
    end: int
    value: Any = None  # scalars only
    members: list[Member] = field(default_factory=list)  # objects
    items: list["Node"] = field(default_factory=list)  # arrays

    def get(self, key: str) -> Member | None:
        """The member named key (the last one, as JSON parsers do with duplicates)."""
        for m in reversed(self.members):
            if m.key == key:
                return m
        return None

    def text(self, source: str) -> str:
        return source[self.start:self.end]

    def py(self) -> Any:
        """The plain Python value."""
        if self.kind == "object":
            return {m.key: m.value.py() for m in self.members}
        if self.kind == "array":
            return [i.py() for i in self.items]
        return self.value


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.n = len(text)

    def ws(self, i: int) -> int:
        s = self.s
        while True:
            i = _WS.match(s, i).end()
            if s.startswith("//", i):
                nl = s.find("\n", i)
                i = self.n if nl < 0 else nl + 1
            elif s.startswith("/*", i):
                close = s.find("*/", i + 2)
                if close < 0:
                    raise JsoncError("unterminated /* comment", i)
                i = close + 2
            else:
                return i

    def value(self, i: int) -> Node:
        i = self.ws(i)
        if i >= self.n:
            raise JsoncError("unexpected end of file, expected a value", i)
        c = self.s[i]
        if c == "{":
            return self.obj(i)
        if c == "[":
            return self.arr(i)
        if c == '"':
            start = i
            key, i = self.string(i)
            return Node("string", start, i, key)
        m = _NUMBER.match(self.s, i)
        if m and m.end() > i:
            return Node("number", i, m.end(), json.loads(m.group()))
        for word, val in _LITERALS.items():
            if self.s.startswith(word, i):
                return Node("literal", i, i + len(word), val)
        raise JsoncError(f"unexpected character {c!r}, expected a value", i)

    def string(self, i: int) -> tuple[str, int]:
        m = _STRING.match(self.s, i)
        if not m:
            # find the offending spot for a precise location
            s, j = self.s, i + 1
            while j < self.n:
                c = s[j]
                if c == "\\":
                    if not re.match(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})', s[j:j + 6]):
                        raise JsoncError("invalid escape in string", j)
                    j += 6 if s[j + 1] == "u" else 2
                    continue
                if c == '"':  # pragma: no cover - the pattern would have matched
                    break
                if c < " ":
                    what = "unterminated string" if c in "\r\n" else f"control character {c!r} in string"
                    raise JsoncError(what, j)
                j += 1
            raise JsoncError("unterminated string", j)
        return json.loads(m.group()), m.end()

    def obj(self, i: int) -> Node:
        node = Node("object", i, i)
        i += 1
        while True:
            i = self.ws(i)
            if i >= self.n:
                raise JsoncError("unexpected end of file inside an object", i)
            if self.s[i] == "}":
                node.end = i + 1
                return node
            if node.members and node.members[-1].comma is None:
                raise JsoncError("expected ',' or '}'", i)
            if self.s[i] != '"':
                raise JsoncError("expected a property name in double quotes", i)
            key_start = i
            key, i = self.string(i)
            key_end = i
            i = self.ws(i)
            if i >= self.n or self.s[i] != ":":
                raise JsoncError("expected ':' after the property name", i)
            val = self.value(i + 1)
            member = Member(key, key_start, key_end, val)
            node.members.append(member)
            i = self.ws(val.end)
            if i < self.n and self.s[i] == ",":
                member.comma = i
                i += 1

    def arr(self, i: int) -> Node:
        node = Node("array", i, i)
        i += 1
        last_comma = True
        while True:
            i = self.ws(i)
            if i >= self.n:
                raise JsoncError("unexpected end of file inside an array", i)
            if self.s[i] == "]":
                node.end = i + 1
                return node
            if not last_comma:
                raise JsoncError("expected ',' or ']'", i)
            item = self.value(i)
            node.items.append(item)
            i = self.ws(item.end)
            last_comma = i < self.n and self.s[i] == ","
            if last_comma:
                i += 1


def parse(text: str) -> Node:
    """Parse JSON with comments and trailing commas; raise JsoncError with the offset of the problem."""
    p = _Parser(text)
    start = 1 if text.startswith("\ufeff") else 0
    node = p.value(start)
    end = p.ws(node.end)
    if end != len(text):
        raise JsoncError("unexpected text after the end of the document", end)
    return node


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Splice non-overlapping edits into text (an insertion at the end of a replaced span lands after it)."""
    out = text
    for e in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        out = out[:e.start] + e.text + out[e.end:]
    return out


def dumps(value: Any) -> str:
    """One value as compact JSON text, non-ASCII kept as typed (config files are UTF-8)."""
    return json.dumps(value, ensure_ascii=False)


# --- layout helpers used by the editors ------------------------------------------------------------

def line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def indent_before(text: str, pos: int) -> str | None:
    """The indentation of pos's line when only whitespace precedes pos on it, else None (inline)."""
    prefix = text[line_start(text, pos):pos]
    return prefix if prefix.strip(" \t") == "" else None


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def after_trailing_comment(text: str, pos: int) -> int:
    """pos, or the end of its line when only whitespace and a // comment follow pos on that line."""
    m = re.compile(r"[ \t]*(//[^\n]*)?").match(text, pos)
    end = m.end()
    if m.group(1) and (end == len(text) or text[end] == "\n"):
        return end - 1 if text[end - 1:end] == "\r" else end
    return pos


def render_array(text: str, old: Node | None, items: list[str]) -> str:
    """An array of already-rendered items, laid out like ``old`` (one per line if it was multi-line)."""
    if old is not None and old.items and "\n" in text[old.start:old.end]:
        item_indent = indent_before(text, old.items[0].start)
        close_indent = indent_before(text, old.end - 1)
        if item_indent is not None and close_indent is not None:
            nl = newline_of(text)
            return "[" + nl + ("," + nl).join(item_indent + i for i in items) + nl + close_indent + "]"
    return "[" + ", ".join(items) + "]"


def insert_member_after(text: str, obj: Node, after: Member, key: str, value_text: str) -> list[Edit]:
    """Edits that add ``"key": value`` right after the member ``after`` of ``obj``, in its layout."""
    indent = indent_before(text, after.key_start)
    sep = newline_of(text) + indent if indent is not None else " "
    new = f"{dumps(key)}: {value_text}"
    if after.comma is not None:
        at = after_trailing_comment(text, after.comma + 1) if indent is not None else after.comma + 1
        return [Edit(at, at, sep + new + ",")]
    at = after_trailing_comment(text, after.value.end) if indent is not None else after.value.end
    if at == after.value.end:
        return [Edit(at, at, "," + sep + new)]
    return [Edit(after.value.end, after.value.end, ","), Edit(at, at, sep + new)]


def delete_member(text: str, obj: Node, member: Member) -> list[Edit]:
    """Edits that remove a member and one separating comma."""
    idx = next(i for i, m in enumerate(obj.members) if m is member)
    if len(obj.members) == 1:
        return [Edit(obj.start + 1, obj.end - 1, "")]
    if idx > 0:
        return [Edit(obj.members[idx - 1].value.end, member.value.end, "")]
    return [Edit(member.key_start, obj.members[1].key_start, "")]
