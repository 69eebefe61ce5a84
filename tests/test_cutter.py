"""The one line cutter shared by the stdio relay and the remote legs (issue 7 item 6)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from omproxy_tui.proxy.cutter import LineCutter


def split_lines(data: bytes) -> list[bytes]:
    """Lines ending in b"\n" only (bytes.splitlines also cuts at \r, \x0b, ...)."""
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=8),
       st.booleans(), st.lists(st.integers(0, 200), max_size=12))
def test_any_chunking_gives_the_same_lines(pieces, trailing, cuts):
    data = b"\n".join(pieces) + (b"\n" if trailing and pieces else b"")
    expected = split_lines(data)
    last = b"" if not expected or expected[-1].endswith(b"\n") else expected.pop()
    for form in ("lines", "feed"):
        cutter = LineCutter()
        got = []
        for chunk in chunked(data, cuts):
            if form == "lines":
                got += cutter.lines(chunk)
            else:
                first, block, single = cutter.feed(chunk)
                if first is not None:
                    got.append(first)
                if block is not None:
                    lines = split_lines(block)
                    assert block.endswith(b"\n") and single == (len(lines) == 1)
                    got += lines
        assert got == expected
        assert cutter.finish() == last and not cutter.pending


def test_a_chunk_that_is_exactly_one_line_is_not_copied():
    chunk = b'{"jsonrpc":"2.0","id":1,"result":{}}\n'
    assert LineCutter().feed(chunk) == (None, chunk, True)
    assert LineCutter().feed(chunk)[1] is chunk


def test_a_long_line_is_read_in_big_gulps():
    cutter = LineCutter()
    small = cutter.read_size()
    assert cutter.lines(b"x" * 10) == []
    assert cutter.pending and cutter.read_size() > small
    assert cutter.lines(b"y\nz") == [b"x" * 10 + b"y\n"]
    assert cutter.finish() == b"z"
