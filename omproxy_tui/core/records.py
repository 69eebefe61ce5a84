"""One relayed MCP line as a small, flat, display-ready record.

Why this shape:

* The proxy evaluates intercept filters on every line it relays, so a :class:`Record` is a
  ``__slots__`` dataclass of primitives. The parsed JSON object is *not* kept: only ``raw`` (the
  exact line) is, and the detail pane re-parses the few records a human actually looks at. (The
  TUI's store copies records into columns, :mod:`omproxy_tui.core.table`, and hands out records
  with the same attributes that read them there.)
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
import operator
from dataclasses import dataclass, field
from typing import Any

from omproxy_tui.protocol.ids import id_key  # noqa: F401 - re-exported

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
_scan_once = json.decoder.JSONDecoder().scan_once


def parse_json(raw: str) -> Any:
    """``json.loads(raw)``, about 1.5 µs faster per line.

    ``json.loads`` spends a good share of a small message's parse time in Python-level wrapper
    code (type checks, whitespace regexes); calling the C scanner directly skips it. Anything
    unusual (leading/trailing whitespace, errors) falls back to ``json.loads`` so results and
    error messages are exactly the standard ones.
    """
    try:
        obj, end = _scan_once(raw, 0)
    except StopIteration:
        return _loads(raw)
    if end != len(raw):
        return _loads(raw)
    return obj


@dataclass(slots=True, eq=False, init=False)
class Record:
    """One MCP line as seen by the proxy (see the module docstring for why it looks like this).

    ``eq=False``: records are identities (a position in a store), and comparing 30 fields would
    only ever be a bug.

    ``summary`` is a property computed on first read (by re-parsing ``raw``) and then cached:
    building it eagerly cost as much as the ``json.loads`` itself, the proxy's intercept path
    never reads it, and the TUI only reads it for the rows on screen. It can be passed to the
    constructor or assigned like a plain field.
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
    method: str | None
    id: Any
    #: The "target": params.name of tools/call and prompts/get, params.uri of resources/*.
    #: Responses (and progress/cancel notifications) inherit it from their request on pairing.
    tool: str | None
    #: Backing slot of the ``summary`` property (None = not computed yet). ``init=False`` so
    #: ``dataclasses.replace`` works (the copy recomputes its summary on demand).
    _summary: str | None = field(init=False, repr=False)
    #: Why the line is wrong (invalid JSON, not JSON-RPC) or the JSON-RPC error's message.
    error: str | None
    status: str
    held: bool
    injected: bool
    changed: bool
    to_inspector: bool
    pair: int | None
    latency: float | None
    pending: bool
    cancelled: bool
    progress_token: Any
    # ---- additions to the original spec -------------------------------------------------------
    #: A *result* with ``"isError": true`` (a tools/call that failed at the tool level while the
    #: JSON-RPC exchange itself succeeded). ``~e`` matches these.
    tool_error: bool
    #: For ``notifications/cancelled``: ``params.requestId`` (the id of the request it cancels).
    ref_id: Any
    #: For batches only: one ``(kind, method, id, tool)`` per element, so filters and pairing can
    #: see inside the batch without re-parsing. For a cancel element ``id`` is its requestId.
    parts: tuple | None
    #: Rare frame details kept verbatim for export and the detail pane: ``changed`` and
    #: ``injected`` objects, ``raw_b64`` for non-UTF-8 lines, ``frame_error``. None for almost
    #: every record, so it costs one pointer.
    extra: dict | None
    #: Marked by the user (``m`` in the TUI, ``~marked``); never set by the proxy.
    marked: bool

    def __init__(
        self,
        index: int,
        session: str,
        seq: int,
        t: float,
        wall: float,
        dir: str,
        raw: str,
        size: int,
        kind: str,
        method: str | None = None,
        id: Any = None,
        tool: str | None = None,
        summary: str | None = None,
        error: str | None = None,
        status: str = "relayed",
        held: bool = False,
        injected: bool = False,
        changed: bool = False,
        to_inspector: bool = False,
        pair: int | None = None,
        latency: float | None = None,
        pending: bool = False,
        cancelled: bool = False,
        progress_token: Any = None,
        tool_error: bool = False,
        ref_id: Any = None,
        parts: tuple | None = None,
        extra: dict | None = None,
        marked: bool = False,
    ) -> None:
        self.index = index
        self.session = session
        self.seq = seq
        self.t = t
        self.wall = wall
        self.dir = dir
        self.raw = raw
        self.size = size
        self.kind = kind
        self.method = method
        self.id = id
        self.tool = tool
        self._summary = summary
        self.error = error
        self.status = status
        self.held = held
        self.injected = injected
        self.changed = changed
        self.to_inspector = to_inspector
        self.pair = pair
        self.latency = latency
        self.pending = pending
        self.cancelled = cancelled
        self.progress_token = progress_token
        self.tool_error = tool_error
        self.ref_id = ref_id
        self.parts = parts
        self.extra = extra
        self.marked = marked

    @property
    def summary(self) -> str:
        """Short one-line description (≤ 120 chars): tool + args, uri, error, progress, log text."""
        s = self._summary
        if s is None:
            s = self._summary = _summarize(self)
        return s

    @summary.setter
    def summary(self, value: str | None) -> None:
        self._summary = value

    @property
    def is_error(self) -> bool:
        """The one definition of "error" (``~e``, ``n``/``N``, the log's colour, stats, counters):
        a JSON-RPC error response, a tool result with ``isError``, a line that is not valid
        JSON-RPC (or has an unusable id), or a batch with an error or invalid element."""
        if self.error is not None or self.tool_error or self.kind == "error":
            return True
        parts = self.parts
        if parts is not None:
            for p in parts:
                k = p[0]
                if k == "error" or k == "invalid":
                    return True
        return False


# --------------------------------------------------------------------------------------------
# ids


# id_key: one definition for the TUI and the proxy (protocol/ids.py), re-exported here.


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


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

#: Below this raw size a value is summarised with the C JSON encoder (fast, and the output
#: cannot be large); above it with :func:`_bounded_json`, whose cost is bounded by the summary.
_SMALL = 1024


def _bounded_json(value: Any, budget: int) -> str:
    """Compact JSON-ish text of ``value``, stopping once ``budget`` chars are produced.

    ``json.dumps`` is faster for small values, but a 20 MB tool argument must not cost 20 MB
    of work for a 120-char summary; this walks only as much of the value as it prints.
    """
    out: list[str] = []
    try:
        _walk(value, out, budget)
    except RecursionError:  # absurdly nested value: show what we have
        pass
    return "".join(out)


def _walk(v: Any, out: list, budget: int) -> int:
    """Append the text of ``v`` to ``out``; return the remaining budget (<= 0: stop)."""
    t = type(v)
    if t is str:
        s = '"' + v[:budget] + '"'
    elif t is dict:
        out.append("{")
        budget -= 1
        sep = '"'
        for k, x in v.items():
            if budget <= 0:
                return budget
            key = sep + str(k)[:budget] + '":'
            out.append(key)
            budget = _walk(x, out, budget - len(key))
            sep = ',"'
        s = "}"
    elif t is list:
        out.append("[")
        budget -= 1
        first = True
        for x in v:
            if budget <= 0:
                return budget
            if not first:
                out.append(",")
                budget -= 1
            first = False
            budget = _walk(x, out, budget)
        s = "]"
    elif v is None:
        s = "null"
    elif v is True:
        s = "true"
    elif v is False:
        s = "false"
    else:
        s = repr(v)
    if budget > 0:
        out.append(s)
    return budget - len(s)


def _oneline(s: str) -> str:
    if "\n" in s or "\r" in s or "\t" in s:
        return s.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return s


def _brief(value: Any, limit: int = SUMMARY_MAX, small: bool = False) -> str:
    """One line of at most ``limit`` chars describing ``value`` (ellipsis when cut).

    ``small`` says the whole message is small, so the C encoder may serialise ``value`` fully.
    """
    if type(value) is str:
        s = value[: limit + 1]
    elif small:
        try:
            s = _encode(value)
        except (TypeError, ValueError):
            s = _bounded_json(value, limit + 1)
    else:
        s = _bounded_json(value, limit + 1)
    s = _oneline(s)
    if len(s) > limit:
        return s[: limit - 1] + "…"
    return s


def _join(head: str, tail: Any, small: bool = False, limit: int = SUMMARY_MAX) -> str:
    """``head`` then a brief of ``tail`` in the room left (tail omitted when empty)."""
    if tail is None or tail == "" or tail == {}:
        return _brief(head, limit)
    head = _oneline(head)
    room = limit - len(head) - 1
    if room <= 1:
        return _brief(head, limit)
    return head + " " + _brief(tail, room, small)


def _target(method: str, params: dict) -> str | None:
    """The "target" of a request: the tool, prompt or resource it is about."""
    if method == "tools/call" or method == "prompts/get":
        name = params.get("name")
        return name if type(name) is str else None
    if method.startswith("resources/"):
        uri = params.get("uri")
        return uri if type(uri) is str else None
    return None


def _request_summary(method: str, params: Any, target: str | None, small: bool) -> str:
    if type(params) is not dict:
        return "" if params is None else _brief(params, SUMMARY_MAX, small)
    if target is not None:
        if method == "tools/call" or method == "prompts/get":
            return _join(target, params.get("arguments"), small)
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
    elif method == "elicitation/create":
        msg = params.get("message")
        if type(msg) is str:
            return _brief(msg)
    elif method == "completion/complete":
        arg = params.get("argument")
        if type(arg) is dict:
            return _brief(f"{arg.get('name', '')}={arg.get('value', '')}")
    if not params or (len(params) == 1 and "_meta" in params):
        return ""
    return _brief(params, SUMMARY_MAX, small)


def _notification_summary(method: str, params: Any, small: bool) -> str:
    if type(params) is not dict:
        return "" if params is None else _brief(params, SUMMARY_MAX, small)
    if method == "notifications/progress":
        p, total = params.get("progress"), params.get("total")
        head = f"progress {_num(p)}/{_num(total)}" if total is not None else f"progress {_num(p)}"
        return _join(head, params.get("message"), small)
    if method == "notifications/message":
        level = params.get("level", "")
        logger = params.get("logger")
        head = f"[{level}]" + (f" {logger}:" if logger else "")
        return _join(head, params.get("data"), small)
    if method == "notifications/cancelled":
        return _join(f"cancel {id_text(params.get('requestId'))}", params.get("reason"), small)
    if method == "notifications/resources/updated":
        return _brief(params.get("uri", ""), SUMMARY_MAX, small)
    return _brief(params, SUMMARY_MAX, small) if params else ""


def _num(v: Any) -> str:
    if type(v) is float and v.is_integer():
        return str(int(v))
    return str(v)


def _content_text(content: Any) -> str:
    """The first text of an MCP content list/object ("[image]" etc. for other kinds)."""
    if type(content) is dict:
        content = (content,)
    elif type(content) is not list:
        return ""
    for c in content:
        if type(c) is dict:
            kind = c.get("type")
            if kind == "text":
                text = c.get("text")
                if type(text) is str:
                    return text
            if kind:
                return f"[{kind}]"
    return ""


_LISTS = ("tools", "prompts", "resources", "resourceTemplates", "roots")


def _result_summary(result: Any, small: bool) -> str:
    if type(result) is not dict:
        return _brief(result, SUMMARY_MAX, small)
    content = result.get("content")
    if content is not None:
        text = _content_text(content)
        if result.get("isError") is True:
            return _join("isError:", text)
        if text:
            return _brief(text)
        if "role" not in result:  # not a sampling result: tool result without text content
            sc = result.get("structuredContent")
            return _brief(sc if sc is not None else content, SUMMARY_MAX, small)
        return _brief(content, SUMMARY_MAX, small)
    if not result:
        return "ok"
    for key in _LISTS:
        v = result.get(key)
        if type(v) is list:
            names = [x.get("name") or x.get("uri") or "?" for x in v[:8] if type(x) is dict]
            more = ", …" if len(v) > 8 else ""
            return _brief(f"{len(v)} {key}: " + ", ".join(map(str, names)) + more)
    info = result.get("serverInfo")
    if type(info) is dict:
        pv = result.get("protocolVersion")
        return _brief(f"{info.get('name', '?')} {info.get('version', '')} ({pv})")
    contents = result.get("contents")
    if type(contents) is list:
        first = contents[0] if contents and type(contents[0]) is dict else {}
        text = first.get("text")
        return _join(f"{len(contents)} contents", text if type(text) is str else first.get("uri"))
    if "action" in result:  # elicitation result
        return _join(str(result.get("action")), result.get("content"), small)
    completion = result.get("completion")
    if type(completion) is dict:
        return _brief(completion.get("values", []), SUMMARY_MAX, small)
    return _brief(result, SUMMARY_MAX, small)


def _error_summary(err: Any, small: bool) -> str:
    if type(err) is dict:
        code = err.get("code")
        msg = err.get("message", "")
        head = f"error {code}: {msg}" if code is not None else f"error: {msg}"
        data = err.get("data")
        return _join(head, data, small) if data is not None else _brief(head)
    return _brief(f"error: {_brief(err, 100)}")


# --------------------------------------------------------------------------------------------
# record construction


def request_target(method: str, params: Any) -> tuple[Any, Any]:
    """A request's ``(tool, progress token)``: the tool or prompt name, or the resource URI,
    from its params, and ``params._meta.progressToken``. (The store's fast path calls this too.)"""
    tool = token = None
    if type(params) is dict:
        if method == "tools/call" or method == "prompts/get":
            tool = params.get("name")
            if type(tool) is not str:
                tool = None
        elif method[:10] == "resources/":
            tool = params.get("uri")
            if type(tool) is not str:
                tool = None
        meta = params.get("_meta")
        if meta is not None and type(meta) is dict:
            token = meta.get("progressToken")
    return tool, token


def _parse_element(obj: Any) -> tuple:
    """Extract ``(kind, method, id, error, tool, progress_token, ref_id, tool_error)``.

    The hot path: only what filters and pairing need. The summary is built lazily.
    """
    kind, method, id, error = classify(obj)
    tool = None
    token = None
    ref = None
    tool_error = False
    if kind == "request":
        tool, token = request_target(method, obj.get("params"))
    elif kind == "notification":
        if method == "notifications/progress" or method == "notifications/cancelled":
            params = obj.get("params")
            if type(params) is dict:
                if method == "notifications/progress":
                    token = params.get("progressToken")
                else:
                    ref = params.get("requestId")
    elif kind == "response":
        result = obj["result"]
        if type(result) is dict and result.get("isError") is True:
            tool_error = True
    return kind, method, id, error, tool, token, ref, tool_error


def _summary_of(obj: Any, kind: str, method: str | None, tool: str | None, error: str | None, small: bool) -> str:
    if kind == "request":
        return _request_summary(method, obj.get("params"), tool, small)
    if kind == "notification":
        return _notification_summary(method, obj.get("params"), small)
    if kind == "response":
        return _result_summary(obj["result"], small)
    if kind == "error":
        return _error_summary(obj["error"], small)
    return _brief(error or "")


def _batch_summary(parts: tuple) -> str:
    labels = []
    for kind, method, id, tool in parts:
        if kind == "response" or kind == "error":
            labels.append(f"{kind} {id_text(id)}")
        elif method:
            labels.append(method if tool is None else f"{method}({tool})")
        else:
            labels.append(kind)
    return _brief(f"batch[{len(parts)}]: " + ", ".join(labels))


def _summarize(rec: Record) -> str:
    """Build ``rec.summary`` by re-parsing ``rec.raw`` (called once, on first read; big lines
    have theirs from the start, see :func:`_build_big`)."""
    if rec.kind == "batch" and rec.parts is not None:
        return _batch_summary(rec.parts)
    if rec.kind == "invalid":
        return _brief(rec.error or "")
    try:
        obj = _loads(rec.raw)
    except (ValueError, RecursionError):
        return _brief(rec.error or "invalid JSON")
    kind, method, _id, error = classify(obj)
    if kind == "batch" or kind == "invalid":
        return _brief(error or "")
    # For a request, params.name etc. come from obj; rec.tool of a response is the request's.
    tool = _target(method, obj.get("params") or {}) if kind == "request" and type(obj.get("params")) is dict else None
    return _summary_of(obj, kind, method, tool, error, rec.size <= _SMALL)


def _batch_parts(items: list) -> tuple:
    parts = []
    for item in items:
        kind, method, id, _err, tool, _tok, ref, _te = _parse_element(item)
        if method == "notifications/cancelled":
            id = ref
        parts.append((kind, method, id, tool))
    return tuple(parts)


#: Lines at least this long get their summary built from the parse that builds the record: a
#: store may move their body out of memory (a spool, or the recording it came from), and reading
#: a big body back and parsing it again just to draw a log row would make scrolling stutter.
SUMMARY_EAGER = 4096

_PARSE = object()


def _build(raw: str, dir: str, session: str, seq: int, t: float, wall: float, index: int, size: int | None,
           obj: Any = _PARSE) -> Record:
    """The hot path shared by :func:`record_from_line` and :func:`record_from_frame`.

    It inlines :func:`classify` and :func:`_parse_element` for the common shapes (a test
    checks they agree): at 100k lines a second every function call and tuple shows up.
    Positional ``Record(...)`` on purpose too: keywords cost noticeably more for 28 fields.
    ``obj`` is the parsed line when the caller has it (:func:`_build_big`).
    """
    if size is None:
        size = len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))
    if obj is _PARSE:
        if size >= SUMMARY_EAGER:
            return _build_big(raw, dir, session, seq, t, wall, index, size)
        try:
            obj = parse_json(raw)
        except (ValueError, RecursionError) as exc:
            return _invalid_json(raw, exc, dir, session, seq, t, wall, index, size)
    if type(obj) is dict:
        method = obj.get("method")
        if type(method) is str:
            if "id" in obj:
                id = obj["id"]
                tid = type(id)
                if tid is int or tid is str or tid is float:
                    # a request with a usable id: the common case, fully inline
                    tool = token = None
                    params = obj.get("params")
                    if type(params) is dict:
                        if method == "tools/call" or method == "prompts/get":
                            tool = params.get("name")
                            if type(tool) is not str:
                                tool = None
                        elif method[:10] == "resources/":
                            tool = params.get("uri")
                            if type(tool) is not str:
                                tool = None
                        meta = params.get("_meta")
                        if meta is not None and type(meta) is dict:
                            token = meta.get("progressToken")
                    return Record(
                        index, session, seq, t, wall, dir, raw, size, "request", method, id, tool, None, None,
                        "relayed", False, False, False, False, None, None, True, False, token, False, None,
                    )  # fmt: skip
            elif method != "notifications/progress" and method != "notifications/cancelled":
                return Record(index, session, seq, t, wall, dir, raw, size, "notification", method)
        elif method is None and "id" in obj:
            result = obj.get("result")
            if result is not None and "error" not in obj:
                id = obj["id"]
                tid = type(id)
                if tid is int or tid is str or tid is float:
                    te = type(result) is dict and result.get("isError") is True
                    return Record(
                        index, session, seq, t, wall, dir, raw, size, "response", None, id, None, None, None,
                        "relayed", False, False, False, False, None, None, False, False, None, te, None,
                    )  # fmt: skip
    elif type(obj) is list and obj:
        rec = Record(index, session, seq, t, wall, dir, raw, size, "batch")
        rec.parts = _batch_parts(obj)
        return rec
    # everything else (progress/cancel notifications, errors, odd ids, invalid shapes)
    kind, method, id, error, tool, token, ref, tool_error = _parse_element(obj)
    return Record(
        index, session, seq, t, wall, dir, raw, size, kind, method, id, tool, None, error,
        "relayed", False, False, False, False, None, None,
        kind == "request" and error is None,  # pending
        False, token, tool_error, ref,
    )  # fmt: skip


def _invalid_json(raw: str, exc: Exception, dir: str, session: str, seq: int, t: float, wall: float, index: int,
                  size: int) -> Record:
    msg = f"invalid JSON: {exc}" if isinstance(exc, ValueError) else "invalid JSON: nested too deeply"
    return Record(index, session, seq, t, wall, dir, raw, size, "invalid", None, None, None, None, msg)


def _build_big(raw: str, dir: str, session: str, seq: int, t: float, wall: float, index: int, size: int) -> Record:
    """:func:`_build` for a big line: the summary too, from the same parse (see SUMMARY_EAGER)."""
    try:
        obj = parse_json(raw)
    except (ValueError, RecursionError) as exc:
        return _invalid_json(raw, exc, dir, session, seq, t, wall, index, size)
    rec = _build(raw, dir, session, seq, t, wall, index, size, obj)
    kind = rec.kind
    if kind != "batch" and kind != "invalid":  # (those two are summarised without the body)
        # exactly what _summarize would build from the re-parsed body
        method = rec.method
        params = obj.get("params") if kind == "request" else None
        tool = _target(method, params) if type(params) is dict else None
        rec._summary = _summary_of(obj, kind, method, tool, classify(obj)[3], size <= _SMALL)
    return rec


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
    ``"invalid"`` with ``error`` set. A request starts ``pending`` (unless its id is unusable);
    a :class:`~omproxy_tui.core.store.Store` clears that when the answer arrives.
    """
    return _build(raw, dir, session, seq, t, wall, index, None)


def record_from_frame(frame: dict, session: str, index: int) -> Record:
    """Build a :class:`Record` from an inspect-channel ``message`` frame (see protocol.frames).

    Frame fields win where the proxy knows better (``size`` is the byte count on the wire;
    ``status``, ``held``). A frame ``error`` fills ``error`` when our own parse found nothing
    wrong (the proxy may know why a line is not valid JSON-RPC). Rare details (``changed``,
    ``injected``, ``raw_b64``, the frame's ``error``) are kept verbatim in ``extra``.
    """
    nkeys = len(frame)
    if nkeys == 8 and "type" in frame:
        # A frame with just the required keys (``type`` + the 7 below, no optional flag keys
        # at all): the shape most recordings and tests use. One C call, no flags to check.
        try:
            raw, dir, seq, t, wall, size, status = _frame_core(frame)
        except KeyError:
            pass
        else:
            if raw is not None and status == "relayed":
                return _build(raw, dir, session, seq, t, wall, index, size)
    elif nkeys >= 13:
        try:
            # One C call for every field of a well-formed frame (a dozen .get calls cost more
            # than the rest of this function); frames missing any key take the general path.
            raw, dir, seq, t, wall, size, status, held, changed, injected, to_insp, ferr = _frame_fields(frame)
        except KeyError:
            raw = None
        if raw is not None:
            rec = _build(raw, dir, session, seq, t, wall, index, size)
            if status == "relayed" and not (held or changed or injected or to_insp or ferr):
                return rec
            _apply_frame_flags(rec, frame)
            return rec
    get = frame.get
    raw = get("raw")
    if raw is None:
        # Not valid UTF-8: show the bytes with replacement characters, never try to pair it.
        b64 = get("raw_b64")
        try:
            data = base64.b64decode(b64) if b64 else b""
        except (ValueError, TypeError):
            data = b""
        error = get("error") or "line is not valid UTF-8"
        rec = Record(index, session, get("seq", 0), get("t", 0.0), get("wall", 0.0), get("dir", ""),
                     data.decode("utf-8", "replace"), len(data), "invalid", None, None, None, None, error)  # fmt: skip
        rec.extra = {"raw_b64": b64}
        _apply_frame_flags(rec, frame)
        return rec
    rec = _build(raw, get("dir", ""), session, get("seq", 0), get("t", 0.0), get("wall", 0.0), index, get("size"))
    _apply_frame_flags(rec, frame)
    return rec


_frame_fields = operator.itemgetter(
    "raw", "dir", "seq", "t", "wall", "size", "status", "held", "changed", "injected", "to_inspector", "error"
)
_frame_core = operator.itemgetter("raw", "dir", "seq", "t", "wall", "size", "status")


def _apply_frame_flags(rec: Record, frame: dict) -> None:
    get = frame.get
    extra = rec.extra
    status = get("status")
    if status and status != "relayed":
        rec.status = status
        if status == "held":
            rec.held = True
        elif status == "injected":
            rec.injected = True
    if get("held"):
        rec.held = True
    changed = get("changed")
    injected = get("injected")
    if changed or injected:
        extra = extra or {}
        if changed:
            rec.changed = True
            extra["changed"] = changed
        if injected:
            rec.injected = True
            extra["injected"] = injected
    if get("to_inspector"):
        rec.to_inspector = True
    ferr = get("error")
    if ferr:
        if rec.error is None:
            rec.error = ferr
            rec.pending = False
        extra = extra or {}
        extra["frame_error"] = ferr
    rec.extra = extra
