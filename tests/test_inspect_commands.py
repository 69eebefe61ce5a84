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


def test_events_are_numbered_in_the_order_they_are_recorded():
    """Lines get a number when read, but two relay threads (and the stderr thread) finish in any
    order: the inspector numbers frames when it records them, so seq order is delivery order."""
    from omproxy_tui.inspect.server import InspectorAddon
    from omproxy_tui.proxy import StdioProxy
    from omproxy_tui.proxy.line import Line

    proxy = StdioProxy()
    insp = InspectorAddon(proxy, serve=False, target=["srv"])
    late = Line(b'{"jsonrpc":"2.0","id":1,"result":{}}', "s2c", seq=proxy.next_seq())   # read first...
    early = Line(b'{"jsonrpc":"2.0","id":2,"method":"m"}', "c2s", seq=proxy.next_seq())
    insp._on_mcp_client_message(early)                                                   # ...recorded last
    insp._on_server_stderr("a stderr line")
    insp._on_mcp_server_message(late)
    seqs = [item.seq if hasattr(item, "seq") else item[1] for _, item in insp.backlog]
    assert seqs == [1, 2, 3]
    assert [index for index, _ in insp.backlog] == seqs
    assert late.seq == 3  # the Line (shared with a Held entry) carries the frame's number
