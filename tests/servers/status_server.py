"""An HTTP server that answers every request with one status (and a WWW-Authenticate challenge for
401), for the remote proxies' failure tests:  python -m tests.servers.status_server PORT STATUS"""

import sys

import uvicorn


def make_app(status: int):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/plain")]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="omproxy-test", error="invalid_token"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"nope"})

    return app


if __name__ == "__main__":
    uvicorn.run(make_app(int(sys.argv[2])), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
