"""Redaction of inspect frames and recordings: secrets are masked inside JSON string contents only,
and a frame is never made invalid (issue 8 item 10). Real `omproxy stdio --inspect --record` runs."""

import json
import os

import pytest

from helpers import RAW_SERVER, Inspector, Session, short_tmpdir
from omproxy_tui.inspect.redact import MASK, Redactor, is_secret_name, looks_like_credential, secret_values


def _run(tmp_path, env_opts: list[str], messages: list[bytes], server_args: tuple = ()) -> tuple[list[str], list]:
    """Send `messages` through a recording, inspected proxy; return the recording's lines and the
    frames a live inspector saw, checking every one of them is valid JSON."""
    sock = os.path.join(short_tmpdir(), "r.sock")
    rec = tmp_path / "rec.jsonl"
    s = Session(["stdio", "--inspect-socket", sock, "--record", str(rec), *env_opts],
                [*RAW_SERVER, "stderr", *server_args])
    insp = Inspector(sock)
    insp.read()
    for i, raw in enumerate(messages):
        s.proc.stdin.write(raw + b"\n")
        s.proc.stdin.flush()
        assert s.recv()["id"] == json.loads(raw)["id"]
        insp.send("pause", dir="s2c") if i == 0 else None  # state frames ("held":…) in the recording too
        insp.send("resume", dir="s2c") if i == 0 else None
    last_id = json.loads(messages[-1])["id"]
    insp.message(lambda f, m: f["dir"] == "s2c" and m.get("id") == last_id)
    assert s.close() == 0
    lines = rec.read_text().splitlines()
    for line in lines:
        json.loads(line)  # every recorded frame is valid JSON
    for frame in insp.seen:
        if "raw" in frame:
            json.loads(frame["raw"])  # and so is every relayed line inside it
    insp.close()
    return lines, insp.seen


NUMBERS_AND_LITERALS = [
    json.dumps({"jsonrpc": "2.0", "id": 1000, "method": "tools/call",
                "params": {"name": "t", "arguments": {"n": 10001000, "f": 1000.5, "ok": False, "s": "false 1000",
                                                     "x": [False, 1000, None]}}}).encode(),
    b'{"jsonrpc":"2.0","id":21000,"method":"m","params":{"debug":false,"port":1000}}',
] + [json.dumps({"jsonrpc": "2.0", "id": i, "method": "m", "params": {"pad": "p" * i}}).encode()
     for i in range(925, 945)]  # one of them is exactly 1000 bytes long: "size":1000 in its frame


def test_non_secret_env_values_leave_every_frame_unchanged(tmp_path):
    """`-e DEBUG=false` used to turn `"held":false` into `"held":***` in nearly every frame, and
    `-e PORT=1000` broke every number containing 1000."""
    lines, seen = _run(tmp_path, ["-e", "DEBUG=false", "-e", "PORT=1000"], NUMBERS_AND_LITERALS)
    text = "\n".join(lines)
    assert MASK not in text
    sent = {m.decode() for m in NUMBERS_AND_LITERALS}
    recorded_c2s = [json.loads(x)["raw"] for x in lines
                    if json.loads(x)["type"] == "message" and json.loads(x)["dir"] == "c2s"]
    assert set(recorded_c2s) == sent  # byte for byte what the client sent
    assert all(json.loads(x)["held"] is False for x in lines if json.loads(x)["type"] == "message")
    assert any(f.get("size") == 1000 for f in map(json.loads, lines))  # a number holding 1000 survived
    assert [f for f in seen if f["type"] == "state"] and all(f["paused"]["c2s"] is False for f in seen
                                                            if f["type"] == "state")
    assert all(MASK not in json.dumps(f) for f in seen)


SECRET = "abc123secret"


def test_secret_env_value_is_masked_in_strings_everywhere(tmp_path):
    inner = json.dumps({"token": SECRET, "n": 1})  # JSON text inside a string: escaped twice in the frame
    messages = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "t", "arguments": {"key": SECRET, "note": f"uses {SECRET}!",
                                                         "embedded": inner, "n": 1000, "ok": False}}}).encode(),
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "m", "params": {SECRET: "as a key"}}).encode(),
    ]
    lines, seen = _run(tmp_path, ["-e", f"API_TOKEN={SECRET}", "-e", "DEBUG=false"], messages)
    text = "\n".join(lines)
    assert SECRET not in text and SECRET not in json.dumps(seen)
    frames = [json.loads(x) for x in lines]
    first = next(f for f in frames if f["type"] == "message" and f["dir"] == "c2s"
                 and json.loads(f["raw"])["id"] == 1)
    args = json.loads(first["raw"])["params"]["arguments"]
    # masked inside the strings, everything else exactly as sent
    assert args == {"key": MASK, "note": f"uses {MASK}!", "embedded": json.dumps({"token": MASK, "n": 1}),
                    "n": 1000, "ok": False}
    assert first["held"] is False
    second = next(f for f in frames if f["type"] == "message" and f["dir"] == "c2s"
                  and json.loads(f["raw"])["id"] == 2)
    assert json.loads(second["raw"])["params"] == {MASK: "as a key"}


def test_secret_with_quote_and_backslash_is_masked_in_its_escaped_forms(tmp_path):
    secret = 'pa"ss\\wo/rd99'
    messages = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"p": secret, "q": f"<{secret}>"}}).encode(),
        # a server or client that escapes "/" as "\/" (PHP and some Java encoders do)
        b'{"jsonrpc":"2.0","id":2,"method":"m","params":{"p":"pa\\"ss\\\\wo\\/rd99"}}',
    ]
    lines, seen = _run(tmp_path, ["-e", f"DB_PASSWORD={secret}"], messages)
    frames = [json.loads(x) for x in lines]
    msgs = {json.loads(f["raw"])["id"]: json.loads(f["raw"]) for f in frames
            if f["type"] == "message" and f["dir"] == "c2s"}
    assert msgs[1]["params"] == {"p": MASK, "q": f"<{MASK}>"}
    assert msgs[2]["params"] == {"p": MASK}
    assert "rd99" not in "\n".join(lines)


def test_secret_option_values_in_argv_are_masked(tmp_path):
    sock = os.path.join(short_tmpdir(), "r.sock")
    rec = tmp_path / "rec.jsonl"
    s = Session(["stdio", "--inspect-socket", sock, "--record", str(rec), "-e", f"GITHUB_TOKEN={SECRET}"],
                [*RAW_SERVER, "stderr", "--token", "tok-abcdef", "--port", "1000"])
    Inspector(sock).read()
    s.send({"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"echo": f"token={SECRET}"}})
    assert s.recv()["id"] == 1
    assert s.close() == 0
    frames = [json.loads(x) for x in rec.read_text().splitlines()]
    assert frames[0]["proxy"]["target"][-4:] == ["--token", MASK, "--port", "1000"]
    assert "tok-abcdef" not in rec.read_text() and SECRET not in rec.read_text()


# ---------------------------------------------------------------------------------- the rule, unit-level

@pytest.mark.parametrize("name", [
    "API_KEY", "X-Api-Key", "apiKey", "KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "authToken", "Authorization",
    "Proxy-Authorization", "Cookie", "Set-Cookie", "DB_PASSWORD", "PGPASSWORD", "passwd", "CLIENT_SECRET",
    "AWS_SECRET_ACCESS_KEY", "PRIVATE_KEY", "BASIC_AUTH", "GITHUB_PAT", "CREDENTIALS", "X-Auth",
])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["DEBUG", "PORT", "HOME", "MONKEY", "KEYBOARD", "AUTHOR", "PATH", "Accept",
                                  "Content-Type", "LOG_LEVEL", "TOKENIZERS_PARALLELISM"])
def test_not_secret_names(name):
    assert not is_secret_name(name)


@pytest.mark.parametrize("value", [
    "Bearer tok==", "bearer x", "Basic dXNlcjpwYXNz", "sk-proj-abcdefghijklmnop", "ghp_abcdefghijklmnop1234",
    "github_pat_11ABCDEFG", "xoxb-1234-5678-abcd", "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==", "Zm9v/YmFy+YmF6cXV4MTIzNDU2Nzg5MA==",
])
def test_credential_looking_values(value):
    assert looks_like_credential(value)


@pytest.mark.parametrize("value", [
    "false", "true", "1000", "8080", "info", "/usr/local/bin/python3.12", "./data/file-2024.json",
    "https://example.com/v1", "en_US.UTF-8", "hello world 1234567890 abc", "com.example.app.service1234",
    "2024-01-01T00:00:00Z", "application/json", "src/server_v2/main_module1.py", "~/servers/fetch2024abc",
])
def test_plain_values(value):
    assert not looks_like_credential(value)


def test_secret_values_picks_by_name_or_look():
    got = secret_values({"DEBUG": "false", "PORT": "1000", "API_TOKEN": "abc123secret",
                         "X-Custom": "Bearer tok-xyz", "OTHER": "sk-abcdefghijklmnop"})
    assert set(got) >= {"abc123secret", "Bearer tok-xyz", "tok-xyz", "sk-abcdefghijklmnop"}
    assert "false" not in got and "1000" not in got


def test_redactor_never_touches_numbers_keys_structure_or_literals():
    r = Redactor(["1000", "false", "held"])
    frame = b'{"type":"message","seq":1000,"held":false,"raw":"{\\"id\\":1000,\\"x\\":false}","s":"1000 false"}\n'
    out = r(frame)
    obj = json.loads(out)
    assert obj["seq"] == 1000 and obj["held"] is False
    assert json.loads(obj["raw"]) == {"id": 1000, "x": False}
    assert obj["s"] == "*** ***"
    assert r(b'{"a":1}\n') == b'{"a":1}\n'  # untouched frames are returned as they are


def test_redactor_on_a_line_that_is_not_json_inside_a_frame():
    r = Redactor([SECRET])
    out = r(json.dumps({"type": "stderr", "line": f"not json {SECRET} {{\"x"}).encode() + b"\n")
    assert json.loads(out)["line"] == 'not json *** {"x'
    assert out.endswith(b"\n")


def test_remote_url_query_and_credential_headers_are_masked(tmp_path):
    """A secret-named query parameter of --url and a header whose value is a credential (whatever
    its name) are masked in the identity and every frame; other values are shown as they are."""
    import subprocess

    from helpers import ROOT, free_port, omproxy_cmd

    rec = tmp_path / "rec.jsonl"
    url = f"http://127.0.0.1:{free_port()}/mcp?api_key=sekrit1234&page=1000"  # nothing listens: exits 1
    r = subprocess.run(omproxy_cmd("http", "--url", url, "-H", "X-Custom: Bearer abcdef", "-H", "X-Team: core",
                                   "--record", str(rec)),
                       input=b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}\n',
                       capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1
    text = rec.read_text()
    hello = json.loads(text.splitlines()[0])
    assert hello["proxy"]["target"].endswith("?api_key=***&page=1000")
    assert hello["proxy"]["headers"] == {"X-Custom": "***", "X-Team": "core"}
    assert "sekrit1234" not in text and "abcdef" not in text


def test_redactor_frames_with_spaces_keep_their_keys():
    r = Redactor(["paused-secret-1"])
    frame = json.dumps({"type": "state", "paused-secret-1": {"x": "a paused-secret-1"}}).encode() + b"\n"
    assert json.loads(r(frame)) == {"type": "state", "paused-secret-1": {"x": f"a {MASK}"}}


@pytest.mark.parametrize("raw, expected", [
    ('{not json ' + SECRET, '{not json ' + MASK),                         # not JSON: masked anywhere
    ('{"id":12345678,"s":"12345678"}', '{"id":12345678,"s":"***"}'),      # a number stays a number
    ('[' * 3000 + '"12345678"' + ']' * 3000, '[' * 3000 + '"***"' + ']' * 3000),  # deeper than json's recursion
    ('{"a":"x\\u0041","b":"12345678"}', '{"a":"x\\u0041","b":"***"}'),    # other strings keep their bytes
])
def test_redactor_on_relayed_lines(raw, expected):
    r = Redactor([SECRET, "12345678"])
    frame = ('{"type":"message","seq":1,"raw":' + json.dumps(raw) + ',"held":false}\n').encode()
    out = json.loads(r(frame))
    assert out["raw"] == expected and out["held"] is False and out["seq"] == 1


def test_redactor_on_utf8_json_with_a_non_ascii_secret():
    """JSON that is not an ASCII frame (--otlp-content passes UTF-8 JSON) is masked as well."""
    secret = "pässwörd-1234"
    text = json.dumps({"result": {"text": f"x {secret}"}}, ensure_ascii=False).encode()
    assert json.loads(Redactor([secret])(text)) == {"result": {"text": f"x {MASK}"}}
