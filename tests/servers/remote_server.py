"""The SDK test server (tests/servers/sdk_server.py) over HTTP, behind a small ASGI layer that the
remote-leg tests need:

- every HTTP request is logged as one JSON line to $REMOTE_SERVER_LOG (``n``: when its head arrived, on
  the system-wide monotonic clock, so entries of a restarted server sort after the first one's;
  method, path, the MCP headers, the JSON-RPC method in the body, the status answered), so a test
  can check what reached the server and in which order;
- a ``tools/call`` of the tool named ``http_status`` is answered with the HTTP status in its
  ``code`` argument (and a short text body) instead of reaching the MCP server;
- a ``wait_for`` tool answers once a given file exists (a reply as slow as the test wants);
- ``--refuse-initialize`` answers every ``initialize`` with 503 (a server that takes no new session);
- ``--max-body N`` sets the SDK's own request body limit (a larger POST gets a real 413).

    python -m tests.servers.remote_server http|sse PORT [--max-body N] [--refuse-initialize]
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import uvicorn

from tests.servers.sdk_server import app as mcp_app

_log_lock = threading.Lock()


@mcp_app.tool()
async def wait_for(path: str) -> str:
    """Answer once `path` exists (a reply that is as slow as the test wants)."""
    import anyio

    while not os.path.exists(path):
        await anyio.sleep(0.05)
    return "done"


def _log(entry: dict) -> None:
    path = os.environ.get("REMOTE_SERVER_LOG")
    if path:
        with _log_lock, open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def wrap(inner, refuse_initialize: bool = False):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await inner(scope, receive, send)
        started = time.monotonic_ns()  # when the request's head arrived, before its body is read
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = b""
        if scope["method"] == "POST":
            more = True
            while more:
                msg = await receive()
                body += msg.get("body", b"")
                more = msg.get("more_body", False)
        try:
            obj = json.loads(body) if body else None
        except ValueError:
            obj = None
        entry = {"n": started, "http": scope["method"], "path": scope["path"],
                 "session": headers.get("mcp-session-id"), "version": headers.get("mcp-protocol-version"),
                 "method": obj.get("method") if isinstance(obj, dict) else None,
                 "id": obj.get("id") if isinstance(obj, dict) else None, "bytes": len(body)}
        params = obj.get("params") if isinstance(obj, dict) else None
        if (isinstance(params, dict) and obj.get("method") == "tools/call"
                and params.get("name") == "http_status"):
            code = int((params.get("arguments") or {}).get("code", 500))
            entry["status"] = code
            _log(entry)
            await send({"type": "http.response.start", "status": code,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"refused on purpose"})
            return

        if refuse_initialize and entry["method"] == "initialize":
            entry["status"] = 503
            _log(entry)
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"not accepting sessions"})
            return

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watch(message):
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                _log(entry)
            await send(message)

        await inner(scope, replay if scope["method"] == "POST" else receive, watch)

    return app


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    max_body = 4 << 20
    if "--max-body" in sys.argv:
        max_body = int(sys.argv[sys.argv.index("--max-body") + 1])
    if kind == "http":
        inner = mcp_app.streamable_http_app(max_request_body_size=max_body)
    else:
        inner = mcp_app.sse_app(max_request_body_size=max_body)
    # wrap() hands lifespan events through: the Starlette app's session manager must run.
    uvicorn.run(wrap(inner, "--refuse-initialize" in sys.argv), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
