"""SqlMailboxStore: the mailbox services' queries and writes on SQLAlchemy.

The inbox page runs within one mailbox on the partial indexes of migration 0006 (ORDER BY ... LIMIT
walks an index in order, ids first, then their rows); its total is the sum of the trigger-kept counts
of ``mailbox_counts`` (no COUNT over the mailbox). Only the columns the inbox shows are read
(never the envelope or the wrapped key).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from voicemail.audit.holds import Hold, covers, hold_of
from voicemail.audit.tables import cdrs, holds
from voicemail.db.mailbox_counts import mailbox_counts
from voicemail.db.models import LISTED, DeadLetterRow, ForwardRow, MessageRow, PendingMoveRow, RecordingRow, utcnow
from voicemail.db.repository import _to_record
from voicemail.domain.errors import NotFound
from voicemail.domain.mailbox import CallScope, InboxQuery, InboxRow
from voicemail.domain.models import NEW_FOLDERS, OLD_FOLDERS, MailboxRef
from voicemail.domain.records import DESTROYED, LISTED_STATES, SHREDDING, MessageRecord

_ORDER = {
    "newest": (MessageRow.origtime.desc(), MessageRow.id.desc()),
    "oldest": (MessageRow.origtime.asc(), MessageRow.id.asc()),
    "longest": (MessageRow.duration.desc(), MessageRow.origtime.desc(), MessageRow.id.desc()),
    "shortest": (MessageRow.duration.asc(), MessageRow.origtime.desc(), MessageRow.id.desc()),
}

_COLUMNS = (MessageRow.id, MessageRow.site, MessageRow.context, MessageRow.mailbox, MessageRow.msg_id, MessageRow.state,
            MessageRow.folder, MessageRow.spool_number, MessageRow.origtime, MessageRow.duration,
            MessageRow.urgent, MessageRow.caller_kind, MessageRow.caller_withheld, MessageRow.caller_name,
            MessageRow.caller_number, MessageRow.callerid_raw,
            MessageRow.wrapped_dek.is_not(None).label("keyed"),
            # forwarding: the message was forwarded to this mailbox by a colleague
            select(ForwardRow.message_id).where(ForwardRow.message_id == MessageRow.id).exists().label("forwarded"))


def _visible() -> ColumnElement[bool]:
    # literal (no bound parameters): PostgreSQL must see that it implies the partial indexes' predicate
    return text(f"messages.{LISTED.replace(' AND ', ' AND messages.')}")  # type: ignore[return-value]


_NUMBER_LIKE = re.compile(r"^[0-9+()\-. /]+$")


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally (escape character \\)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search(query: InboxQuery) -> list[ColumnElement[bool]]:
    """The caller and date filters. A number matches on its digits (``+1 (202) 555`` finds ``+1202555…``);
    other text matches a name, case-insensitively. Outside callers' claimed identity (``callerid_raw``) is
    searched only in scope "all"."""
    where: list[ColumnElement[bool]] = []
    if query.received_from is not None:
        where.append(MessageRow.origtime >= query.received_from)
    if query.received_before is not None:
        where.append(MessageRow.origtime < query.received_before)
    term = query.caller_text.strip()
    if not term:
        return where
    internal = MessageRow.caller_kind == "internal"
    digits = "".join(c for c in term if c.isdigit()) if _NUMBER_LIKE.match(term) else ""
    if digits:
        pattern = _like(digits)
        mine = and_(internal, MessageRow.caller_number.like(pattern, escape="\\"))
        theirs = MessageRow.callerid_raw.like(pattern, escape="\\")
    else:
        pattern = _like(term.lower())
        mine = and_(internal, func.lower(MessageRow.caller_name).like(pattern, escape="\\"))
        theirs = func.lower(MessageRow.callerid_raw).like(pattern, escape="\\")
    if query.search_scope == "all":
        where.append(or_(mine, and_(~internal, MessageRow.caller_withheld.is_(False), theirs)))
    else:
        where.append(mine)
    return where


class SqlMailboxStore:
    def __init__(self, sessions: sessionmaker[Session], reads: sessionmaker[Session] | None = None,
                 default_site: str = "default", served_site: str | None = None) -> None:
        """``default_site``: the site a MailboxRef without one names (site_name); rows of that site come
        back without a site in their MailboxRef. ``served_site``: ``unfinished_shreds`` lists only that
        site's messages (the one Asterisk this process reaches); None = every site."""
        self._served_site = served_site
        self._sessions = sessions
        self._reads = reads or sessions
        self._default_site = default_site

    # --- reads ------------------------------------------------------------------------------------
    def inbox(self, mailbox: MailboxRef, query: InboxQuery) -> tuple[list[InboxRow], int]:
        where: list[ColumnElement[bool]] = [MessageRow.site == (mailbox.site or self._default_site),
                                            MessageRow.context == mailbox.context,
                                            MessageRow.mailbox == mailbox.mailbox, _visible()]
        if query.folder == "INBOX":
            where.append(MessageRow.folder.in_(NEW_FOLDERS))
        elif query.folder == "Old":  # every other folder, as a list: index ranges, not a filter
            where.append(MessageRow.folder.in_(OLD_FOLDERS))
        if query.urgent_only:
            where.append(MessageRow.urgent.is_(True))
        if query.caller_kind == "internal":
            where.append(MessageRow.caller_kind == "internal")
        elif query.caller_kind == "external":
            where.append(and_(MessageRow.caller_kind != "internal", MessageRow.caller_withheld.is_(False)))
        elif query.caller_kind == "anonymous":
            where.append(and_(MessageRow.caller_kind != "internal", MessageRow.caller_withheld.is_(True)))
        where.extend(_search(query))
        with self._reads() as s:
            if query.searches:  # the trigger-kept counts know no names or dates: count the matches
                total = s.execute(select(func.count()).select_from(MessageRow).where(*where)).scalar_one()
            else:
                total = s.execute(self._total(mailbox.on_site(mailbox.site or self._default_site),
                                              query)).scalar_one()
            # the page's ids from the index alone (index-only scan, also for deep offsets), then their rows
            page = (select(MessageRow.id).where(*where).order_by(*_ORDER[query.sort])
                    .offset(query.offset).limit(query.limit)).subquery()
            rows = s.execute(select(*_COLUMNS).join(page, page.c.id == MessageRow.id)
                             .order_by(*_ORDER[query.sort])).all()
            formats = self._formats(s, [r.id for r in rows])
        return [_row(r, formats.get(r.id, ()), self._default_site) for r in rows], int(total or 0)

    @staticmethod
    def _total(mailbox: MailboxRef, query: InboxQuery) -> Select[Any]:
        """The filter's total from the trigger-kept counts (at most 12 rows per mailbox)."""
        c = mailbox_counts.c
        where: list[ColumnElement[bool]] = [c.site == mailbox.site, c.context == mailbox.context,
                                            c.mailbox == mailbox.mailbox]
        if query.folder is not None:
            where.append(c.is_new.is_(query.folder == "INBOX"))
        if query.urgent_only:
            where.append(c.urgent.is_(True))
        if query.caller_kind is not None:
            where.append(c.kind == query.caller_kind)
        return select(func.coalesce(func.sum(c.n), 0)).where(*where)

    def visible(self, message_id: str) -> InboxRow | None:
        """The message if it is listed at all (not hidden, not destroyed, not vanished)."""
        with self._reads() as s:
            r = s.execute(select(*_COLUMNS).where(MessageRow.id == message_id, _visible())).first()
            if r is None:
                return None
            return _row(r, self._formats(s, [r.id]).get(r.id, ()), self._default_site)

    @staticmethod
    def _formats(s: Session, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        if ids:
            for mid, fmt in s.execute(select(RecordingRow.message_id, RecordingRow.fmt)
                                      .where(RecordingRow.message_id.in_(list(ids))).order_by(RecordingRow.fmt)):
                out.setdefault(mid, []).append(fmt)
        return {k: tuple(v) for k, v in out.items()}

    def state_of(self, message_id: str) -> tuple[str, bool] | None:
        """(state, hidden) or None when there is no such row."""
        with self._reads() as s:
            r = s.execute(select(MessageRow.state, MessageRow.hidden_at).where(MessageRow.id == message_id)).first()
            return None if r is None else (r.state, r.hidden_at is not None)

    def get(self, message_id: str) -> MessageRecord:
        """The full record (wrapped key, recordings), hidden or not; NotFound when there is no row."""
        with self._reads() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"no message {message_id[:64]}")
            return _to_record(row, self._default_site)

    def blob_names(self, message_id: str) -> list[str]:
        with self._reads() as s:
            return list(s.scalars(select(RecordingRow.blob_name).where(RecordingRow.message_id == message_id)))

    # --- owner actions ----------------------------------------------------------------------------
    def set_folder(self, message_id: str, folder: str, number: int | None, *, seen: str | None = None) -> bool:
        """List the message in ``folder`` (a move Asterisk confirmed), superseding any move the phone left
        pending. True when another decision got in meanwhile: a pending move was superseded, or the folder
        this replaces is not ``seen`` (the one the caller read before moving)."""
        with self._sessions.begin() as s:
            before = s.execute(select(MessageRow.folder).where(MessageRow.id == message_id)).scalar()
            s.execute(update(MessageRow).where(MessageRow.id == message_id)
                      .values(folder=folder, spool_number=number, updated_at=utcnow()))
            # a move confirmed now (the web's mark) supersedes one the phone left pending
            superseded = s.connection().execute(
                delete(PendingMoveRow).where(PendingMoveRow.message_id == message_id)).rowcount
        return bool(superseded) or (seen is not None and before is not None and before != seen)

    def move_pending(self, message_id: str) -> bool:
        """Whether a folder move the phone decided is still waiting for Asterisk."""
        with self._reads() as s:
            return s.execute(select(PendingMoveRow.message_id)
                             .where(PendingMoveRow.message_id == message_id)).first() is not None

    def follow_listing(self, message_id: str) -> None:
        """Leave the move worker a move to the folder the message is listed in now (unless one is pending
        already): Asterisk is brought there, retried until done. Not a decision: nothing is audited."""
        with self._sessions.begin() as s:
            listed = s.execute(select(MessageRow.folder).where(MessageRow.id == message_id)).scalar()
            pending = s.execute(select(PendingMoveRow.message_id)
                                .where(PendingMoveRow.message_id == message_id)).first()
            if listed is None or pending is not None:
                return
            now = utcnow()
            s.add(PendingMoveRow(message_id=message_id, from_folder=listed, to_folder=listed,
                                 token=secrets.token_hex(8), requested_at=now, attempts=0, next_at=now,
                                 last_error=""))

    def hidden_elsewhere(self, folder: str, limit: int = 500) -> list[tuple[str, MailboxRef, str]]:
        """(id, mailbox, msg_id) of messages hidden under a hold (deleted by their owner, not destroyed)
        whose last known folder is not ``folder``."""
        with self._reads() as s:
            rows = s.execute(select(MessageRow.id, MessageRow.site, MessageRow.context, MessageRow.mailbox,
                                    MessageRow.msg_id)
                             .where(MessageRow.hidden_at.is_not(None), MessageRow.state.in_(LISTED_STATES),
                                    MessageRow.folder != folder).order_by(MessageRow.id).limit(limit)).all()
        return [(r.id, MailboxRef(r.context, r.mailbox, "" if r.site == self._default_site else r.site), r.msg_id)
                for r in rows]

    def hide(self, message_id: str) -> None:
        """Deleted by its owner under a legal hold: kept as it is, no longer listed."""
        with self._sessions.begin() as s:
            s.execute(update(MessageRow).where(MessageRow.id == message_id, MessageRow.hidden_at.is_(None))
                      .values(hidden_at=utcnow()))

    # --- crypto-shredding ---------------------------------------------------------------------------
    def destroy_key(self, message_id: str) -> bool:
        """Step 1: null the wrapped data key and mark the row ``shredding``, in one committed transaction.
        The custody pipeline only advances rows in its own states, so it cannot seal it again. Returns
        False when the row is gone or already destroyed."""
        with self._sessions.begin() as s:
            row = s.get(MessageRow, message_id, with_for_update={"of": MessageRow})
            if row is None or row.state == DESTROYED:
                return False
            row.kek_id, row.wrapped_dek = None, None
            row.state, row.updated_at = SHREDDING, utcnow()
            if row.destroyed_at is None:
                row.destroyed_at = utcnow()
            _supersede_moves(s, message_id)
            return True

    def destroy_key_unless_held(self, message_id: str) -> str:
        """Step 1 with the hold check under the same lock: "destroyed" (the key is gone, or already was),
        "held" (an active hold covers the message: nothing changed) or "gone" (no row / a tombstone).

        A hold placed or released concurrently is ordered strictly before or after this: on PostgreSQL the
        transaction first takes ``holds`` in SHARE mode (placing or releasing a hold writes that table and
        waits for us; we wait for one in flight), on SQLite it first writes the row, which takes the
        database's single write lock. Then the holds are read and the key destroyed in that transaction.
        """
        try:
            with self._sessions.begin() as s:
                if s.get_bind().dialect.name == "postgresql":
                    s.execute(text("LOCK TABLE holds IN SHARE MODE"))
                else:  # SQLite: a write first, so the transaction holds the write lock from here on
                    s.execute(update(MessageRow).where(MessageRow.id == message_id).values(updated_at=utcnow()))
                row = s.get(MessageRow, message_id, with_for_update={"of": MessageRow}, populate_existing=True)
                if row is None or row.state == DESTROYED:
                    return "gone"
                if row.state != SHREDDING:
                    record = _to_record(row, self._default_site)
                    if any(covers(hold, record, self._default_site) for hold in _active_holds(s)):
                        raise _HeldRollback
                    row.kek_id, row.wrapped_dek = None, None
                    row.state = SHREDDING
                row.updated_at = utcnow()
                if row.destroyed_at is None:
                    row.destroyed_at = utcnow()
                _supersede_moves(s, message_id)
                return "destroyed"
        except _HeldRollback:
            return "held"

    def unfinished_shreds(self, limit: int = 200) -> list[str]:
        """Ids of the messages (of ``served_site``) whose key is destroyed and whose shredding is not finished."""
        query = select(MessageRow.id).where(MessageRow.state == SHREDDING)
        if self._served_site is not None:
            query = query.where(MessageRow.site == self._served_site)
        with self._reads() as s:
            return list(s.scalars(query.order_by(MessageRow.updated_at).limit(limit)))

    def finish_destroyed(self, message_id: str) -> None:
        """Last step: the row becomes a tombstone (ids kept so the spool scan never re-discovers it;
        caller data, envelope, recording rows and a forwarding comment removed). Its open dead letters (a
        ``finish_shred`` that gave up before the shred was finished another way) are resolved: nothing is
        left to do for it."""
        with self._sessions.begin() as s:
            s.execute(update(DeadLetterRow).where(DeadLetterRow.ref_id == message_id,
                                                  DeadLetterRow.resolved_at.is_(None)).values(resolved_at=utcnow()))
            s.execute(delete(RecordingRow).where(RecordingRow.message_id == message_id))
            s.execute(delete(ForwardRow).where(ForwardRow.message_id == message_id))
            s.execute(update(MessageRow).where(MessageRow.id == message_id).values(
                state=DESTROYED, kek_id=None, wrapped_dek=None, envelope=b"", callerid_raw="",
                caller_name=None, caller_number=None, updated_at=utcnow()))


def _supersede_moves(s: Session, message_id: str) -> None:
    """A deleted message has nothing left to move: a folder move still pending for it goes (a move on its
    way finds its decision superseded and leaves the row as the delete left it)."""
    s.execute(delete(PendingMoveRow).where(PendingMoveRow.message_id == message_id))


class _HeldRollback(Exception):
    """Leaves the transaction of destroy_key_unless_held without a change."""


def _active_holds(s: Session) -> list[Hold]:
    rows = s.execute(select(holds).where(holds.c.released_at.is_(None))).mappings().all()
    return [hold_of(r) for r in rows]


def _other_half_of_local() -> ColumnElement[bool]:
    """A Local channel pair (``Local/x@ctx-00000000;1`` and ``;2``) makes one CDR per half for one call
    (capture q1); the ``;2`` half is the duplicate when its ``;1`` sibling of the same start is stored
    (by the same site: another Asterisk's channel of that name is another call)."""
    sibling = cdrs.alias("sibling")
    first_half = func.substr(cdrs.c.channel, 1, func.length(cdrs.c.channel) - 1).concat("1")
    return and_(cdrs.c.channel.like("Local/%;2"),
                exists(select(sibling.c.id).where(sibling.c.channel == first_half,
                                                  sibling.c.start_time == cdrs.c.start_time,
                                                  sibling.c.site == cdrs.c.site)))


def calls_of(engine: Engine, scopes: Sequence[CallScope], offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """CDRs, each on its scope's site, of calls placed from one of the scope's ``devices`` (the CDR Channel
    is ``<device>-<sequence>``) or to one of its ``numbers`` (Destination), newest first, and their total:
    the signed-in user's own call history (voicemail.services.call_history says why Source, the caller's
    choice, is not matched; bulk release to investigators is ``voicemail.audit.cdr``)."""
    theirs = []
    for scope in scopes:
        mine = [cdrs.c.destination.in_(list(scope.numbers))] if scope.numbers else []
        mine += [cdrs.c.channel.like(_like_prefix(d) + "-%", escape="\\") for d in scope.devices]
        if mine:
            theirs.append(and_(cdrs.c.site == scope.site, or_(*mine)))
    if not theirs:
        return [], 0
    match = and_(or_(*theirs), ~_other_half_of_local())
    columns = [cdrs.c[c] for c in ("site", "start_time", "source", "destination", "caller_id", "channel", "duration",
                                    "billable_seconds", "disposition", "last_application")]
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(cdrs).where(match)).scalar_one()
        rows = conn.execute(select(*columns).where(match).order_by(cdrs.c.start_time.desc(), cdrs.c.id.desc())
                            .offset(offset).limit(limit)).mappings().all()
    return [dict(r) for r in rows], int(total)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row(r: object, formats: tuple[str, ...], default_site: str) -> InboxRow:
    get = r._mapping  # type: ignore[attr-defined]
    site = "" if get["site"] == default_site else get["site"]
    return InboxRow(
        id=get["id"], mailbox=MailboxRef(get["context"], get["mailbox"], site), msg_id=get["msg_id"],
        state=get["state"], folder=get["folder"], number=get["spool_number"], origtime=int(get["origtime"]),
        duration=int(get["duration"] or 0), urgent=bool(get["urgent"]), caller_kind=get["caller_kind"],
        caller_withheld=bool(get["caller_withheld"]), caller_name=get["caller_name"],
        caller_number=get["caller_number"], callerid_raw=get["callerid_raw"] or "", formats=formats,
        sealed=bool(get["keyed"]) and bool(formats), forwarded=bool(get.get("forwarded", False)))
