"""`voicemail demo`: the whole flow on one machine with no external service.

An Asterisk stand-in (real AMI on a loopback port, real app_voicemail spool files), SQLite, a local
vault and keyring, the embedded Celery transport and an outbox of .eml files. Three callers leave
messages: an internal colleague, an outside caller and an anonymous one. Without ``--once`` the web
inbox is served too (127.0.0.1:8080, or a free port when that one is taken), with one owner account
per demo mailbox whose generated password is written to a 0600 file in the demo folder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import secrets
import shutil
import socket
import time
from pathlib import Path

import click

from voicemail.config import Settings
from voicemail.domain.models import MailboxRef
from voicemail.service import Service, build_service, install_stop_signals
from voicemail.spool.placeholder import is_placeholder_bytes
from voicemail.standin import LAB_MAILBOXES, StandinConfig, StandinThread
from voicemail.vault import FileKeyring

MARKER = ".voicemail-demo"
DIRECTORY_CSV = (
    "number,name,email\n"
    "1001,Alice Internal,alice@example.test\n"
    "1002,Bob Internal,bob@example.test\n"
    "2001,Carol,carol@example.test\n"
)
CALLS = (
    # (mailbox, caller id as the phone sends it, dialplan context the call entered, what it shows)
    ("2001@default", '"Alice Internal" <1001>', "vm-internal", "an internal colleague (Alice, 1001)"),
    ("1001@default", "+12025550123", "vm-from-trunk", "an outside caller"),
    ("1002@default", None, "vm-from-trunk", "an anonymous caller"),
)


def prepare(base: Path) -> None:
    if base.exists():
        if not (base / MARKER).exists():
            raise click.ClickException(f"{base} exists and is not a demo folder; choose another --dir")
        shutil.rmtree(base)
    base.mkdir(parents=True)
    (base / MARKER).write_text("created by `voicemail demo`; safe to delete\n")
    (base / "directory.csv").write_text(DIRECTORY_CSV)


DEMO_ACCOUNTS = (("alice", "1001@default"), ("bob", "1002@default"), ("carol", "2001@default"))


def web_port(preferred: int = 8080) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise click.ClickException("no free TCP port on 127.0.0.1 for the web inbox")


def demo_settings(base: Path, ami_port: int, timing_secret: str, http_port: int = 8080) -> Settings:
    return Settings(
        ami_host="127.0.0.1", ami_port=ami_port, ami_username="voicemail", ami_secret=timing_secret,
        spool_dir=str(base / "spool"), database_url=f"sqlite:///{base / 'voicemail.db'}",
        vault_dir=str(base / "vault"), keyring=str(base / "keyring.json"), broker_url="",
        outbox_dir=str(base / "outbox"), directory_file=str(base / "directory.csv"),
        audit_signing_key=str(base / "audit-signing.pem"), phone_staging_dir=str(base / "phone-staging"),
        retention_records_dir=str(base / "destruction-records"),
        internal_contexts=("vm-internal",), mail_sender="voicemail@example.test",
        sweep_interval=5.0, stale_after=10.0, web_host="127.0.0.1", web_port=http_port,
        web_base_url=f"http://127.0.0.1:{http_port}")


def create_demo_accounts(service: Service, base: Path) -> Path:
    """One owner account per demo mailbox, all with one generated password, written to a 0600 file."""
    from voicemail.web.accounts_store import AccountStore

    password = secrets.token_urlsafe(12)
    accounts = AccountStore(service.container.engine)
    for name, box in DEMO_ACCOUNTS:
        accounts.add(name, roles=["owner"], mailboxes=[MailboxRef.parse(box)], numbers=[box.split("@")[0]],
                     password=password)
    path = base / "web-password.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return path


def summarise(base: Path, settings: Settings) -> list[str]:
    lines = ["", "Where to look:"]
    blobs = sorted(p for p in Path(settings.vault_dir).rglob("*") if p.is_file())
    lines.append(f"  sealed blobs ({len(blobs)}):   {settings.vault_dir}")
    for blob in blobs:
        lines.append(f"      {blob.relative_to(base)}  {blob.stat().st_size} bytes")
    spool = Path(settings.spool_dir)
    audio = sorted(p for p in spool.rglob("msg*") if p.suffix.lower() != ".txt"
                   and "tmp" not in p.relative_to(spool).parts)
    plain = [p for p in audio if not is_placeholder_bytes(p.suffix[1:], p.read_bytes())]
    lines.append(f"  spool ({len(audio)} recording(s), {len(audio) - len(plain)} replaced by placeholders,"
                 f" {len(plain)} plaintext left):   {settings.spool_dir}")
    for path in audio:
        lines.append(f"      {path.relative_to(base)}  {path.stat().st_size} bytes"
                     f"  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]}…")
    mails = sorted(Path(settings.outbox_dir).glob("*.eml"))
    lines.append(f"  notifications ({len(mails)} .eml):   {settings.outbox_dir}")
    for mail in mails:
        subject = next((ln for ln in mail.read_text().splitlines() if ln.startswith("Subject:")), "")
        lines.append(f"      {mail.name}  {subject}")
    lines.append(f"  database: {settings.database_url}   keyring: {settings.keyring} (0600)")
    return lines


async def leave(standin: StandinThread, mailbox: str, callerid: str | None, context: str) -> None:
    """Leave one message; the lab caller hangs up after its audio, so a call starved of CPU during the
    greeting leaves nothing (as a real caller hanging up early would): call again."""
    for _ in range(3):
        if await asyncio.to_thread(standin.leave_message, mailbox, callerid, caller_context=context) is not None:
            return
    raise click.ClickException(f"the stand-in recorded no message for {mailbox} in three calls")


async def _demo(base: Path, once: bool, timeout: float) -> int:
    prepare(base)
    secret = "demo-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:16]
    mailboxes = tuple(dataclasses.replace(m, email=m.email or f"{m.fullname.split()[0].lower()}@example.test")
                      for m in LAB_MAILBOXES)
    standin = StandinThread(StandinConfig(spool_dir=base / "spool", username="voicemail", secret=secret,
                                          mailboxes=mailboxes))
    port = standin.start()
    settings = demo_settings(base, port, secret, web_port() if not once else 8080)
    FileKeyring.create(Path(settings.keyring))
    service = build_service(settings)
    password_file = None
    if not once:
        from voicemail.web.server import embedded_server

        password_file = create_demo_accounts(service, base)
        service.web = embedded_server(service.container, ami_connected=lambda: service.client.connected)
    stop = asyncio.Event()
    install_stop_signals(stop)
    runner = asyncio.create_task(service.run(stop))
    try:
        click.echo(f"Asterisk stand-in on 127.0.0.1:{port} (AMI), spool {settings.spool_dir}")
        await asyncio.wait_for(service.client.wait_connected(), 15)
        while service.web is not None and not service.web.started and not runner.done():
            await asyncio.sleep(0.05)  # the web server's start-up competes for the CPU with the first call
        for mailbox, callerid, context, who in CALLS:
            await leave(standin, mailbox, callerid, context)
            click.echo(f"  left a message for {mailbox} from {who}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = service.container.store.summary()
            if counts.get("notifications.sent", 0) >= len(CALLS):
                break
            await asyncio.sleep(0.2)
        counts = service.container.store.summary()
        click.echo(f"Messages: {counts}")
        for line in summarise(base, settings):
            click.echo(line)
        ok = counts.get("notifications.sent", 0) >= len(CALLS)
        if not ok:
            click.echo("The demo did not finish in time; see the log above.", err=True)
            return 1
        if not once:
            names = ", ".join(f"{name} ({box})" for name, box in DEMO_ACCOUNTS)
            click.echo(f"\nWeb inbox: {settings.web_base_url}/signin  sign in as {names};"
                       f" the password is in {password_file}")
            click.echo(f"Running. Leave more messages with the stand-in on port {port}; Ctrl-C to stop.")
            await stop.wait()
        return 0
    finally:
        stop.set()
        await runner
        await service.close()
        standin.stop()


def run_demo(base: Path, once: bool, timeout: float = 60.0) -> int:
    return asyncio.run(_demo(base, once, timeout))
