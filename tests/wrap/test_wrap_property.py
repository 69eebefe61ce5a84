"""Property: for any server table in any layout (indentation, tabs, CRLF, comments, trailing commas,
escapes, non-ASCII), wrap then unwrap gives back the file byte for byte, the wrapped file parses
with every server wrapped, and unwrapping without the journal gives back the same values."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omproxy_tui.wrap.clients import custom_file
from omproxy_tui.wrap.journal import Journal
from omproxy_tui.wrap.jsonc import parse
from omproxy_tui.wrap.plan import apply, plan_file

text_st = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
stdio_entry = st.fixed_dictionaries(
    {"command": text_st},
    optional={"args": st.lists(text_st, min_size=1, max_size=4), "env": st.dictionaries(text_st, text_st, max_size=2),
              "type": st.just("stdio"), "disabled": st.booleans(), "cwd": text_st})
remote_entry = st.fixed_dictionaries(
    {"url": st.sampled_from(["https://h.example/mcp", "http://127.0.0.1:9/sse"])},
    optional={"headers": st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True),
                                         text_st.filter(lambda v: v == v.strip()), max_size=2),
              "type": st.sampled_from(["http", "sse"])})
docs = st.fixed_dictionaries({
    "mcpServers": st.dictionaries(text_st, st.one_of(stdio_entry, remote_entry), min_size=1, max_size=4)},
    optional={"other": st.dictionaries(text_st, st.integers(), max_size=2)})


def norm(doc):
    """Empty headers come back absent from a rebuild: only the journal knows they were written."""
    doc = json.loads(json.dumps(doc))
    for e in doc["mcpServers"].values():
        if e.get("headers") == {}:
            del e["headers"]
    return doc


def render(doc, indent, crlf, ascii_, comment, trailing):
    text = json.dumps(doc, indent=indent, ensure_ascii=ascii_)
    if comment:
        text = "// servers\n" + text.replace('"mcpServers": {', '"mcpServers": { /* c */', 1)
    if trailing and indent is not None:
        text = text.replace("\n}", ",\n}")  # a trailing comma after every object's last member
    if crlf:
        text = text.replace("\n", "\r\n")
    return text + ("\r\n" if crlf else "\n")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(doc=docs, indent=st.sampled_from([None, 1, 2, 4, "\t"]), crlf=st.booleans(), ascii_=st.booleans(),
       comment=st.booleans(), trailing=st.booleans())
def test_wrap_unwrap_round_trip(tmp_path_factory, doc, indent, crlf, ascii_, comment, trailing):
    d = tmp_path_factory.mktemp("p")
    f = d / "mcp.json"
    original = render(doc, indent, crlf, ascii_, comment, trailing)
    assert parse(original).py() == doc
    f.write_bytes(original.encode())
    journal = Journal(d / "journal.json")
    cfg = custom_file(f)

    plan = plan_file(cfg, "wrap", journal=journal, launcher=["omproxy"])
    assert plan.error is None
    apply([plan], journal)
    wrapped = parse(f.read_bytes().decode("utf-8")).py()
    assert wrapped.get("other") == doc.get("other")
    for key, entry in doc["mcpServers"].items():
        new = wrapped["mcpServers"][key]
        assert new["command"] == "omproxy"
        kind = "stdio" if "command" in entry else entry.get("type") or ("sse" if entry["url"].endswith("/sse") else "http")
        assert new["args"][:4] == [kind, "--inspect", "--name", key]
        if "command" in entry:
            assert new["args"][new["args"].index("--") + 1:] == [entry["command"], *entry.get("args", [])]
    if crlf:
        assert b"\n" not in f.read_bytes().replace(b"\r\n", b"")

    again = plan_file(cfg, "wrap", journal=journal, launcher=["omproxy"])
    assert not again.changed

    # without the journal: rebuilt to the same values
    rebuilt = plan_file(cfg, "unwrap", journal=Journal(d / "none.json"))
    assert rebuilt.error is None
    assert norm(parse(rebuilt.new_text).py()) == norm(doc)

    # with it: byte for byte
    plan = plan_file(cfg, "unwrap", journal=journal)
    apply([plan], journal)
    assert f.read_bytes() == original.encode()
