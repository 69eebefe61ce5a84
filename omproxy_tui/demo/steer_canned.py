"""A canned *live* session for steering screenshots and snapshot tests: the canned session plus
a re-listed ``tools/list`` carrying the demo server's real input schemas, two held messages and a
``state`` frame saying so, served by :class:`CannedLiveSource` (a source that answers every
command ``ok``, as a proxy would, without a proxy). No textual.
"""

from __future__ import annotations

import asyncio
from typing import Any

from omproxy_tui.client.sources import Source, connection_frame
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.protocol.builder import message_frame, state_frame

#: ``tools/list`` of ``omproxy_tui.demo.server`` as its SDK generates it (tests/core checks they agree)
DEMO_TOOLS: list[dict[str, Any]] = [
    {
        "name": "echo",
        "description": "Echo the text back (fast).",
        "inputSchema": {
            "properties": {
                "text": {
                    "title": "Text",
                    "type": "string"
                }
            },
            "required": [
                "text"
            ],
            "title": "echoArguments",
            "type": "object"
        }
    },
    {
        "name": "slow",
        "description": "Sleep for `seconds` (at most 10) and then answer.",
        "inputSchema": {
            "properties": {
                "seconds": {
                    "default": 1.0,
                    "title": "Seconds",
                    "type": "number"
                }
            },
            "title": "slowArguments",
            "type": "object"
        }
    },
    {
        "name": "deploy",
        "description": "Pretend to deploy a service (required, enum and nested arguments: try composing it).",
        "inputSchema": {
            "$defs": {
                "DeployOptions": {
                    "properties": {
                        "replicas": {
                            "default": 1,
                            "description": "How many copies to run",
                            "maximum": 10,
                            "minimum": 1,
                            "title": "Replicas",
                            "type": "integer"
                        },
                        "dry_run": {
                            "default": True,
                            "description": "Only say what would happen",
                            "title": "Dry Run",
                            "type": "boolean"
                        }
                    },
                    "title": "DeployOptions",
                    "type": "object"
                }
            },
            "properties": {
                "service": {
                    "title": "Service",
                    "type": "string"
                },
                "environment": {
                    "enum": [
                        "dev",
                        "staging",
                        "prod"
                    ],
                    "title": "Environment",
                    "type": "string"
                },
                "options": {
                    "anyOf": [
                        {
                            "$ref": "#/$defs/DeployOptions"
                        },
                        {
                            "type": "null"
                        }
                    ],
                    "default": None
                },
                "tags": {
                    "anyOf": [
                        {
                            "items": {
                                "type": "string"
                            },
                            "type": "array"
                        },
                        {
                            "type": "null"
                        }
                    ],
                    "default": None,
                    "title": "Tags"
                }
            },
            "required": [
                "service",
                "environment"
            ],
            "title": "deployArguments",
            "type": "object"
        }
    },
    {
        "name": "fail",
        "description": "Always fails (tool error).",
        "inputSchema": {
            "properties": {
                "reason": {
                    "default": "demo failure",
                    "title": "Reason",
                    "type": "string"
                }
            },
            "title": "failArguments",
            "type": "object"
        }
    },
    {
        "name": "big",
        "description": "Return a large text result of `kb` kilobytes (at most 20000).",
        "inputSchema": {
            "properties": {
                "kb": {
                    "default": 256,
                    "title": "Kb",
                    "type": "integer"
                }
            },
            "title": "bigArguments",
            "type": "object"
        }
    },
    {
        "name": "progress",
        "description": "Report progress over `steps` steps.",
        "inputSchema": {
            "properties": {
                "steps": {
                    "default": 5,
                    "title": "Steps",
                    "type": "integer"
                },
                "delay": {
                    "default": 0.2,
                    "title": "Delay",
                    "type": "number"
                }
            },
            "title": "progressArguments",
            "type": "object"
        }
    },
    {
        "name": "log",
        "description": "Send log notifications to the client and a line to stderr.",
        "inputSchema": {
            "properties": {
                "level": {
                    "default": "info",
                    "title": "Level",
                    "type": "string"
                },
                "message": {
                    "default": "hello from the demo server",
                    "title": "Message",
                    "type": "string"
                }
            },
            "title": "logArguments",
            "type": "object"
        }
    }
]


def steer_session(wall0: float = T0, *, rounds: int = 2) -> list[dict[str, Any]]:
    """Frames: ``canned_session`` + a tools/list re-list + a held ``slow`` call + the state."""
    frames = canned_session(wall0, rounds=rounds)
    last = [f for f in frames if "seq" in f][-1]
    seq, t, wall = last["seq"], last["t"], last["wall"]

    def add(direction: str, obj: Any, dt: float, **fields: Any) -> dict[str, Any]:
        nonlocal seq, t, wall
        seq, t, wall = seq + 1, t + dt, wall + dt
        frame = message_frame(seq, t, wall, direction, obj, **fields)
        frames.append(frame)
        return frame

    add("c2s", {"jsonrpc": "2.0", "id": 900, "method": "tools/list", "params": {}}, 0.2)
    add("s2c", {"jsonrpc": "2.0", "id": 900, "result": {"tools": DEMO_TOOLS}}, 0.004)
    add("c2s", {"jsonrpc": "2.0", "id": 901, "method": "tools/call",
                       "params": {"name": "slow", "arguments": {"seconds": 5}}}, 0.3, status="held")
    held = [f for f in frames if f.get("type") == "message" and f.get("status") == "held"]
    frames.append(state_frame(
        intercept="~tool slow | ~tool echo",
        held=[{"seq": f["seq"], "dir": f["dir"], "reason": "intercept"} for f in held],
        held_bytes=sum(f["size"] for f in held)))
    return frames


class CannedLiveSource(Source):
    """Plays :func:`steer_session` as a live proxy would, and says ``ok`` to every command
    (recorded in :attr:`commands`): screenshots and snapshots of steering need a live session."""

    can_send = True

    def __init__(self, frames: list[dict[str, Any]] | None = None, key: str = "canned-live") -> None:
        super().__init__()
        self.frames = frames if frames is not None else steer_session()
        self.key = key
        self.label = "demo"
        self.commands: list[dict[str, Any]] = []

    async def run(self, emit) -> None:  # type: ignore[override]
        emit([connection_frame("connecting", self.key)])
        hello = [f for f in self.frames if f.get("type") == "hello"]
        if hello:
            self.proxy.update(hello[0].get("proxy") or {})
        self.state = "live"
        emit(hello + [connection_frame("live", self.key)])
        emit([f for f in self.frames if f.get("type") != "hello"])
        while not self._closed:
            await asyncio.sleep(0.2)

    async def send(self, cmd: dict[str, Any]) -> Any:
        self.commands.append(cmd)
        return cmd.get("id")

    async def request(self, cmd: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        self.commands.append(cmd)
        return {"type": "reply", "id": cmd.get("id"), "ok": True}
