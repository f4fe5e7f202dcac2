"""Typed settings: defaults <- TOML file <- environment (VOICEMAIL_*) <- command line.

Every setting is declared once, below, with its default and a comment; the README's configuration
table is generated from this list (``voicemail config --table``). A bad value raises ConfigError naming
the setting, which the CLI prints as one line and exits 2.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from voicemail.domain.errors import ConfigError

ENV_PREFIX = "VOICEMAIL_"


def _s(default: Any, doc: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"doc": doc, "secret": secret})


@dataclass(frozen=True)
class Settings:
    # --- Asterisk Manager Interface -------------------------------------------------------------
    ami_host: str = _s("127.0.0.1", "Asterisk AMI host (manager.conf bindaddr).")
    ami_port: int = _s(5038, "AMI TCP port (5038 plain, 5039 usually TLS).")
    ami_username: str = _s("voicemail", "AMI user (see deploy/asterisk/manager.conf).")
    ami_secret: str = _s("", "AMI secret. Required by `voicemail run`.", secret=True)
    ami_tls: bool = _s(False, "Connect to AMI over TLS.")
    ami_tls_ca_file: str = _s("", "CA bundle that signed Asterisk's AMI certificate (empty = system CAs).")
    ami_tls_verify: bool = _s(True, "Verify the AMI server certificate and host name (keep on).")
    ami_ping_interval: float = _s(20.0, "Seconds between AMI Ping keepalives (half-open detection).")
    # --- Asterisk's spool ------------------------------------------------------------------------
    spool_dir: str = _s("/var/spool/asterisk/voicemail", "Folder that holds the voicemail contexts.")
    spool_formats: tuple[str, ...] = _s(("wav",), "Extensions voicemail.conf's format= writes, e.g. WAV,wav for "
                                       "format=wav49|wav (wav49 files end in .WAV).")
    spool_grace_seconds: float = _s(10.0, "How long a new .txt may lack its audio or fail to parse before it is "
                                    "reported as a problem (Asterisk renames files in one by one).")
    # --- storage -------------------------------------------------------------------------------
    database_url: str = _s("sqlite:///var/voicemail.db", "SQLAlchemy URL (sqlite:///… or postgresql+psycopg://…).")
    vault_dir: str = _s("var/vault", "Folder of sealed blobs (0700).")
    vault_gc_after: float = _s(3600.0, "Vault files no record points to (left by a killed seal) are removed "
                               "after this many seconds, at each reconciliation.")
    keyring: str = _s("var/keyring.json", "Local keyring file (0600) holding the key-encryption keys.")
    # --- Celery --------------------------------------------------------------------------------
    broker_url: str = _s("", "Celery broker (redis://… or amqp://…). Empty = embedded in-process transport.")
    worker_concurrency: int = _s(2, "Worker processes for `voicemail worker`.")
    task_max_retries: int = _s(8, "Retries of a transient failure before a task is parked as dead letter.")
    retry_backoff_max: int = _s(300, "Longest pause between retries, in seconds (exponential, jittered).")
    sweep_interval: float = _s(30.0, "Seconds between sweeps that re-enqueue stuck work.")
    stale_after: float = _s(60.0, "A message or notification not progressing for this long is re-enqueued.")
    reconcile_interval: float = _s(300.0, "Seconds between full reconciliation passes.")
    # --- notifications -------------------------------------------------------------------------
    mailer: str = _s("outbox", "Notification backend: outbox (ews, graph, smtp come later).")
    outbox_dir: str = _s("var/outbox", "Folder where the outbox mailer writes .eml files.")
    mail_sender: str = _s("voicemail@localhost.localdomain", "From address of notifications.")
    mail_domain: str = _s("voicemail.invalid", "Domain used in Message-IDs (never caller data).")
    external_subject: str = _s("Voice message from an outside caller",
                               "Subject for external callers; a fixed string, it can carry no caller data.")
    web_base_url: str = _s("http://localhost:8080", "Base URL of the web player linked from notifications.")
    default_timezone: str = _s("UTC", "Time zone for dates in notifications when the owner has none.")
    # --- callers -------------------------------------------------------------------------------
    internal_contexts: tuple[str, ...] = _s(("vm-internal",),
                                            "Dialplan contexts that internal calls enter (comma-separated).")
    directory_file: str = _s("", "CSV directory (number,name,email). Empty = nobody is internal.")
    # --- operations ----------------------------------------------------------------------------
    log_level: str = _s("INFO", "Log level (DEBUG, INFO, WARNING, ERROR).")
    failpoints: str = _s("", "Testing only: comma-separated fault-injection points (see README).")

    def redacted(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "********" if f.metadata.get("secret") and value else value
        return out


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _coerce(name: str, typ: Any, raw: Any) -> Any:
    where = f"setting {name} ({env_name(name)})"
    try:
        if typ in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"expected true/false, got {raw!r}")
        if typ in (int, "int"):
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            return int(raw)
        if typ in (float, "float"):
            return float(raw)
        if typ in ("tuple[str, ...]",) or typ == tuple[str, ...]:
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
        if not isinstance(raw, str | int | float):
            raise ValueError(f"expected a string, got {type(raw).__name__}")
        return str(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _validate(s: Settings) -> Settings:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"setting {name} ({env_name(name)}): {why}")

    if not 0 < s.ami_port < 65536:
        raise bad("ami_port", f"port out of range: {s.ami_port}")
    if s.mailer not in ("outbox", "ews", "graph", "smtp"):
        raise bad("mailer", f"unknown mailer {s.mailer!r} (outbox, ews, graph or smtp)")
    if s.worker_concurrency < 1:
        raise bad("worker_concurrency", "must be at least 1")
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise bad("log_level", f"unknown level {s.log_level!r}")
    if not s.database_url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise bad("database_url", "only sqlite:/// and postgresql+psycopg:// URLs are supported")
    if s.broker_url and not s.broker_url.startswith(("redis://", "rediss://", "amqp://", "amqps://", "memory://")):
        raise bad("broker_url", "expected redis://, amqp:// or empty for the embedded transport")
    for ctx in s.internal_contexts:
        if not ctx.replace("-", "").replace("_", "").isalnum():
            raise bad("internal_contexts", f"not a dialplan context name: {ctx[:40]!r}")
    return s


def load_settings(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from defaults, an optional TOML file, the environment and CLI overrides."""
    environ = os.environ if environ is None else environ
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        table = data.get("voicemail", data)
        for key, raw in table.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _coerce(key, known[key].type, raw)
    for name, f in known.items():
        raw_env = environ.get(env_name(name))
        if raw_env is not None:
            values[name] = _coerce(name, f.type, raw_env)
    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _coerce(key, known[key].type, raw)
    return _validate(dataclasses.replace(Settings(), **values))


def settings_table() -> str:
    """The README's configuration table, generated from the declarations above."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for f in fields(Settings):
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(default)
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        doc = str(f.metadata["doc"]).replace("|", "\\|")
        rows.append(f"| `{f.name}` | `{env_name(f.name)}` | {shown} | {doc} |")
    return "\n".join(rows)
