"""The memory budget for message bodies: spooling, reading back, searching, cleaning up."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omproxy_tui.core import spool as spool_mod
from omproxy_tui.core.export import export_jsonl, load_jsonl
from omproxy_tui.core.filters import parse
from omproxy_tui.core.spool import BodySpool, FileSpool, is_spooled, parse_size
from omproxy_tui.core.store import Store
from omproxy_tui.core.view import FilteredView
from omproxy_tui.protocol.builder import FrameBuilder
from omproxy_tui.protocol.recording import RecordingReader, write_recording

ROOT = Path(__file__).resolve().parents[2]


def frames(bodies: list[str]) -> list[dict]:
    """One ``tools/call`` request per body (the body is the argument) and its response."""
    b = FrameBuilder(1000.0, session="s")
    for i, body in enumerate(bodies):
        b.message("c2s", {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                          "params": {"name": f"t{i % 3}", "arguments": {"text": body}}})
        b.message("s2c", {"jsonrpc": "2.0", "id": i, "result": {"content": [{"type": "text", "text": body[::-1]}]}},
                  dt=0.001)
    return b.frames


def fill(store: Store, fs: list[dict]) -> Store:
    for f in fs:
        store.add_frame(dict(f), "s")
    return store


def test_parse_size():
    assert parse_size("256m") == 256 * 1024**2
    assert parse_size("512K") == 512 * 1024
    assert parse_size("2g") == 2 * 1024**3
    assert parse_size("1.5m") == int(1.5 * 1024**2)
    assert parse_size("1000") == 1000
    assert parse_size("64MiB") == 64 * 1024**2
    for bad in ("", "m", "12x", "-1m", "1 2"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)


def test_body_spool_round_trips_byte_exact_and_is_private(tmp_path):
    sp = BodySpool(str(tmp_path))
    try:
        # the file is 0600 and already unlinked: only our descriptor keeps it
        assert stat.S_IMODE(os.fstat(sp.fd).st_mode) == 0o600
        assert not os.path.exists(sp.path)
        assert list(tmp_path.iterdir()) == []
        bodies = ["", "plain", "ünïcødé ✓ 🎉", "lone surrogate \udc80 kept", "x" * 3_000_000, '{"a":"\\n"}']
        tokens = sp.append(bodies)
        for body, token in reversed(list(zip(bodies, tokens))):  # any order, several times
            assert sp.body(token) == body
            assert sp.body(token) == body
    finally:
        sp.close()
    sp.close()  # idempotent


def test_store_spools_the_oldest_bodies_first_and_stays_within_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bodies = [f"{i:04d}-" + "y" * 2000 for i in range(200)]
    fs = frames(bodies)
    plain = fill(Store(max_memory=10**9), fs)
    budget = 100_000
    store = fill(Store(max_memory=budget), fs)
    try:
        assert store.body_bytes <= budget
        flags = [is_spooled(r) for r in store]
        assert any(flags) and not all(flags)
        # oldest first: every spooled record comes before every record still in memory
        first_kept = flags.index(False)
        assert not any(flags[first_kept:])
        assert all(flags[:first_kept])
        # everything reads back exactly, index fields and summaries unchanged
        for a, b in zip(plain, store):
            assert b.raw == a.raw
            assert (b.method, b.tool, b.id, b.kind, b.size, b.pair, b.latency, b.summary) == (
                a.method, a.tool, a.id, a.kind, a.size, a.pair, a.latency, a.summary)
        assert store.records.spool_of(0) is store.spool and store.records.spool_of(len(store) - 1) is None
        assert store.spool is not None and list((tmp_path / "omproxy").iterdir()) == []
    finally:
        store.close()


def test_open_recording_reads_big_bodies_from_the_file_from_the_start(tmp_path):
    """Opening a recording never holds a big body (>= SUMMARY_EAGER) in memory, whatever the
    budget: its summary is built with the record and its body read from the file on demand."""
    from omproxy_tui.core.records import SUMMARY_EAGER

    bodies = ["small"] * 3 + [f"big {i} " + "w" * 6000 for i in range(5)]
    path = tmp_path / "rec.jsonl"
    write_recording(frames(bodies), path)
    plain = Store(max_memory=10**9)
    load_jsonl(path, plain, "s")
    store = Store(max_memory=10**9)
    for frame in RecordingReader(path, offsets=True):
        store.add_frame(frame, "s")
    flags = [is_spooled(r) for r in store]
    assert flags == [len(r.raw) >= SUMMARY_EAGER for r in plain] and any(flags) and not all(flags)
    assert store.body_bytes < 8 * 1000
    for a, b in zip(plain, store):
        assert (b.raw, b.summary, b.pair, b.method, b.tool) == (a.raw, a.summary, a.pair, a.method, a.tool)
    store.close()


def test_budget_zero_spools_everything_and_pairing_still_works(tmp_path):
    store = fill(Store(max_memory=0), frames(["a", "b", "c"]))
    assert all(is_spooled(r) for r in store)
    assert store.pending_count == 0
    assert [r.pair for r in store] == [1, 0, 3, 2, 5, 4]
    assert json.loads(store[5].raw)["result"]["content"][0]["text"] == "c"
    store.close()


def test_open_recording_is_its_own_spool(tmp_path):
    bodies = [f"body {i} " + "z" * 5000 for i in range(20)]
    path = tmp_path / "rec.jsonl"
    write_recording(frames(bodies), path)
    plain = Store(max_memory=10**9)
    load_jsonl(path, plain, "s")
    store = Store(max_memory=0)
    for frame in RecordingReader(path, offsets=True):
        store.add_frame(frame, "s")
    assert all(is_spooled(r) for r in store)
    assert store.spool is None  # nothing copied: the recording is the spool
    assert {type(store.records.spool_of(r.index)) for r in store} == {FileSpool}
    assert store.records.spool_of(0).path == str(path)
    for a, b in zip(plain, store):
        assert b.raw == a.raw and b.summary == a.summary
    # the token is the frame line's offset and length in the file
    data = path.read_bytes()
    token = store.records.token_of(3)
    line = data[token >> 32 : (token >> 32) + (token & 0xFFFFFFFF)]
    assert json.loads(line)["raw"] == store[3].raw


def test_export_reads_spooled_bodies(tmp_path):
    bodies = ["é" * 100, "q" * 10_000, 'quote " and backslash \\ and \u2028']
    fs = frames(bodies)
    store = fill(Store(max_memory=0), fs)
    out = tmp_path / "out.jsonl"
    assert export_jsonl(store, out) == len(fs)
    again = Store()
    load_jsonl(out, again)
    assert [r.raw for r in again] == [f["raw"] for f in fs]
    store.close()


# ---- raw-text search over spooled bodies -------------------------------------------------------

EXPRS = ["needle", "NEEDLE", "~b needle", "~b Needle", "~b ne+dle", "ne.dle", '"a b"', "~b ^\\{", "}$",
         "kelvin", "~b \\\\", '~b "\\""', "ü", "~m tools/call & needle", "!needle", "needle | ~b zz", "tools/call",
         "~b <&>", "~b é", "x{3}", "need-le", "~b ne+dle\\b", "~b (a|b)needle", "kel+vin", "~b \\bneedle$"]


def _same_views(bodies: list[str], tmp_path: Path, ascii_file: bool = False) -> None:
    fs = frames(bodies)
    plain = fill(Store(max_memory=10**9), fs)
    spooled = fill(Store(max_memory=300), fs)
    path = tmp_path / "h.jsonl"
    if ascii_file:  # another writer: everything but ASCII escaped (json.dumps' default)
        path.write_text("".join(json.dumps(f) + "\n" for f in fs))
    else:
        write_recording(fs, path)
    opened = Store(max_memory=0)
    for frame in RecordingReader(path, offsets=True):
        opened.add_frame(frame, "s")
    for expr in EXPRS:
        f = parse(expr)
        want = FilteredView(plain, f).indices
        assert FilteredView(spooled, f).indices == want, expr
        assert FilteredView(opened, f).indices == want, expr
        # the one-record path (live re-checks, intercept rules) agrees too
        assert [i for i in range(len(spooled)) if f(spooled[i])] == want, expr
    spooled.close()


_alphabet = st.sampled_from(list("needleNEEDLE abz{}\\\"<&>/ \u212a\u00fc\u00e9\n\t\u2028x") + ["\udc80"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(_alphabet, max_size=60), min_size=1, max_size=12))
def test_raw_search_over_spooled_bodies_finds_what_memory_finds(tmp_path, bodies):
    _same_views(bodies, tmp_path)


def test_raw_search_spans_many_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_mod, "BLOCK", 4096)  # many blocks, bodies bigger than a block too
    bodies = [("needle " if i % 7 == 0 else "") + "k" * (i * 300) + ("NEEDLE" if i % 5 == 0 else "") for i in range(60)]
    _same_views(bodies, tmp_path)


def test_raw_search_in_a_recording_with_escaped_text(tmp_path):
    _same_views(["caf\u00e9", "tab\there", "\u00fc", "plain", "é needle"], tmp_path, ascii_file=True)


def test_raw_search_folds_case_like_memory_does(tmp_path):
    # str.lower() folds KELVIN SIGN to an ASCII "k"; bytes.lower() does not
    _same_views(["\u212aelvin", "plain kelvin", "KELVIN", "nothing", "\u00dc ü"], tmp_path)


def test_progress_is_reported_while_searching_spooled_bodies(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_mod, "BLOCK", 4096)
    store = fill(Store(max_memory=0), frames(["w" * 3000] * 20))
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(spool_mod, "progress_hook", lambda done, total: seen.append((done, total)))
    assert FilteredView(store, parse("~b nothing-here")).indices == []
    assert len(seen) > 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == seen[-1][1]
    store.close()


# ---- cleanup -----------------------------------------------------------------------------------

CHILD = """
import sys
from omproxy_tui.core.store import Store
from omproxy_tui.protocol.builder import FrameBuilder
b = FrameBuilder(1.0)
store = Store(max_memory=1000)
for i in range(100):
    b.message("c2s", {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "x" * 500}})
    store.add_frame(b.frames[-1], "s")
assert store.spool is not None
print(store.spool.path, flush=True)
sys.stdin.read()
"""


def test_spool_file_is_gone_even_after_kill_9(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith(str(tmp_path / "omproxy"))
        # while it runs: the data is held open (deleted) by the process, under no name
        links = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        assert f"{path} (deleted)" in links
        assert list((tmp_path / "omproxy").iterdir()) == []
        assert stat.S_IMODE((tmp_path / "omproxy").stat().st_mode) == 0o700
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert list((tmp_path / "omproxy").iterdir()) == []


def test_spool_dir_refused_keeps_bodies_in_memory(tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    monkeypatch.setattr(spool_mod, "spool_dir", lambda: str(blocked))
    store = fill(Store(max_memory=100), frames(["abc" * 100] * 5))
    assert store.spool_error and "cannot spool" in store.spool_error
    assert not any(is_spooled(r) for r in store)
    assert store[0].raw.startswith("{")


def test_reading_back_is_cached_for_the_last_body(tmp_path):
    store = fill(Store(max_memory=0), frames(["v" * 1000]))
    sp = store.spool
    reads = []
    real = sp._read
    sp._read = lambda off, n: reads.append(n) or real(off, n)
    store[0].raw
    store[0].raw
    assert len(reads) == 1
    store.close()

