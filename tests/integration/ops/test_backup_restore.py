"""Backup and restore as deploy/README.md describes it: a message sealed by the real pipeline (`voicemail
run` against the Asterisk stand-in, PostgreSQL), then `pg_dump`, the vault folder and the keyring copied
away; the originals destroyed; `pg_restore` into an EMPTY database, vault and keyring put back under new
paths; the owner plays the message through the mailbox services, bit-identical to what Asterisk recorded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import fresh_pg_database
from tests.integration.pipeline.harness import Site, make_wav, wait_for
from tests.requirements import require_binary
from voicemail.app import build_container
from voicemail.config import load_settings
from voicemail.domain.mailbox import Viewer
from voicemail.domain.models import MailboxRef
from voicemail.ops.doctor import diagnose

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
BOX = MailboxRef.parse("1001@default")
ALICE = Viewer("alice", frozenset({"owner"}), (BOX,), "192.0.2.10", numbers=("1001",))


def libpq(url: str) -> str:
    """pg_dump / pg_restore take a libpq URL (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_backup_restores_into_an_empty_database_and_the_message_plays_bit_identical(
        tmp_path: Path, pg_url: str) -> None:
    pg_dump = require_binary("pg_dump", package="postgresql-client")
    pg_restore = require_binary("pg_restore", package="postgresql-client")
    site = Site(tmp_path / "site", database_url=pg_url)  # embedded transport: `voicemail run` is the worker
    site.prepare()
    site.start_standin()
    audio = make_wav(5.0, seed=2024)  # 80 kB: two vault chunks
    try:
        site.spawn("run", "--no-web", log="run")
        assert site.standin is not None
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        msg_id = site.standin.leave_message("1001@default", '"Alice Internal" <1001>', caller_context="vm-internal",
                                            audio=audio)
        assert msg_id is not None
        try:
            wait_for(lambda: site.sent() >= 1 and site.plaintext_left() == [], 60, "the message sealed and stripped")
        except AssertionError:
            print(site.logs())
            raise
    finally:
        site.stop_all()

    # Backup: the database, the vault folder, the keyring (README: "Backup and restore").
    backup = tmp_path / "backup"
    backup.mkdir(mode=0o700)
    subprocess.run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={backup / 'voicemail.dump'}",
                    libpq(pg_url)], check=True, capture_output=True, timeout=120)
    shutil.copytree(site.root / "vault", backup / "vault")
    shutil.copy2(site.root / "keyring.json", backup / "keyring.json")
    # The disaster: the site's vault and keyring are gone, the spool holds only placeholders, and the
    # database is replaced by an empty one.
    shutil.rmtree(site.root / "vault")
    (site.root / "keyring.json").unlink()

    with fresh_pg_database("vm_restore") as empty:
        subprocess.run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={libpq(empty)}",
                        str(backup / "voicemail.dump")], check=True, capture_output=True, timeout=120)
        restored = tmp_path / "restored"
        restored.mkdir()
        shutil.copytree(backup / "vault", restored / "vault")
        shutil.copy2(backup / "keyring.json", restored / "keyring.json")
        assert (restored / "keyring.json").stat().st_mode & 0o077 == 0  # copy2 kept 0600
        settings = load_settings(environ={
            "VOICEMAIL_DATABASE_URL": empty, "VOICEMAIL_VAULT_DIR": str(restored / "vault"),
            "VOICEMAIL_KEYRING": str(restored / "keyring.json"), "VOICEMAIL_SPOOL_DIR": str(restored / "spool"),
            "VOICEMAIL_OUTBOX_DIR": str(restored / "outbox"), "VOICEMAIL_AUDIT_SIGNING_KEY": str(restored / "sig.pem"),
            "VOICEMAIL_RETENTION_RECORDS_DIR": str(restored / "records"),
            "VOICEMAIL_PHONE_STAGING_DIR": str(restored / "staging")})
        checks = {r.name: r for r in diagnose(settings, ["database", "keyring"])}
        assert checks["database"].ok and checks["keyring"].ok, [r.line() for r in checks.values()]
        container = build_container(settings, on_new=lambda _id: None, migrate=False)
        try:
            record = container.store.find(BOX, msg_id)
            assert record is not None
            assert container.mailboxes is not None
            stream = container.mailboxes.audio(ALICE, record.id, None, fmt="original")
            played = b"".join(stream.chunks)
        finally:
            container.close()
    assert played == audio
