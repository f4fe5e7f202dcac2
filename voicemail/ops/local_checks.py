"""Installation checks of what lives on this host: settings, database schema, keys, spool and staging folders.

Every failure names the path or setting to fix. Nothing here creates or changes a file: a missing SQLite
database is reported, not created.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from voicemail.config import Settings, env_name, sqlite_path
from voicemail.domain.errors import KeyringError
from voicemail.ops.checks import CheckResult, failed, passed, skipped

# Files the service only reads: when configured, they must be there and readable by this user.
READ_FILES = ("directory_file", "ami_tls_ca_file", "smtp_ca_file", "ldap_ca_file", "oidc_ca_file", "web_tls_cert",
              "web_tls_key", "web_client_ca_file", "audit_public_key")
# Folders walked below the spool root: contexts, mailboxes, folders (INBOX, Old, ...).
SPOOL_DEPTH = 3
SPOOL_FIX = ("app_voicemail makes every msgNNNN.txt 0666 whatever its umask, so only the folders protect them: "
             "run Asterisk with UMask=0007 (systemd drop-in) or UMASK=007 (safe_asterisk) and "
             "`chmod -R o-rwx {spool}`")


def check_config(settings: Settings) -> CheckResult:
    """Settings loaded (the caller did that), the AMI secret is set, configured files are readable."""
    if not settings.ami_secret:
        return failed("config", f"ami_secret ({env_name('ami_secret')}) is empty: `voicemail run` cannot log in")
    for name in READ_FILES:
        path = getattr(settings, name)
        if path and not os.access(path, os.R_OK):
            why = "missing" if not os.path.exists(path) else "not readable by this user"
            return failed("config", f"{name} ({env_name(name)}): cannot read {path} ({why})")
    where = "SQLite" if sqlite_path(settings.database_url) is not None else "PostgreSQL"
    return passed("config", f"settings valid; ami_secret set; database {where}; mailer {settings.mailer}")


def check_database(settings: Settings) -> CheckResult:
    """The database answers and its schema is at the newest migration (no file is created)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from voicemail.db.engine import describe_database, make_engine
    from voicemail.db.migrate import alembic_config

    where = describe_database(settings.database_url)
    path = sqlite_path(settings.database_url)
    if path and not Path(path).is_file():
        return failed("database", f"no database at {path}: `voicemail run` creates and migrates it on start")
    heads = set(ScriptDirectory.from_config(alembic_config(settings.database_url)).get_heads())
    engine = make_engine(_with_connect_timeout(settings.database_url))
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        return failed("database", f"cannot read the database {where}: {type(exc).__name__}: "
                      f"{str(exc.orig if hasattr(exc, 'orig') else exc).strip()[:200]}")
    finally:
        engine.dispose()
    if current != heads:
        at = ", ".join(sorted(current)) or "no schema"
        return failed("database", f"{where} is not migrated (at {at}, newest {', '.join(sorted(heads))}): "
                      "start `voicemail run` once, it migrates on start")
    return passed("database", f"{where} at migration {', '.join(sorted(heads))}")


def _with_connect_timeout(url: str, seconds: int = 5) -> str:
    """A PostgreSQL URL that gives up connecting after ``seconds`` (a host that drops packets would otherwise
    hold the check for the system's TCP timeout); other URLs unchanged."""
    from sqlalchemy import make_url

    if sqlite_path(url) is not None:
        return url
    parsed = make_url(url)
    if "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict({"connect_timeout": str(seconds)}).render_as_string(hide_password=False)


def check_keyring(settings: Settings) -> CheckResult:
    """The key-encryption keyring opens and has a current key; a key file is private to the service user."""
    from voicemail.keys.backend import open_backend

    try:
        ring = open_backend(settings)
        current = ring.current_kek_id()
        count = len(ring.kek_ids())
    except KeyringError as exc:
        return failed("keyring", str(exc))
    where = settings.keyring if settings.keyring_backend == "file" else f"PKCS#11 {settings.pkcs11_token_label!r}"
    return passed("keyring", f"{where}: current key {current}, {count} key(s); escrow a copy (deploy/README.md)")


def check_signing_key(settings: Settings) -> CheckResult:
    """The audit signing key loads (0600, Ed25519); a configured public key belongs to it."""
    from voicemail.audit.signing import SigningKey, load_public_pem

    try:
        key = SigningKey.load(Path(settings.audit_signing_key))
    except KeyringError as exc:
        return failed("signing-key", str(exc))
    if settings.audit_public_key:
        try:
            public = load_public_pem(Path(settings.audit_public_key).read_bytes())
        except (OSError, ValueError, KeyringError) as exc:
            return failed("signing-key", f"audit_public_key: cannot read {settings.audit_public_key}: "
                          f"{type(exc).__name__}")
        if public.public_bytes_raw() != key.public.public_bytes_raw():
            return failed("signing-key", f"audit_public_key {settings.audit_public_key} is not the public half of "
                          f"{settings.audit_signing_key}")
    return passed("signing-key", f"{settings.audit_signing_key}: key id {key.key_id}")


def _open_to_others(root: Path) -> tuple[list[Path], int]:
    """Folders (down to SPOOL_DEPTH) that others may enter or list, and the count of 0666-style .txt files."""
    open_dirs: list[Path] = []
    loose_txt = 0
    level = [root]
    for depth in range(SPOOL_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            if folder.stat().st_mode & 0o005:
                open_dirs.append(folder)
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False) and depth < SPOOL_DEPTH:
                        below.append(Path(entry.path))
                    elif entry.name.endswith(".txt") and entry.is_file(follow_symlinks=False) \
                            and entry.stat(follow_symlinks=False).st_mode & stat.S_IROTH:
                        loose_txt += 1
        level = below
    return open_dirs, loose_txt


def check_spool(settings: Settings) -> CheckResult:
    """The spool is a folder this user reads and writes, and no other local user can enter it."""
    root = Path(settings.spool_dir)
    if not root.is_dir():
        return failed("spool", f"{root} is not a folder (setting spool_dir)")
    if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
        return failed("spool", f"{root} is not readable and writable by this user: join Asterisk's group "
                      "(SupplementaryGroups=asterisk) and make the spool folders group-writable (2770)")
    try:
        open_dirs, loose_txt = _open_to_others(root)
    except PermissionError as exc:
        return failed("spool", f"cannot read {exc.filename}: the whole spool must be readable by this user")
    if open_dirs:
        first = open_dirs[0]
        mode = stat.S_IMODE(first.stat().st_mode)
        return failed("spool", f"{len(open_dirs)} folder(s) open to every local user, e.g. {first} "
                      f"(mode {mode:04o}); {loose_txt} message .txt file(s) readable by others. "
                      + SPOOL_FIX.format(spool=root))
    return passed("spool", f"{root}: readable and writable, closed to other users")


def check_staging(settings: Settings) -> CheckResult:
    """The staging folder of the telephone menu and of "play on my phone", when either is on: ours, writable,
    closed to others."""
    if not settings.phone_device_template and not settings.phone_menu:
        return skipped("staging", "the telephone menu and play on my phone are off (phone_menu, phone_device_template)")
    folder = Path(settings.phone_staging_dir)
    if not folder.exists():
        parent = folder.parent
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return passed("staging", f"{folder} is made (2750) at first use")
        return failed("staging", f"{folder} is missing and {parent} is not writable (setting phone_staging_dir)")
    if not folder.is_dir() or not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return failed("staging", f"{folder} is not a folder this user can write (setting phone_staging_dir)")
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o007:
        return failed("staging", f"{folder} is open to every local user (mode {mode:04o}): chmod o-rwx {folder}")
    return passed("staging", f"{folder} (mode {mode:04o})")
