"""filters.py: parser (valid/invalid, exact messages), str() round trip, matching, HELP, fuzzing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omproxy_tui.core import filters as F
from omproxy_tui.core.filters import HELP, OPERATORS, FilterError, parse, suggest
from omproxy_tui.core.records import record_from_line
from omproxy_tui.core.store import Store

# ---- parsing: valid expressions and their normalised str() -------------------------------------

VALID = [
    ("~m tools/call", "~m tools/call"),
    ("~m    tools/call  ", "~m tools/call"),
    ("~q", "~q"),
    ("~q ~m ping", "~q & ~m ping"),  # juxtaposition = AND
    ("~q&~n", "~q & ~n"),
    ("~q|~n", "~q | ~n"),
    ("~q~n", "~q & ~n"),
    ("~q | ~n & ~e", "~q | ~n & ~e"),  # & binds tighter
    ("(~q | ~n) & ~e", "(~q | ~n) & ~e"),
    ("!~q", "!~q"),
    ("! ~q", "!~q"),
    ("!!~q", "!!~q"),
    ("!(~q & ~e)", "!(~q & ~e)"),
    ("!(~q)", "!~q"),
    ("((~q))", "~q"),
    ("~m tools/(call|list)", "~m tools/(call|list)"),
    ("(~m ping)", "~m ping"),
    ("(~m (a|b))", "~m (a|b)"),
    ('~m "tools/call"', "~m tools/call"),
    ("~m 'a b'", '~m "a b"'),
    ('~b "say \\"hi\\""', '~b "say \\"hi\\""'),
    ('~b "\\d+ ms"', '~b "\\d+ ms"'),  # unknown escapes are kept: regexes need no doubling
    ("~b \\d+", "~b \\d+"),
    ('~b "~x"', '~b "~x"'),
    ("~tool echo", "~tool echo"),
    ("~s proxy-1", "~s proxy-1"),
    ("~id 7", "~id 7"),
    ('~id "a b"', '~id "a b"'),
    ("~slow 250", "~slow 250"),
    ("~slow 0.5", "~slow 0.5"),
    ("~d c2s", "~d c2s"),
    ("~d S2C", "~d s2c"),
    ("~c2s | ~s2c", "~c2s | ~s2c"),
    ("~pending ~held ~injected ~changed ~all", "~pending & ~held & ~injected & ~changed & ~all"),
    ("~status held", "~status held"),
    ("~kind batch", "~kind batch"),
    ("~size 10k", "~size 10k"),
    ("timeout", "timeout"),
    ("foo bar", "foo & bar"),
    ("foo|bar", "foo|bar"),  # inside a word | is regex alternation
    ("foo | bar", "foo | bar"),
    ('"two words"', '"two words"'),
    ("'~not an op'", '"~not an op"'),
    ('"[(]" ~q', '"[(]" & ~q'),  # an unbalanced paren in a word must stay quoted
    ('"\\(" ~q', "\\( & ~q"),
    ("a & (b | c) & !d", "a & (b | c) & !d"),
    ("(a | b) | c", "a | b | c"),  # nested ORs are flattened
    ("!(~q & ~id '(')", '!(~q & ~id "(")'),  # found by hypothesis: "(" must be quoted
    ("!(~q & ~id '\\\\')", '!(~q & ~id "\\\\")'),  # found by hypothesis: so must a trailing backslash
]


@pytest.mark.parametrize("expr, text", VALID)
def test_parse_valid(expr, text):
    f = parse(expr)
    assert f.pattern == expr
    assert str(f) == text
    again = parse(str(f))
    assert str(again) == text


# ---- parsing: invalid expressions and their exact messages -------------------------------------

KNOWN = ", ".join("~" + c.code for c in OPERATORS)

INVALID = [
    ("", "empty filter expression", 1),
    ("   ", "empty filter expression", 1),
    ("~m", "~m: expects an argument (at column 3)", 3),
    ("~m   ", "~m: expects an argument (at column 6)", 6),
    ("~q ~m", "~m: expects an argument (at column 6)", 6),
    ("~m ~q", "~m: expects an argument (at column 4)", 4),
    ("(~m)", "~m: expects an argument (at column 4)", 4),
    ("~m |", "~m: expects an argument (at column 4)", 4),
    ("(~q", "unbalanced parenthesis: '(' at column 1 is never closed", 1),
    ("(", "unbalanced parenthesis: '(' at column 1 is never closed", 1),
    ("~q (~n | (~e)", "unbalanced parenthesis: '(' at column 4 is never closed", 4),
    ("~q)", "unbalanced parenthesis: unexpected ')' (at column 3)", 3),
    (")", "unbalanced parenthesis: unexpected ')' (at column 1)", 1),
    ("()", "empty parentheses (at column 2)", 2),
    ("~zz", f"unknown operator ~zz at column 1 (known: {KNOWN})", 1),
    ("~q ~mm x", f"unknown operator ~mm at column 4; did you mean ~m? (known: {KNOWN})", 4),
    ("~", "expected an operator name after '~' (at column 1)", 1),
    ("~q-x", "unexpected '-' after ~q (it takes no argument) (at column 3)", 3),
    ("!", "'!' needs an expression after it (at column 2)", 2),
    ("~q !", "'!' needs an expression after it (at column 5)", 5),
    ("~q &", "'&' needs an expression on its right (at column 5)", 5),
    ("~q & | ~n", "'&' needs an expression on its right (at column 6)", 6),
    ("~q |", "'|' needs an expression on its right (at column 5)", 5),
    ("| ~q", "'|' needs an expression on its left (at column 1)", 1),
    ("& ~q", "'&' needs an expression on its left (at column 1)", 1),
    ('"abc', "unterminated quoted string (at column 1)", 1),
    ("~m 'abc", "unterminated quoted string (at column 4)", 4),
    ("~m a(", "~m: invalid regular expression 'a(': missing ), unterminated subpattern (at column 4)", 4),
    ("~tool '['", "~tool: invalid regular expression '[': unterminated character set (at column 7)", 7),
    ("a(", "bare word: invalid regular expression 'a(': missing ), unterminated subpattern (at column 1)", 1),
    ("~slow fast", "~slow: expects a number of milliseconds, got 'fast' (at column 7)", 7),
    ("~slow -1", "~slow: expects a number of milliseconds, got '-1' (at column 7)", 7),
    ("~d up", "~d: expects c2s or s2c, got 'up' (at column 4)", 4),
    ("~size lots", "~size: expects a size in bytes like 2048 or 100k, got 'lots' (at column 7)", 7),
    ("(" * 70 + "~q" + ")" * 70, "expression nested too deeply (more than 64 levels) (at column 65)", 65),
    ("!" * 70 + "~q", "expression nested too deeply (more than 64 levels) (at column 65)", 65),
]


@pytest.mark.parametrize("expr, message, column", INVALID)
def test_parse_invalid(expr, message, column):
    with pytest.raises(FilterError) as info:
        parse(expr)
    assert str(info.value) == message
    assert info.value.column == column
    assert isinstance(info.value, ValueError)


def test_non_string_is_a_filter_error():
    with pytest.raises(FilterError):
        parse(None)  # type: ignore[arg-type]


# ---- HELP ---------------------------------------------------------------------------------------


def test_help_lists_every_operator_class():
    heads = [syntax.split()[0] for syntax, _ in HELP]
    for cls in OPERATORS:
        assert "~" + cls.code in heads, cls
        assert cls.help
    # every operator class defined in the module is registered
    defined = {
        obj
        for obj in vars(F).values()
        if isinstance(obj, type) and issubclass(obj, F.Filter) and getattr(obj, "code", "") and obj is not F.FBare
    }
    assert defined == set(OPERATORS)
    for needed in ("!", "&", "|", "( )"):
        assert needed in heads or needed in [s for s, _ in HELP]
    assert ("~m RE", OPERATORS[0].help) == HELP[0]
    assert len({c.code for c in OPERATORS}) == len(OPERATORS)


# ---- matching -----------------------------------------------------------------------------------


def build_store() -> Store:
    s = Store()

    def add(dir, obj, t, session="alpha", **flags):
        rec = record_from_line(obj if isinstance(obj, str) else json.dumps(obj), dir, session=session, t=t)
        for k, v in flags.items():
            setattr(rec, k, v)
        s.add(rec)

    add("c2s", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "Hello"}}}, 0.0)  # 0
    add("s2c", {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "Hello"}]}}, 0.02)  # 1
    add("c2s", {"jsonrpc": "2.0", "id": "2", "method": "tools/call", "params": {"name": "fail"}}, 1.0)  # 2
    add("s2c", {"jsonrpc": "2.0", "id": "2", "result": {"content": [], "isError": True}}, 1.9)  # 3
    add("c2s", {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "file:///x"}}, 2.0)  # 4 pending
    add("s2c", {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "TIMEOUT soon"}}, 2.1)  # 5
    add("s2c", {"jsonrpc": "2.0", "id": 9, "error": {"code": -1, "message": "nope"}}, 2.2)  # 6 orphan error
    add("s2c", "banner text", 2.3, status="blocked")  # 7 invalid
    add("c2s", [{"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "batched"}}], 2.4, session="beta")  # 8
    add("c2s", {"jsonrpc": "2.0", "id": 11, "method": "ping"}, 2.5, session="beta", held=True, status="held")  # 9
    add("s2c", {"jsonrpc": "2.0", "id": 12, "method": "roots/list"}, 2.6, session="beta", injected=True, changed=True)  # 10
    add("c2s", {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}, 2.7)  # 11
    return s


STORE = build_store()

MATCHES = [
    ("~all", list(range(12))),
    ("~q", [0, 2, 4, 8, 9, 10]),
    ("~r", [1, 3, 6]),
    ("~n", [5, 11]),
    ("~e", [3, 6, 7]),
    ("~c2s", [0, 2, 4, 8, 9, 11]),
    ("~d c2s", [0, 2, 4, 8, 9, 11]),
    ("~s2c", [1, 3, 5, 6, 7, 10]),
    ("~m tools/call", [0, 1, 2, 3, 8]),  # responses carry the method; the batch is looked into
    ("~m ^TOOLS/CALL$", [0, 1, 2, 3, 8]),  # case-insensitive
    ("~m notifications", [5, 11]),
    ("~tool echo", [0, 1]),
    ("~tool ^(fail|batched)$", [2, 3, 8]),
    ("~tool file://", [4, 11]),  # the cancel inherits its request's target
    ("~s beta", [8, 9, 10]),
    ("~id 1", [0, 1]),
    ("~id 2", [2, 3]),  # "2" as text
    ("~id 3", [4, 11]),  # the cancellation names request 3
    ("~id 10", [8]),
    ("~id null", []),
    ("~slow 500", [2, 3]),
    ("~slow 10", [0, 1, 2, 3]),
    ("~pending", [8, 9, 10]),  # 4 was cancelled
    ("~held", [9]),
    ("~injected", [10]),
    ("~changed", [10]),
    ("~status blocked", [7]),
    ("~kind ^batch$", [8]),
    ("~size 200", []),
    ("~b Hello", [0, 1]),
    ("~b hello", []),  # ~b is case-sensitive
    ("hello", [0, 1]),  # bare words are not
    ("timeout", [5]),
    ("TIME.UT", [5]),  # bare words are regexes
    ("banner", [7]),
    ("~q ~s2c", [10]),
    ("~q & !~pending", [0, 2, 4]),
    ("~r | ~n", [1, 3, 5, 6, 11]),
    ("!(~r | ~n) ~c2s", [0, 2, 4, 8, 9]),
]


@pytest.mark.parametrize("expr, expected", MATCHES)
def test_matching(expr, expected):
    f = parse(expr)
    assert [r.index for r in STORE if f(r)] == expected


def test_matching_is_stable_over_str_round_trip():
    for expr, expected in MATCHES:
        g = parse(str(parse(expr)))
        assert [r.index for r in STORE if g(r)] == expected, expr


def test_regex_memo_does_not_change_answers():
    f = parse("~m ^tools/")
    for _ in range(3):
        assert [r.index for r in STORE if f(r)] == [0, 1, 2, 3, 8]
    assert f.memo == {"tools/call": True, "resources/read": False, "notifications/message": False,
                      "ping": False, "roots/list": False, "notifications/cancelled": False}


def test_body_literal_fast_path_matches_regex_semantics():
    lit = parse("~b Hello")
    assert lit.literal == "Hello"
    bare = parse("HELLO")
    assert bare.literal == "hello"
    rx = parse("~b Hel+o")
    assert rx.literal is None
    for r in STORE:
        assert lit(r) == (lit.re.search(r.raw) is not None)
        assert bare(r) == (bare.re.search(r.raw) is not None)


def test_intercept_usage_on_single_line():
    # what the proxy does: compile once, evaluate per line without a store
    f = parse("~q ~m tools/call ~tool ^danger")
    assert f(record_from_line('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"danger_rm"}}', "c2s"))
    assert not f(record_from_line('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe"}}', "c2s"))
    assert parse("~pending")(record_from_line('{"jsonrpc":"2.0","id":1,"method":"ping"}', "c2s"))


# ---- str() round trip of generated ASTs --------------------------------------------------------

arg_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
simple_rex = st.sampled_from(
    ["ping", "tools/call", "a|b", "(x)", "\\d+", "a b", "~q", "!x", "'", '"', "\\\\", "a\\\\", "&", "\\)\\(", "[)(]", "\\'"]
)


@st.composite
def leaves(draw):
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return F._BY_CODE[draw(st.sampled_from([c.code for c in OPERATORS if c.arg is None]))]()
    if choice == 1:
        cls = draw(st.sampled_from([F.FMethod, F.FTool, F.FSession, F.FBody, F.FStatus, F.FKind]))
        return cls(draw(simple_rex))
    if choice == 2:
        return F.FBare(draw(simple_rex))
    if choice == 3:
        return F.FId(draw(arg_text))
    if choice == 4:
        return F.FSlow(str(draw(st.integers(0, 5000))))
    return F.FDir(draw(st.sampled_from(["c2s", "s2c"])))


asts = st.recursive(
    leaves(),
    lambda c: st.one_of(
        c.map(F.FNot),
        st.lists(c, min_size=2, max_size=3).map(F.FAnd),
        st.lists(c, min_size=2, max_size=3).map(F.FOr),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(asts)
def test_str_round_trip_of_generated_filters(f):
    text = str(f)
    g = parse(text)
    assert str(g) == text
    # and the meaning survives: same answers on the sample store
    assert [f(r) for r in STORE] == [g(r) for r in STORE]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=10))
def test_arguments_of_any_text_round_trip(text):
    f = F.FId(text)
    g = parse(str(f))
    assert isinstance(g, F.FId) and g.value == text


# ---- fuzzing: parse never raises anything but FilterError -------------------------------------

tokens = st.sampled_from(
    ["~m", "~q", "~r", "~tool", "~id", "~slow", "~d", "~zz", "~", "!", "&", "|", "(", ")", '"', "'", "\\",
     " ", "a", "[", "*", "c2s", "12", "(?", "{9999999999}", "\t", "é"]
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(tokens, max_size=25).map("".join)))
def test_parse_never_raises_anything_but_filter_error(expr):
    try:
        f = parse(expr)
    except FilterError as exc:
        assert exc.message
        assert exc.column is None or 1 <= exc.column <= len(expr) + 1
        return
    # a valid filter is callable on any record and prints re-parseably
    for r in STORE:
        assert f(r) in (True, False)
    assert str(parse(str(f))) == str(f)


# ---- suggest ------------------------------------------------------------------------------------

METHODS = ["tools/call", "tools/list", "ping", "prompts/get"]
TOOLS = ["echo", "add two", "edit"]


@pytest.mark.parametrize(
    "prefix, expected",
    [
        ("~m to", ["~m tools/call", "~m tools/list"]),
        ("~q ~m p", ["~q ~m ping", "~q ~m prompts/get"]),
        ("~m ", ["~m ping", "~m tools/call", "~m tools/list", "~m prompts/get"]),
        ("~tool e", ["~tool echo", "~tool edit"]),
        ("~tool a", []),  # the only candidate needs quotes the user has not typed
        ('~tool "a', ['~tool "add two"']),
        ("~d ", ["~d c2s", "~d s2c"]),
        ("~to", ["~tool "]),
        ("~q (~to", ["~q (~tool "]),
        ("!~pe", ["!~pending"]),
        ("~s", ["~s ", "~s2c", "~size ", "~slow ", "~status "]),
        ("~m tools/call", []),
        ("hello", []),
        ("", []),
    ],
)
def test_suggest(prefix, expected):
    got = suggest(prefix, METHODS, TOOLS)
    assert got == expected
    assert all(g.startswith(prefix) for g in got)


# ---- Filter.select (column-at-a-time evaluation) agrees with per-record evaluation ---------------


def _select_store() -> Store:
    s = build_store()
    extra = [
        ("s2c", [{"jsonrpc": "2.0", "id": 10, "result": {}}, {"jsonrpc": "2.0", "id": 99, "error": {"code": 1, "message": "x"}}]),
        ("s2c", {"jsonrpc": "2.0", "id": 77, "result": {"content": []}}),  # orphan: method None
        ("c2s", {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "Ünïcode", "arguments": {"q": "İstanbul 99 ms"}}}),
        ("s2c", {"jsonrpc": "2.0", "id": 5, "result": {"content": [{"type": "text", "text": "query number 99"}]}}),
        ("c2s", [{"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}}]),
        ("c2s", "not json { at all"),
    ]
    for n, (d, obj) in enumerate(extra):
        raw = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
        s.add(record_from_line(raw, d, session="gamma" if n % 2 else "alpha", t=3.0 + n * 0.3))
    return s


SELECT_STORE = _select_store()


def _check_select(f):
    recs = SELECT_STORE.records
    n = len(recs)
    for rows in (range(n), range(3, n - 2), [0, 1, 3, 7, 8, 12, 13, 15, n - 1], []):
        assert f.select(recs, rows) == [i for i in rows if f(recs[i])], (str(f), rows)


@pytest.mark.parametrize("expr, expected", MATCHES)
def test_select_matches_per_record(expr, expected):
    f = parse(expr)
    assert f.select(STORE.records, range(len(STORE))) == expected
    _check_select(f)


@pytest.mark.parametrize("expr", ["query number 99", "99 MS", "istanbul", "~tool ünïcode", "~e | ~m ^tools & ~slow 100",
                                  "!~m tools & !~e", "~r ~b result", "~s gamma | ~id 99", "~size 80", "~pending | ~held"])
def test_select_edge_cases(expr):
    _check_select(parse(expr))


def test_session_scope_filter():
    f = F.FAnd([F.FSessionIs("beta"), parse("~q")])
    _check_select(f)
    assert f.select(STORE.records, range(len(STORE))) == [8, 9, 10]


@settings(max_examples=300, deadline=None)
@given(asts)
def test_select_agrees_with_call_on_generated_filters(f):
    _check_select(f)
