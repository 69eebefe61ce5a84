"""Planning and applying `wrap` / `unwrap` over config files: read each file, find its server tables,
work out every entry's new text, and (unless it is a dry run) back up, journal and write.

Data flows one way: files -> FilePlan (pure, nothing written) -> apply() (the only writer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from . import files
from .clients import ConfigFile
from .entries import EntryChange, recognise, remote_kind, unwrap_entry, wrap_entry
from .journal import Journal
from .jsonc import Edit, JsoncError, Node, apply_edits, location, parse

__all__ = ["EntryResult", "FilePlan", "server_tables", "plan_file", "apply", "pointer"]


@dataclass
class EntryResult:
    server: str  # the entry's key: the name omproxy-tui will show
    scope: str  # "" or, in ~/.claude.json, the project directory it belongs to
    pointer: str  # JSON pointer of the entry in its file
    action: str  # wrapped, unwrapped, already wrapped, not wrapped, skipped
    reason: str = ""
    kind: str = ""  # stdio, http or sse (what it is, or what it was bridged from)


@dataclass
class FilePlan:
    config: ConfigFile
    path: Path  # the real file (symlinks followed)
    old_bytes: bytes = b""
    old_text: str = ""
    new_text: str = ""
    entries: list[EntryResult] = field(default_factory=list)
    error: str | None = None
    journal_puts: list[tuple[str, str, str]] = field(default_factory=list)  # pointer, original, wrapped
    journal_drops: list[str] = field(default_factory=list)
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        return self.error is None and self.new_text != self.old_text


def pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def server_tables(root: Node, tables: Iterable[str]) -> Iterator[tuple[str, str, Node]]:
    """(scope, pointer, object) for each server table the file's shape has."""
    if root.kind != "object":
        return
    for t in tables:
        if t in ("mcpServers", "servers"):
            m = root.get(t)
            if m is not None and m.value.kind == "object":
                yield "", pointer(t), m.value
        elif t == "projects":
            projects = root.get("projects")
            if projects is None or projects.value.kind != "object":
                continue
            for p in projects.value.members:
                s = p.value.get("mcpServers") if p.value.kind == "object" else None
                if s is not None and s.value.kind == "object":
                    yield p.key, pointer("projects", p.key, "mcpServers"), s.value


def _load(plan: FilePlan) -> Node | None:
    try:
        plan.old_bytes, plan.old_text = files.read_text(plan.path)
    except FileNotFoundError:
        plan.error = "no such file"
        return None
    except (OSError, UnicodeDecodeError) as exc:
        plan.error = f"cannot read it: {exc}"
        return None
    plan.new_text = plan.old_text
    try:
        return parse(plan.old_text)
    except JsoncError as exc:
        line, col = location(plan.old_text, exc.offset)
        plan.error = f"line {line}, column {col}: {exc.message} (not valid JSON/JSONC; left untouched)"
        return None


def _entry_kind(entry: Node, url_key: str) -> str:
    w = recognise(entry)
    if w is not None:
        return w.sub
    if entry.kind != "object":
        return "?"
    if entry.get("command") is not None:
        return "stdio"
    return remote_kind(entry, url_key) or "?"


def plan_file(config: ConfigFile, mode: str, *, servers: set[str] | None = None, journal: Journal,
              launcher: list[str] | None = None, options: list[str] | None = None,
              skip_remote: str | None = None) -> FilePlan:
    """What `mode` (wrap, unwrap or status) would do to one file. Writes nothing."""
    plan = FilePlan(config, files.target_of(config.path))
    root = _load(plan)
    if root is None:
        return plan
    key = str(plan.path)
    file_edits: list[Edit] = []
    for scope, prefix, table in server_tables(root, config.tables):
        for m in table.members:
            if servers and m.key not in servers:
                continue
            ptr = prefix + pointer(m.key)
            entry = m.value
            res = EntryResult(m.key, scope, ptr, "", kind=_entry_kind(entry, config.url_key))
            plan.entries.append(res)
            old = entry.text(plan.old_text)
            change: EntryChange
            new = old
            if mode == "status":
                res.action = "wrapped" if recognise(entry) else "not wrapped"
                continue
            if mode == "wrap":
                if skip_remote and entry.kind == "object" and entry.get("command") is None:
                    change = EntryChange("skipped", reason=skip_remote)
                else:
                    change = wrap_entry(plan.old_text, m.key, entry, launcher or ["omproxy"], options or [])
                if change.action == "wrapped":
                    new = _splice(plan.old_text, entry, change.edits)
                    plan.journal_puts.append((ptr, old, new))
            else:
                rec = journal.get(key, ptr)
                if rec is not None and rec["wrapped"] == old:
                    change = EntryChange("unwrapped")
                    new = rec["original"]
                else:
                    change = unwrap_entry(plan.old_text, entry, config.url_key)
                    if change.action == "unwrapped":
                        new = _splice(plan.old_text, entry, change.edits)
                        change.reason = ("edited since it was wrapped: rebuilt from its command line"
                                         if rec is not None else "rebuilt from its command line")
                    elif rec is not None and change.action == "not wrapped":
                        change = EntryChange("skipped", reason="changed since it was wrapped and no longer "
                                                               "runs omproxy; left as it is")
                if change.action == "unwrapped":
                    plan.journal_drops.append(ptr)
            res.action, res.reason = change.action, change.reason
            if new != old:
                file_edits.append(Edit(entry.start, entry.end, new))
    plan.new_text = apply_edits(plan.old_text, file_edits)
    return plan


def _splice(text: str, entry: Node, edits: list[Edit]) -> str:
    """The entry's new text: its edits, shifted to the entry's own span."""
    local = [Edit(e.start - entry.start, e.end - entry.start, e.text) for e in edits]
    assert all(0 <= e.start <= e.end <= entry.end - entry.start for e in local), "edit outside its entry"
    return apply_edits(text[entry.start:entry.end], local)


def apply(plans: list[FilePlan], journal: Journal) -> None:
    """Write every changed plan: journal first (a record is true whether or not the write happens),
    then a backup, then the atomic replace. A file changed underneath us gets an error, not a write."""
    for plan in plans:
        if not plan.changed:
            continue
        key = str(plan.path)
        for ptr, original, wrapped in plan.journal_puts:
            journal.put(key, ptr, original, wrapped)
        journal.save()
        try:
            plan.backup = files.backup(plan.path)
            files.atomic_write(plan.path, plan.new_text.encode("utf-8"), expect=plan.old_bytes)
        except files.ChangedUnderneath:
            plan.error = "it changed while we were editing it (is the client saving it?); not written, run again"
            continue
        except OSError as exc:
            plan.error = f"cannot write it: {exc}"
            continue
        for ptr in plan.journal_drops:
            journal.drop(key, ptr)
        journal.save()
