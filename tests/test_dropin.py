"""Drop-in for the original omproxy (PyPI `omproxy` 0.3): after installing this project, its users'
imports, its `--headers`, its README's examples and its Claude Desktop config shape work unchanged
(issue 15).

The project is really installed, offline, into fresh virtualenvs: once as a wheel, once editable
(`pip install -e .`, what CI does). The dependencies come from the running interpreter's
site-packages through a .pth file, so nothing is downloaded. Programs then run with the venv's
own `python` and `omproxy` script, with no PYTHONPATH: what a user gets."""

import json
import os
import subprocess
import sys
import sysconfig
import textwrap

import anyio
import pytest

from helpers import ROOT
from omproxy_tui import __version__
from omproxy_tui.cli import parse_old_headers

SDK_SERVER = [sys.executable, "-m", "tests.servers.sdk_server"]


def _install(tmp_path_factory, kind: str) -> dict:
    pytest.importorskip("hatchling", reason="the packaging tests build with hatchling (the test extra)")
    base = tmp_path_factory.mktemp(f"venv-{kind}")
    dist, venv = base / "dist", base / "venv"
    build = "build_wheel" if kind == "wheel" else "build_editable"
    r = subprocess.run([sys.executable, "-c", f"import sys, hatchling.build as b; print(b.{build}(sys.argv[1]))",
                        str(dist)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel = dist / r.stdout.strip().splitlines()[-1]
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # mcp, anyio, click… from this interpreter (a path line in a .pth: its own .pth files, such as
    # this checkout's editable install, are not processed, so the venv sees only what it installed)
    with open(os.path.join(site, "zz_outer_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {"python": str(py), "bin": str(venv / "bin"), "env": env, "wheel": wheel, "home": base}


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory):
    return _install(tmp_path_factory, "wheel")


@pytest.fixture(scope="module")
def editable_install(tmp_path_factory):
    return _install(tmp_path_factory, "editable")


CHECK_IMPORTS = """
import omproxy
from omproxy.proxy import StdioProxy, SseProxy, StreamableHttpProxy, DROP, modifies
import omproxy_tui, omproxy_tui.proxy
assert omproxy.__version__ == omproxy_tui.__version__, omproxy.__version__
assert StdioProxy is omproxy_tui.proxy.StdioProxy and SseProxy is omproxy_tui.proxy.SseProxy
assert StreamableHttpProxy is omproxy_tui.proxy.StreamableHttpProxy and DROP is omproxy_tui.proxy.DROP
import omproxy.proxy
assert omproxy.proxy is omproxy_tui.proxy
print(omproxy.__version__, omproxy_tui.__file__)
"""


@pytest.mark.parametrize("kind", ["wheel", "editable"])
def test_import_omproxy_after_install(kind, request, tmp_path):
    inst = request.getfixturevalue(f"{kind}_install")
    r = subprocess.run([inst["python"], "-c", CHECK_IMPORTS], cwd=tmp_path, env=inst["env"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    version, location = r.stdout.split()
    assert version == __version__
    if kind == "editable":
        assert location == str(ROOT / "omproxy_tui" / "__init__.py")  # this checkout, live
    else:
        assert location.startswith(inst["bin"].rsplit(os.sep, 1)[0])  # the venv's own copy
    r = subprocess.run([os.path.join(inst["bin"], "omproxy"), "--version"], env=inst["env"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and __version__ in r.stdout, r.stderr


def test_wheel_has_only_our_two_packages(wheel_install):
    import zipfile

    names = zipfile.ZipFile(wheel_install["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"omproxy", "omproxy_tui"}
    assert "omproxy/proxy.py" in names and "omproxy_tui/styles/app.tcss" in names
    assert not [n for n in names if "_alias" in n]  # shipped once, under its real name


# ---------------------------------------------------------------------------------- --headers (old form)

@pytest.mark.parametrize("text, pairs", [
    ("Authorization=Bearer abc", [("Authorization", "Bearer abc")]),
    ("k1=v1,k2=v2", [("k1", "v1"), ("k2", "v2")]),
    ("Authorization=Basic dXNlcjpwYXNz==,X-Team=core", [("Authorization", "Basic dXNlcjpwYXNz=="),
                                                         ("X-Team", "core")]),
    ("X-Sig=a=b=c", [("X-Sig", "a=b=c")]),
    ("Accept=text/html, application/json,X-Id=7", [("Accept", "text/html, application/json"), ("X-Id", "7")]),
    ("X-List=a,b,c", [("X-List", "a,b,c")]),
    (" k1 = v1 , k2=v2,", [("k1", "v1"), ("k2", "v2")]),
])
def test_parse_old_headers(text, pairs):
    assert parse_old_headers(text) == pairs


@pytest.mark.parametrize("text", ["novalue", "Authorization: Bearer x=", "=v", "bad name=v"])
def test_parse_old_headers_errors(text):
    with pytest.raises(ValueError):
        parse_old_headers(text)


# ---------------------------------------------------------------------------------- the old README's programs

OLD_README_STDIO = """
import sys

from mcp.client.stdio import StdioServerParameters
from mcp.types import JSONRPCMessage

from omproxy.proxy import StdioProxy

class MyStdioProxy(StdioProxy):
    def _on_start(self):
        print("Starting proxy", file=sys.stderr)

    def _on_mcp_client_message(self, message: JSONRPCMessage):
        print("client:", message, file=sys.stderr)

    def _on_mcp_server_message(self, message: JSONRPCMessage | Exception):
        print("server:", message, file=sys.stderr)

    def _on_close(self):
        print("Closing proxy", file=sys.stderr)

if __name__ == "__main__":
    proxy = MyStdioProxy()
    proxy.run(StdioServerParameters(command=sys.argv[1], args=sys.argv[2:]))
"""


async def _session(params, tool_args: dict | None = None) -> dict:
    """A real SDK client session (legacy handshake, as clients of omproxy 0.3's day did)."""
    from mcp import Client

    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            echo = (await client.call_tool("echo", {"text": "h\u00e9llo"})).content[0].text
            got = {"tools": tools, "echo": echo}
            if tool_args:
                got["header"] = (await client.call_tool("header", tool_args)).content[0].text
            return got


def test_old_readme_stdio_subclass_runs_unchanged(editable_install, tmp_path):
    from mcp import StdioServerParameters

    prog = tmp_path / "my_proxy.py"
    prog.write_text(textwrap.dedent(OLD_README_STDIO))
    errlog = tmp_path / "stderr.log"
    env = dict(editable_install["env"], PYTHONPATH=str(ROOT))  # for the *server* module tests.servers only
    # `sh` only to keep the program's stderr (the hooks print there) for the assertions below
    params = StdioServerParameters(command="sh", args=["-c", f'exec "$0" "$@" 2>>"{errlog}"',
                                                       editable_install["python"], str(prog), *SDK_SERVER],
                                   env=env, cwd=str(ROOT))
    got = anyio.run(_session, params)
    assert got["echo"] == "h\u00e9llo" and "echo" in got["tools"]
    log = errlog.read_text()
    assert "Starting proxy" in log and "Closing proxy" in log
    assert "client:" in log and "tools/call" in log and "server:" in log


def test_old_readme_sse_command_with_headers(editable_install, http_server, tmp_path):
    """`omproxy sse --url … --headers …` from the old README, against the SDK server under uvicorn;
    the headers reach the server, base64 padding and all."""
    from mcp import StdioServerParameters

    url = http_server("sse")
    token = "dG9rZW4tMTIzNDU2Nzg5MA=="
    params = StdioServerParameters(
        command="omproxy", args=["sse", "--url", url, "--headers", f"Authorization=Bearer {token},X-Team=a,b"],
        env=editable_install["env"], cwd=str(tmp_path))
    got = anyio.run(_session, params, {"name": "authorization"})
    assert got["echo"] == "h\u00e9llo"
    assert got["header"] == f"Bearer {token}"
    params = StdioServerParameters(
        command="omproxy", args=["sse", "--url", url, "--headers", "X-Team=a,b", "-H", "x-team: from-H"],
        env=editable_install["env"], cwd=str(tmp_path))
    assert anyio.run(_session, params, {"name": "x-team"})["header"] == "from-H"  # -H wins


def test_headers_on_http_too(editable_install, http_server, tmp_path):
    from mcp import StdioServerParameters

    url = http_server("http")
    params = StdioServerParameters(command="omproxy", args=["http", "--url", url, "--headers", "X-Sig=a=b,c"],
                                   env=editable_install["env"], cwd=str(tmp_path))
    assert anyio.run(_session, params, {"name": "x-sig"})["header"] == "a=b,c"


def test_old_claude_desktop_config_shape(editable_install, http_server, tmp_path):
    """claude_desktop_config.json entries as omproxy 0.3 users wrote them (no `--`, `--headers`),
    started the way a client starts them: command looked up on PATH, the config's env only."""
    from mcp import StdioServerParameters

    url = http_server("sse")
    config = json.loads(json.dumps({"mcpServers": {
        "local": {"command": "omproxy", "args": ["stdio", sys.executable, "-m", "tests.servers.sdk_server"],
                  "env": {"PYTHONPATH": str(ROOT)}},
        "remote": {"command": "omproxy", "args": ["sse", "--url", url, "--headers", "Authorization=Bearer xyz"]},
    }}))
    for name, entry in config["mcpServers"].items():
        env = {"PATH": editable_install["env"]["PATH"], "HOME": os.environ.get("HOME", "/"), **entry.get("env", {})}
        params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env, cwd=str(ROOT))
        got = anyio.run(_session, params, {"name": "authorization"} if name == "remote" else None)
        assert got["echo"] == "h\u00e9llo", name
        if name == "remote":
            assert got["header"] == "Bearer xyz"
