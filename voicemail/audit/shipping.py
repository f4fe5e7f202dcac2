"""Where signed audit checkpoints are shipped: a JSON-lines file and/or a syslog collector.

A checkpoint shipped off the host lets an auditor prove the chain head at that time even if the
database (and this host) is later rewritten. Syslog is RFC 5424 over UDP, TCP (RFC 6587 octet
counting) or a local Unix socket (``unix:///dev/log``); the message is the checkpoint's JSON, with the
structured data ``[vmaudit@32473 seq="…"]`` so a collector can index it. A checkpoint carries hashes,
sequence numbers and a signature only — nothing personal.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from voicemail.audit.checkpoint import Checkpoint, ship_to_file
from voicemail.domain.errors import ConfigError, TransientError

# RFC 5424 PRI: facility 13 (log audit) * 8 + severity 5 (notice)
PRI = 13 * 8 + 5
APP_NAME = "voicemail-audit"
MSG_ID = "checkpoint"
SD_ID = "vmaudit@32473"  # 32473 is the IANA example enterprise number (RFC 5612)


class CheckpointSink(Protocol):
    def ship(self, checkpoint: Checkpoint) -> None: ...


@dataclass(frozen=True)
class FileSink:
    path: Path

    def ship(self, checkpoint: Checkpoint) -> None:
        ship_to_file(self.path, checkpoint)


def rfc5424(checkpoint: Checkpoint, hostname: str) -> bytes:
    """One RFC 5424 syslog message (no BOM: the JSON is ASCII)."""
    host = "".join(c for c in hostname if 33 <= ord(c) <= 126)[:255] or "-"
    sd = f'[{SD_ID} seq="{checkpoint.seq}" kind="{checkpoint.kind}" key="{checkpoint.key_id}"]'
    return f"<{PRI}>1 {checkpoint.at} {host} {APP_NAME} - {MSG_ID} {sd} {checkpoint.to_json()}".encode("ascii")


@dataclass(frozen=True)
class SyslogSink:
    """``udp://host:port``, ``tcp://host:port`` or ``unix:///path``. A failure raises TransientError:
    the checkpoint is already stored in the database, so the next one ships the newer head anyway."""

    url: str
    timeout: float = 5.0

    def __post_init__(self) -> None:
        parse_syslog_url(self.url)

    def ship(self, checkpoint: Checkpoint) -> None:
        target = parse_syslog_url(self.url)
        data = rfc5424(checkpoint, socket.gethostname())
        try:
            if target.scheme == "udp":
                with socket.socket(_family(target.host), socket.SOCK_DGRAM) as s:
                    s.sendto(data, (target.host, target.port))
            elif target.scheme == "tcp":
                with socket.create_connection((target.host, target.port), timeout=self.timeout) as s:
                    s.sendall(b"%d %s" % (len(data), data))
            else:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                    s.connect(target.host)
                    s.send(data)
        except OSError as exc:
            raise TransientError(f"could not ship the audit checkpoint to syslog {self.url}: {exc}") from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


@dataclass(frozen=True)
class SyslogTarget:
    scheme: str  # udp | tcp | unix
    host: str  # the socket path for unix
    port: int = 0


def parse_syslog_url(url: str) -> SyslogTarget:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError("setting audit_checkpoint_syslog: unix:// needs a socket path, e.g. unix:///dev/log")
        return SyslogTarget("unix", parts.path)
    if parts.scheme not in ("udp", "tcp") or not parts.hostname:
        raise ConfigError("setting audit_checkpoint_syslog (VOICEMAIL_AUDIT_CHECKPOINT_SYSLOG): use "
                          "udp://host:514, tcp://host:514 or unix:///dev/log")
    try:
        port = parts.port or 514
    except ValueError:
        raise ConfigError("setting audit_checkpoint_syslog: the port is not a number") from None
    return SyslogTarget(parts.scheme, parts.hostname, port)


@dataclass(frozen=True)
class Sinks:
    """Ship to every configured sink; all are attempted, the first failure is raised after."""

    sinks: Sequence[CheckpointSink]

    def ship(self, checkpoint: Checkpoint) -> None:
        first: Exception | None = None
        for sink in self.sinks:
            try:
                sink.ship(checkpoint)
            except (OSError, TransientError) as exc:
                first = first or exc
        if first is not None:
            raise first

    def __bool__(self) -> bool:
        return bool(self.sinks)


def sinks_from(checkpoint_file: str, syslog_url: str) -> Sinks | None:
    sinks: list[CheckpointSink] = []
    if checkpoint_file:
        sinks.append(FileSink(Path(checkpoint_file)))
    if syslog_url:
        sinks.append(SyslogSink(syslog_url))
    return Sinks(sinks) if sinks else None
