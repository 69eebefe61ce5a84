"""The `omproxy` command line: start-up errors are one clear line and exit code 2, never a
traceback (issue 8 item 14); the old surface keeps working. Real subprocesses of the installed
`omproxy` script, which (unlike `python -m`) does not put the current directory on sys.path."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from helpers import RAW_SERVER, ROOT, omproxy_cmd

SCRIPT = os.path.join(os.path.dirname(sys.executable), "omproxy")
REQUEST = b'{"jsonrpc":"2.0","id":1,"method":"m"}\n'


def omproxy(*args: str, cwd=ROOT, stdin: bytes = REQUEST, env: dict | None = None) -> subprocess.CompletedProcess:
    if not os.path.exists(SCRIPT):
        pytest.skip("needs the installed `omproxy` script (pip install -e .)")
    env = dict(os.environ, **(env or {}))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([SCRIPT, *args], input=stdin, capture_output=True, cwd=cwd, env=env, timeout=60)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
    assert r.stdout == b""  # nothing reached the client, and no server ran
    return err


@pytest.fixture
def hooks_dir(tmp_path):
    (tmp_path / "sub").mkdir()
    files = {
        "boom.py": "import json\nraise RuntimeError('boom at import')\n",
        "broken_syntax.py": "def f(:\n    pass\n",
        "missing_dep.py": "import no_such_dependency_xyz\n",
        "good.py": """
            import sys
            from omproxy_tui.proxy import StdioProxy

            class Marks(StdioProxy):
                def _on_mcp_client_message(self, message):
                    print("hook saw", message.method, file=sys.stderr)
        """,
        "sub/inner.py": """
            import sys
            from omproxy_tui.proxy import StdioProxy

            class Marks(StdioProxy):
                def _on_mcp_client_message(self, message):
                    print("inner hook saw", message.method, file=sys.stderr)
        """,
        "bad_classes.py": """
            from omproxy_tui.proxy import StdioProxy

            class NeedsArgs(StdioProxy):
                def __init__(self, path):
                    super().__init__()

            class NoSuper(StdioProxy):
                def __init__(self):
                    self.count = 0

            class RaisesInInit(StdioProxy):
                def __init__(self):
                    super().__init__()
                    raise ValueError("no config file")

            class NotAProxy:
                pass
        """,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize("spec, words", [
    ("boom:X", ["boom", "RuntimeError", "boom at import", "boom.py", "line 2"]),
    ("broken_syntax:X", ["broken_syntax", "SyntaxError", "broken_syntax.py", "line 1"]),
    ("missing_dep:X", ["missing_dep", "no_such_dependency_xyz"]),
    ("bad_classes:NeedsArgs", ["NeedsArgs", "path"]),
    ("bad_classes:NoSuper", ["NoSuper", "super().__init__()"]),
    ("bad_classes:RaisesInInit", ["RaisesInInit", "ValueError", "no config file"]),
    ("bad_classes:NotAProxy", ["NotAProxy", "StdioProxy"]),
    ("bad_classes:Nope", ["bad_classes", "Nope"]),
    ("good", ["MODULE:CLASS"]),
    ("./boom.py:X", ["boom", "RuntimeError"]),
])
def test_broken_hooks_are_one_line_and_exit_2(hooks_dir, spec, words):
    err = one_line_error(omproxy("stdio", "--hooks", spec, "--", *RAW_SERVER, "echo", cwd=hooks_dir))
    for w in words:
        assert w in err, (w, err)


def test_hooks_module_in_the_current_directory_is_found(hooks_dir):
    r = omproxy("stdio", "--hooks", "good:Marks", "--", *RAW_SERVER, "echo", cwd=hooks_dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == 1
    assert b"hook saw m" in r.stderr


@pytest.mark.parametrize("spec", ["sub/inner.py:Marks", "./sub/inner.py:Marks", "{abs}/sub/inner.py:Marks"])
def test_hooks_from_a_file_path(hooks_dir, spec):
    r = omproxy("stdio", "--hooks", spec.format(abs=hooks_dir), "--", *RAW_SERVER, "echo", cwd=hooks_dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == 1
    assert b"inner hook saw m" in r.stderr


def test_hooks_not_found_hints(hooks_dir):
    err = one_line_error(omproxy("stdio", "--hooks", "nosuchmodule:X", "--", *RAW_SERVER, "echo", cwd=hooks_dir))
    assert "nosuchmodule" in err and "path/to/file.py:Class" in err
    err = one_line_error(omproxy("stdio", "--hooks", "sub/nosuchfile.py:X", "--", *RAW_SERVER, "echo",
                                 cwd=hooks_dir))
    assert "sub/nosuchfile.py" in err and "no such file" in err.lower()


def test_missing_cwd_is_named_not_the_command(tmp_path):
    err = one_line_error(omproxy("stdio", "--cwd", str(tmp_path / "nonexistent"), "--", *RAW_SERVER, "echo"))
    assert "--cwd" in err and str(tmp_path / "nonexistent") in err
    assert "cannot start server" not in err


def test_unknown_option_before_the_command_is_an_error_not_the_command():
    err = one_line_error(omproxy("stdio", "--inpsect", "--", *RAW_SERVER, "echo"))
    assert "no such option: --inpsect" in err.lower()
    err = one_line_error(omproxy("stdio", "--inpsect", *RAW_SERVER, "echo"))
    assert "no such option: --inpsect" in err.lower()
    err = one_line_error(omproxy("sse", "--url", "http://127.0.0.1:9/sse", "--bogus"))
    assert "no such option: --bogus" in err.lower()


def test_other_usage_errors_are_one_line():
    one_line_error(omproxy("stdio"))  # no command
    one_line_error(omproxy("stdio", "--env", "NOEQUALS", "--", *RAW_SERVER, "echo"))
    one_line_error(omproxy("http"))  # no --url
    one_line_error(omproxy("nosuchcommand"))


def test_old_surface_command_without_dashdash_still_works():
    """omproxy 0.3: `omproxy stdio COMMAND ARGS`; the server's own options follow its command."""
    r = omproxy("stdio", sys.executable, "-u", str(ROOT / "tests" / "servers" / "raw_server.py"), "echo")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == 1
    # our options before the command are ours; everything from the command on is the server's
    r = subprocess.run(omproxy_cmd("stdio", "--name", "x", sys.executable, "-c",
                                   "import sys; print(sys.argv[1:], file=sys.stderr)", "--inspect", "--name"),
                       input=b"", capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"['--inspect', '--name']" in r.stderr


def test_help_and_version_still_work():
    r = omproxy()
    assert b"Commands:" in r.stdout + r.stderr and b"stdio" in r.stdout + r.stderr
    assert r.stdout.count(b"\n") + r.stderr.count(b"\n") > 5  # the help screen, not one collapsed line
    r = omproxy("--version")
    assert r.returncode == 0 and b"omproxy" in r.stdout
    r = omproxy("stdio", "--help")
    assert r.returncode == 0 and b"--hooks" in r.stdout
