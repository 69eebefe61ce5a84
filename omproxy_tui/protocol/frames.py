"""The inspect channel's wire protocol, version 1.

This module is the whole contract between a running proxy (`omproxy ... --inspect`) and any
inspector (omproxy-tui, a script, a third-party tool). It imports only the standard library so
both sides, and third parties, can use it.

Transport
=========
A unix stream socket. Each frame is one JSON object encoded as UTF-8 on one line, terminated by
``\\n`` (the MCP stdio framing; no newline may occur inside a frame). Frames can be large: a
``message`` frame carries a whole relayed MCP message, which may be tens of MB.

Discovery: each proxy serving the channel creates ``<runtime dir>/<pid>.sock`` and, beside it,
``<pid>.json`` holding the same ``proxy`` object the ``hello`` frame carries. The runtime dir is
``$XDG_RUNTIME_DIR/omproxy`` when that variable is set, else ``<tmp>/omproxy-<uid>``; it is mode
0700 and the socket 0600, so other users cannot connect. A socket whose pid is not alive is stale
and may be deleted by whoever finds it (see :func:`omproxy_tui.protocol.discovery.list_proxies`).

Proxy -> inspector frames
=========================
Every frame has ``"type"``. Frames describing something that happened (*event frames*:
``message``, ``resolved``, ``stderr``, ``lifecycle``) also carry ``seq``, ``t`` (seconds, the
proxy's monotonic clock: use differences for latency) and ``wall`` (seconds since the epoch).

Ordering guarantees:

- ``seq`` is one counter per proxy, starting at 1, shared by all event frames and by the proxy's
  hooks (``Line.seq``). A message is numbered and timestamped *before* it is forwarded, so a reply
  always has a higher ``seq`` (and ``t``) than its request.
- Each inspector receives event frames in strictly increasing ``seq`` order, live frames included
  (replies to its injections too). A gap means frames were lost (see ``lost``), were addressed to
  another inspector (replies to its injections), or were numbered for nothing to show.
- Frames without ``seq`` (``reply``, ``state``, ``inject_timeout``, ``lost``, ``error``) go into the
  same ordered stream: each is sent after every event frame numbered before it was sent, so e.g. the
  ``reply`` to ``inject`` comes after the injected ``message`` frame it names.
- The stream never waits on the relay: a message is sent as soon as its fate is known (forwarded,
  held, dropped), even while its write to a side that does not read is still blocked.

``hello``
    ``{"type":"hello","v":1,"proxy":{...},"backlog":N,"evicted":E,"subscriber":ID}`` -- first frame. ``proxy`` has
    ``pid``, ``name`` (session name), ``transport`` (``stdio``/``sse``/``http``), ``target`` (the
    command line as a list of strings, or the URL), ``started`` (wall time), ``version`` (omproxy's),
    ``socket`` (path). ``backlog`` is exactly how many event frames follow from the backlog ring
    before live ones. The backlog replays the session from its first message, bounded by count
    (``--inspect-backlog``) and by bytes (``--inspect-backlog-bytes``, default 64 MiB), oldest
    evicted first; the session's handshake (``initialize`` / ``server/discover`` requests and their
    answers, ``notifications/initialized``) is always replayed first, even once evicted.
    ``evicted`` (older proxies omit it: read it as 0) is how many earlier event frames the replay
    does not contain. An inspector that reconnects may de-duplicate *these* replayed frames by
    ``seq``; live frames are never repeats and must never be dropped.
``message``
    one relayed (or held, dropped, injected) MCP message::

        {"type":"message","seq":12,"t":…,"wall":…,"dir":"c2s"|"s2c",
         "raw":"<the line exactly as relayed, without its newline>",
         "size":<bytes of raw>, "error":null|"<why it is not valid JSON-RPC>",
         "held":false, "status":"relayed"|"held"|"dropped"|"injected"|"blocked",
         "changed":null|{"by":"<hook or inspector>","action":"replaced"|"dropped",
                         "original":"<line before the change>"},
         "injected":null|{"by":<subscriber id>,"id":"<inject id>"},
         "to_inspector":false}

    ``raw`` is decoded as UTF-8; a line that is not valid UTF-8 is sent with ``"raw_b64"`` (base64
    of the bytes) instead of ``raw``. ``error`` is set when the proxy parsed the line and found it
    is not JSON (server lines are always checked; client lines are forwarded unchecked, so an
    inspector should parse ``raw`` itself). ``status``: ``relayed`` (handed to the writer for its
    side, in order; if that write later fails because the side went away, a ``resolved`` frame
    with ``action: "dropped"``, ``by: "proxy"`` follows -- except that a stdio proxy answers a
    request its server never read with a JSON-RPC error instead, which arrives as its answer); ``held`` (waiting for the
    inspector); ``dropped`` (by a hook, or the other side was gone); ``blocked`` (a server line that
    was not forwarded because it is not JSON: a banner, a stray print); ``injected`` (made up by an
    inspector or the proxy, e.g. the error answering a dropped request); ``routed`` (a reply to an
    injected request, delivered to its inspector only).
    ``to_inspector`` is true for replies to injected requests: they were routed to the injecting
    inspector and never reached the other side (only that inspector receives them).
    A held message is sent once with ``held: true`` when it is held; when it is later released or
    dropped a ``resolved`` frame follows (and, when edited, a new ``message`` frame with the
    edited line and ``changed.by = "inspector"``).
``resolved``
    ``{"type":"resolved","seq","t","wall","of":<seq of the held message>,"action":"released"|"dropped"|"edited","by":ID}``
    -- also sent with ``"action":"dropped","by":"proxy","reason":"…"`` for a ``relayed`` message
    whose write failed because the other side went away before it was written.
``stderr``
    ``{"type":"stderr","seq","t","wall","line":"<one line of the server's stderr>"}``
``lifecycle``
    ``{"type":"lifecycle","seq","t","wall","event":E, ...}`` with E one of ``spawned`` (``pid``),
    ``exited`` (``code``), ``connected`` / ``failed`` (remote; ``detail``), ``client_eof``,
    ``signal`` (``signal``), ``closing``, ``fail_open`` (held traffic released because the last
    inspector left; ``released``); remote proxies also send ``http_error`` (``status``, ``reason``,
    ``method``, ``id``, ``detail``), ``reinitialized`` (the server lost the session and the client's
    handshake was replayed; ``reason``, ``old_session``, ``session``) and ``abandoned`` (requests
    unanswered when the client closed stdin and ``--timeout`` ran out, or at a signal; ``ids``,
    ``methods``), ``unreachable`` (a POST got no HTTP answer; ``method``, ``id``, ``detail``); with
    ``--otlp``: ``otlp_dropped`` (the first export failed; ``dropped``, ``endpoint``, ``error``) and
    ``otlp`` (at the end: ``exported``, ``dropped``, ``endpoint``).
    Hot restart (stdio; added to version 1 compatibly -- inspectors that do not know these events
    show them as any lifecycle event): ``restarting`` (``cause``: ``command`` / ``signal`` /
    ``watch`` / ``tool``, ``generation``: the number the new server will have, the first being 1;
    ``files`` for ``watch``), then ``spawned`` again (``pid``, ``generation``), then either
    ``restart`` (``ok: true``, ``cause``, ``generation``, ``pid``, ``downtime_ms``: how long client
    traffic was held, ``timings``: ``stop_ms``/``start_ms``/``lists_ms``, ``changed``:
    ``{"tools"|"prompts"|"resources": {"added":[names],"removed":[…],"changed":[…]}}`` for the
    lists that differ from what the client last saw (and were announced to it with
    ``notifications/<kind>/list_changed``), ``answered``: requests in flight answered with an
    error, ``files``) or ``restart_failed`` (``ok: false``, ``cause``, ``generation``, ``error``,
    ``stderr``: the new server's last stderr lines, ``answered``, ``downtime_ms``). The proxy's own
    messages to the new server (the replayed handshake, list requests) are ``message`` frames with
    status ``injected`` and ``injected.by: "proxy"``; their answers have status ``dropped`` and
    ``changed.by: "omproxy restart"`` (they never reach the client).
``state``
    ``{"type":"state","paused":{"c2s":bool,"s2c":bool},"intercept":null|"<filter>",
    "held":[{"seq":N,"dir":D,"reason":"paused"|"intercept"|"behind"},...],"held_bytes":N,
    "inspectors":N,"pending_injections":N}`` -- sent after hello and on every change (a command, and
    a message becoming held: after the ``message`` frames that held it). A message
    ``behind`` a held one in the same direction waits with it (order is kept).
``inject_timeout``
    ``{"type":"inject_timeout","inject_id":"…"}`` -- an injected request got no answer in time;
    ``notifications/cancelled`` was sent for it and a late answer will be swallowed.
``lost``
    ``{"type":"lost","n":N}`` -- this subscriber fell behind and N frames were skipped. Each
    inspector's outbound queue is bounded by bytes (``--inspect-queue-bytes``, default 32 MiB; one
    frame larger than that still goes when the queue is empty); frames that do not fit are skipped
    and counted, and ``lost`` is sent where the gap is, before the next frame that fits (or once
    the queue has room again). The relay never waits for an inspector.
``reply``
    ``{"type":"reply","id":<command id>,"ok":true,...}`` or ``{"type":"reply","id":…,"ok":false,
    "error":"<clear message>"}`` -- the answer to each command. A command frame that cannot be
    parsed gets ``{"type":"error","error":"…"}``.

Inspector -> proxy commands
===========================
``{"cmd":NAME,"id":<any JSON value, echoed in the reply>, ...args}``:

``pause``   ``{"dir":"c2s"|"s2c"|"both"}`` -- hold everything in that direction.
``resume``  ``{"dir":…}`` -- stop holding and release what is held, in order.
``intercept`` ``{"filter":"<filter expression>"|null}`` -- hold only matching messages (see
            :mod:`omproxy_tui.core.filters`); null clears. The expression means what it means in a
            view: ``~s`` sees the session name, ``~m``/``~tool`` on a response its request's method and
            target. Operators that need what happens after the line moves (``~pending``, ``~slow``,
            ``~held``, ``~status``, ``~changed``, ``~injected``) are refused with an error naming them.
``release`` ``{"seq":N, "raw":optional "<edited line>"}`` -- release one held message, optionally
            replaced (the edit must be valid JSON; invalid edits are refused with an error reply).
``drop``    ``{"seq":N}`` -- drop a held message; a dropped client request is answered to the
            client with a JSON-RPC error so it does not wait forever.
``release_all`` ``{"dir": optional}``
``inject``  ``{"to":"server"|"client","message":{…JSON-RPC object…} | "raw":"<line>",
            "timeout":seconds (default 60), "force":bool}`` -- a request's id is replaced by a
            private one (``omproxy-<pid>-<n>``); the reply carries ``inject_id``, ``original_id``
            and ``seq``; the answer (and any progress for it) arrives as a ``message`` frame with
            ``to_inspector: true``, ``status: "routed"`` and ``injected.id`` set, to this
            inspector only. Requests to the server respect the session's era: in the handshake
            era they are refused until the client sent ``notifications/initialized`` (unless
            ``force``); in the 2026-07-28 era the client's latest ``_meta`` envelope is copied in.
``replay``  ``{"seq":N, "force":bool}`` -- re-send a captured request as an injection.
``cancel``  ``{"inject_id":"…"}`` -- cancel a pending injected request.
``restart`` -- restart the server under the live client (``omproxy stdio`` only; see README "Hot
            restart"). Replies at once with ``{"restarting": true}``; ``lifecycle`` frames
            (``restarting``, then ``restart`` or ``restart_failed``) tell how it went. A proxy that
            cannot restart (``http``/``sse``) replies ``ok: false``.
``ping``    -- replies ok.
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1

C2S = "c2s"
S2C = "s2c"
DIRECTIONS = (C2S, S2C)


def encode(frame: dict[str, Any]) -> bytes:
    """One frame as a line of bytes. ``ensure_ascii`` keeps it valid whatever the payload holds."""
    return json.dumps(frame, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one frame; raises ValueError with a clear message when it is not a JSON object."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"frame must be a JSON object, got {type(obj).__name__}")
    return obj
