"""The command parser in isolation: every malformed frame becomes a CommandError, never a crash."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omproxy_tui.inspect.commands import CommandError, parse_command
from omproxy_tui.inspect.redact import Redactor, mask_argv, mask_headers

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
commands = st.sampled_from(["pause", "resume", "intercept", "release", "drop", "release_all", "inject", "replay",
                            "cancel", "ping", "bogus", None, 3])


@settings(max_examples=500, deadline=None)
@given(cmd=commands, args=st.dictionaries(st.sampled_from(["dir", "seq", "raw", "filter", "to", "message",
                                                            "timeout", "inject_id", "id", "force"]), json_values))
def test_parse_command_never_raises_anything_but_command_error(cmd, args):
    frame = dict(args, cmd=cmd)
    try:
        parsed = parse_command(frame)
    except CommandError as exc:
        assert str(exc)
    else:
        assert parsed.name == cmd


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value_is_handled(value):
    try:
        parse_command(value)
    except CommandError:
        pass


@pytest.mark.parametrize("frame, error", [
    ({"cmd": "pause", "dir": "up"}, "'dir' must be one of"),
    ({"cmd": "release"}, "'seq' must be a positive integer"),
    ({"cmd": "release", "seq": 1, "raw": "{oops"}, "the edited message is not valid JSON"),
    ({"cmd": "inject", "to": "moon", "message": {}}, "'to' must be 'server' or 'client'"),
    ({"cmd": "inject", "to": "server"}, "inject needs 'message'"),
    ({"cmd": "inject", "to": "server", "message": {"id": 1}}, "JSON-RPC 2.0 object"),
    ({"cmd": "inject", "to": "server", "message": {"jsonrpc": "2.0", "id": 1}}, "needs 'method'"),
    ({"cmd": "inject", "to": "server", "message": {"jsonrpc": "2.0", "method": "m"}, "timeout": -1}, "'timeout'"),
    ({"cmd": "intercept", "filter": ""}, "non-empty filter"),
    ({"cmd": "nope"}, "unknown command 'nope'"),
    ([], "must be a JSON object"),
])
def test_clear_errors(frame, error):
    with pytest.raises(CommandError, match=error):
        parse_command(frame)


def test_pretty_printed_edit_is_compacted():
    cmd = parse_command({"cmd": "release", "seq": 3, "raw": '{\n  "jsonrpc": "2.0",\n  "id": 1\n}'})
    assert cmd.raw == b'{"jsonrpc":"2.0","id":1}'


def test_redaction_helpers():
    assert mask_headers({"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "json"}) == {
        "Authorization": "***", "X-Api-Key": "***", "Accept": "json"}
    argv, found = mask_argv(["srv", "--token", "abc", "--api-key=def", "API_KEY=ghi", "--port", "1"])
    assert argv == ["srv", "--token", "***", "--api-key=***", "API_KEY=***", "--port", "1"]
    assert found == ["abc", "def", "ghi"]
    r = Redactor(['se"cret'])
    assert json.loads(r(json.dumps({"a": 'x se"cret y'}).encode())) == {"a": "x *** y"}
    assert Redactor(["abc"])(b"abc") == b"abc"  # too short to mask safely


def test_lines_are_numbered_before_they_move_and_handed_on_in_seq_order():
    """Lines are numbered before forwarding; two relay threads then finish in any order. The
    inspector must still get them in seq order (a reply finished first waits for its request),
    and stderr/lifecycle events share the same numbering."""
    from omproxy_tui.inspect.server import InspectorAddon
    from omproxy_tui.proxy import StdioProxy

    proxy = StdioProxy()
    insp = InspectorAddon(proxy, serve=False, target=["srv"])
    request = proxy.make_line(b'{"jsonrpc":"2.0","id":1,"method":"m"}', "c2s")   # numbered first...
    reply = proxy.make_line(b'{"jsonrpc":"2.0","id":1,"result":{}}', "s2c")
    proxy.announce(reply)                                                            # ...finished last
    assert list(insp.backlog) == []  # the reply waits for its request
    insp._on_server_stderr("a stderr line")
    assert list(insp.backlog) == []
    proxy.announce(request)
    seqs = [item.seq if hasattr(item, "seq") else item[1] for _, item in insp.backlog]
    assert seqs == [1, 2, 3] and (request.seq, reply.seq) == (1, 2)
    assert [index for index, _ in insp.backlog] == seqs
    proxy.announce(request)  # a second announce changes nothing
    assert len(insp.backlog) == 3
    proxy.next_seq()  # a number nobody needs to see does not stall the stream
    insp._on_lifecycle("exited", {"code": 0})
    assert [index for index, _ in insp.backlog] == [1, 2, 3, 5]
