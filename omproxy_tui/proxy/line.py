"""One relayed line, as hooks and the inspector see it.

The relay forwards bytes; this is the *view* of those bytes that is built after (or, for
traffic-changing hooks, before) forwarding. Everything expensive is lazy: the JSON is parsed at
most once and the SDK's typed `JSONRPCMessage` is only built when a hook asks for it, because
importing `mcp_types` alone costs ~200 ms of start-up.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
import sys
from typing import Any

C2S = "c2s"
S2C = "s2c"

_UNSET = object()


class _Drop:
    """Returned by a traffic-changing hook: do not forward this message."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN, Infinity and -Infinity; RFC 8259 does not, nor do strict clients.
    raise ValueError(f"{name} is not JSON")


# The C scanner, without json.loads' wrappers. parse_constant is only called on NaN/Infinity, so
# refusing them costs the common case nothing.
_scan = json.scanner.make_scanner(json.JSONDecoder(parse_constant=_refuse_constant))
_WS = " \t\n\r"
_ws = re.compile(r"[ \t\n\r]*").match
_number = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?").match
_scanstring = json.decoder.scanstring  # the C one when available: strict, so raw control chars fail


def _int_digits_limit() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)
    return get() if get is not None else 0


def _big_int(text: str) -> Any:
    """An integer literal longer than Python's int/str conversion limit (4300 digits by default).
    Converting it to int is quadratic in its length (a denial of service on a relay thread), and
    the process-wide limit is not ours to change: hooks get an exact ``decimal.Decimal``."""
    import decimal

    return decimal.Decimal(text)


def _scan_deep(s: str, idx: int) -> tuple[Any, int]:
    """A non-recursive RFC 8259 scanner, same contract as the C one: (value, end index).

    Only used when the C scanner gives up on valid JSON (nesting beyond the recursion limit, an
    integer beyond the int/str digits limit), so it may be slow; it is linear."""
    stack: list[list] = []  # [container, pending key] for each open array/object
    limit = _int_digits_limit()
    while True:
        idx = _ws(s, idx).end()
        c = s[idx:idx + 1]
        if c == "{" or c == "[":
            after = _ws(s, idx + 1).end()
            if s[after:after + 1] == ("}" if c == "{" else "]"):
                value, idx = ({} if c == "{" else []), after + 1
            elif c == "[":
                stack.append([[], None])
                idx = after
                continue
            else:
                key, idx = _key(s, after)
                stack.append([{}, key])
                continue
        elif c == '"':
            value, idx = _scanstring(s, idx + 1, True)
        elif s.startswith("null", idx):
            value, idx = None, idx + 4
        elif s.startswith("true", idx):
            value, idx = True, idx + 4
        elif s.startswith("false", idx):
            value, idx = False, idx + 5
        else:
            m = _number(s, idx)
            if m is None:
                raise ValueError(f"expecting a value at char {idx}")
            integer, frac, exp = m.groups()
            if frac or exp:
                value = float(m.group())
            elif limit and len(integer) - integer.startswith("-") > limit:
                value = _big_int(integer)
            else:
                value = int(integer)
            idx = m.end()
        # a value is complete: put it in its container, closing every container that ends here
        while True:
            if not stack:
                return value, idx
            top = stack[-1]
            container = top[0]
            if top[1] is None:
                container.append(value)
            else:
                container[top[1]] = value
            idx = _ws(s, idx).end()
            c = s[idx:idx + 1]
            if c == ",":
                if top[1] is not None:
                    top[1], idx = _key(s, _ws(s, idx + 1).end())
                else:
                    idx += 1
                break  # the next value of this container
            if c != ("]" if top[1] is None else "}"):
                raise ValueError(f"expecting ',' or a closing bracket at char {idx}")
            stack.pop()
            value, idx = container, idx + 1


def _key(s: str, idx: int) -> tuple[str, int]:
    """An object key and its colon at idx; the index of the value that follows."""
    if s[idx:idx + 1] != '"':
        raise ValueError(f"expecting a property name in double quotes at char {idx}")
    key, idx = _scanstring(s, idx + 1, True)
    idx = _ws(s, idx).end()
    if s[idx:idx + 1] != ":":
        raise ValueError(f"expecting ':' at char {idx}")
    return key, idx + 1


def scan_value(text: str, idx: int) -> tuple[Any, int]:
    """One JSON value of ``text`` at ``idx`` (leading whitespace allowed): (value, end index).
    Raises ValueError when there is none. Exactly RFC 8259: no NaN/Infinity, any depth, integers
    of any length."""
    idx = _ws(text, idx).end()
    try:
        return _scan(text, idx)
    except StopIteration as exc:
        raise ValueError(f"expecting a value at char {exc.value}") from None
    except RecursionError:
        pass  # valid JSON nested deeper than the C scanner goes
    except ValueError as exc:
        if "digits" not in str(exc):  # "Exceeds the limit (4300 digits) for integer string conversion"
            raise
    return _scan_deep(text, idx)


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """(value, None) or (None, "why it is not JSON"): never raises. Exactly RFC 8259 JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"
    start = 0
    if text[:1] in _WS:
        start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        return None, f"not JSON: expecting a value at char {exc.value}"
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ValueError) and "digits" not in str(exc):
            return None, f"not JSON: {exc}"
        try:  # valid JSON beyond what the C scanner handles (deep nesting, huge integers)?
            value, end = _scan_deep(text, start)
        except (ValueError, RecursionError) as exc2:
            return None, f"not JSON: {exc2}"
    if end != len(text) and text[end:].strip(_WS):
        return None, f"not JSON: extra data at char {end}"
    return value, None


def looks_like_json(raw: bytes) -> bool:
    """Cheap shape check used instead of a full parse before forwarding very large lines: looks at
    the first and last non-blank bytes only (no copy of a line that may be tens of MB)."""
    i, j = 0, len(raw) - 1
    while i <= j and raw[i] in b" \t\r\n":
        i += 1
    while j >= i and raw[j] in b" \t\r\n":
        j -= 1
    return i <= j and raw[i] in b"{[" and raw[j] in b"}]"


_TYPES: Any = None
_new = object.__new__
_set = object.__setattr__


def _construct(cls: Any, fields: dict, fields_set: set) -> Any:
    """What pydantic's model_construct does for these plain envelope models, minus its generic
    bookkeeping (5x faster): the instance is a normal, fully usable SDK model."""
    m = _new(cls)
    _set(m, "__dict__", fields)
    _set(m, "__pydantic_fields_set__", fields_set)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


_REQ_SET = frozenset({"jsonrpc", "id", "method", "params"})


def _types() -> Any:
    global _TYPES
    if _TYPES is None:
        import mcp_types  # lazy: ~200 ms import

        _TYPES = mcp_types
    return _TYPES


def typed_message(obj: Any, raw: bytes | None = None) -> Any:
    """The SDK's typed view of one JSON-RPC object, or the Exception that says why there is none.

    Well-formed envelopes (the overwhelming majority) are built with ``model_construct`` from the
    already-parsed object: ~1 us instead of ~13 us of validation, same classes, same fields.
    Anything unusual goes through the SDK's own validation, so hooks see exactly what the SDK
    would make of it (note the SDK's view can lie: a float id makes a request a notification,
    unknown top-level fields vanish; hooks that care about the wire should read ``Line.raw``).
    """
    t = _types()
    if isinstance(obj, dict) and obj.get("jsonrpc") == "2.0":
        mid = obj.get("id", _UNSET)
        good_id = type(mid) in (int, str)
        params = obj.get("params", _UNSET)
        if params is _UNSET or isinstance(params, dict):
            method = obj.get("method")
            if isinstance(method, str) and "result" not in obj and "error" not in obj:
                has_params = params is not _UNSET
                fields = {"jsonrpc": "2.0", "method": method, "params": params if has_params else None}
                if mid is _UNSET:
                    return _construct(t.JSONRPCNotification, fields,
                                      {"jsonrpc", "method", "params"} if has_params else {"jsonrpc", "method"})
                if good_id:
                    fields = {"jsonrpc": "2.0", "id": mid, "method": method, "params": fields["params"]}
                    return _construct(t.JSONRPCRequest, fields,
                                      set(_REQ_SET) if has_params else {"jsonrpc", "id", "method"})
            elif method is None and good_id and isinstance(obj.get("result"), dict) and "error" not in obj:
                return _construct(t.JSONRPCResponse, {"jsonrpc": "2.0", "id": mid, "result": obj["result"]},
                                  {"jsonrpc", "id", "result"})
            elif method is None and "result" not in obj and isinstance(obj.get("error"), dict) and (
                    good_id or mid is None):
                err = obj["error"]
                if type(err.get("code")) is int and isinstance(err.get("message"), str):
                    fields = {"code": err["code"], "message": err["message"]}
                    if "data" in err:
                        fields["data"] = err["data"]
                    return t.JSONRPCError.model_construct(jsonrpc="2.0", id=mid,
                                                          error=t.ErrorData.model_construct(**fields))
    try:
        if raw is not None:
            return t.jsonrpc_message_adapter.validate_json(raw, by_name=False)
        return t.jsonrpc_message_adapter.validate_python(obj, by_name=False)
    except Exception as exc:  # pydantic ValidationError; the seed passed Exceptions to hooks
        return exc


class Line:
    """A message as it crossed (or is about to cross) the proxy.

    - ``raw``: the exact bytes of the line, without the trailing newline.
    - ``direction``: ``"c2s"`` (client to server) or ``"s2c"``.
    - ``json``: the parsed value (dict, or list for a batch), or None when ``error`` is set.
    - ``error``: why the line is not valid JSON, else None.
    - ``message``: the SDK's typed ``JSONRPCMessage`` (or an Exception), built on first access.
    - ``seq``, ``t`` (monotonic seconds), ``wall`` (epoch seconds).
    - ``element``: for one element of a batch, its position; None otherwise.
    - ``status``, ``changed``, ``injected``: what the relay did with it (see the inspect protocol).
    """

    __slots__ = ("raw", "direction", "seq", "t", "wall", "element", "_json", "error", "_message",
                 "status", "changed", "injected")

    def __init__(self, raw: bytes, direction: str, seq: int = 0, t: float = 0.0, wall: float = 0.0,
                 parsed: Any = _UNSET, error: str | None = None, element: int | None = None):
        self.raw = raw
        self.direction = direction
        self.seq = seq
        self.t = t
        self.wall = wall
        self.element = element
        self._json = parsed
        self.error = error
        self._message = _UNSET
        # Filled in by the relay as the line moves: "relayed", "held", "dropped", "blocked"
        # (a server line that is not JSON), "injected"; `changed` is {"by", "action", "original"}.
        self.status = "relayed"
        self.changed: dict | None = None
        self.injected: dict | None = None

    @property
    def json(self) -> Any:
        if self._json is _UNSET:
            self._json, self.error = parse_json(self.raw)
        return self._json

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    @property
    def is_batch(self) -> bool:
        return isinstance(self.json, list)

    @property
    def message(self) -> Any:
        if self._message is _UNSET:
            obj = self.json
            if self.error is not None:
                self._message = ValueError(self.error)
            else:
                self._message = typed_message(obj)
        return self._message

    @property
    def method(self) -> str | None:
        obj = self.json
        return obj.get("method") if isinstance(obj, dict) else None

    @property
    def id(self) -> Any:
        obj = self.json
        return obj.get("id") if isinstance(obj, dict) else None

    def elements(self) -> list["Line"]:
        """The line itself, or one Line per element of a batch (hooks see each element).

        Each element's ``raw`` is its exact slice of the line (not a re-encoding: that would
        change number formats and escapes, and recurse on deeply nested values). An empty batch
        ``[]`` has no elements: hooks see the line itself (an invalid JSON-RPC message)."""
        if self._json is _UNSET and self.raw.lstrip()[:1] != b"[":
            return [self]  # not a batch: no need to parse just to find out
        obj = self.json
        if not isinstance(obj, list) or not obj:
            return [self]
        text = self.raw.decode("utf-8")  # it parsed, so it decodes
        idx = text.index("[") + 1
        out = []
        for i, el in enumerate(obj):
            start = _ws(text, idx).end()
            _, end = scan_value(text, start)
            out.append(Line(text[start:end].encode(), self.direction, seq=self.seq, t=self.t, wall=self.wall,
                            parsed=el, element=i))
            idx = _ws(text, end).end() + 1  # past the comma
        return out

    def __repr__(self) -> str:
        shown = self.raw[:80] + (b"..." if len(self.raw) > 80 else b"")
        return f"Line({self.direction} #{self.seq} {shown!r})"


def encode_replacement(value: Any) -> bytes:
    """Bytes for a hook's replacement: a typed SDK message, a dict/list, a str or bytes line."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    elif isinstance(value, (dict, list)):
        data = json.dumps(value, separators=(",", ":")).encode()
    elif hasattr(value, "model_dump_json"):
        data = value.model_dump_json(by_alias=True, exclude_unset=True).encode()
    else:
        raise TypeError(f"a hook returned {type(value).__name__}; expected None, DROP, a message, dict, str or bytes")
    data = data.rstrip(b"\r\n")
    if b"\n" in data:
        raise ValueError("a replacement message must be a single line (no raw newlines)")
    _, err = parse_json(data)
    if err:
        raise ValueError(f"replacement is {err}")
    return data
