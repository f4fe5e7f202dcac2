"""Signed checkpoints shipped to a syslog collector (RFC 5424 over UDP, TCP and a Unix socket)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.checkpoint import Checkpoint
from voicemail.audit.shipping import SyslogSink, parse_syslog_url, sinks_from
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from voicemail.audit.tables import audit_events
from voicemail.config import load_settings
from voicemail.db.migrate import upgrade
from voicemail.domain.errors import ConfigError, TransientError

SYSLOG = re.compile(rb"^<109>1 (\S+) (\S+) voicemail-audit - checkpoint "
                    rb'\[vmaudit@32473 seq="(\d+)" kind="([a-z-]+)" key="([^"]+)"\] (\{.*\})$')


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[tuple[AuditLog, SigningKey, Engine]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    log = AuditLog(engine)
    for i in range(3):
        log.append(AuditEvent(actor=f"user{i}", action="signin"))
    yield log, SigningKey.create(tmp_path / "audit.pem"), engine
    engine.dispose()


def _checked(datagram: bytes, key: SigningKey) -> Checkpoint:
    m = SYSLOG.match(datagram)
    assert m is not None, datagram[:80]
    cp = Checkpoint.from_json(m.group(6).decode())
    assert cp.verify(key.public)
    assert int(m.group(3)) == cp.seq and m.group(1).decode() == cp.at
    return cp


def test_checkpoint_reaches_a_udp_syslog_collector_signed(audit: tuple[AuditLog, SigningKey, Engine]) -> None:
    log, key, _ = audit
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(5)
        port = collector.getsockname()[1]
        stored = log.checkpoint(key, ship_to=SyslogSink(f"udp://127.0.0.1:{port}"))
        received = _checked(collector.recv(65536), key)
    assert received == stored and received.seq == 3


def test_checkpoint_reaches_a_tcp_collector_with_octet_counting(audit: tuple[AuditLog, SigningKey, Engine]) -> None:
    log, key, _ = audit
    frames: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
            length, _, rest = data.partition(b" ")
            assert int(length) == len(rest)
            frames.append(rest)

        t = threading.Thread(target=accept)
        t.start()
        stored = log.checkpoint(key, ship_to=SyslogSink(f"tcp://127.0.0.1:{port}"))
        t.join(5)
    assert [_checked(f, key) for f in frames] == [stored]


def test_checkpoint_reaches_a_local_unix_syslog_socket(audit: tuple[AuditLog, SigningKey, Engine],
                                                        tmp_path: Path) -> None:
    log, key, _ = audit
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as collector:
        collector.bind(str(path))
        collector.settimeout(5)
        stored = log.checkpoint(key, ship_to=SyslogSink(f"unix://{path}"))
        assert _checked(collector.recv(65536), key) == stored


def test_epoch_seal_keeps_events_when_syslog_is_unreachable(audit: tuple[AuditLog, SigningKey, Engine]) -> None:
    log, key, engine = audit
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(TransientError):
        log.seal_epoch(key, "2999-01-01T00:00:00Z", ship_to=SyslogSink(f"tcp://127.0.0.1:{port}"))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_events)).scalar() == 3
    assert log.checkpoints() == []


def test_file_and_syslog_both_receive_the_checkpoint(audit: tuple[AuditLog, SigningKey, Engine],
                                                     tmp_path: Path) -> None:
    log, key, _ = audit
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(5)
        sinks = sinks_from(str(tmp_path / "ship.jsonl"), f"udp://127.0.0.1:{collector.getsockname()[1]}")
        assert sinks is not None
        stored = log.checkpoint(key, ship_to=sinks)
        assert _checked(collector.recv(65536), key) == stored
    assert Checkpoint.from_json((tmp_path / "ship.jsonl").read_text().strip()) == stored


@pytest.mark.parametrize("url", ["syslog.example:514", "http://collector:514", "udp://:514", "unix://",
                                 "tcp://host:notaport"])
def test_bad_syslog_url_is_a_config_error_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match="audit_checkpoint_syslog"):
        parse_syslog_url(url)
    with pytest.raises(ConfigError, match="audit_checkpoint_syslog"):
        load_settings(environ={"VOICEMAIL_AUDIT_CHECKPOINT_SYSLOG": url})
