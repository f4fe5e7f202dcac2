"""`voicemail role | case | hold | evidence | cdr`: roles, cases, legal holds, and the two-person
release of evidence and call detail records. Registered on the main group by voicemail/cli/root.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from voicemail.audit.evidence import verify_package
from voicemail.audit.service import Investigations
from voicemail.audit.signing import load_public_pem
from voicemail.cli.investigation import (
    actor_of,
    actor_option,
    epoch_of,
    migrated_engine,
    signing_key_of,
    with_investigations,
)
from voicemail.config import Settings, several_sites, site_names
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import MailboxRef


def register(main: click.Group) -> None:
    """Add the role, case, hold, evidence and cdr command groups to ``main``."""
    from voicemail.cli.common import config_option, handle_errors, settings_from

    register_cdr(main)

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
        inv.access.grant(actor_of(actor), principal, role_name, reason)
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
        inv.access.revoke(actor_of(actor), principal, role_name, reason)
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
        c = inv.access.open_case(actor_of(actor), number, authority, reason, phones, expires)
        click.echo(f"case {c.id} opened, owner {c.owner}")

    @case.command("add-member")
    @click.argument("number")
    @click.argument("principal")
    @actor_option
    @with_investigations
    def case_add_member(inv: Investigations, settings: Settings, number: str, principal: str,
                        actor: str | None) -> None:
        """Add an investigator to a case (the case owner)."""
        inv.access.add_member(actor_of(actor), number, principal)
        click.echo(f"case {number}: members {', '.join(inv.access.case(number).members)}")

    @case.command("close")
    @click.argument("number")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def case_close(inv: Investigations, settings: Settings, number: str, reason: str, actor: str | None) -> None:
        """Close a case (the case owner)."""
        inv.access.close_case(actor_of(actor), number, reason)
        click.echo(f"case {number} closed")

    # --- holds ------------------------------------------------------------------------------
    @main.group()
    def hold() -> None:
        """Legal holds (the mailbox owner is not told)."""

    @hold.command("place")
    @click.option("--case", "case_id", required=True)
    @click.option("--mailbox", default=None, help="mailbox@context, or mailbox@context@site for one site's.")
    @click.option("--site", default=None, help="Hold only this site's messages (a site_name or [[sites]] name); "
                  "without it a mailbox or time-range hold covers every site.")
    @click.option("--message", "message_ids", multiple=True, help="A message (our id); repeatable.")
    @click.option("--from", "start", default=None, help="Range start (ISO, UTC), inclusive.")
    @click.option("--to", "end", default=None, help="Range end (ISO, UTC), exclusive.")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def hold_place(inv: Investigations, settings: Settings, case_id: str, mailbox: str | None, site: str | None,
                   message_ids: tuple[str, ...], start: str | None, end: str | None, reason: str,
                   actor: str | None) -> None:
        """Place a hold: --message …, or --mailbox (whole mailbox), or --from/--to (a time range); --site
        narrows a mailbox or time-range hold to one site (without it, every site)."""
        scope = "message" if message_ids else ("range" if start or end else "mailbox")
        box = MailboxRef.parse(mailbox) if mailbox else None
        known = site_names(settings)
        for named in (site, box.site if box else ""):
            if named and named not in known:  # a typo would hold nothing
                raise InvalidInput(f"unknown site {named[:64]!r}; configured sites are {', '.join(known)}")
        ids = inv.holds.place(actor_of(actor), case_id, scope, mailbox=box, message_ids=message_ids,
                              start_at=epoch_of(start), end_at=epoch_of(end), reason=reason, site=site or None)
        on_site = site or (box.site if box else "")
        where = f" on site {on_site}" if on_site and scope != "message" else ""
        for hold_id in ids:
            click.echo(f"hold {hold_id} placed ({scope}{where}) for case {case_id}")

    @hold.command("release")
    @click.argument("hold_id")
    @click.option("--reason", required=True)
    @actor_option
    @with_investigations
    def hold_release(inv: Investigations, settings: Settings, hold_id: str, reason: str, actor: str | None) -> None:
        """Release one hold (a member of its case)."""
        inv.holds.release(actor_of(actor), hold_id, reason)
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
        engine = migrated_engine(settings)
        try:
            store = SqlMessageStore(make_sessionmaker(engine), default_site=settings.site_name)
            req = Investigations(engine).request_evidence(actor_of(actor), case_id, request_ref, list(message_ids),
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
        inv.releases.approve(actor_of(actor), request_id, reason)
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
        key = signing_key_of(settings)
        container = build_container(settings, on_new=lambda _id: None)
        try:
            manifest = Investigations(container.engine, default_site=settings.site_name).export_evidence(
                actor_of(actor), request_id, output, store=container.store, vault=container.vault,
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

    @main.group()
    def cdr() -> None:
        """Call detail records: released only to a case, approved by a second (cleared) person."""

    @cdr.command("request")
    @click.option("--case", "case_id", required=True)
    @click.option("--ref", "request_ref", required=True, help="Reference of the written request.")
    @click.option("--from", "start", required=True, help="Start, 'YYYY-MM-DD[ HH:MM[:SS]]' (Asterisk local time).")
    @click.option("--to", "end", required=True, help="End (exclusive), same format.")
    @click.option("--site", default=None, help="Only the calls this site's Asterisk reported (a site_name or "
                  "[[sites]] name); without it every site's.")
    @click.option("--reason", default="")
    @actor_option
    @with_investigations
    def cdr_request(inv: Investigations, settings: Settings, case_id: str, request_ref: str, start: str, end: str,
                    site: str | None, reason: str, actor: str | None) -> None:
        """Request the CDRs of the case's phone numbers in a time range (investigator on the case); --site
        narrows them to one site (without it, every site)."""
        known = site_names(settings)
        if site and site not in known:  # a typo would release nothing
            raise InvalidInput(f"unknown site {site[:64]!r}; configured sites are {', '.join(known)}")
        req = request_cdrs(inv, actor_of(actor), case_id, request_ref, start, end, reason, site=site or None)
        click.echo(f"request {req.id} pending: a cleared administrator approves with `voicemail cdr approve {req.id}`")

    @cdr.command("approve")
    @click.argument("request_id")
    @click.option("--reason", default="")
    @actor_option
    @with_investigations
    def cdr_approve(inv: Investigations, settings: Settings, request_id: str, reason: str,
                    actor: str | None) -> None:
        """Approve a CDR request (a cleared administrator other than the requester)."""
        inv.releases.approve(actor_of(actor), request_id, reason)
        click.echo(f"request {request_id} approved")

    @cdr.command("export")
    @click.argument("request_id")
    @click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
    @actor_option
    @with_investigations
    def cdr_export(inv: Investigations, settings: Settings, request_id: str, output: Path,
                   actor: str | None) -> None:
        """Write the signed CSV + JSON of an approved request (the requester); check with `evidence verify`."""
        manifest = export_cdrs(inv, actor_of(actor), request_id, output, signing_key_of(settings),
                               several_sites=several_sites(settings))
        click.echo(f"wrote {output}: {manifest['records']} record(s), manifest signed by {manifest['signing_key_id']}")
