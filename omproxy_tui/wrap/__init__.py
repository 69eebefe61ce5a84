"""`omproxy wrap` / `unwrap` / `status`: put every server a client is configured with behind
omproxy, and take it out again, editing the clients' own config files safely.

Modules: clients (the catalogue and per-OS paths), jsonc (span-preserving JSONC parser and editor),
entries (one entry wrapped and unwrapped), launcher (the omproxy command to write), journal (exact
originals for byte-identical unwrap), files (backup and atomic write), plan (files -> plans ->
writes), report (results, diffs, the status table). Nothing here imports textual or mcp."""

from __future__ import annotations

import os
from typing import Iterable, Mapping

from .clients import CLIENTS, Client, ConfigFile, client_by_name, config_files, custom_file

__all__ = ["select_files", "CLIENTS", "client_by_name", "config_files"]


def select_files(clients: Iterable[Client], configs: Iterable[str], *, project: str | None = None,
                 env: Mapping[str, str] | None = None) -> list[ConfigFile]:
    """The files to work on: each --config file, plus every existing file of the named clients (of
    all clients when neither is given). Deduplicated by real path."""
    clients = list(clients)
    configs = list(configs)
    chosen: list[ConfigFile] = [custom_file(c) for c in configs]
    if not clients and not configs:
        clients = list(CLIENTS)
    for c in clients:
        chosen += [f for f in config_files(c, env=env, project=project) if f.exists()]
    seen: set[str] = set()
    out = []
    for f in chosen:
        real = os.path.realpath(f.path)
        if real not in seen:
            seen.add(real)
            out.append(f)
    return out
