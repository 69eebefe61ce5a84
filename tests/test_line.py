"""The hook-side view of a line: parsing, and the typed view matching the SDK's own exactly."""

import json

import mcp_types
from hypothesis import given, settings
from hypothesis import strategies as st

from omproxy_tui.proxy.line import _UNSET, Line, encode_replacement, parse_json, typed_message

values = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False) | \
    st.text(max_size=5) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2) | st.lists(st.integers(),
                                                                                                    max_size=2)
envelopes = st.fixed_dictionaries({}, optional={
    "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
    "id": values,
    "method": st.sampled_from(["ping", "tools/call"]) | values,
    "params": values,
    "result": values,
    "error": st.fixed_dictionaries({}, optional={"code": values, "message": values, "data": values}) | values,
    "extra": values,
})


def sdk(obj):
    try:
        return mcp_types.jsonrpc_message_adapter.validate_python(obj, by_name=False)
    except Exception as exc:  # noqa: BLE001
        return exc


@settings(max_examples=1500, deadline=None)
@given(envelopes)
def test_typed_view_is_what_the_sdk_makes_of_it(obj):
    ours, theirs = typed_message(obj), sdk(obj)
    assert type(ours) is type(theirs)
    if not isinstance(theirs, Exception):
        assert ours.model_dump_json(by_alias=True, exclude_unset=True) == \
            theirs.model_dump_json(by_alias=True, exclude_unset=True)
        assert ours.model_dump() == theirs.model_dump()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_parse_json_agrees_with_json_loads(raw):
    value, err = parse_json(raw)

    def refuse(name):  # RFC 8259 has no NaN/Infinity, Python's json does
        raise ValueError(name)

    try:
        expected = json.loads(raw.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        assert err is not None and value is None
    else:
        assert err is None and value == expected


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3)))
def test_non_recursive_scanner_agrees_with_json_loads(obj):
    from omproxy_tui.proxy.line import _scan_deep

    for text in (json.dumps(obj), json.dumps(obj, indent=1)):
        assert _scan_deep(" " + text + " ", 0) == (json.loads(text), len(text) + 1)


def test_parse_json_is_exactly_rfc_8259():
    """Issue 8 item 16: NaN/Infinity are refused; huge integers and deep nesting are valid JSON."""
    import decimal

    for bad in (b"NaN", b"[1,-Infinity]", b'{"a":Infinity}', b"[" * 2000 + b"NaN" + b"]" * 2000,
                b"[" * 2000 + b"]" * 1999, b"[1,]", b"01", b'"\x01"', rb'["\u12"]'):
        value, err = parse_json(bad)
        assert value is None and err, bad
    big = b"-" + b"9" * 5000
    assert parse_json(big) == (decimal.Decimal(big.decode()), None)
    assert parse_json(b"[" + big + b",1]")[0] == [decimal.Decimal(big.decode()), 1]
    deep, err = parse_json(b"[" * 5000 + b'{"a":[1]}' + b"]" * 5000)
    assert err is None
    for _ in range(5000):
        deep = deep[0]
    assert deep == {"a": [1]}


def test_batch_elements_are_exact_slices_and_empty_batch_is_the_line():
    line = Line(rb'[ {"id":1.0,"x":"\u00e9"} ,1e400,' + b'"\xc3\xa9",' + b"[" * 1500 + b"]" * 1500 + b" ]", "c2s")
    els = line.elements()
    assert [e.raw for e in els] == [rb'{"id":1.0,"x":"\u00e9"}', b"1e400", b'"\xc3\xa9"', b"[" * 1500 + b"]" * 1500]
    assert [e.element for e in els] == [0, 1, 2, 3]
    empty = Line(b"[]", "c2s")
    assert empty.elements() == [empty]
    assert isinstance(empty.message, Exception)


def test_batch_elements_and_lazy_parse():
    line = Line(b'[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]', "c2s")
    els = line.elements()
    assert [e.method for e in els] == ["a", "b"] and [e.element for e in els] == [0, 1]
    single = Line(b'{"jsonrpc":"2.0","id":1,"method":"a"}', "c2s")
    assert single.elements() == [single]
    assert single._json is _UNSET  # finding out it is not a batch did not parse it
    assert type(single.message).__name__ == "JSONRPCRequest"
    bad = Line(b"\xff", "s2c")
    assert isinstance(bad.message, ValueError) and "invalid UTF-8" in str(bad.message)


def test_encode_replacement_refuses_bad_values():
    import pytest

    assert encode_replacement({"a": 1}) == b'{"a":1}'
    assert encode_replacement('{"a": 1}\n') == b'{"a": 1}'
    with pytest.raises(ValueError):
        encode_replacement("{not json")
    with pytest.raises(ValueError):
        encode_replacement('{"a":\n1}')
    with pytest.raises(TypeError):
        encode_replacement(42)


def test_looks_like_json_shape_check():
    from omproxy_tui.proxy.line import looks_like_json

    assert looks_like_json(b'  {"a":1}\r\n') and looks_like_json(b"[1]\n")
    assert not looks_like_json(b"Server starting\n") and not looks_like_json(b" \n") and not looks_like_json(b"")
    assert not looks_like_json(b'{"unterminated": ')
