"""Commands of the audit trail, roles, cases, holds, evidence and CDR release (`voicemail audit …`).

Registered on the main group by voicemail/cli.py (one line). The acting person is the operating-system
account, or --actor; "from where" is recorded as cli:<os account>@<host>.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from voicemail.audit.access import Actor
from voicemail.audit.chain import AuditEvent
from voicemail.audit.context import cli_actor, cli_source
from voicemail.audit.evidence import verify_package
from voicemail.audit.hardening import app_role_sql
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey, load_public_pem
from voicemail.config import Settings
from voicemail.domain.errors import ConfigError, InvalidInput
from voicemail.domain.models import MailboxRef

actor_option = click.option("--actor", default=None, help="Who acts (default: the operating-system account).")


def _actor(name: str | None) -> Actor:
    return Actor(cli_actor(name), cli_source())


def _engine(settings: Settings) -> Engine:
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def _signing_key(settings: Settings) -> SigningKey:
    return SigningKey.load(Path(settings.audit_signing_key))


def _shipped(settings: Settings) -> Path | None:
    return Path(settings.audit_checkpoint_file) if settings.audit_checkpoint_file else None


def _epoch(text: str | None) -> int | None:
    if text is None:
        return None
    import datetime as dt

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"not an ISO date/time: {text!r}") from None
    return int((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())


def register(main: click.Group) -> None:
    """Add the issue-5 command groups to ``main`` (and `keys init-signing` / `keys public-key`)."""
    from voicemail.cli import config_option, handle_errors, settings_from

    register_cdr(main)

    def with_investigations(func: Callable[..., Any]) -> Callable[..., Any]:
        """Run ``func(inv, settings, **kwargs)`` with an Investigations on the configured database."""
        def wrapper(config_file: str | None, **kwargs: Any) -> Any:
            settings = settings_from(config_file)
            engine = _engine(settings)
            try:
                return func(Investigations(engine), settings, **kwargs)
            finally:
                engine.dispose()
        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return handle_errors(config_option(wrapper))

    keys = main.commands["keys"]
    assert isinstance(keys, click.Group)

    @keys.command("init-signing")
    @config_option
    @handle_errors
    def keys_init_signing(config_file: str | None) -> None:
        """Create the Ed25519 signing key (0600) for audit checkpoints and exports. Never overwrites."""
        settings = settings_from(config_file)
        key = SigningKey.create(Path(settings.audit_signing_key))
        engine = _engine(settings)
        try:
            Investigations(engine).audit.append(
                AuditEvent(actor=cli_actor(), action="key.create", source=cli_source(),
                           details={"key": "audit-signing", "key_id": key.key_id}))
        finally:
            engine.dispose()
        click.echo(f"signing key created at {settings.audit_signing_key} (key id {key.key_id}); "
                   "publish its public half with `voicemail keys public-key`")

    @keys.command("public-key")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
    @config_option
    @handle_errors
    def keys_public_key(output: Path | None, config_file: str | None) -> None:
        """Print (or write) the public verification key (PEM) of the signing key."""
        key = _signing_key(settings_from(config_file))
        if output is None:
            click.echo(key.public_pem().decode(), nl=False)
        else:
            output.write_bytes(key.public_pem())
            click.echo(f"wrote {output} (key id {key.key_id})")

    # --- audit ------------------------------------------------------------------------------
    @main.group()
    def audit() -> None:
        """The tamper-evident audit trail: verify, show, checkpoint, harden."""

    @audit.command("verify")
    @click.option("--checkpoints", "shipped", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Shipped checkpoint file to check against (default: audit_checkpoint_file).")
    @click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Public key PEM (default: derived from audit_signing_key).")
    @with_investigations
    def audit_verify(inv: Investigations, settings: Settings, shipped: Path | None, public_key: Path | None) -> None:
        """Replay the whole chain against the signed checkpoints; report the first bad sequence number."""
        public = load_public_pem(public_key.read_bytes()) if public_key else _signing_key(settings).public
        report = inv.audit.verify(public, shipped or _shipped(settings))
        r = report.result
        for seq in report.bad_signatures:
            click.echo(f"checkpoint at sequence {seq}: signature does not verify")
        if r.ok:
            click.echo(f"audit chain intact: {r.checked} events up to sequence {r.last_seq}, "
                       f"{report.checkpoints} signed checkpoint(s) matched")
        else:
            click.echo(f"audit chain BROKEN: first bad sequence {r.first_bad}: {r.problem}")
        if not report.ok:
            sys.exit(1)

    @audit.command("show")
    @click.option("--message", "message_id", default=None, help="Custody history of one message (our id).")
    @click.option("--case", "case_id", default=None)
    @click.option("--actor", "who", default=None)
    @click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
    @with_investigations
    def audit_show(inv: Investigations, settings: Settings, message_id: str | None, case_id: str | None,
                   who: str | None, as_json: bool) -> None:
        """Print audit events (custody history) for a message, a case or an actor."""
        if not (message_id or case_id or who):
            raise InvalidInput("give --message, --case or --actor")
        for e in inv.audit.events(message_id=message_id, case_id=case_id, actor=who):
            if as_json:
                click.echo(json.dumps(e.as_dict(), sort_keys=True))
            else:
                ref = " ".join(f"{k}={v}" for k, v in (("case", e.case_id), ("request", e.request_ref),
                                                       ("message", e.message_id)) if v)
                click.echo(f"{e.seq:>8} {e.at} {e.actor} {e.action} {e.outcome} from {e.source} {ref} "
                           f"{('why: ' + e.reason) if e.reason else ''}".rstrip())

    @audit.command("checkpoint")
    @with_investigations
    def audit_checkpoint(inv: Investigations, settings: Settings) -> None:
        """Sign the chain head now and ship the checkpoint to audit_checkpoint_file."""
        cp = inv.audit.checkpoint(_signing_key(settings), kind="on-demand", ship_to=_shipped(settings))
        click.echo(f"checkpoint at sequence {cp.seq} head {cp.head_hash[:16]}… signed by {cp.key_id}"
                   + (f", shipped to {settings.audit_checkpoint_file}" if settings.audit_checkpoint_file else ""))

    @audit.command("purge")
    @with_investigations
    def audit_purge(inv: Investigations, settings: Settings) -> None:
        """Seal events older than audit_retention_days by a signed epoch checkpoint, then remove them."""
        import datetime as dt

        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.audit_retention_days)
        cp = inv.audit.seal_epoch(_signing_key(settings), cutoff.isoformat(), ship_to=_shipped(settings))
        click.echo("nothing older than the retention period" if cp is None else
                   f"events up to sequence {cp.seq} sealed by a signed epoch checkpoint and removed")

    @audit.command("harden")
    @click.option("--app-role", required=True, help="PostgreSQL role the service connects as.")
    @click.option("--print-only", is_flag=True, help="Print the SQL instead of running it.")
    @with_investigations
    def audit_harden(inv: Investigations, settings: Settings, app_role: str, print_only: bool) -> None:
        """PostgreSQL: let the application role only INSERT audit rows (run as the schema owner)."""
        statements = app_role_sql(app_role)
        if print_only:
            click.echo(";\n".join(statements) + ";")
            return
        if inv.engine.dialect.name != "postgresql":
            raise ConfigError("setting database_url (VOICEMAIL_DATABASE_URL): `audit harden` needs PostgreSQL")
        with inv.engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)
        click.echo(f"role {app_role}: audit_events and audit_checkpoints are insert-only")

    # --- roles ------------------------------------------------------------------------------
    @main.group()
    def role() -> None:
        """Role grants (investigator, cleared_admin, auditor, owner, administrator); all audited."""

    @role.command("grant")
    @click.argument("principal")
    @click.argument("role_name", metavar="ROLE")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def role_grant(inv: Investigations, settings: Settings, principal: str, role_name: str, reason: str,
                   actor: str | None) -> None:
        """Grant ROLE to PRINCIPAL (needs administrator; the first administrator may grant itself)."""
        inv.access.grant(_actor(actor), principal, role_name, reason)
        click.echo(f"{principal}: {', '.join(sorted(inv.access.roles_of(principal)))}")

    @role.command("revoke")
    @click.argument("principal")
    @click.argument("role_name", metavar="ROLE")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def role_revoke(inv: Investigations, settings: Settings, principal: str, role_name: str, reason: str,
                    actor: str | None) -> None:
        """Revoke ROLE from PRINCIPAL (needs administrator)."""
        inv.access.revoke(_actor(actor), principal, role_name, reason)
        click.echo(f"{principal}: {', '.join(sorted(inv.access.roles_of(principal))) or '(no roles)'}")

    # --- cases ------------------------------------------------------------------------------
    @main.group()
    def case() -> None:
        """Investigation cases."""

    @case.command("open")
    @click.option("--number", required=True, help="Case number, e.g. CI-2026-0142.")
    @click.option("--authority", required=True, help="Legal authority for the case.")
    @click.option("--reason", required=True)
    @click.option("--phone", "phones", multiple=True, help="A phone number under investigation (CDR release).")
    @click.option("--expires", default=None, help="Expiry (ISO date/time, UTC).")
    @actor_option
    @with_investigations
    def case_open(inv: Investigations, settings: Settings, number: str, authority: str, reason: str,
                  phones: tuple[str, ...], expires: str | None, actor: str | None) -> None:
        """Open a case (investigator); the opener owns it and is its first member."""
        c = inv.access.open_case(_actor(actor), number, authority, reason, phones, expires)
        click.echo(f"case {c.id} opened, owner {c.owner}")

    @case.command("add-member")
    @click.argument("number")
    @click.argument("principal")
    @actor_option
    @with_investigations
    def case_add_member(inv: Investigations, settings: Settings, number: str, principal: str,
                        actor: str | None) -> None:
        """Add an investigator to a case (the case owner)."""
        inv.access.add_member(_actor(actor), number, principal)
        click.echo(f"case {number}: members {', '.join(inv.access.case(number).members)}")

    @case.command("close")
    @click.argument("number")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def case_close(inv: Investigations, settings: Settings, number: str, reason: str, actor: str | None) -> None:
        """Close a case (the case owner)."""
        inv.access.close_case(_actor(actor), number, reason)
        click.echo(f"case {number} closed")

    # --- holds ------------------------------------------------------------------------------
    @main.group()
    def hold() -> None:
        """Legal holds (the mailbox owner is not told)."""

    @hold.command("place")
    @click.option("--case", "case_id", required=True)
    @click.option("--mailbox", default=None, help="context/mailbox or mailbox@context.")
    @click.option("--message", "message_ids", multiple=True, help="A message (our id); repeatable.")
    @click.option("--from", "start", default=None, help="Range start (ISO, UTC), inclusive.")
    @click.option("--to", "end", default=None, help="Range end (ISO, UTC), exclusive.")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def hold_place(inv: Investigations, settings: Settings, case_id: str, mailbox: str | None,
                   message_ids: tuple[str, ...], start: str | None, end: str | None, reason: str,
                   actor: str | None) -> None:
        """Place a hold: --message …, or --mailbox (whole mailbox), or --from/--to (a time range)."""
        scope = "message" if message_ids else ("range" if start or end else "mailbox")
        ids = inv.holds.place(_actor(actor), case_id, scope, mailbox=MailboxRef.parse(mailbox) if mailbox else None,
                              message_ids=message_ids, start_at=_epoch(start), end_at=_epoch(end), reason=reason)
        for hold_id in ids:
            click.echo(f"hold {hold_id} placed ({scope}) for case {case_id}")

    @hold.command("release")
    @click.argument("hold_id")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def hold_release(inv: Investigations, settings: Settings, hold_id: str, reason: str, actor: str | None) -> None:
        """Release one hold (a member of its case)."""
        inv.holds.release(_actor(actor), hold_id, reason)
        click.echo(f"hold {hold_id} released")

    # --- evidence ---------------------------------------------------------------------------
    @main.group()
    def evidence() -> None:
        """Evidence export under the two-person rule, and offline verification."""

    @evidence.command("request")
    @click.option("--case", "case_id", required=True)
    @click.option("--ref", "request_ref", required=True, help="Reference of the written request.")
    @click.option("--message", "message_ids", multiple=True, required=True, help="A message (our id).")
    @click.option("--reason", default="")
    @actor_option
    @config_option
    @handle_errors
    def evidence_request(case_id: str, request_ref: str, message_ids: tuple[str, ...], reason: str,
                         actor: str | None, config_file: str | None) -> None:
        """Request the export of messages of a case (investigator, member of the case)."""
        from voicemail.db.engine import make_sessionmaker
        from voicemail.db.repository import SqlMessageStore

        settings = settings_from(config_file)
        engine = _engine(settings)
        try:
            store = SqlMessageStore(make_sessionmaker(engine))
            req = Investigations(engine).request_evidence(_actor(actor), case_id, request_ref, list(message_ids),
                                                          store, reason)
        finally:
            engine.dispose()
        click.echo(f"request {req.id} pending: a cleared administrator approves with "
                   f"`voicemail evidence approve {req.id}`")

    @evidence.command("approve")
    @click.argument("request_id")
    @click.option("--reason", default="")
    @actor_option
    @with_investigations
    def evidence_approve(inv: Investigations, settings: Settings, request_id: str, reason: str,
                         actor: str | None) -> None:
        """Approve an evidence request (a cleared administrator other than the requester)."""
        inv.releases.approve(_actor(actor), request_id, reason)
        click.echo(f"request {request_id} approved")

    @evidence.command("export")
    @click.argument("request_id")
    @click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="New folder for the package.")
    @actor_option
    @config_option
    @handle_errors
    def evidence_export(request_id: str, output: Path, actor: str | None, config_file: str | None) -> None:
        """Produce the signed package of an approved request (the requester)."""
        from voicemail.app import build_container

        settings = settings_from(config_file)
        key = _signing_key(settings)
        container = build_container(settings, on_new=lambda _id: None)
        try:
            manifest = Investigations(container.engine).export_evidence(
                _actor(actor), request_id, output, store=container.store, vault=container.vault,
                keyring=container.keyring, key=key)
        finally:
            container.close()
        click.echo(f"wrote {output}: {len(manifest['messages'])} message(s), manifest signed by {key.key_id}")

    @evidence.command("verify")
    @click.argument("package", type=click.Path(file_okay=False, exists=True, path_type=Path))
    @click.option("--public-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                  help="The publisher's public key (PEM), obtained separately. Default: the package's own copy "
                       "(proves integrity, not origin).")
    @handle_errors
    def evidence_verify(package: Path, public_key: Path | None) -> None:
        """Check a package offline (no database); name every file or signature that does not match."""
        problems = verify_package(package, load_public_pem(public_key.read_bytes()) if public_key else None)
        for problem in problems:
            click.echo(f"MISMATCH {problem}")
        if problems:
            sys.exit(1)
        click.echo("package intact: every file matches the signed manifest"
                   + ("" if public_key else " (signature checked with the package's own public key)"))


def register_cdr(main: click.Group) -> None:
    """`voicemail cdr request | approve | export` (the release of call detail records)."""
    from voicemail.audit.cdr import export_cdrs, request_cdrs
    from voicemail.cli import config_option, handle_errors, settings_from

    def with_inv(func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(config_file: str | None, **kwargs: Any) -> Any:
            settings = settings_from(config_file)
            engine = _engine(settings)
            try:
                return func(Investigations(engine), settings, **kwargs)
            finally:
                engine.dispose()
        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return handle_errors(config_option(wrapper))

    @main.group()
    def cdr() -> None:
        """Call detail records: released only to a case, approved by a second (cleared) person."""

    @cdr.command("request")
    @click.option("--case", "case_id", required=True)
    @click.option("--ref", "request_ref", required=True, help="Reference of the written request.")
    @click.option("--from", "start", required=True, help="Start, 'YYYY-MM-DD[ HH:MM[:SS]]' (Asterisk local time).")
    @click.option("--to", "end", required=True, help="End (exclusive), same format.")
    @click.option("--reason", default="")
    @actor_option
    @with_inv
    def cdr_request(inv: Investigations, settings: Settings, case_id: str, request_ref: str, start: str, end: str,
                    reason: str, actor: str | None) -> None:
        """Request the CDRs of the case's phone numbers in a time range (investigator on the case)."""
        req = request_cdrs(inv, _actor(actor), case_id, request_ref, start, end, reason)
        click.echo(f"request {req.id} pending: a cleared administrator approves with `voicemail cdr approve {req.id}`")

    @cdr.command("approve")
    @click.argument("request_id")
    @click.option("--reason", default="")
    @actor_option
    @with_inv
    def cdr_approve(inv: Investigations, settings: Settings, request_id: str, reason: str,
                    actor: str | None) -> None:
        """Approve a CDR request (a cleared administrator other than the requester)."""
        inv.releases.approve(_actor(actor), request_id, reason)
        click.echo(f"request {request_id} approved")

    @cdr.command("export")
    @click.argument("request_id")
    @click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
    @actor_option
    @with_inv
    def cdr_export(inv: Investigations, settings: Settings, request_id: str, output: Path,
                   actor: str | None) -> None:
        """Write the signed CSV + JSON of an approved request (the requester); check with `evidence verify`."""
        manifest = export_cdrs(inv, _actor(actor), request_id, output, _signing_key(settings))
        click.echo(f"wrote {output}: {manifest['records']} record(s), manifest signed by {manifest['signing_key_id']}")
