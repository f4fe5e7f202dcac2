"""`voicemail audit …` and the signing-key commands; the shared helpers of the investigation commands
(roles, cases, holds, evidence and CDR release live in cases.py).

Registered on the main group by voicemail/cli/root.py (one line). The acting person is the operating-system
account, or --actor; "from where" is recorded as cli:<os account>@<host>.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from voicemail.audit.chain import AuditEvent
from voicemail.audit.context import cli_actor, cli_source
from voicemail.audit.hardening import app_role_sql
from voicemail.audit.service import Investigations
from voicemail.audit.shipping import Sinks, sinks_from
from voicemail.audit.signing import SigningKey, load_public_pem
from voicemail.cli.investigation import migrated_engine, signing_key_of, with_investigations
from voicemail.config import Settings
from voicemail.domain.errors import ConfigError, InvalidInput


def _shipped(settings: Settings) -> Path | None:
    return Path(settings.audit_checkpoint_file) if settings.audit_checkpoint_file else None


def _sinks(settings: Settings) -> Sinks | None:
    return sinks_from(settings.audit_checkpoint_file, settings.audit_checkpoint_syslog)


def register(main: click.Group) -> None:
    """Add the investigation command groups to ``main`` (and `keys init-signing` / `keys public-key`)."""
    from voicemail.cli.common import config_option, handle_errors, settings_from

    keys = main.commands["keys"]
    assert isinstance(keys, click.Group)

    @keys.command("init-signing")
    @config_option
    @handle_errors
    def keys_init_signing(config_file: str | None) -> None:
        """Create the Ed25519 signing key (0600) for audit checkpoints and exports. Never overwrites."""
        settings = settings_from(config_file)
        key = SigningKey.create(Path(settings.audit_signing_key))
        engine = migrated_engine(settings)
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
        key = signing_key_of(settings_from(config_file))
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
        public = load_public_pem(public_key.read_bytes()) if public_key else signing_key_of(settings).public
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
        cp = inv.audit.checkpoint(signing_key_of(settings), kind="on-demand", ship_to=_sinks(settings))
        click.echo(f"checkpoint at sequence {cp.seq} head {cp.head_hash[:16]}… signed by {cp.key_id}"
                   + (f", shipped to {settings.audit_checkpoint_file}" if settings.audit_checkpoint_file else "")
                   + (f", sent to {settings.audit_checkpoint_syslog}" if settings.audit_checkpoint_syslog else ""))

    @audit.command("purge")
    @with_investigations
    def audit_purge(inv: Investigations, settings: Settings) -> None:
        """Seal events older than audit_retention_days by a signed epoch checkpoint, then remove them."""
        import datetime as dt

        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.audit_retention_days)
        cp = inv.audit.seal_epoch(signing_key_of(settings), cutoff.isoformat(), ship_to=_sinks(settings))
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
