"""One key for a JSON-RPC id wherever a response is paired with its request."""

from __future__ import annotations

from omproxy_tui.protocol.ids import id_key


def test_id_key_keeps_json_types_apart():
    keys = {id_key(1), id_key("1"), id_key(1.0), id_key(None), id_key(True), id_key([1])}
    assert len(keys) == 6
    assert id_key(1) == id_key(1) and id_key("x") == id_key("x")
    assert id_key(float("nan")) == id_key(float("nan"))  # repr makes NaN usable as a key


def test_every_pairing_table_uses_the_one_key():
    """The backlog's handshake pairing, the intercept's request pairing, the remote legs' routing
    and the TUI store's pairing must agree on which ids are the same request."""
    from omproxy_tui.core import records
    from omproxy_tui.inspect import backlog, intercept
    from omproxy_tui.proxy import remote

    assert backlog.request_key is id_key
    assert intercept.request_key is id_key
    assert remote.id_key is id_key
    assert records.id_key is id_key


def test_the_shutdown_tracker_alone_takes_1_0_as_an_answer_to_1():
    """Deliberate: it only decides whether a request was answered, and a server that wrote 1.0
    back for 1 answered it."""
    from omproxy_tui.proxy.outstanding import id_key as answered_key

    assert answered_key(1) == answered_key(1.0)
    assert answered_key(1) != answered_key("1")
