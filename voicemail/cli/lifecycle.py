"""`voicemail keys rotate|rewrap|retire|status|fips`, `voicemail retention plan|run|verify` and
`voicemail quota status|alerts|resolve`. Registered on the main group by voicemail/cli/root.py."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from voicemail.audit.context import cli_actor, cli_source
from voicemail.cli.common import progress
from voicemail.config import Settings
from voicemail.keys.rotation import KeyRotation

actor_option = click.option("--actor", default=None, help="Who acts (default: the operating-system account).")


@contextlib.contextmanager
def key_rotation(settings: Settings) -> Iterator[KeyRotation]:
    from voicemail.app import open_keyring
    from voicemail.audit.store import AuditLog
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade
    from voicemail.keys.usage import CountedKeyring, UsageCounter

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, settings.site_name)
        inner = open_keyring(settings)
        keyring = CountedKeyring(inner, UsageCounter(engine, settings.kek_max_wraps, inner.backend),
                                 block=settings.rewrap_batch)
        yield KeyRotation(engine, keyring, AuditLog(engine), batch=settings.rewrap_batch,
                          retire_grace=settings.kek_retire_grace)
    finally:
        engine.dispose()


@contextlib.contextmanager
def lifecycle(settings: Settings) -> Iterator[Any]:
    from voicemail.app import build_container
    from voicemail.lifecycle.wiring import Lifecycle

    hand_off = None
    if settings.broker_url and settings.sites:  # another site's shreds are finished by that site's workers
        from workers.celery_app import configure
        from workers.tasks import enqueue_finish_shred

        configure(settings)
        hand_off = enqueue_finish_shred
    container = build_container(settings, on_new=lambda _id: None, on_shred_elsewhere=hand_off)
    try:
        yield Lifecycle(container)
    finally:
        container.close()


def _engine(settings: Settings) -> Engine:
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine, settings.site_name)
    return engine


def register(main: click.Group) -> None:
    from voicemail.cli.common import config_option, handle_errors, settings_from

    keys = main.commands["keys"]
    assert isinstance(keys, click.Group)

    @keys.command("rotate")
    @click.option("--retire", is_flag=True, help="Destroy the old KEKs at the end when nothing references them "
                  "and kek_retire_grace has passed.")
    @click.option("--batch", type=click.IntRange(1, 100_000), default=None, help="Data keys per transaction "
                  "(default: rewrap_batch).")
    @click.option("--throttle", type=float, default=0.0, hidden=True, help="Testing: seconds between batches.")
    @actor_option
    @config_option
    @handle_errors
    def keys_rotate(retire: bool, batch: int | None, throttle: float, actor: str | None,
                    config_file: str | None) -> None:
        """Make a new KEK current and re-wrap every data key under it (resumes an interrupted rotation)."""
        settings = settings_from(config_file, rewrap_batch=batch)
        with key_rotation(settings) as rotation, progress("re-wrapping data keys") as bar:
            report = rotation.rotate(cli_actor(actor), cli_source(), retire=retire, progress_total=bar,
                                     pause=throttle)
        verb = "resumed rotation" if report.resumed else "rotated"
        click.echo(f"{verb}: current KEK {report.new_kek}; {report.rewrapped} data key(s) re-wrapped, "
                   f"{report.failed} failed, {report.left} still under an old KEK")
        for kek in report.retired:
            click.echo(f"  destroyed old KEK {kek}")
        if report.failed or report.left:
            sys.exit(1)

    @keys.command("rewrap")
    @actor_option
    @config_option
    @handle_errors
    def keys_rewrap(actor: str | None, config_file: str | None) -> None:
        """Re-wrap data keys still under an old KEK (no new KEK; e.g. keys sealed by a worker that had not
        yet noticed a rotation)."""
        settings = settings_from(config_file)
        with key_rotation(settings) as rotation, progress("re-wrapping data keys") as bar:
            report = rotation.rotate(cli_actor(actor), cli_source(), resume_only=True, progress_total=bar)
        click.echo(f"current KEK {report.new_kek}: {report.rewrapped} data key(s) re-wrapped, {report.failed} "
                   f"failed, {report.left} still under an old KEK")
        if report.failed or report.left:
            sys.exit(1)

    @keys.command("retire")
    @click.argument("kek_id")
    @actor_option
    @config_option
    @handle_errors
    def keys_retire(kek_id: str, actor: str | None, config_file: str | None) -> None:
        """Destroy an old KEK; refused while any data key is wrapped by it."""
        settings = settings_from(config_file)
        with key_rotation(settings) as rotation:
            outcome = rotation.retire(kek_id, cli_actor(actor), cli_source())
        click.echo(f"KEK {kek_id}: {outcome}")

    @keys.command("status")
    @config_option
    @handle_errors
    def keys_status(config_file: str | None) -> None:
        """Current KEK, data keys wrapped by each KEK, wraps performed, last rotation."""
        settings = settings_from(config_file)
        with key_rotation(settings) as rotation:
            rows, last, unfinished = rotation.status()
            backend = rotation.keyring_backend
        click.echo(f"backend: {backend}   wrap limit per KEK: {settings.kek_max_wraps}   last rotation: "
                   f"{last or 'never'}" + ("   (a rotation is UNFINISHED: run `voicemail keys rotate`)"
                                            if unfinished else ""))
        for r in rows:
            state = "current" if r.current else ("destroyed " + r.destroyed_at if r.destroyed_at else "old")
            share = 100.0 * r.wraps / settings.kek_max_wraps
            click.echo(f"  {r.kek_id:<22} {state:<12} data keys: {r.data_keys:<8} wraps (reserved, an upper bound): "
                       f"{r.wraps} ({share:.4f} % of limit)  created {r.created_at or '-'}")

    @keys.command("fips")
    @config_option
    @handle_errors
    def keys_fips(config_file: str | None) -> None:
        """Show whether OpenSSL's FIPS provider is active (exit 1 when fips_mode is on and it is not)."""
        from voicemail.keys.fips import APPROVED, fips_active, openssl_fips_provider, require_fips

        settings = settings_from(config_file)
        click.echo(f"FIPS provider active for cryptography: {'yes' if fips_active() else 'no'} "
                   f"({openssl_fips_provider()}); fips_mode = {settings.fips_mode}")
        click.echo("algorithms in use: " + "; ".join(APPROVED))
        require_fips(settings)

    # --- retention --------------------------------------------------------------------------
    @main.group()
    def retention() -> None:
        """Retention: what is due, destroy it (crypto-shredding), signed destruction records."""

    @retention.command("plan")
    @click.option("--days", type=click.IntRange(0, 36500), default=0, help="Also list what falls due within "
                  "this many days.")
    @click.option("--ids", is_flag=True, help="List every message id with its due date.")
    @config_option
    @handle_errors
    def retention_plan(days: int, ids: bool, config_file: str | None) -> None:
        """Dry run: what would be destroyed now (and within --days), per record class; held ones counted."""
        from voicemail.lifecycle.runner import plan_lines

        with lifecycle(settings_from(config_file)) as lc:
            for line in plan_lines(lc.planner, within_days=days, show_ids=ids):
                click.echo(line)

    @retention.command("run")
    @actor_option
    @config_option
    @handle_errors
    def retention_run(actor: str | None, config_file: str | None) -> None:
        """Destroy what is due (held records skipped and counted) and write a signed destruction record."""
        with lifecycle(settings_from(config_file)) as lc, progress("destroying") as bar:
            report = lc.runner(cli_actor(actor), cli_source()).run(progress=bar)
            warned = lc.warner().run()
            if report.destroyed and lc.settings.retention_rotate_kek:
                retired, rotated = lc.shred_from_backups(cli_actor(actor), cli_source())
                click.echo(f"rotated to KEK {rotated.new_kek} ({rotated.rewrapped} data keys re-wrapped)"
                           + (f"; retired {', '.join(retired)}" if retired else ""))
        click.echo(f"destroyed {report.destroyed} record(s), {report.held} held (skipped), {report.failed} failed; "
                   f"record {report.record['record']['id']}" + (f" written to {report.path}" if report.path else ""))
        if warned:
            click.echo(f"sent {warned} expiry warning(s)")
        if report.failed:
            sys.exit(1)

    @retention.command("verify")
    @click.argument("record")
    @click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Public key PEM (default: derived from audit_signing_key).")
    @config_option
    @handle_errors
    def retention_verify(record: str, public_key: Path | None, config_file: str | None) -> None:
        """Check a destruction record (a file, or a record id in the database) against the signing key."""
        from voicemail.audit.signing import SigningKey, load_public_pem
        from voicemail.lifecycle.records import load_record, verify_record

        settings = settings_from(config_file)
        public = load_public_pem(public_key.read_bytes()) if public_key else \
            SigningKey.load(Path(settings.audit_signing_key)).public
        engine = None if Path(record).is_file() else _engine(settings)
        try:
            doc = load_record(engine, record)
        finally:
            if engine is not None:
                engine.dispose()
        problems = verify_record(doc, public)
        body = doc["record"]
        if problems:
            for p in problems:
                click.echo(f"destruction record {body.get('id')}: {p}")
            sys.exit(1)
        totals = body["totals"]
        click.echo(f"destruction record {body['id']} verified: signed by {doc['key_id']}, {totals['destroyed']} "
                   f"record(s) destroyed, {totals['held_skipped']} held, at {body['created_at']}")

    # --- quota --------------------------------------------------------------------------------
    @main.group()
    def quota() -> None:
        """The vault quota: usage and alerts (new messages kept over quota because the rest is held)."""

    @quota.command("status")
    @config_option
    @handle_errors
    def quota_status(config_file: str | None) -> None:
        """Vault usage against the site quota."""
        with lifecycle(settings_from(config_file)) as lc:
            used = lc.quota().usage()
            s = lc.settings
        limit = f"{s.quota_site_bytes} bytes" if s.quota_site_bytes else "no site quota"
        click.echo(f"vault: {used} bytes of sealed audio; {limit}; per mailbox: "
                   f"{s.quota_mailbox_bytes or 'no quota'}")

    @quota.command("alerts")
    @click.option("--all", "show_all", is_flag=True, help="Also resolved alerts.")
    @config_option
    @handle_errors
    def quota_alerts_cmd(show_all: bool, config_file: str | None) -> None:
        """List quota alerts (newest first)."""
        from voicemail.lifecycle.quota import list_alerts

        settings = settings_from(config_file)
        engine = _engine(settings)
        try:
            alerts = list_alerts(engine, open_only=not show_all, default_site=settings.site_name)
        finally:
            engine.dispose()
        if not alerts:
            click.echo("no quota alerts")
        for a in alerts:
            click.echo(f"{a.id}  {a.created_at}  {a.scope:<7} {a.mailbox or '-':<20} used {a.used_bytes} of "
                       f"{a.limit_bytes} bytes  message {a.message_id}" + (f"  resolved {a.resolved_at}"
                                                                         if a.resolved_at else ""))

    @quota.command("resolve")
    @click.argument("alert_id")
    @config_option
    @handle_errors
    def quota_resolve(alert_id: str, config_file: str | None) -> None:
        """Mark a quota alert as dealt with."""
        from voicemail.lifecycle.quota import resolve_alert

        engine = _engine(settings_from(config_file))
        try:
            done = resolve_alert(engine, alert_id)
        finally:
            engine.dispose()
        click.echo(f"alert {alert_id} resolved" if done else f"no open alert {alert_id}")
        if not done:
            sys.exit(1)
