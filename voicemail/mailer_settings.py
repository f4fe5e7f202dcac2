"""The chosen notification sender's settings: what mailer.registry.build_mailer takes, and its From address."""

from __future__ import annotations

from voicemail.config import Settings


def mailer_settings(settings: Settings) -> tuple[dict[str, object], str]:
    """The keyword settings of the chosen sender (mailer.registry.build_mailer) and its From address
    (the backend's own sender setting, else mail_sender)."""
    s = settings
    if s.mailer == "ews":
        sender = s.ews_sender or s.mail_sender
        return {"endpoint": s.ews_endpoint, "sender": sender, "username": s.ews_username,
                "password": s.ews_password, "auth": s.ews_auth, "version": s.ews_version,
                "tenant_id": s.ews_tenant_id, "authority": s.graph_authority, "timeout": s.mail_timeout}, sender
    if s.mailer == "graph":
        sender = s.graph_sender or s.mail_sender
        return {"tenant_id": s.graph_tenant_id, "client_id": s.graph_client_id,
                "client_secret": s.graph_client_secret, "sender": sender, "authority": s.graph_authority,
                "endpoint": s.graph_endpoint, "timeout": s.mail_timeout}, sender
    if s.mailer == "smtp":
        sender = s.smtp_sender or s.mail_sender
        return {"host": s.smtp_host, "port": s.smtp_port, "tls": s.smtp_tls, "username": s.smtp_username,
                "password": s.smtp_password, "sender": sender, "ca_file": s.smtp_ca_file,
                "timeout": s.mail_timeout, "message_id_domain": s.mail_domain}, sender
    return {"directory": s.outbox_dir, "message_id_domain": s.mail_domain}, s.mail_sender
