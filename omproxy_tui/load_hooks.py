"""Loading the user's proxy subclass for ``--hooks MODULE:CLASS`` or ``--hooks path/to/file.py:CLASS``.

Every way this can fail (the file is missing, the module does not import, the class is missing, is
not a proxy, needs arguments or skips ``super().__init__()``) becomes one ``HooksError`` whose text
names the cause and, when it is in the user's code, the file and line: a start-up error must be one
clear line, never a traceback (the user sees it in a client's log, far from a terminal).
"""

from __future__ import annotations

import os
import sys
from typing import Any

HINT = "for a file, use --hooks path/to/file.py:Class"


class HooksError(Exception):
    """One line saying why the hooks class cannot be used."""


def load_class(spec: str, base: type) -> type:
    """The class named by ``spec``, checked to be a subclass of ``base``."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise HooksError(f"expected MODULE:CLASS or path/to/file.py:CLASS, got {spec!r}")
    if target.endswith(".py") or "/" in target or os.sep in target:
        module = _import_file(target)
    else:
        module = _import_module(target)
    cls = getattr(module, attr, None)
    if cls is None:
        raise HooksError(f"{target} has no {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise HooksError(f"{target}:{attr} is not a subclass of {base.__name__}")
    return cls


def create(cls: type, base: type) -> Any:
    """An instance of ``cls`` (created with no arguments, as omproxy does), checked to be set up."""
    try:
        proxy = cls()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - user code: anything can come out
        raise HooksError(f"cannot create {cls.__name__}() (omproxy creates it with no arguments): "
                         f"{_describe(exc)}") from None
    # A subclass whose __init__ skips super().__init__() would fail later, deep in the relay.
    reference = base()
    missing = [name for name in vars(reference) if not hasattr(proxy, name)]
    if missing:
        raise HooksError(f"{cls.__name__}.__init__ does not call super().__init__() "
                         f"(the proxy has no {missing[0]!r})")
    return proxy


def _import_module(name: str) -> Any:
    import importlib

    # The installed `omproxy` script, unlike `python -m`, does not look in the current directory;
    # a hooks module next to the user is the common case. Last, so it shadows nothing installed.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise HooksError(f"no module named {name!r} in the current directory or on the Python path "
                             f"({HINT})") from None
        raise HooksError(f"cannot import {name}: {_describe(exc)}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a module can raise anything at import
        raise HooksError(f"cannot import {name}: {_describe(exc)}") from None


def _import_file(target: str) -> Any:
    import importlib.util

    path = os.path.abspath(os.path.expanduser(target))
    if not os.path.isfile(path):
        raise HooksError(f"{target}: no such file")
    name = os.path.splitext(os.path.basename(path))[0]
    if name in sys.modules:  # do not replace a module of the same name that is already loaded
        name = f"omproxy_hooks_{name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HooksError(f"{target}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    # Its siblings are importable, as they would be for `python path/to/file.py`.
    sys.path.insert(0, os.path.dirname(path))
    sys.modules[name] = module  # dataclasses and pickling look the module up while it executes
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        del sys.modules[name]
        raise HooksError(f"cannot import {target}: {_describe(exc)}") from None
    return module


def _describe(exc: BaseException) -> str:
    """``Type: message (file, line N)``, the place being the last frame in the user's code."""
    if isinstance(exc, SyntaxError):
        where = f" ({_short(exc.filename)}, line {exc.lineno})" if exc.filename else ""
        return f"{type(exc).__name__}: {exc.msg}{where}"
    import traceback

    ours = os.path.dirname(os.path.abspath(__file__))
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith("<") or os.path.abspath(frame.filename).startswith(ours + os.sep):
            continue
        where = f" ({_short(frame.filename)}, line {frame.lineno})"
        break
    text = str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


def _short(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel
