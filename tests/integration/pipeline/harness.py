"""What the end-to-end and fault tests share: a site in a temp folder, processes, polling, audio."""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import FromClause

from voicemail.audit.tables import cdrs
from voicemail.config import Settings, load_settings
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.db.models import Base, MessageRow, NotificationRow
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.models import MailboxRef
from voicemail.spool.placeholder import is_placeholder_bytes
from voicemail.standin import StandinConfig, StandinMailbox, StandinThread
from voicemail.vault import FileKeyring, FileVault

VOICEMAIL = str(Path(sys.executable).with_name("voicemail"))
MAILBOXES = (
    StandinMailbox("default", "1001", fullname="Alice Internal", email="alice@example.test"),
    StandinMailbox("default", "1002", fullname="Bob Internal", email="bob@example.test"),
    StandinMailbox("default", "2001", fullname="Carol", email="carol@example.test"),
)
DIRECTORY = "number,name,email\n1001,Alice Internal,alice@example.test\n1002,Bob Internal,bob@example.test\n"
EXTERNAL_NUMBER = "+12025550123"
# (caller id, dialplan context): an internal colleague, an outside caller, an anonymous one
CALLERS = (('"Alice Internal" <1001>', "vm-internal"), (EXTERNAL_NUMBER, "vm-from-trunk"), (None, "vm-from-trunk"))


_AUDIO_FILE = re.compile(r"^\.?msg[0-9]{4}\.(?P<fmt>(?!txt\b)[A-Za-z0-9]{1,16})(?:\.[0-9a-f]{12}\.vmswap)?$")


def make_wav(seconds: float, seed: int) -> bytes:
    """A PCM WAV (8 kHz, 16-bit mono) of seeded noise: every message's audio is different."""
    rng = random.Random(seed)
    frames = rng.randbytes(int(8000 * seconds) * 2)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)
    return buf.getvalue()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """One installation in a temp folder, wired to a stand-in Asterisk."""

    root: Path
    database_url: str
    broker_url: str = ""
    standin: StandinThread | None = None
    port: int = 5038  # the stand-in's port once started
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    secret: str = "test-secret"
    web_port: int = field(default_factory=lambda: free_port())  # `voicemail run` serves the web app too

    def start_standin(self) -> None:
        self.standin = StandinThread(StandinConfig(spool_dir=self.spool, username="voicemail", secret=self.secret,
                                                   mailboxes=MAILBOXES))
        self.port = self.standin.start()

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEMAIL_")}
        env.update({
            "VOICEMAIL_AMI_HOST": "127.0.0.1", "VOICEMAIL_AMI_PORT": str(self.port),
            "VOICEMAIL_AMI_USERNAME": "voicemail", "VOICEMAIL_AMI_SECRET": self.secret,
            "VOICEMAIL_SPOOL_DIR": str(self.spool), "VOICEMAIL_DATABASE_URL": self.database_url,
            "VOICEMAIL_BROKER_URL": self.broker_url, "VOICEMAIL_VAULT_DIR": str(self.root / "vault"),
            "VOICEMAIL_KEYRING": str(self.root / "keyring.json"), "VOICEMAIL_MAILER": "outbox",
            "VOICEMAIL_OUTBOX_DIR": str(self.root / "outbox"), "VOICEMAIL_INTERNAL_CONTEXTS": "vm-internal",
            "VOICEMAIL_DIRECTORY_FILE": str(self.root / "directory.csv"), "VOICEMAIL_SWEEP_INTERVAL": "1",
            "VOICEMAIL_STALE_AFTER": "4", "VOICEMAIL_LOG_LEVEL": "INFO", "VOICEMAIL_MAIL_SENDER": "vm@example.test",
            "VOICEMAIL_SPOOL_GRACE_SECONDS": "1", "VOICEMAIL_WEB_PORT": str(self.web_port),
            "VOICEMAIL_MAIL_TIMEOUT": "3",  # below stale_after, as the settings require of a network mailer
            "VOICEMAIL_AUDIT_SIGNING_KEY": str(self.root / "audit-signing.pem"),
            "VOICEMAIL_PHONE_STAGING_DIR": str(self.root / "phone-staging"),
            "VOICEMAIL_RETENTION_RECORDS_DIR": str(self.root / "destruction-records"),
        })
        env.update(extra)
        return env

    def settings(self) -> Settings:
        return load_settings(environ=self.env())

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "directory.csv").write_text(DIRECTORY)
        FileKeyring.create(self.root / "keyring.json")
        engine = make_engine(self.database_url)
        upgrade(engine)
        engine.dispose()

    def spawn(self, *args: str, log: str, **extra_env: str) -> subprocess.Popen[bytes]:
        out = open(self.root / f"{log}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([VOICEMAIL, *args], env=self.env(**extra_env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self.standin is not None:
            self.standin.stop()

    def log(self, name: str) -> str:
        """What the process spawned with ``log=name`` wrote so far ("" before it wrote anything)."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.root.glob("*.log"))

    @contextmanager
    def store(self) -> Iterator[SqlMessageStore]:
        engine = make_engine(self.database_url)
        try:
            yield SqlMessageStore(make_sessionmaker(engine))
        finally:
            engine.dispose()

    def sent(self) -> int:
        with self.store() as store:
            return store.summary().get("notifications.sent", 0)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection to the site's database for a few queries; its engine is disposed afterwards."""
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def count(self, table: FromClause | type[Base]) -> int:
        """Rows of a table (a mapped class or a Core table)."""
        with self.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def notification_attempts(self) -> list[int]:
        with self.connect() as conn:
            return sorted(conn.execute(select(NotificationRow.attempts)).scalars())

    def recorded(self) -> int:
        """Messages on record in the database (every state)."""
        return self.count(MessageRow)

    def cdr_count(self) -> int:
        return self.count(cdrs)

    def open_sealed(self, mailbox: str, msg_id: str, fmt: str = "wav") -> bytes:
        """Decrypt a sealed recording the way `voicemail message export` does."""
        with self.store() as store:
            record = store.find(MailboxRef.parse(mailbox), msg_id)
        assert record is not None and record.wrapped_key is not None, f"{msg_id} not sealed"
        rec = next(r for r in record.recordings if r.fmt == fmt)
        keyring = FileKeyring(self.root / "keyring.json")
        dek = keyring.unwrap(record.wrapped_key, record.id.encode())
        return b"".join(FileVault(self.root / "vault").open(rec.blob_name, dek, record.id.encode()))

    def spool_audio(self) -> list[Path]:
        return sorted(p for p in self.spool.rglob("msg*")
                      if p.suffix.lower() != ".txt" and "tmp" not in p.relative_to(self.spool).parts)

    def plaintext_left(self) -> list[Path]:
        """Every message audio file in the spool that is not our placeholder, hidden files included (the
        ``.msgNNNN.<fmt>.<hex>.vmswap`` twins a strip makes hold the caller's audio after the exchange)."""
        left = []
        for p in sorted(self.spool.rglob("*")):
            match = _AUDIO_FILE.match(p.name)
            if match is None or not p.is_file() or "tmp" in p.relative_to(self.spool).parts:
                continue
            if not is_placeholder_bytes(match.group("fmt"), p.read_bytes()):
                left.append(p)
        return left

    def emls(self) -> list[Path]:
        return sorted((self.root / "outbox").glob("*.eml"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def wait_async(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
