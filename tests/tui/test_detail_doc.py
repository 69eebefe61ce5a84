"""The detail pane's document model (no Textual): bracket pairing, folds, search."""

from __future__ import annotations

import json

from omproxy_tui.tui import detail_doc
from omproxy_tui.tui.detail_doc import JSON, NOTE, Doc, find_matches
from omproxy_tui.tui.jsonfmt import indent_prefix


def doc_of(obj) -> Doc:
    doc = Doc()
    doc.add(["a note"], NOTE)
    doc.add(json.dumps(obj, indent=2).splitlines(), JSON)
    return doc


def test_brackets_pair_and_folds_hide_ranges():
    doc = doc_of({"a": 1, "b": {"c": [1, 2, {"x": "y{"}], "d": {}}, "e": []})
    lines = doc.lines
    b = lines.index('  "b": {')
    c = lines.index('    "c": [')
    assert lines[doc.closer[b]].strip() == "},"
    assert lines[doc.closer[c]].strip() == "],"
    assert not doc.foldable(lines.index('    "d": {}'))  # empty containers are one line
    assert doc.parent[doc.closer[c]] == c  # a closer folds with its opener
    doc.fold(c)
    assert c in doc.visible() and doc.closer[c] not in doc.visible()
    assert doc.fold_suffix(c) == "…],  5 lines"  # 1, 2, {, "x": …, }
    doc.fold_all()
    root = lines.index("{")
    assert root not in doc.folded and {b, c} <= doc.folded
    assert [lines[i].strip() for i in doc.visible()] == ["a note", "{", '"a": 1,', '"b": {', '"e": []', "}"]
    x = next(i for i, line in enumerate(lines) if '"x"' in line)
    doc.reveal(x)
    assert x in doc.visible()
    doc.unfold_all()
    assert doc.visible() == list(range(len(lines)))


def test_a_truncated_prefix_folds_to_its_end():
    text = indent_prefix(json.dumps({"a": {"b": list(range(1000))}}), limit=200)
    doc = Doc()
    doc.add(text.split("\n"), JSON)
    a = doc.lines.index('  "a": {')
    assert doc.closer[a] == len(doc.lines) - 1 and doc.fold(a)
    assert doc.visible()[-1] == a


def test_search_is_smart_case_and_finds_matches_across_slices(monkeypatch):
    lines = ["Echo echo ECHO", "nothing", "echo"]
    assert find_matches(lines, "echo") == [(0, 0, 4), (0, 5, 9), (0, 10, 14), (2, 0, 4)]
    assert find_matches(lines, "Echo") == [(0, 0, 4)]
    assert find_matches(lines, "") == []
    monkeypatch.setattr(detail_doc, "SCAN_SLICE", 8)
    long = "xxxxxxneedlexxxxxxxneedle"  # the first match straddles the 8-character slices
    assert find_matches([long], "needle") == [(0, 6, 12), (0, 19, 25)]
    assert find_matches([long * 100], "needle", limit=3) == [(0, 6, 12), (0, 19, 25), (0, 31, 37)]
    assert find_matches(["z" * 100], "q", cancelled=lambda: True) is None
