"""The listener lease in the database: one row per site, times taken from the DATABASE's clock.

``acquire`` takes the site's lease when it is free, expired or already ours, and hands out a new fencing
token (the previous one + 1) each time. ``renew`` extends it only while the token is still the current
one and the lease has not run out. ``is_current`` is the fence checked before work: work submitted under a
token is accepted only while that token holds the lease. ``LeaseFence`` is the fence inside a write: the
listener's own writes check their token in their own transaction, so a superseded listener's writes are
refused by the database, atomically. Every comparison and every expiry is computed by the database
(``clock_timestamp()`` on PostgreSQL, ``'now'`` on SQLite), so a host with a skewed clock cannot make two
holders believe they both hold it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from voicemail.domain.errors import ListenerLeaseLost

WriteFence = Callable[[Connection], None]
"""Called on a write's own connection just before it commits; raises ListenerLeaseLost to refuse it."""


@dataclass(frozen=True)
class LeaseHolder:
    site: str
    holder: str
    token: int
    seconds_left: float  # negative when expired (database clock)


class _Clock:
    """The SQL fragments of one dialect: now, now + :seconds, seconds until a column, the lease check and its
    row lock. Constants only (values are always bound parameters), hence the S608 waivers marked _CLOCK."""

    def __init__(self, dialect: str) -> None:
        if dialect == "postgresql":
            self.now = "clock_timestamp()"
            self.later = "clock_timestamp() + make_interval(secs => :seconds)"
            self.left = "EXTRACT(EPOCH FROM (expires_at - clock_timestamp()))"
            self.share = " FOR SHARE"
        elif dialect == "sqlite":
            stamp = "strftime('%Y-%m-%d %H:%M:%f', 'now'{})"
            self.now = stamp.format("")
            self.later = stamp.format(", printf('%+.3f seconds', :seconds)")
            self.left = "(julianday(expires_at) - julianday('now')) * 86400.0"
            self.share = ""  # a writer already holds the database's only write lock
        else:
            raise ValueError(f"the listener lease supports PostgreSQL and SQLite, not {dialect}")
        # one row when :token holds :site's lease and it has not expired
        self.holds = f"SELECT 1 FROM listener_lease WHERE site = :site AND token = :token AND expires_at > {self.now}"  # noqa: S608 - _CLOCK


class LeaseStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sql = _Clock(engine.dialect.name)

    def acquire(self, site: str, holder: str, seconds: float) -> int | None:
        """Take the lease when it is free, expired or held by ``holder``: the new fencing token, else None."""
        c = self._sql
        statement = text(
            f"INSERT INTO listener_lease (site, holder, token, acquired_at, expires_at) "  # noqa: S608 - _CLOCK
            f"VALUES (:site, :holder, 1, {c.now}, {c.later}) "
            f"ON CONFLICT (site) DO UPDATE SET holder = excluded.holder, token = listener_lease.token + 1, "
            f"acquired_at = excluded.acquired_at, expires_at = excluded.expires_at "
            f"WHERE listener_lease.expires_at <= {c.now} OR listener_lease.holder = excluded.holder "
            f"RETURNING token")
        with self._engine.begin() as conn:
            row = conn.execute(statement, {"site": site, "holder": holder, "seconds": float(seconds)}).first()
        return None if row is None else int(row[0])

    def renew(self, site: str, holder: str, token: int, seconds: float) -> bool:
        """Extend the lease from now; False when ``token`` no longer holds it (expired or taken over)."""
        c = self._sql
        statement = text(f"UPDATE listener_lease SET expires_at = {c.later} WHERE site = :site AND "  # noqa: S608 - _CLOCK
                         f"holder = :holder AND token = :token AND expires_at > {c.now}")
        with self._engine.begin() as conn:
            result = conn.execute(statement, {"site": site, "holder": holder, "token": token,
                                              "seconds": float(seconds)})
        return bool(result.rowcount == 1)

    def release(self, site: str, holder: str, token: int) -> None:
        """Give the lease up at once (a clean stop): a stand-by takes over at its next poll."""
        c = self._sql
        statement = text(f"UPDATE listener_lease SET expires_at = {c.now} WHERE site = :site AND "  # noqa: S608 - _CLOCK
                         f"holder = :holder AND token = :token")
        with self._engine.begin() as conn:
            conn.execute(statement, {"site": site, "holder": holder, "token": token})

    def is_current(self, site: str, token: int) -> bool:
        """The fence: ``token`` still holds the site's lease (not superseded, not expired)."""
        with self._engine.connect() as conn:
            return conn.execute(text(self._sql.holds), {"site": site, "token": token}).first() is not None

    def current(self, site: str) -> LeaseHolder | None:
        """Who holds (or last held) the site's lease."""
        statement = text(f"SELECT holder, token, {self._sql.left} FROM listener_lease WHERE site = :site")  # noqa: S608 - _CLOCK
        with self._engine.connect() as conn:
            row = conn.execute(statement, {"site": site}).first()
        return None if row is None else LeaseHolder(site, str(row[0]), int(row[1]), float(row[2]))

    def holders(self) -> dict[str, LeaseHolder]:
        """Who holds (or last held) each site's lease: one row per site that ever had a listener."""
        statement = text(f"SELECT site, holder, token, {self._sql.left} FROM listener_lease")  # noqa: S608 - _CLOCK
        with self._engine.connect() as conn:
            return {str(r[0]): LeaseHolder(str(r[0]), str(r[1]), int(r[2]), float(r[3]))
                    for r in conn.execute(statement)}


class LeaseFence:
    """The fence inside the listener's writes (a ``WriteFence``): called on the write's connection after its
    statements and before its commit, it raises ListenerLeaseLost (and the write rolls back) unless
    ``token()`` still holds ``site``'s lease and the lease has not expired, by the database's clock.

    It cannot race with a stand-by's ``acquire``. On PostgreSQL the lease row is read FOR SHARE: an acquire
    committed before the check makes it fail; one that comes later waits for the write's commit. On SQLite
    the write already holds the database's only write lock, which the acquire needs too. So a write of the
    listener commits while its token is the current one, or not at all. ``token()`` returns None when the
    process does not hold the lease (in its own view): then nothing is written either. One statement on the
    write's connection: one round trip per transaction."""

    def __init__(self, site: str, token: Callable[[], int | None]) -> None:
        self.site = site
        self._token = token
        self._sql: dict[str, str] = {}

    def _statement(self, dialect: str) -> str:
        if dialect not in self._sql:
            c = _Clock(dialect)
            self._sql[dialect] = c.holds + c.share
        return self._sql[dialect]

    def __call__(self, conn: Connection) -> None:
        token = self._token()
        if token is None or conn.execute(text(self._statement(conn.dialect.name)),
                                         {"site": self.site, "token": token}).first() is None:
            raise ListenerLeaseLost(f"listener lease of site {self.site!r} lost (token {token}): write refused")
