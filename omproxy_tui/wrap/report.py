"""What `wrap`, `unwrap` and `status` print: per-file results, coloured unified diffs for
--dry-run, and the status table (with whether a live proxy is running under each server's name)."""

from __future__ import annotations

import difflib
import os
from typing import Any

import click

from .plan import FilePlan

__all__ = ["shown_path", "diff", "results", "status_rows", "status_table"]


def shown_path(path: Any) -> str:
    p = str(path)
    home = os.path.expanduser("~")
    return "~" + p[len(home):] if home not in ("", "/", "~") and p.startswith(home + os.sep) else p


def _where(plan: FilePlan) -> str:
    return f"{plan.config.client.title}: {shown_path(plan.path)}"


def diff(plan: FilePlan) -> str:
    """A unified diff of the planned change, coloured (click strips colour when not on a terminal)."""
    name = shown_path(plan.path)
    lines = difflib.unified_diff(plan.old_text.splitlines(keepends=True), plan.new_text.splitlines(keepends=True),
                                 fromfile=f"{name}", tofile=f"{name} (after)")
    out = []
    for line in lines:
        text = line.rstrip("\r\n")
        if line.startswith(("---", "+++")):
            out.append(click.style(text, bold=True))
        elif line.startswith("@@"):
            out.append(click.style(text, fg="cyan"))
        elif line.startswith("+"):
            out.append(click.style(text, fg="green"))
        elif line.startswith("-"):
            out.append(click.style(text, fg="red"))
        else:
            out.append(text)
    return "\n".join(out)


def _label(e) -> str:
    return f"{e.server} (project {e.scope})" if e.scope else e.server


def results(plans: list[FilePlan], mode: str, dry_run: bool) -> list[tuple[str, bool]]:
    """(line, is_error) pairs summarising what happened (or would happen) to each file."""
    out: list[tuple[str, bool]] = []
    for plan in plans:
        if plan.error:
            out.append((f"{_where(plan)}: {plan.error}", True))
            continue
        if not plan.entries:
            out.append((f"{_where(plan)}: no servers", False))
            continue
        head = _where(plan)
        if plan.changed:
            head += " (would change)" if dry_run else " (changed"
            if not dry_run:
                head += f"; backup {shown_path(plan.backup)})" if plan.backup else ")"
        out.append((head, False))
        for e in plan.entries:
            action = e.action
            if dry_run and action in ("wrapped", "unwrapped"):
                action = "would be " + action
            out.append((f"  {_label(e)}: {action}" + (f" — {e.reason}" if e.reason else ""), False))
    return out


def status_rows(plans: list[FilePlan], proxies: list[dict]) -> list[dict[str, str]]:
    running: dict[str, list[int]] = {}
    for p in proxies:
        if isinstance(p.get("name"), str):
            running.setdefault(p["name"], []).append(p["pid"])
    rows = []
    for plan in plans:
        if plan.error:
            rows.append({"client": plan.config.client.title, "file": shown_path(plan.path), "server": "",
                         "wrapped": "error", "running": plan.error})
            continue
        for e in plan.entries:
            pids = running.get(e.server, [])
            rows.append({
                "client": plan.config.client.title, "file": shown_path(plan.path), "server": _label(e),
                "wrapped": ("yes" if e.action == "wrapped" else "no") + (f" ({e.kind})" if e.kind else ""),
                "running": ("yes, pid " + ", ".join(map(str, pids))) if pids else "no",
            })
    return rows


def status_table(rows: list[dict[str, str]]):
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("client", "file", "server", "wrapped", "running"):
        table.add_column(col, overflow="fold")
    for r in rows:
        wrapped = r["wrapped"]
        style = "green" if wrapped.startswith("yes") else "red" if wrapped == "error" else "dim"
        # Text, not markup: file paths and server names may hold brackets
        table.add_row(Text(r["client"]), Text(r["file"]), Text(r["server"]), Text(wrapped, style=style),
                      Text(r["running"], style="green" if r["running"].startswith("yes") else ""))
    return table
