"""One relayed MCP line as a small, flat, display-ready record.

Why this shape:

* The proxy evaluates intercept filters on every line it relays, and the TUI keeps 100k+ of
  these in memory, so a :class:`Record` is a ``__slots__`` dataclass of primitives. The parsed
  JSON object is *not* kept: only ``raw`` (the exact line) is, and the detail pane re-parses the
  few records a human actually looks at.
* Everything a filter, the log row or the stats table needs (kind, method, id, target, summary,
  error flags) is extracted once, in :func:`record_from_line`, from a single ``json.loads``.
* Pairing fields (``pair``, ``latency``, ``pending``, ``cancelled``, and ``method``/``tool`` on
  responses) are filled in later by :class:`omproxy_tui.core.store.Store`, because a response
  does not name its method: only the request it answers does.

Standard library only: this module is imported by the proxy process.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "Record",
    "classify",
    "id_key",
    "id_text",
    "record_from_frame",
    "record_from_line",
]

#: Every value :func:`classify` can return as ``kind``.
KINDS = ("request", "notification", "response", "error", "batch", "invalid")

#: Longest ``summary`` we build (the log row truncates further to fit the terminal).
SUMMARY_MAX = 120

_loads = json.loads
_dumps = json.dumps


@dataclass(slots=True, eq=False)
class Record:
    """One MCP line as seen by the proxy (see the module docstring for why it looks like this).

    ``eq=False``: records are identities (a position in a store), and comparing 30 fields would
    only ever be a bug.
    """

    index: int
    session: str
    seq: int
    t: float
    wall: float
    dir: str
    raw: str
    size: int
    kind: str
    method: str | None = None
    id: Any = None
    #: The "target": params.name of tools/call and prompts/get, params.uri of resources/*.
    #: Responses (and progress/cancel notifications) inherit it from their request on pairing.
    tool: str | None = None
    summary: str = ""
    #: Why the line is wrong (invalid JSON, not JSON-RPC) or the JSON-RPC error's message.
    error: str | None = None
    status: str = "relayed"
    held: bool = False
    injected: bool = False
    changed: bool = False
    to_inspector: bool = False
    pair: int | None = None
    latency: float | None = None
    pending: bool = False
    cancelled: bool = False
    progress_token: Any = None
    # ---- additions to the original spec -------------------------------------------------------
    #: A tools/call *result* with ``"isError": true`` (the call failed at the tool level, the
    #: JSON-RPC exchange itself succeeded). ``~e`` matches these.
    tool_error: bool = False
    #: For ``notifications/cancelled``: ``params.requestId`` (the id of the request it cancels).
    ref_id: Any = None
    #: For batches only: one ``(kind, method, id, tool)`` per element, so filters and pairing can
    #: see inside the batch without re-parsing. For a cancel element ``id`` is its requestId.
    parts: tuple | None = None
    #: Rare frame details kept verbatim for export and the detail pane: ``changed`` and
    #: ``injected`` objects, ``raw_b64`` for non-UTF-8 lines, ``frame_error``. None for almost
    #: every record, so it costs one pointer.
    extra: dict | None = None


# --------------------------------------------------------------------------------------------
# ids


def id_key(id: Any) -> tuple:
    """A hashable key for a JSON-RPC id that keeps ``1``, ``"1"`` and ``1.0`` distinct.

    JSON-RPC matches ids by value *and* type; Python would happily equate ``1 == 1.0`` and a
    careless ``str()`` would equate ``1`` and ``"1"``. Floats go through ``repr`` so that NaN
    (which ``json.loads`` accepts) is still equal to itself as a key.
    """
    t = type(id)
    if t is int or t is str:
        return (t.__name__, id)
    if id is None:
        return ("null", None)
    return (t.__name__, repr(id))


def id_text(id: Any) -> str:
    """How an id is written for humans and for ``~id``: strings bare, everything else as JSON."""
    if type(id) is str:
        return id
    try:
        return _dumps(id)
    except (TypeError, ValueError):
        return repr(id)


# --------------------------------------------------------------------------------------------
# classification


def classify(obj: Any) -> tuple[str, str | None, Any, str | None]:
    """Classify a parsed JSON-RPC value as ``(kind, method, id, error_message)``.

    ``kind`` is one of :data:`KINDS`. ``id`` is the JSON value as parsed (int, float, str or
    None); notifications have ``None``. ``error_message`` is the JSON-RPC error's ``message``
    for kind ``"error"``, the reason for kind ``"invalid"``, or a protocol complaint about an
    otherwise usable message (a request whose id is null or not a string/number); else None.
    """
    if type(obj) is dict:
        method = obj.get("method")
        if method is not None:
            if type(method) is not str:
                return "invalid", None, obj.get("id"), "method must be a string"
            if "id" in obj:
                id = obj["id"]
                return "request", method, id, _bad_id(id, "request")
            return "notification", method, None, None
        id = obj.get("id")
        if "result" in obj:
            if "error" in obj:
                return "invalid", None, id, "response has both result and error"
            return "response", None, id, _bad_id(id, "response") if "id" in obj else "response has no id"
        if "error" in obj:
            return "error", None, id, _error_message(obj["error"])
        return "invalid", None, id, "not a JSON-RPC message (no method, result or error)"
    if type(obj) is list:
        if not obj:
            return "invalid", None, None, "empty batch"
        return "batch", None, None, None
    return "invalid", None, None, f"not a JSON-RPC message (a JSON {_json_type(obj)})"


def _bad_id(id: Any, what: str) -> str | None:
    t = type(id)
    if t is int or t is str or t is float:
        return None
    if id is None:
        return f"{what} id is null"
    return f"{what} id must be a string or a number, not {_json_type(id)}"


def _error_message(err: Any) -> str:
    # Never None for kind "error": ``~e`` and the log's error column rely on ``error`` being set.
    if type(err) is dict:
        msg = err.get("message")
        code = err.get("code")
        if type(msg) is not str:
            msg = "" if msg is None else _brief(msg, 100)
        if msg:
            return msg
        return f"error {code}" if code is not None else "error"
    return _brief(err, 100) or "error"


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(v), type(v).__name__
    )


# --------------------------------------------------------------------------------------------
# summaries (short, one line, cheap: bounded work whatever the message size)


class _Full(Exception):
    pass


def _bounded_json(value: Any, budget: int) -> str:
    """Compact JSON-ish text of ``value``, stopping once ``budget`` chars are produced.

    A plain ``json.dumps`` would be simpler, but a 20 MB tool argument must not cost 20 MB of
    work for a 120-char summary; this walks only as much of the value as it prints.
    """
    out: list[str] = []
    n = 0

    def emit(s: str) -> None:
        nonlocal n
        out.append(s)
        n += len(s)
        if n > budget:
            raise _Full

    def walk(v: Any) -> None:
        t = type(v)
        if t is str:
            emit('"' + v[: budget - n + 1] + '"')
        elif t is dict:
            emit("{")
            first = True
            for k, x in v.items():
                emit(('"' if first else ',"') + str(k)[:budget] + '":')
                first = False
                walk(x)
            emit("}")
        elif t is list:
            emit("[")
            first = True
            for x in v:
                if not first:
                    emit(",")
                first = False
                walk(x)
            emit("]")
        elif v is None:
            emit("null")
        elif v is True:
            emit("true")
        elif v is False:
            emit("false")
        else:
            emit(repr(v))

    try:
        walk(value)
    except _Full:
        pass
    except RecursionError:  # absurdly nested value: show what we have
        pass
    return "".join(out)


_CTRL = str.maketrans({"\n": " ", "\r": " ", "\t": " "})


def _brief(value: Any, limit: int = SUMMARY_MAX) -> str:
    """One line of at most ``limit`` chars describing ``value`` (ellipsis when cut)."""
    if type(value) is str:
        s = value[: limit + 1]
    else:
        s = _bounded_json(value, limit + 1)
    s = s.translate(_CTRL)
    if len(s) > limit:
        return s[: limit - 1] + "…"
    return s


def _join(head: str, tail: Any, limit: int = SUMMARY_MAX) -> str:
    if tail is None or tail == {} or tail == "":
        return _brief(head, limit)
    head = head.translate(_CTRL)
    room = limit - len(head) - 1
    if room <= 1:
        return _brief(head, limit)
    return head + " " + _brief(tail, room)


def _target(method: str, params: dict) -> str | None:
    """The "target" of a request: the tool, prompt or resource it is about."""
    if method == "tools/call" or method == "prompts/get":
        name = params.get("name")
        return name if type(name) is str else None
    if method.startswith("resources/"):
        uri = params.get("uri")
        return uri if type(uri) is str else None
    return None


def _request_summary(method: str, params: Any, target: str | None) -> str:
    if type(params) is not dict:
        return "" if params is None else _brief(params)
    if target is not None:
        if method == "tools/call" or method == "prompts/get":
            return _join(target, params.get("arguments"))
        return _brief(target)
    if method == "initialize":
        info = params.get("clientInfo")
        head = ""
        if type(info) is dict:
            head = f"{info.get('name', '?')} {info.get('version', '')}".strip()
        pv = params.get("protocolVersion")
        return _brief(f"{head} ({pv})" if pv else head)
    if method == "sampling/createMessage":
        msgs = params.get("messages")
        if type(msgs) is list and msgs and type(msgs[-1]) is dict:
            return _brief(_content_text(msgs[-1].get("content")))
    if method == "elicitation/create":
        msg = params.get("message")
        if type(msg) is str:
            return _brief(msg)
    if method == "completion/complete":
        arg = params.get("argument")
        if type(arg) is dict:
            return _brief(f"{arg.get('name', '')}={arg.get('value', '')}")
    return _brief(params) if params else ""


def _notification_summary(method: str, params: Any) -> str:
    if type(params) is not dict:
        return "" if params is None else _brief(params)
    if method == "notifications/progress":
        p, total = params.get("progress"), params.get("total")
        head = f"progress {_num(p)}/{_num(total)}" if total is not None else f"progress {_num(p)}"
        return _join(head, params.get("message"))
    if method == "notifications/message":
        level = params.get("level", "")
        logger = params.get("logger")
        head = f"[{level}]" + (f" {logger}:" if logger else "")
        return _join(head, params.get("data"))
    if method == "notifications/cancelled":
        return _join(f"cancel {id_text(params.get('requestId'))}", params.get("reason"))
    if method == "notifications/resources/updated":
        return _brief(params.get("uri", ""))
    return _brief(params) if params else ""


def _num(v: Any) -> str:
    if type(v) is float and v.is_integer():
        return str(int(v))
    return str(v)


def _content_text(content: Any) -> str:
    """The first text of an MCP content list/object ("[image]" etc. for other kinds)."""
    if type(content) is dict:
        content = [content]
    if type(content) is not list:
        return ""
    for c in content:
        if type(c) is dict:
            if c.get("type") == "text" and type(c.get("text")) is str:
                return c["text"]
            kind = c.get("type")
            if kind:
                return f"[{kind}]"
    return ""


def _result_summary(result: Any) -> str:
    if type(result) is not dict:
        return _brief(result)
    if not result:
        return "ok"
    if result.get("isError") is True:
        return _join("isError:", _content_text(result.get("content")))
    for key in ("tools", "prompts", "resources", "resourceTemplates", "roots"):
        v = result.get(key)
        if type(v) is list:
            names = [x.get("name") or x.get("uri") or "?" for x in v[:8] if type(x) is dict]
            more = ", …" if len(v) > 8 else ""
            return _brief(f"{len(v)} {key}: " + ", ".join(map(str, names)) + more)
    info = result.get("serverInfo")
    if type(info) is dict:
        pv = result.get("protocolVersion")
        return _brief(f"{info.get('name', '?')} {info.get('version', '')} ({pv})")
    if "content" in result:
        text = _content_text(result.get("content"))
        if text:
            return _brief(text)
        sc = result.get("structuredContent")
        return _brief(sc if sc is not None else result.get("content"))
    contents = result.get("contents")
    if type(contents) is list:
        first = contents[0] if contents and type(contents[0]) is dict else {}
        text = first.get("text")
        head = f"{len(contents)} contents"
        return _join(head, text if type(text) is str else first.get("uri"))
    if "action" in result:  # elicitation result
        return _join(str(result.get("action")), result.get("content"))
    if "completion" in result and type(result["completion"]) is dict:
        return _brief(result["completion"].get("values", []))
    if "role" in result and "content" in result:  # sampling result
        return _brief(_content_text(result["content"]))
    return _brief(result)


def _error_summary(err: Any) -> str:
    if type(err) is dict:
        code = err.get("code")
        msg = err.get("message", "")
        head = f"error {code}: {msg}" if code is not None else f"error: {msg}"
        data = err.get("data")
        return _join(head, data) if data is not None else _brief(head)
    return _brief(f"error: {_brief(err, 100)}")


# --------------------------------------------------------------------------------------------
# record construction


def _parse_element(obj: Any) -> tuple:
    """Extract ``(kind, method, id, error, tool, summary, progress_token, ref_id, tool_error)``."""
    kind, method, id, error = classify(obj)
    tool = None
    token = None
    ref = None
    tool_error = False
    if kind == "request":
        params = obj.get("params")
        if type(params) is dict:
            tool = _target(method, params)
            meta = params.get("_meta")
            if type(meta) is dict:
                token = meta.get("progressToken")
        summary = _request_summary(method, params, tool)
    elif kind == "notification":
        params = obj.get("params")
        if type(params) is dict:
            if method == "notifications/progress":
                token = params.get("progressToken")
            elif method == "notifications/cancelled":
                ref = params.get("requestId")
        summary = _notification_summary(method, params)
    elif kind == "response":
        result = obj["result"]
        if type(result) is dict and result.get("isError") is True:
            tool_error = True
        summary = _result_summary(result)
    elif kind == "error":
        summary = _error_summary(obj["error"])
    else:
        summary = error or ""
    return kind, method, id, error, tool, summary, token, ref, tool_error


def _batch(items: list) -> tuple[tuple, str]:
    parts = []
    labels = []
    for item in items:
        kind, method, id, _err, tool, _s, _tok, ref, _te = _parse_element(item)
        if method == "notifications/cancelled":
            id = ref
        parts.append((kind, method, id, tool))
        if method:
            labels.append(method if tool is None else f"{method}({tool})")
        elif kind in ("response", "error"):
            labels.append(f"{kind} {id_text(id)}")
        else:
            labels.append(kind)
    return tuple(parts), _brief(f"batch[{len(items)}]: " + ", ".join(labels))


def record_from_line(
    raw: str,
    dir: str,
    *,
    session: str = "",
    seq: int = 0,
    t: float = 0.0,
    wall: float = 0.0,
    index: int = 0,
) -> Record:
    """Parse one MCP line (without its newline) into a :class:`Record`.

    One ``json.loads`` and a handful of dict lookups: the proxy calls this for every line it
    evaluates an intercept filter on. Never raises for bad input: invalid JSON becomes kind
    ``"invalid"`` with ``error`` set.
    """
    size = len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))
    try:
        obj = _loads(raw)
    except (ValueError, RecursionError) as exc:
        msg = f"invalid JSON: {exc}" if isinstance(exc, ValueError) else "invalid JSON: nested too deeply"
        return Record(index, session, seq, t, wall, dir, raw, size, "invalid", summary=_brief(msg), error=msg)
    if type(obj) is list and obj:
        parts, summary = _batch(obj)
        return Record(index, session, seq, t, wall, dir, raw, size, "batch", summary=summary, parts=parts)
    kind, method, id, error, tool, summary, token, ref, tool_error = _parse_element(obj)
    return Record(
        index,
        session,
        seq,
        t,
        wall,
        dir,
        raw,
        size,
        kind,
        method,
        id,
        tool,
        summary,
        error,
        pending=kind == "request" and error is None,
        progress_token=token,
        tool_error=tool_error,
        ref_id=ref,
    )


def record_from_frame(frame: dict, session: str, index: int) -> Record:
    """Build a :class:`Record` from an inspect-channel ``message`` frame (see protocol.frames).

    Frame fields win over what we derive where the proxy knows better (``size`` is the byte
    count on the wire, ``status``/``held``). A frame ``error`` is used when our own parse found
    nothing wrong (the proxy may know why a line is not valid JSON-RPC).
    """
    raw = frame.get("raw")
    extra = None
    if raw is None:
        b64 = frame.get("raw_b64")
        data = b""
        if b64 is not None:
            try:
                data = base64.b64decode(b64)
            except (ValueError, TypeError):
                data = b""
        raw = data.decode("utf-8", "replace")
        extra = {"raw_b64": b64}
        rec = record_from_line(raw, frame.get("dir", ""), session=session, index=index)
        rec.kind = "invalid"
        rec.error = frame.get("error") or "line is not valid UTF-8"
        rec.summary = _brief(rec.error)
        rec.pending = False
        rec.parts = None
        rec.size = len(data)
    else:
        rec = record_from_line(raw, frame.get("dir", ""), session=session, index=index)
    rec.seq = frame.get("seq", 0)
    rec.t = frame.get("t", 0.0)
    rec.wall = frame.get("wall", 0.0)
    size = frame.get("size")
    if size is not None:
        rec.size = size
    status = frame.get("status")
    if status:
        rec.status = status
    rec.held = bool(frame.get("held")) or status == "held"
    changed = frame.get("changed")
    injected = frame.get("injected")
    if changed or injected:
        extra = extra or {}
        if changed:
            rec.changed = True
            extra["changed"] = changed
        if injected:
            rec.injected = True
            extra["injected"] = injected
    if status == "injected":
        rec.injected = True
    if frame.get("to_inspector"):
        rec.to_inspector = True
    ferr = frame.get("error")
    if ferr:
        if rec.error is None:
            rec.error = ferr
            if rec.kind == "request":
                rec.pending = False
        extra = extra or {}
        extra["frame_error"] = ferr
    rec.extra = extra
    return rec
