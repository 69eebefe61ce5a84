"""Append-only record store with JSON-RPC request/response pairing.

Pairing rules (JSON-RPC ids are chosen by the *requester*, so they are only unique per session
and per direction):

* A request travelling ``c2s`` is answered by the next response/error travelling ``s2c`` with
  the same :func:`~omproxy_tui.core.records.id_key` in the same session; server-to-client
  requests (``sampling/createMessage``, ``elicitation/create``, ``roots/list``, ``ping``) the
  other way round. Pending requests are keyed by ``(session, requester_dir, id_key)``, so
  ``1``, ``"1"`` and ``1.0`` never pair with each other and sessions never mix.
* On pairing, the response gets ``method``/``tool`` of its request, both get ``pair`` (the
  other's index) and ``latency`` (``response.t - request.t``, proxy clock), and the request
  stops being ``pending``.
* ``notifications/cancelled`` (``params.requestId``, sent by the requester, so looked up in its
  own direction) marks the request ``cancelled`` and no longer pending. The request stays in
  the pairing table so a late response (a cancel can race the answer) still pairs with it. The
  notification's ``pair`` points at the request.
* ``notifications/progress`` gets ``pair`` = the request that carried its ``progressToken``
  (while that request is unanswered) and inherits its ``tool``. ``pair`` is one-way here: the
  request's own ``pair`` stays its response.
* Duplicate ids: a new request whose key is still pending takes over the key; the older one
  stays ``pending`` forever ("pending-orphaned": we cannot tell which of the two a response
  answers, and a client re-using a live id is the bug worth seeing). Exception: when the new
  request is ``changed`` (an inspector's edit of a held request is re-sent as a new message
  with the same id), the old one is superseded, not orphaned: it stops being pending.
* Responses with no matching request (id null -- JSON-RPC's "could not read your id" --, a
  request from before the capture, an unknown id) are orphans: ``method`` None, ``pair`` None.
* A response recorded *before* its own request (a proxy that numbered the two directions in the
  wrong order, old recordings): the orphan waits, and a request with its id arriving within
  :data:`EARLY_WINDOW` seconds (proxy clock) pairs with it at once -- the request is never
  pending, and both get latency 0.0 (the real one is unknown; never negative).
* When a session ends (:meth:`Store.end_session`), its requests still waiting are *unanswered*:
  no longer pending (``~pending``, the pending count), listed in :attr:`Store.unanswered`.
* Requests with an unusable id (null, object...) are never pending and never paired.
* Batches (JSON-RPC 2.0 batches; MCP allowed them only in 2025-03-26): every element takes part
  in pairing, using the per-element ``Record.parts``. A batch of requests is one record that is
  ``pending`` until all its requests are answered (its ``pair`` is the first answer, its
  ``latency`` the time to the last); a single response to one of its requests gets the
  element's method. A batch of responses gets ``pair``/``latency`` of its first answered
  request; each request it answers gets the batch as ``pair``. Progress tokens inside batches
  are not tracked.

Memory: bodies (``raw``) count against a budget (``max_memory``, default
:func:`~omproxy_tui.core.spool.default_max_memory`, 256 MiB; ``omproxy-tui --max-memory``). Past
it the oldest bodies move to a spool file (:mod:`omproxy_tui.core.spool`) and are read back when
something reads ``record.raw``; the rest of every record stays in memory, column-wise (a
:class:`~omproxy_tui.core.table.RecordTable`: ~90 bytes a message instead of a ~560-byte record
object with its numbers). Records of a recording (frames carrying ``_at``, see
:class:`~omproxy_tui.protocol.recording.RecordingReader`) are spooled by pointing into the
recording itself: nothing is written.

Held messages: ``resolved`` frames update the held record (``held`` False, ``status``
``relayed``/``dropped``/``edited``); see :meth:`Store.resolve`.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from omproxy_tui.core import spool as _spool
from omproxy_tui.core.records import (
    SUMMARY_EAGER, Record, _frame_core, _frame_fields, _scan_once, id_key, record_from_frame, request_target,
)
from omproxy_tui.core.table import (
    _NAN, _ODD, _QMAX, _QMIN, DIR, KIND, LATENCY, METHOD, NC, NF, NI, PAIR, PENDING, SESSION, SPOOL_SHIFT, TOOL,
    TOOL_ERROR, RecordTable, StoredRecord, _pack_floats, _pack_ints,
)

__all__ = ["Store"]

_OTHER = {"c2s": "s2c", "s2c": "c2s"}

#: How long (proxy clock, seconds) an orphan response waits for a request it may have overtaken.
EARLY_WINDOW = 1.0

#: What keeping a body in memory costs beyond its characters (the str object's header).
_BODY_OVERHEAD = 49
#: ... and keeping a recorded record's location until its body is dropped.
_LOCATED_OVERHEAD = 100
#: Bodies at least this long get their summary built before they are spooled (reading a big
#: body back to draw a log row would make scrolling stutter); small ones build it on demand.
_SUMMARY_FIRST = SUMMARY_EAGER

#: ``resolved.action`` -> the held record's new ``status``.
_RESOLVED_STATUS = {"released": "relayed", "dropped": "dropped", "edited": "edited"}


class Store:
    """All records of all sessions, in arrival order; ``store[i].index == i``.

    Records live column-wise in :attr:`records` (a :class:`~omproxy_tui.core.table.RecordTable`):
    ``store[i]`` is a record made on demand that reads and writes them. Only the owner (the TUI's
    app, a test) mutates the store, through :meth:`add` / :meth:`add_frame` / :meth:`resolve`;
    each returns the indices whose display changed so views and stats can update incrementally.
    A record passed to :meth:`add` is copied in (its ``index`` is set): read the store's record
    afterwards, the one passed in does not follow its pairing.
    """

    __slots__ = (
        "records",
        "_by_session",
        "_last_session",
        "_last_list",
        "_pending",
        "_tokens",
        "_held",
        "_batch_open",
        "_npending",
        "_early",
        "unanswered",
        "max_memory",
        "body_bytes",
        "spool_error",
        "_evict_at",
        "_body_spool",
        "_located",
        "_files",
    )

    def __init__(self, max_memory: int | None = None) -> None:
        #: The records (a list whose records read the table's columns); read freely, never mutate.
        self.records: RecordTable = RecordTable()
        # session -> indices of its records, in order (an array: 8 bytes a record)
        self._by_session: dict[str, array] = {}
        # one-entry cache: consecutive records almost always come from the same session
        self._last_session: str | None = None
        self._last_list: array = array("q")
        # _pkey(session, requester_dir, id) -> index of the request (or batch) awaiting an answer
        self._pending: dict[tuple, int] = {}
        # _pkey(session, requester_dir, token) -> index of the request that carries the token
        self._tokens: dict[tuple, int] = {}
        # (session, seq) -> index of a record that is currently held
        self._held: dict[tuple, int] = {}
        # batch request index -> number of its requests still unanswered
        self._batch_open: dict[int, int] = {}
        self._npending = 0
        # pairing key of the request an orphan response answers -> the response's index
        self._early: dict[tuple, int] = {}
        #: indices of requests whose session ended before they were answered
        self.unanswered: set[int] = set()
        #: budget (bytes) for bodies held in memory; beyond it the oldest go to a spool
        self.max_memory: int = _spool.default_max_memory() if max_memory is None else max(0, int(max_memory))
        #: what the bodies held in memory cost now (characters + per-body overhead)
        self.body_bytes = 0
        #: why bodies could not be spooled (then they all stay in memory), or None
        self.spool_error: str | None = None
        # records below this index have had their body spooled already (oldest first)
        self._evict_at = 0
        self._body_spool: _spool.BodySpool | None = None
        # index -> spooled raw value (spool number << SPOOL_SHIFT | token): where a recorded
        # record's line is, until its body is dropped from memory
        self._located: dict[int, int] = {}
        # recording path -> its spool number in the table (opened once per store)
        self._files: dict[str, int] = {}

    # ---- container protocol ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> StoredRecord:
        return self.records[index]

    def __iter__(self) -> Iterator[StoredRecord]:
        return iter(self.records)

    @property
    def sessions(self) -> set[str]:
        """Names of all sessions seen so far."""
        return set(self._by_session)

    @property
    def pending_count(self) -> int:
        """Records currently ``pending`` (including pending-orphaned duplicates)."""
        return self._npending

    def last_seq(self, session: str) -> int:
        """``seq`` of the session's most recent record (0 when none)."""
        lst = self._by_session.get(session)
        return self.records.seq_of(lst[-1]) if lst else 0

    def indices_for(self, session: str) -> array:
        """Indices of a session's records in order (the live sequence: do not mutate)."""
        return self._by_session.get(session, array("q"))

    def messages(self, session: str | None = None) -> list[StoredRecord]:
        """Records of one session (or all), in arrival order."""
        recs = self.records
        if session is None:
            return list(recs)
        return list(map(recs.__getitem__, self._by_session.get(session, ())))

    def pending_records(self) -> list[StoredRecord]:
        """Requests still awaiting an answer, oldest first."""
        if not self._npending:
            return []
        recs = self.records
        return [recs[i] for i, f in enumerate(recs.flags) if f & PENDING]

    def find_seq(self, session: str, seq: int) -> int | None:
        """Index of the record with this ``seq`` in ``session``, or None."""
        lst = self._by_session.get(session)
        if not lst:
            return None
        seq_of = self.records.seq_of
        pos = bisect_left(lst, seq, key=seq_of)
        if pos < len(lst) and seq_of(lst[pos]) == seq:
            return lst[pos]
        for i in lst:  # seqs out of order (merged captures): fall back to a scan
            if seq_of(i) == seq:
                return i
        return None

    # ---- ingest ---------------------------------------------------------------------------

    def add_frame(self, frame: dict, session: str) -> list[int]:
        """Ingest one inspect-channel frame: ``message`` -> :meth:`add`, ``resolved`` ->
        :meth:`resolve`; any other frame type is ignored (returns ``[]``).

        Hot path (every message of a session): the shapes of almost every frame -- the proxy's
        13 keys or the 7 required ones, relayed, nothing flagged, a body shorter than
        SUMMARY_EAGER, ordinary numbers -- whose line is a request with a usable id, a
        notification or a result are parsed straight into the table's columns and paired from
        locals: no :class:`~omproxy_tui.core.records.Record` in between (building one, copying
        its 28 fields into the columns and reading them back to pair was ~40% of ingest). It
        mirrors ``records._build`` for these shapes and :meth:`add`, and stores exactly what
        ``add(record_from_frame(frame))`` would (tests/core/test_core_store_plain.py checks
        they agree); every other frame takes that general path.
        """
        ftype = frame.get("type")
        if ftype != "message":
            if ftype == "resolved":
                return self.resolve(session, frame.get("of"), frame.get("action", "released"))
            return []
        at = frame.pop("_at", None)
        nkeys = len(frame)
        if nkeys == 13:
            try:
                raw, dir, seq, t, wall, size, status, held, changed, injected, to_insp, ferr = _frame_fields(frame)
            except KeyError:
                return self._add_general(frame, session, at)
            if held or changed or injected or to_insp or ferr:
                return self._add_general(frame, session, at)
        elif nkeys == 8:
            try:
                raw, dir, seq, t, wall, size, status = _frame_core(frame)
            except KeyError:
                return self._add_general(frame, session, at)
        else:
            return self._add_general(frame, session, at)
        if not (status == "relayed" and type(raw) is str and type(size) is int and 0 <= size < SUMMARY_EAGER
                and type(seq) is int and _QMIN <= seq <= _QMAX and type(t) is float and t == t
                and type(wall) is float and wall == wall):  # fmt: skip
            return self._add_general(frame, session, at)
        try:
            obj, end = _scan_once(raw, 0)
        except (StopIteration, ValueError, RecursionError):
            return self._add_general(frame, session, at)  # (the general path says why)
        if end != len(raw) or type(obj) is not dict:
            return self._add_general(frame, session, at)
        tool = token = ref = None
        tool_error = False
        method = obj.get("method")
        if type(method) is str:
            if "id" in obj:
                id = obj["id"]
                tid = type(id)
                if not (tid is int or tid is str or tid is float):
                    return self._add_general(frame, session, at)
                kind = "request"
                tool, token = request_target(method, obj.get("params"))
            else:
                kind = "notification"
                id = tid = None
                if method == "notifications/progress":
                    params = obj.get("params")
                    if type(params) is dict:
                        token = params.get("progressToken")
                elif method == "notifications/cancelled":
                    params = obj.get("params")
                    if type(params) is dict:
                        ref = params.get("requestId")
        elif method is None and "id" in obj:
            result = obj.get("result")
            if result is None or "error" in obj:
                return self._add_general(frame, session, at)
            id = obj["id"]
            tid = type(id)
            if not (tid is int or tid is str or tid is float):
                return self._add_general(frame, session, at)
            kind = "response"
            tool_error = type(result) is dict and result.get("isError") is True
        else:
            return self._add_general(frame, session, at)

        records = self.records
        idx = len(records)
        if at is not None:
            self._locate(at)
        # the row, as RecordTable.add writes it; first the codes (an unhashable session raises
        # here, before anything is written, as add() leaves the table)
        key = (session, dir, kind, method, tool, "relayed")
        codes = records._combos.get(key)
        if codes is None:
            codes = records._combo(key)
        if tid is int and _QMIN <= id <= _QMAX:
            id_col = id
        else:
            id_col = _ODD
            if id is not None:
                records.x_id[idx] = id
        records.ints.frombytes(_pack_ints(seq, size, id_col, -1))
        records.floats.frombytes(_pack_floats(t, wall, _NAN))
        records.codes.frombytes(codes)
        if kind == "request":
            records.flags.append(PENDING)
        else:
            records.flags.append(TOOL_ERROR if tool_error else 0)
        records.raw.append(raw)
        if token is not None:
            records.progress_token[idx] = token
        if ref is not None:
            records.ref_id[idx] = ref
        records._push(records._make(idx))

        bb = self.body_bytes = self.body_bytes + len(raw) + _BODY_OVERHEAD
        if bb > self.max_memory:
            self._evict()
        if session is self._last_session or session == self._last_session:
            self._last_list.append(idx)
        else:
            lst = self._by_session.get(session)
            if lst is None:
                lst = self._by_session[session] = array("q")
            lst.append(idx)
            self._last_session = session
            self._last_list = lst

        # pairing: what add() does for these kinds
        if kind == "request":
            key = (session, dir, tid, id if tid is int or tid is str else repr(id))
            if self._early:
                early = self._early.pop(key, None)
                if early is not None and t - records.t_of(early) <= EARLY_WINDOW:
                    return self._pair_early(records[idx], early)
            self._npending += 1
            self._pending[key] = idx  # (a duplicate id takes the key over: not ``changed``)
            if token is not None:
                tt = type(token)
                self._tokens[(session, dir, tt, token if tt is int or tt is str else repr(token))] = idx
            return [idx]
        if kind == "response":
            key = (session, _OTHER.get(dir), tid, id if tid is int or tid is str else repr(id))
            ridx = self._pending.pop(key, None)
            if ridx is None:
                self._wait_for_request(key, idx)
                return [idx]
            codes = records.codes
            r0 = ridx * NC
            if codes[r0 + KIND] == records.kind.index.get("request"):
                floats = records.floats
                rt = floats[ridx * NF]
                latency = t - (rt if rt == rt else records.t_of(ridx))
                ints = records.ints
                ints[idx * NI + PAIR] = ridx
                ints[ridx * NI + PAIR] = idx
                floats[idx * NF + LATENCY] = latency
                floats[ridx * NF + LATENCY] = latency
                i0 = idx * NC
                codes[i0 + METHOD] = codes[r0 + METHOD]
                codes[i0 + TOOL] = codes[r0 + TOOL]
                flags = records.flags
                if flags[ridx] & PENDING:
                    flags[ridx] &= ~PENDING & 0xFF
                    self._npending -= 1
                rtoken = records.progress_token.get(ridx)
                if rtoken is not None:
                    tkey = _pkey(session, key[1], rtoken)  # (key[1]: the request's direction)
                    if self._tokens.get(tkey) == ridx:
                        del self._tokens[tkey]
                return [idx, ridx]
            changed = [idx]
            self._pending[key] = ridx  # let the general path pop it again
            self._answer(records[idx], id, True, changed)
            return changed
        if ref is not None:  # notifications/cancelled
            changed = [idx]
            self._cancel(records[idx], ref, True, changed)
            return changed
        if token is not None and method == "notifications/progress":
            ridx = self._tokens.get(_pkey(session, _OTHER.get(dir), token))
            if ridx is not None:
                records.ints[idx * NI + PAIR] = ridx
                codes = records.codes
                codes[idx * NC + TOOL] = codes[ridx * NC + TOOL]
        return [idx]


    def _add_general(self, frame: dict, session: str, at: Any) -> list[int]:
        """:meth:`add_frame` for a message frame of any shape: through a Record."""
        rec = record_from_frame(frame, session, len(self.records))
        if at is not None:
            loc = self._locate(at)
            if loc is not None and rec._summary is not None and type(rec.raw) is str:
                # A big body of a recording (its summary was built with the record, see
                # records.SUMMARY_EAGER) is read from the file from the start: opening a
                # recording of 1 MB results never holds their bodies.
                self._located.pop(len(self.records), None)
                self.body_bytes -= _LOCATED_OVERHEAD
                rec.raw = loc  # type: ignore[assignment] - the raw column's spooled form
                _spool.note_spooled()
        return self.add(rec)

    def add(self, record: Record) -> list[int]:
        """Append ``record`` (copied into the table; its ``index`` is set), pair it, and return
        the indices whose display changed: the new record first, then any earlier record it
        updated."""
        # Hot path (every message): the common request/response cases are inlined.
        records = self.records
        idx = len(records)
        record.index = idx
        raw = record.raw  # (an int: already spooled, see add_frame)
        session = record.session
        try:
            records.add(record)
        except (TypeError, ValueError, OverflowError):
            # a value no column can hold (an unhashable session, a latency that is no
            # number): the table is put back as it was and the caller skips the frame
            records.truncate(idx)
            raise
        if type(raw) is str:
            self.body_bytes += len(raw) + _BODY_OVERHEAD
        if self.body_bytes > self.max_memory:
            self._evict()
        if session is self._last_session or session == self._last_session:
            self._last_list.append(idx)
        else:
            lst = self._by_session.get(session)
            if lst is None:
                lst = self._by_session[session] = array("q")
            lst.append(idx)
            self._last_session = session
            self._last_list = lst
        if record.held:
            self._held[(session, record.seq)] = idx

        kind = record.kind
        if kind == "request":
            if record.pending:
                id = record.id
                t = type(id)
                key = (session, record.dir, t, id if t is int or t is str else repr(id))
                if self._early:
                    early = self._early.pop(key, None)
                    if early is not None and record.t - records.t_of(early) <= EARLY_WINDOW:
                        return self._pair_early(records[idx], early)
                self._npending += 1
                old = self._pending.get(key)
                self._pending[key] = idx
                token = record.progress_token
                if token is not None:
                    self._tokens[_pkey(session, record.dir, token)] = idx
                if old is not None and record.changed:
                    return self._supersede(old, [idx])
            return [idx]
        if kind == "response" or kind == "error":
            id = record.id
            if id is None:
                return [idx]
            t = type(id)
            key = (session, _OTHER.get(record.dir), t, id if t is int or t is str else repr(id))
            ridx = self._pending.pop(key, None)
            if ridx is None:
                self._wait_for_request(key, idx)
                return [idx]
            codes = records.codes
            r0 = ridx * NC
            if codes[r0 + KIND] == records.kind.index.get("request"):
                # plain pairing, inline and column-wise
                latency = record.t - records.t_of(ridx)
                ints = records.ints
                floats = records.floats
                ints[idx * NI + PAIR] = ridx
                ints[ridx * NI + PAIR] = idx
                floats[idx * NF + LATENCY] = latency
                floats[ridx * NF + LATENCY] = latency
                i0 = idx * NC
                codes[i0 + METHOD] = codes[r0 + METHOD]
                codes[i0 + TOOL] = codes[r0 + TOOL]
                flags = records.flags
                if flags[ridx] & PENDING:
                    flags[ridx] &= ~PENDING & 0xFF
                    self._npending -= 1
                token = records.progress_token.get(ridx)
                if token is not None:
                    tkey = _pkey(session, records.name(ridx, DIR), token)
                    if self._tokens.get(tkey) == ridx:
                        del self._tokens[tkey]
                return [idx, ridx]
            changed = [idx]
            self._pending[key] = ridx  # let the general path pop it again
            self._answer(records[idx], id, True, changed)
            return changed
        changed = [idx]
        if kind == "notification":
            method = record.method
            if method == "notifications/cancelled":
                if record.ref_id is not None:
                    self._cancel(records[idx], record.ref_id, True, changed)
            elif method == "notifications/progress" and record.progress_token is not None:
                ridx = self._tokens.get(_pkey(session, _OTHER.get(record.dir), record.progress_token))
                if ridx is not None:
                    records.ints[idx * NI + PAIR] = ridx
                    codes = records.codes
                    codes[idx * NC + TOOL] = codes[ridx * NC + TOOL]
        elif kind == "batch" and record.parts:
            self._add_batch(records[idx], changed)
        return changed

    def resolve(self, session: str, of: Any, action: str) -> list[int]:
        """Apply a ``resolved`` frame: the held message with seq ``of`` was released, dropped or
        edited. Returns the changed indices (empty when the held message is unknown)."""
        idx = self._held.pop((session, of), None)
        if idx is None:
            found = self.find_seq(session, of) if isinstance(of, int) else None
            if found is None:
                return []
            idx = found
        rec = self.records[idx]
        rec.held = False
        rec.status = _RESOLVED_STATUS.get(action, action)
        if action in ("dropped", "edited") and rec.kind == "request" and rec.pending:
            # Never reaches the server: no real answer will come. A dropped request stays in
            # the pairing table so the proxy's synthetic error reply still pairs with it; an
            # edited one gives its key up to the edited copy that follows.
            self._settle(rec)
            if action == "edited":
                key = _pkey(session, rec.dir, rec.id)
                if self._pending.get(key) == idx:
                    del self._pending[key]
        return [idx]

    def toggle_mark(self, index: int) -> list[int]:
        """Mark or unmark a record (``~marked``); returns the changed indices."""
        rec = self.records[index]
        rec.marked = not rec.marked
        return [index]

    def end_session(self, session: str) -> list[int]:
        """The session ended (the proxy exited, a recording was read to its end): requests still
        waiting will never be answered. They stop being pending and join :attr:`unanswered`;
        returns their indices."""
        changed = []
        records = self.records
        for key, idx in list(self._pending.items()):
            if key[0] != session:
                continue
            del self._pending[key]
            rec = records[idx]
            if rec.pending:
                self._settle(rec)
                self.unanswered.add(idx)
                changed.append(idx)
        self._batch_open = {i: n for i, n in self._batch_open.items() if records.name(i, SESSION) != session}
        return sorted(changed)

    # ---- memory budget --------------------------------------------------------------------

    @property
    def spool(self) -> _spool.BodySpool | None:
        """The spool file bodies beyond the budget went to (None until one did)."""
        return self._body_spool

    def close(self) -> None:
        """Release the spool file (also done at interpreter exit). Records read after this
        whose body was spooled read back empty."""
        for sp in self.records.spools:
            sp.close()

    def _locate(self, at: Any) -> int | None:
        """Note where the next record's line is in its recording; returns that spooled form."""
        try:
            path, off, n = at
            no = self._files.get(path)
            if no is None:
                fs = _spool.FileSpool(path)
                no = self._files[path] = len(self.records.spools)
                self.records.spools.append(fs)
            loc = self._located[len(self.records)] = no << SPOOL_SHIFT | off << 32 | n
        except (TypeError, ValueError, OSError):
            return None
        self.body_bytes += _LOCATED_OVERHEAD
        return loc

    def _evict(self) -> None:
        """Spool the oldest bodies still in memory until they cost at most 3/4 of the budget
        (the slack keeps eviction to one batch, one write, every few MB)."""
        if self.spool_error is not None and not self._located:
            return
        records = self.records
        raws = records.raw
        sums = records.summary
        target = self.max_memory * 3 // 4
        mem = self.body_bytes
        located = self._located
        batch: list[int] = []
        n = len(records)
        i = self._evict_at
        while i < n and mem > target:
            raw = raws[i]
            if type(raw) is not str:
                i += 1
                continue
            loc = located.pop(i, None) if located else None
            if loc is None and self.spool_error is not None:
                i += 1
                continue
            if len(raw) >= _SUMMARY_FIRST and i not in sums:
                records[i].summary  # noqa: B018 - built (and kept) while the body is at hand
            if loc is not None:
                raws[i] = loc
                _spool.note_spooled()
                mem -= _LOCATED_OVERHEAD
            else:
                batch.append(i)
            mem -= len(raw) + _BODY_OVERHEAD
            i += 1
        self._evict_at = i
        if batch:
            try:
                spool = self._body_spool
                if spool is None:
                    spool = self._body_spool = _spool.BodySpool()
                    records.spools.append(spool)
                tokens = spool.append([raws[i] for i in batch])
            except (OSError, ValueError) as exc:
                # no spool (read-only cache dir, disk full): keep the bodies, say why once
                self.spool_error = f"cannot spool message bodies: {exc}"
                for j in batch:
                    mem += len(raws[j]) + _BODY_OVERHEAD
            else:
                tag = records.spools.index(spool) << SPOOL_SHIFT
                for j, token in zip(batch, tokens):
                    raws[j] = tag | token
                _spool.note_spooled()
        self.body_bytes = mem

    # ---- pairing internals ----------------------------------------------------------------

    def _wait_for_request(self, key: tuple, idx: int) -> None:
        """An orphan response: keep it a moment in case its request was recorded after it."""
        early = self._early
        early[key] = idx
        if len(early) > 4096:  # orphans that waited in vain: keep only the recent ones
            now = self.records[idx].t
            records = self.records
            self._early = {k: i for k, i in early.items() if now - records[i].t <= EARLY_WINDOW}

    def _pair_early(self, req: Record, ridx: int) -> list[int]:
        resp = self.records[ridx]
        req.pending = False
        req.pair = ridx
        resp.pair = req.index
        req.latency = resp.latency = max(0.0, resp.t - req.t)
        resp.method = req.method
        resp.tool = req.tool
        return [req.index, ridx]

    def _settle(self, rec: Record) -> None:
        if rec.pending:
            rec.pending = False
            self._npending -= 1

    def _register(self, rec: Record, id: Any, idx: int, changed: list[int]) -> None:
        """Make request ``idx`` (a record or a batch element with ``id``) await its answer."""
        key = _pkey(rec.session, rec.dir, id)
        old = self._pending.get(key)
        self._pending[key] = idx
        if old is not None and old != idx and rec.changed:
            self._supersede(old, changed)

    def _supersede(self, old: int, changed: list[int]) -> list[int]:
        # An edited re-send of a held request supersedes the original (see module doc).
        old_rec = self.records[old]
        if old_rec.kind != "batch" and old_rec.pending:
            self._settle(old_rec)
            changed.append(old)
        return changed

    def _answer(self, rec: Record, id: Any, whole: bool, changed: list[int]) -> int | None:
        """Pair answer ``rec`` (or its element with ``id``) with its request.

        ``whole`` is False for an element of a batch of answers: then ``rec``'s own fields are
        only set for its first answered element. Returns the request index or None.
        """
        ridx = self._pending.pop(_pkey(rec.session, _OTHER.get(rec.dir), id), None)
        if ridx is None:
            return None
        records = self.records
        req = records[ridx]
        latency = rec.t - req.t
        if rec.pair is None:
            rec.pair = ridx
            rec.latency = latency
            if whole:
                if req.kind == "batch":
                    rec.method, rec.tool = _element_target(req, id)
                else:
                    rec.method = req.method
                    rec.tool = req.tool
        if req.kind == "batch":
            left = self._batch_open.get(ridx, 0) - 1
            if req.pair is None:
                req.pair = rec.index
            if left <= 0:
                self._batch_open.pop(ridx, None)
                req.latency = latency
                self._settle(req)
            else:
                self._batch_open[ridx] = left
        else:
            req.pair = rec.index
            req.latency = latency
            self._settle(req)
            if req.progress_token is not None:
                tkey = _pkey(req.session, req.dir, req.progress_token)
                if self._tokens.get(tkey) == ridx:
                    del self._tokens[tkey]
        changed.append(ridx)
        return ridx

    def _cancel(self, rec: Record, request_id: Any, whole: bool, changed: list[int]) -> None:
        # The canceller is the requester: its notification travels the request's direction.
        ridx = self._pending.get(_pkey(rec.session, rec.dir, request_id))
        if ridx is None:
            return
        req = self.records[ridx]
        req.cancelled = True
        if req.kind == "batch":
            left = self._batch_open.get(ridx, 0) - 1
            if left <= 0:
                self._batch_open.pop(ridx, None)
                self._settle(req)
            else:
                self._batch_open[ridx] = left
        else:
            self._settle(req)
        if rec.pair is None:
            rec.pair = ridx
            if whole:
                rec.tool = req.tool
        changed.append(ridx)

    def _add_batch(self, rec: Record, changed: list[int]) -> None:
        idx = rec.index
        opened = 0
        for kind, method, id, _tool in rec.parts:
            if kind == "request":
                if id is not None and type(id) in (int, str, float):
                    self._register(rec, id, idx, changed)
                    opened += 1
            elif kind == "response" or kind == "error":
                if id is not None:
                    self._answer(rec, id, False, changed)
            elif method == "notifications/cancelled" and id is not None:
                self._cancel(rec, id, False, changed)
        if opened:
            self._batch_open[idx] = opened
            rec.pending = True
            self._npending += 1


def _pkey(session: str, dir: str | None, id: Any) -> tuple:
    """Pairing key. Same equality as :func:`~omproxy_tui.core.records.id_key` (``1``, ``"1"``,
    ``1.0`` distinct), flattened into one tuple; ``Store.add`` inlines it for int/str ids."""
    t = type(id)
    return (session, dir, t, id if t is int or t is str else repr(id))


def _element_target(batch: Record, id: Any) -> tuple[str | None, str | None]:
    """(method, tool) of the request element of ``batch`` whose id is ``id``."""
    key = id_key(id)
    for kind, method, eid, tool in batch.parts or ():
        if kind == "request" and id_key(eid) == key:
            return method, tool
    return None, None
