"""Typed settings: defaults <- TOML file <- environment (VOICEMAIL_*) <- command line.

Every setting is declared once, below, with its default and a comment; the README's configuration
table is generated from this list (``voicemail config --table``). A bad value raises ConfigError naming
the setting, which the CLI prints as one line and exits 2.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from voicemail.domain.errors import ConfigError
from voicemail.setting_names import ENV_PREFIX as ENV_PREFIX
from voicemail.setting_names import env_name as env_name
from voicemail.sites import SITE_FIELDS, SITE_PHONE_FIELDS, Site, check_site_name, parse_sites


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
    ami_allow_plaintext_remote: bool = _s(False, "Allow plain (non-TLS) AMI to a host other than this one. AMI "
                                          "logins and events (caller numbers) then cross the network in "
                                          "cleartext; without this, ami_host must be loopback or ami_tls on.")
    ami_ping_interval: float = _s(20.0, "Seconds between AMI Ping keepalives (half-open detection).")
    site_name: str = _s("default", "Name of the Asterisk this service listens to; processes with the same site "
                        "share one listener lease (one listens, the others stand by).")
    sites: tuple[Site, ...] = _s((), "Further Asterisk servers, as [[sites]] tables in the config file: name, "
                                 "ami_host, ami_port, ami_username, ami_secret, ami_tls, ami_tls_ca_file, "
                                 "ami_tls_verify, ami_allow_plaintext_remote, spool_dir, phone_device_template, "
                                 "phone_staging_dir (as the single-site settings; the phone ones empty = the "
                                 "global value), or in the environment as comma-separated names, each site's fields "
                                 "then in VOICEMAIL_SITE_<NAME>_<FIELD> (which also override the file's). The "
                                 "site the single-site settings describe is the default site.")
    site: str = _s("", "The site this process serves (its listener, its custody worker): site_name or a [[sites]] "
                   "name; empty = the default site. Its AMI endpoint and spool then stand in for ami_* and "
                   "spool_dir. `voicemail run --site NAME` and `voicemail worker --site NAME` set it.")
    listener_lease_seconds: float = _s(15.0, "How long the listener lease lasts without renewal (database clock): "
                                       "a stand-by takes over at most this long plus listener_renew_seconds "
                                       "after the listener died.")
    listener_renew_seconds: float = _s(5.0, "Seconds between renewals of the listener lease, and between a "
                                       "stand-by's attempts to take it (at most half of listener_lease_seconds).")
    # --- Asterisk's spool ------------------------------------------------------------------------
    spool_dir: str = _s("/var/spool/asterisk/voicemail", "Folder that holds the voicemail contexts.")
    spool_formats: tuple[str, ...] = _s(("wav",), "Extensions voicemail.conf's format= writes, e.g. WAV,wav for "
                                       "format=wav49|wav (wav49 files end in .WAV).")
    spool_grace_seconds: float = _s(10.0, "How long a new .txt may lack its audio or fail to parse before it is "
                                    "reported as a problem (Asterisk renames files in one by one).")
    first_start_backlog: int = _s(50, "`voicemail run` on a site the database never served (no message, no import "
                                  "run, no listener lease of it) refuses to start when its spool already holds "
                                  "more than this many messages, instead of announcing each one: run `voicemail "
                                  "import` first, or pass --announce-existing. 0 = no check.")
    # --- storage -------------------------------------------------------------------------------
    database_url: str = _s("sqlite:////var/lib/voicemail/voicemail.db", "SQLAlchemy URL (sqlite:////absolute/path or "
                           "postgresql+psycopg://…).")
    vault_dir: str = _s("/var/lib/voicemail/vault", "Folder of sealed blobs (0700).")
    vault_gc_after: float = _s(3600.0, "Vault files no record points to (left by a killed seal) are removed "
                               "after this many seconds, at each reconciliation.")
    keyring: str = _s("/var/lib/voicemail/keyring.json", "Local keyring file (0600) holding the key-encryption "
                      "keys.")
    # --- Celery --------------------------------------------------------------------------------
    broker_url: str = _s("", "Celery broker (redis://… or amqp://…). Empty = embedded in-process transport.")
    worker_concurrency: int = _s(2, "Worker processes for `voicemail worker`.")
    task_max_retries: int = _s(8, "Retries of a transient failure of a notification, or of finishing a shred "
                               "on another site's Asterisk, before it is parked as dead letter (custody "
                               "retries are bounded by custody_retry_for).")
    custody_retry_for: float = _s(172800.0, "Seconds a message's custody keeps being retried with backoff after "
                                  "transient failures (vault volume full, database or spool errors), counted "
                                  "from its discovery, before it is parked as dead letter.")
    custody_max_unfinished: int = _s(5, "Custody runs of one message that may end with their worker dead, in a "
                                     "row (a codec crash, the out-of-memory killer), before it is parked as dead "
                                     "letter instead of being run again.")
    custody_batch_size: int = _s(50, "Messages taken into custody by one task (one seal sync, a few commits), "
                                 "and notifications sent by one task: a discovery pass hands its new messages "
                                 "over in batches of this size. 1 = one message per task.")
    retry_backoff_max: int = _s(300, "Longest pause between retries, in seconds (exponential, jittered).")
    sweep_interval: float = _s(30.0, "Seconds between sweeps that re-enqueue stuck work.")
    stale_after: float = _s(60.0, "A message or notification not progressing for this long is re-enqueued.")
    reconcile_interval: float = _s(300.0, "Seconds between full reconciliation passes.")
    discovery_retry_max: float = _s(30.0, "Longest pause between retries of a mailbox scan that failed (e.g. the "
                                    "database is down); it is retried with backoff until it succeeds.")
    # --- notifications -------------------------------------------------------------------------
    mailer: str = _s("outbox", "Notification backend: outbox (.eml files), ews, graph or smtp.")
    outbox_dir: str = _s("/var/lib/voicemail/outbox", "Folder where the outbox mailer writes .eml files.")
    mail_sender: str = _s("voicemail@localhost.localdomain", "From address of notifications.")
    mail_domain: str = _s("voicemail.invalid", "Domain used in Message-IDs (never caller data).")
    external_subject: str = _s("Voice message from an outside caller",
                               "Subject for external callers; a fixed string, it can carry no caller data.")
    web_base_url: str = _s("http://localhost:8080", "Base URL of the web player linked from notifications.")
    default_timezone: str = _s("UTC", "Time zone for dates in notifications when the owner has none.")
    # --- mail backends (VOICEMAIL_MAILER=ews|graph|smtp) ------------------------------------------
    mail_timeout: float = _s(30.0, "Seconds to wait for the mail server (EWS, Graph, SMTP) before the attempt "
                             "counts as a transient failure and is retried.")
    ews_endpoint: str = _s("", "EWS URL, e.g. https://mail.example.org/EWS/Exchange.asmx (no autodiscover).")
    ews_auth: str = _s("ntlm", "EWS authentication: ntlm, basic or oauth2.")
    ews_username: str = _s("", "EWS service account (DOMAIN\\user or user@domain); oauth2: the application id.")
    ews_password: str = _s("", "EWS password; oauth2: the client secret.", secret=True)
    ews_sender: str = _s("", "Mailbox EWS sends from (empty = mail_sender).")
    ews_version: str = _s("Exchange2016", "Pinned EWS version: Exchange2013, Exchange2013_SP1 or Exchange2016 "
                          "(Exchange 2016, 2019, SE).")
    ews_tenant_id: str = _s("", "Entra ID tenant of the EWS application (ews_auth=oauth2 only).")
    graph_tenant_id: str = _s("", "Microsoft Graph: directory (tenant) id.")
    graph_client_id: str = _s("", "Microsoft Graph: application (client) id with the Mail.Send permission.")
    graph_client_secret: str = _s("", "Microsoft Graph: client secret.", secret=True)
    graph_sender: str = _s("", "Mailbox Graph sends from (empty = mail_sender).")
    graph_authority: str = _s("https://login.microsoftonline.com",
                              "OAuth2 token authority (national clouds); also for ews_auth=oauth2.")
    graph_endpoint: str = _s("https://graph.microsoft.com", "Microsoft Graph endpoint (national clouds).")
    smtp_host: str = _s("", "SMTP server (relay or submission host).")
    smtp_port: int = _s(587, "SMTP port: 587 with starttls, 465 with implicit, 25 with none.")
    smtp_tls: str = _s("starttls", "SMTP transport security: starttls, implicit or none.")
    smtp_username: str = _s("", "SMTP AUTH user (empty = no AUTH; needs starttls or implicit).")
    smtp_password: str = _s("", "SMTP AUTH password.", secret=True)
    smtp_sender: str = _s("", "SMTP envelope and From address (empty = mail_sender).")
    smtp_ca_file: str = _s("", "CA bundle that signed the SMTP server's certificate (empty = system CAs).")
    # --- callers -------------------------------------------------------------------------------
    internal_contexts: tuple[str, ...] = _s(("vm-internal",),
                                            "Dialplan contexts that internal calls enter (comma-separated).")
    directory_file: str = _s("", "CSV directory (number,name,email). Empty = nobody is internal.")
    # --- directory (LDAP) ------------------------------------------------------------------------
    ldap_url: str = _s("", "Directory server: ldap://host[:port] or ldaps://host[:port]. When set, callers are "
                       "looked up in the copy synced from it (directory_file is then ignored).")
    ldap_bind_dn: str = _s("", "DN (or user@domain on AD) to bind as. Empty with an empty password = anonymous.")
    ldap_password: str = _s("", "Password of ldap_bind_dn (sent only over ldaps:// or StartTLS).", secret=True)
    ldap_auth: str = _s("simple", "simple (bind DN + password) or gssapi (Kerberos; needs the gssapi package "
                        "and a ticket or keytab).")
    ldap_base_dn: str = _s("", "Where the users are, e.g. OU=Staff,DC=agency,DC=example. Required with ldap_url.")
    ldap_filter: str = _s("(&(objectCategory=person)(objectClass=user))", "LDAP filter that selects the users.")
    ldap_starttls: bool = _s(False, "Upgrade ldap:// with StartTLS before binding.")
    ldap_ca_file: str = _s("", "CA bundle for ldaps:// / StartTLS (empty = system CAs). The certificate and host "
                           "name are always verified.")
    ldap_page_size: int = _s(500, "Entries per page of the paged searches (AD's MaxPageSize is 1000).")
    ldap_timeout: float = _s(15.0, "Seconds to connect, and to wait for each LDAP response.")
    ldap_attr_id: str = _s("objectGUID", "Attribute that identifies a user for ever (OpenLDAP: entryUUID, "
                           "FreeIPA: ipaUniqueID).")
    ldap_attr_account: str = _s("sAMAccountName", "Sign-in name, maps users to web accounts (OpenLDAP: uid).")
    ldap_attr_name: str = _s("displayName", "Name shown for an internal caller.")
    ldap_attr_mail: str = _s("mail", "E-mail address (maps users to mailboxes by mail).")
    ldap_attr_phone: str = _s("telephoneNumber", "Phone number attribute.")
    ldap_attr_ip_phone: str = _s("ipPhone", "IP phone / extension attribute (maps users to mailboxes by extension).")
    ldap_attr_mobile: str = _s("mobile", "Mobile number attribute (empty = not used).")
    ldap_attr_employee_id: str = _s("employeeID", "Employee id (SEID).")
    ldap_attr_office: str = _s("physicalDeliveryOfficeName", "Office / location.")
    ldap_attr_account_control: str = _s("userAccountControl", "AD account flags: bit 2 set = disabled. A "
                                        "configured attribute missing from an entry counts as disabled; empty = "
                                        "not used (OpenLDAP).")
    ldap_attr_locked: str = _s("", "Attribute that is TRUE for disabled accounts (FreeIPA / 389 DS: nsAccountLock).")
    ldap_attr_changed: str = _s("uSNChanged", "Incremental sync attribute: uSNChanged (AD, one domain controller) "
                                "or modifyTimestamp. Empty = every sync is full.")
    ldap_sync_interval: float = _s(900.0, "Seconds between scheduled (incremental) directory syncs (`voicemail "
                                   "beat`, or `voicemail run` without a broker); 0 = no schedule.")
    ldap_full_sync_interval: float = _s(86400.0, "A scheduled sync is a full one when the last full sync is "
                                        "older than this many seconds.")
    directory_max_age: float = _s(14400.0, "Seconds a synced directory is trusted without a successful sync; "
                                  "older = every caller is external (fail closed).")
    phone_region: str = _s("", "Default region for national number formats, e.g. US (empty = only +E.164 "
                           "numbers and extensions are normalised).")
    extension_digits: tuple[str, ...] = _s((), "Lengths of internal extensions, e.g. 4 (comma-separated).")
    did_ranges: tuple[str, ...] = _s((), "DID blocks that reach extensions, FIRST-LAST=EXTENSION, e.g. "
                                     "+12025551000-+12025551999=1000 (comma-separated).")
    # --- audit trail, evidence, CDR release --------------------------------------------
    audit_signing_key: str = _s("/var/lib/voicemail/audit-signing.pem", "Ed25519 key file (0600) that signs audit "
                                "checkpoints, evidence manifests and CDR exports (`voicemail keys init-signing`).")
    audit_checkpoint_file: str = _s("", "Separate store the signed audit checkpoints are shipped to (a JSON-lines "
                                    "file, ideally on another host or mount). Empty = kept in the database only.")
    audit_checkpoint_syslog: str = _s("", "Also ship each signed checkpoint to a syslog collector (RFC 5424, facility "
                                      "log audit): udp://host:514, tcp://host:514 or unix:///dev/log. Empty = off.")
    audit_public_key: str = _s("", "Ed25519 public key (PEM, `voicemail keys public-key`) the web page /audit verifies "
                               "the chain with; empty = derived from audit_signing_key (the web process then reads "
                               "the private key file).")
    audit_checkpoint_interval: float = _s(3600.0, "Seconds between scheduled signed checkpoints of the audit chain "
                                          "head in `voicemail beat`; 0 = no schedule.")
    audit_retention_days: int = _s(2555, "Days audit events are kept (90 to 2555 = 7 years); older ones are sealed "
                                   "by a signed epoch checkpoint, then removed, at each scheduled checkpoint.")
    # --- web ---------------------------------------------------------------------------
    web_host: str = _s("127.0.0.1", "Address `voicemail web` / `voicemail run` serve the web app on.")
    web_port: int = _s(8080, "TCP port of the web app.")
    web_tls_cert: str = _s("", "PEM certificate (chain) for HTTPS served by uvicorn itself (empty = plain HTTP, "
                           "e.g. behind a TLS-terminating proxy).")
    web_tls_key: str = _s("", "PEM private key of web_tls_cert (0600).")
    web_forwarded_allow_ips: str = _s("", "Proxy addresses trusted for X-Forwarded-For/-Proto (comma-separated; "
                                      "empty = the peer address is the client address).")
    web_cookie_secure: bool = _s(True, "Session cookies carry Secure (keep on; Chromium accepts them on "
                                 "http://localhost).")
    web_cookie_samesite: str = _s("lax", "SameSite of the session cookie: lax (links in notifications work) "
                                  "or strict.")
    web_session_idle: float = _s(1800.0, "Seconds of inactivity after which a session ends.")
    web_session_absolute: float = _s(43200.0, "Seconds after sign-in after which a session ends regardless.")
    web_inbox_poll_seconds: int = _s(25, "How long an open inbox page's request for new messages waits for one "
                                     "to arrive before it asks again, in seconds (0 = never ask; the page "
                                     "then shows them on reload only).")
    web_inbox_check_seconds: float = _s(1.0, "How often the web process looks for mailboxes with a new or changed "
                                        "message while inbox pages wait, in seconds (one query for all of them).")
    web_lockout_threshold: int = _s(5, "Failed sign-ins in a row that lock an account.")
    web_lockout_minutes: float = _s(15.0, "How long a locked account stays locked (`voicemail accounts unlock` "
                                    "ends it early).")
    web_signin_rate_limit: int = _s(20, "Sign-in attempts allowed per client address per web_signin_rate_window "
                                       "(and three times as many sign-in forms handed out).")
    web_signin_rate_window: float = _s(300.0, "Seconds of the per-address sign-in rate window.")
    web_allowed_origins: tuple[str, ...] = _s((), "Extra origins accepted on state-changing requests besides "
                                              "the site's own and web_base_url's (comma-separated).")
    web_max_body_bytes: int = _s(1_048_576, "Largest request body the web app accepts (bytes); a larger one is "
                                 "refused with 413 before it is read, signed in or not.")
    # --- sign-in methods: PIV/CAC client certificates and OIDC ---------------------------
    web_client_cert_mode: str = _s("off", "uvicorn asks for a PIV/CAC client certificate: off, optional (sign-in "
                                   "page offers the card) or required (no connection without one). Needs "
                                   "web_tls_cert and web_client_ca_file.")
    web_client_ca_file: str = _s("", "PEM bundle of the CAs that issue sign-in certificates (e.g. the DoD / "
                                 "Federal PKI issuing CAs). Every certificate is checked against it again by the "
                                 "app, whichever server or proxy terminated TLS.")
    web_client_cert_header: str = _s("", "Header in which a TLS-terminating reverse proxy passes the verified "
                                     "client certificate as URL-encoded PEM (nginx $ssl_client_escaped_cert), e.g. "
                                     "X-SSL-Client-Cert. Empty = no proxy mode.")
    web_trusted_proxies: tuple[str, ...] = _s((), "Addresses/CIDRs of the proxies web_client_cert_header is "
                                              "accepted from (the TCP peer; comma-separated). From anybody else "
                                              "it is ignored and audited.")
    oidc_issuer: str = _s("", "OpenID Connect issuer URL (its /.well-known/openid-configuration is read). Empty = "
                          "no OIDC sign-in.")
    oidc_client_id: str = _s("", "Client id registered at the identity provider.")
    oidc_client_secret: str = _s("", "Client secret (empty = public client, PKCE only).", secret=True)
    oidc_redirect_url: str = _s("", "Redirect URI registered at the provider: https://<site>/signin/oidc/callback.")
    oidc_scopes: tuple[str, ...] = _s(("openid", "email", "profile"), "Scopes requested (comma-separated; must "
                                      "include openid).")
    oidc_account_claim: str = _s("sub", "ID token claim mapped to a web account (`voicemail accounts map-oidc`): "
                                 "sub (stable), or preferred_username / email.")
    oidc_ca_file: str = _s("", "CA bundle that signed the identity provider's HTTPS certificate (empty = system "
                           "CAs).")
    # --- Outlook add-in (ViewMail for Outlook) --------------------------------------------
    outlook_frame_ancestors: tuple[str, ...] = _s(
        ("https://outlook.office.com", "https://outlook.office365.com", "https://outlook.live.com",
         "https://outlook.cloud.microsoft"),
        "Origins allowed to frame the Outlook task pane /outlook/taskpane (CSP frame-ancestors; comma-separated "
        "https origins). Every other page refuses framing. Empty = the task pane refuses framing too.")
    outlook_token_minutes: int = _s(60, "Lifetime in minutes of the add-in's bearer token (1 to 720); the task "
                                    "pane asks for a new one when it expires.")
    outlook_sso_audience: str = _s("", "Audience (application ID URI, e.g. api://voicemail.example.org/<client "
                                   "id>) of Office SSO access tokens, checked with the oidc_issuer's JWKS. "
                                   "Empty = no SSO (the add-in signs in through a dialog).")
    # --- mailbox services ----------------------------------------------------------------
    phone_device_template: str = _s("", "Device channel of a mailbox owner's phone for \"Play on my phone\", with "
                                    "{mailbox} and {context}, e.g. PJSIP/{mailbox}. Empty = the feature is off.")
    pbx_timezone: str = _s("UTC", "IANA time zone of the phone system's clock: Asterisk writes a CDR's StartTime "
                           "in its local time; the call history shows it in each person's own time zone.")
    calls_device_template: str = _s("PJSIP/{number}", "How Asterisk names the device of an extension in CDRs "
                                    "(Channel without its -sequence suffix), with {number}. A call is listed as "
                                    "placed by a user only when it was made on one of their devices; caller ID "
                                    "is never trusted. Empty = no call is listed as placed.")
    phone_staging_dir: str = _s("/var/lib/voicemail/phone-staging", "Folder (2750; a tmpfs such as "
                                "/run/voicemail-stage in production) of the short-lived 0640 audio files Asterisk "
                                "plays for \"Play on my phone\" and the telephone menu; each is removed when it has "
                                "played or the call ends.")
    phone_staging_group: str = _s("", "Group the service shares with Asterisk: the staging folder and files get it, "
                                  "so Asterisk (a member) can read them and nobody else can. Empty = the folder's "
                                  "own group (set it once with chgrp; the folder is setgid).")
    phone_staging_max_age: float = _s(3600.0, "Seconds after which a left-over staging file (a crash mid-call) is "
                                      "removed by the start-up / periodic sweep.")
    phone_ring_timeout: float = _s(30.0, "Seconds the owner's phone rings before \"Play on my phone\" gives up.")
    # --- telephone menu (Async AGI) ------------------------------------------------------------
    phone_menu: bool = _s(True, "`voicemail run` answers AGI(agi:async,voicemail-menu[,MAILBOX@CONTEXT]) calls "
                          "with the telephone menu.")
    phone_trusted_contexts: tuple[str, ...] = _s(("vm-internal",), "Dialplan contexts whose calls may name their "
                                                 "own mailbox in the AGI argument (the *97 shortcut); from any "
                                                 "other context the menu asks for the mailbox number.")
    phone_default_context: str = _s("default", "Voicemail context of a mailbox number typed on the phone.")
    phone_pin_min_length: int = _s(6, "Fewest digits a new phone PIN may have (4 to 20).")
    phone_pin_max_failures: int = _s(5, "Wrong PINs in a row, across calls, that lock a mailbox's phone access.")
    phone_pin_lockout_seconds: float = _s(1800.0, "How long a locked mailbox stays locked (or until `voicemail "
                                          "phone unlock`).")
    phone_menu_max_logins: int = _s(3, "Wrong mailbox / PIN entries in one call before the menu says goodbye.")
    phone_menu_digit_timeout: float = _s(5.0, "Seconds the menu waits for each digit of a mailbox number or PIN.")
    phone_menu_wait: float = _s(6.0, "Seconds the menu waits for a key after a prompt; a silent caller hears the "
                                "prompt three times, then goodbye.")
    phone_greeting_max_seconds: int = _s(60, "Longest greeting recorded from the phone.")
    hotdesk_enabled: bool = _s(False, "Extension mobility (hot-desking, *96): off unless the site grants the AMI "
                               "user `system` write for DBPut/DBDel (deploy/asterisk/manager.conf).")
    hotdesk_max_hours: float = _s(12.0, "Extension mobility: hours after which a phone signed in with "
                                  "AGI(agi:async,extension-mobility,DEVICE) is signed out automatically (0 = never).")
    hotdesk_check_interval: float = _s(60.0, "Extension mobility: seconds between two checks of `voicemail run` "
                                       "for sign-ins older than hotdesk_max_hours.")
    inbox_admin_sees_external: bool = _s(False, "Administrators see the number / name of external callers in "
                                         "inbox metadata (off: only the mailbox owner sees them).")
    # --- lifecycle: retention, quota, keys ----------------------------------------------
    retention_messages_new_days: int = _s(730, "Days an unheard (INBOX) message is kept, from when it was left "
                                          "(minimum 30).")
    retention_messages_old_days: int = _s(730, "Days a heard (Old or other folder) message is kept, from when it "
                                          "was left (minimum 30).")
    retention_messages_deleted_days: int = _s(1, "Days a message the owner deleted under a legal hold is kept "
                                              "after every hold on it is released, counted from the deletion "
                                              "(minimum 0).")
    retention_cdr_days: int = _s(365, "Days call detail records are kept, from when they were received (minimum 90).")
    retention_call_history_days: int = _s(365, "Days an owner's call history (computed from the CDRs) stays available "
                                          "(minimum 30); a CDR is kept for the longer of this and retention_cdr_days.")
    retention_notifications_days: int = _s(365, "Days sent or failed notification records are kept (minimum 30).")
    retention_evidence_days: int = _s(2555, "Days exported evidence / CDR release requests are kept (minimum "
                                      "365).")
    retention_warn_days: int = _s(0, "E-mail a mailbox owner once when messages expire within this many days "
                                  "(0 = no warnings).")
    retention_interval: float = _s(86400.0, "Seconds between scheduled retention runs in `voicemail beat` "
                                   "(0 = no schedule).")
    retention_batch: int = _s(500, "Messages destroyed between two renewals of the retention lease; rows of the "
                              "other classes deleted per transaction.")
    retention_workers: int = _s(8, "Messages shredded concurrently by a retention run (each is a few short "
                                "transactions; concurrent audit appends are group-committed).")
    retention_max_clock_skew: float = _s(300.0, "Seconds this host's clock may differ from the database server's "
                                         "before a retention run refuses to destroy anything (audited, logged as an "
                                         "alert); 0 turns the check off.")
    retention_records_dir: str = _s("/var/lib/voicemail/destruction-records", "Folder the signed destruction "
                                    "records are written to (one JSON file per run; also kept in the database).")
    retention_rotate_kek: bool = _s(False, "After a run that destroyed messages, rotate the KEK (re-wrapping the "
                                    "surviving data keys) and retire KEKs superseded by earlier runs, so database "
                                    "backups from before a run cannot unwrap the destroyed data keys either.")
    quota_site_bytes: int = _s(0, "Vault quota of the site in bytes of sealed audio (0 = no quota). When a new "
                               "message exceeds it, the oldest unheld messages are destroyed.")
    quota_mailbox_bytes: int = _s(0, "Vault quota of each mailbox in bytes (0 = no per-mailbox quota).")
    keyring_backend: str = _s("file", "Where the key-encryption keys live: file (the keyring setting) or pkcs11 "
                              "(an HSM; the KEK never leaves it).")
    pkcs11_module: str = _s("/usr/lib/softhsm/libsofthsm2.so", "PKCS#11 module (shared library) of the HSM.")
    pkcs11_token_label: str = _s("voicemail", "Label of the PKCS#11 token holding the KEKs.")
    pkcs11_pin: str = _s("", "User PIN of the PKCS#11 token.", secret=True)
    kek_max_wraps: int = _s(1 << 30, "Wraps one KEK may perform before it refuses and must be rotated (AES-GCM "
                            "random nonces: far below 2^32; at most 2^31).")
    kek_retire_grace: float = _s(3600.0, "Seconds after a rotation before an old KEK may be destroyed (seals in "
                                 "flight may still carry a key wrapped by it).")
    rewrap_batch: int = _s(1000, "Data keys re-wrapped per transaction by `voicemail keys rotate`.")
    fips_mode: bool = _s(False, "Refuse to start unless OpenSSL's FIPS provider is active, and refuse "
                         "non-approved algorithms (e.g. ews_auth = ntlm).")
    # --- operations ----------------------------------------------------------------------------
    log_level: str = _s("INFO", "Log level (DEBUG, INFO, WARNING, ERROR).")
    log_format: str = _s("text", "Log lines on stderr: text (one line a record, control characters escaped) or json "
                         "(one JSON object a line). Both are redacted: no caller numbers, message content or keys.")
    metrics_token: str = _s("", "Bearer token a Prometheus scraper must send to /metrics (Authorization: Bearer …). "
                            "Empty = no token; then only metrics_allow_from may scrape.", secret=True)
    metrics_allow_from: tuple[str, ...] = _s(("127.0.0.1/32", "::1/128"), "Client addresses/CIDRs that may scrape "
                                             "/metrics (comma-separated; empty = any address, which then needs "
                                             "metrics_token). Others get 404.")
    metrics_port: int = _s(0, "`voicemail run` also serves /metrics (with the listener's AMI figures) on its own plain "
                           "HTTP listener on metrics_host:metrics_port, e.g. with --no-web; 0 = only the web app's.")
    metrics_host: str = _s("127.0.0.1", "Address of that /metrics listener (an internal interface).")
    metrics_cache_seconds: float = _s(10.0, "The database figures of /metrics and the operations page are computed "
                                      "at most once per this many seconds (two scrapers cost one set of queries).")
    metrics_latency_window: float = _s(3600.0, "Seconds of recent messages the custody latency histograms of /metrics "
                                       "describe (a sliding window: use histogram_quantile() without rate()).")
    failpoints: str = _s("", "Testing only: comma-separated fault-injection points (see README).")

    def redacted(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "********" if f.metadata.get("secret") and value else value
        out["sites"] = [{k: ("********" if k == "ami_secret" and v else v) for k, v in dataclasses.asdict(site).items()}
                        for site in self.sites]
        return out


def serving_site(s: Settings) -> str:
    """The name of the site this process serves (``site``, or the default site's ``site_name``)."""
    return s.site or s.site_name


def all_sites(s: Settings) -> tuple[Site, ...]:
    """Every configured site, the default one first. The single-site settings (ami_*, spool_dir) hold the
    site this process serves; ``sites`` every other one (``for_site`` keeps it so)."""
    served = Site(serving_site(s), **{name: getattr(s, name) for name in SITE_FIELDS})
    return tuple(sorted((served, *s.sites), key=lambda site: site.name != s.site_name))


def site_names(s: Settings) -> tuple[str, ...]:
    """Every configured site's name, the default site (site_name) first."""
    return tuple(site.name for site in all_sites(s))


def several_sites(s: Settings) -> bool:
    """More than one site is configured (the web pages then show each message's site)."""
    return bool(s.sites)


def site_view(s: Settings, site: Site) -> Settings:
    """The settings with one site's AMI endpoint and spool in ami_* and spool_dir (e.g. for its TLS context)."""
    return dataclasses.replace(s, **{f: getattr(site, f) for f in SITE_FIELDS})


def for_site(s: Settings, name: str) -> Settings:
    """The settings as one site's processes see them: ``site`` names it, its AMI endpoint is in ami_* and its
    spool in spool_dir, and the default site joins the other sites in ``sites`` (site_name keeps naming
    the default site). Empty or the default site's name: unchanged."""
    if s.site:
        raise ConfigError("settings already serve one site; for_site applies to the settings as loaded")
    if name in ("", s.site_name):
        return s
    for site in s.sites:
        if site.name == name:
            # each site's phone settings made explicit first: the served site's take the flat settings' place
            phones = {f: getattr(s, f) for f in SITE_PHONE_FIELDS}
            default = dataclasses.replace(all_sites(s)[0], **phones)
            others = (default, *(_with_phone_defaults(x, phones) for x in s.sites if x.name != name))
            served = {f: getattr(site, f) or phones[f] for f in SITE_PHONE_FIELDS}
            return dataclasses.replace(site_view(s, site), site=name, sites=others, **served)
    raise ConfigError(f"setting site ({env_name('site')}): unknown site {name[:64]!r}; configured sites are "
                      f"{', '.join(site_names(s))}")


def _with_phone_defaults(site: Site, phones: dict[str, str]) -> Site:
    values: dict[str, Any] = {f: getattr(site, f) or phones[f] for f in SITE_PHONE_FIELDS}
    return dataclasses.replace(site, **values)


def site_phone(s: Settings, name: str) -> tuple[str, str]:
    """The ``phone_device_template`` and ``phone_staging_dir`` of a site: its own, else the flat settings'."""
    site = next((x for x in s.sites if x.name == name), None)
    if site is None:  # the served site: the flat settings are its own
        return s.phone_device_template, s.phone_staging_dir
    return site.phone_device_template or s.phone_device_template, site.phone_staging_dir or s.phone_staging_dir


def _validate_sites(s: Settings) -> None:
    names = [check_site_name(s.site_name, f"setting site_name ({env_name('site_name')})")]
    for site in s.sites:
        if site.name in names:
            raise ConfigError(f"[[sites]]: site name {site.name!r} is used twice (the single-site settings name "
                              f"the default site {s.site_name!r})")
        names.append(site.name)
        where = f"[[sites]] {site.name}"
        if not 0 < site.ami_port < 65536:
            raise ConfigError(f"{where}: ami_port out of range: {site.ami_port}")
        if not site.ami_tls and not site.ami_allow_plaintext_remote and not is_loopback(site.ami_host):
            raise ConfigError(f"{where}: plain AMI to {site.ami_host[:60]!r} would send the AMI secret and every "
                              "event in cleartext: set ami_tls, or ami_allow_plaintext_remote if the network path "
                              "is protected otherwise")
        for name in ("spool_dir", "ami_tls_ca_file"):
            value = getattr(site, name)
            if value and not Path(value).is_absolute():
                raise ConfigError(f"{where}: {name} must be an absolute path, got {value[:80]!r}")
        if any(c in site.spool_dir for c in ' "\\\t\r\n'):
            raise ConfigError(f"{where}: spool_dir must not contain blanks, quotes or backslashes")
        if site.phone_device_template and ("/" not in site.phone_device_template
                                           or any(c in site.phone_device_template for c in "\r\n")):
            raise ConfigError(f"{where}: phone_device_template must look like TECH/resource, e.g. PJSIP/{{mailbox}}")
        if site.phone_staging_dir and (not Path(site.phone_staging_dir).is_absolute()
                                       or any(c in site.phone_staging_dir for c in ' "\\\t\r\n')):
            raise ConfigError(f"{where}: phone_staging_dir must be an absolute path without blanks, quotes or "
                              "backslashes")


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
    if not s.ami_tls and not s.ami_allow_plaintext_remote and not is_loopback(s.ami_host):
        raise bad("ami_tls", f"plain AMI to {s.ami_host[:60]!r} would send the AMI secret and every event "
                  "(caller numbers) in cleartext: turn on ami_tls (manager.conf tlsenable, port 5039), or set "
                  "ami_allow_plaintext_remote if the network path is protected otherwise")
    # --- mailbox services ---
    if not _iana_zone(s.pbx_timezone):
        raise bad("pbx_timezone", "must be an IANA time zone such as Europe/Berlin or UTC")
    if s.calls_device_template and not _device_template_ok(s.calls_device_template):
        raise bad("calls_device_template", "must look like TECH/resource with {number}, e.g. PJSIP/{number}")
    if s.phone_device_template and ("/" not in s.phone_device_template
                                    or any(c in s.phone_device_template for c in "\r\n")):
        raise bad("phone_device_template", "must look like TECH/resource, e.g. PJSIP/{mailbox}")
    if s.phone_staging_max_age < 60 or s.phone_ring_timeout <= 0:
        raise bad("phone_staging_max_age" if s.phone_staging_max_age < 60 else "phone_ring_timeout",
                  "phone_staging_max_age must be >= 60 s and phone_ring_timeout > 0")
    # --- telephone menu ---
    if not 4 <= s.phone_pin_min_length <= 20:
        raise bad("phone_pin_min_length", "must be between 4 and 20")
    if s.phone_pin_max_failures < 1 or s.phone_pin_lockout_seconds < 60:
        raise bad("phone_pin_max_failures" if s.phone_pin_max_failures < 1 else "phone_pin_lockout_seconds",
                  "phone_pin_max_failures must be >= 1 and phone_pin_lockout_seconds >= 60")
    if s.phone_menu_max_logins < 1 or not 1 <= s.phone_menu_digit_timeout <= 60 or not 1 <= s.phone_menu_wait <= 60:
        raise bad("phone_menu_max_logins", "phone_menu_max_logins >= 1; digit timeout and wait 1..60 s")
    if not 5 <= s.phone_greeting_max_seconds <= 600:
        raise bad("phone_greeting_max_seconds", "must be between 5 and 600")
    if s.hotdesk_max_hours < 0 or not 1 <= s.hotdesk_check_interval <= 3600:
        raise bad("hotdesk_max_hours" if s.hotdesk_max_hours < 0 else "hotdesk_check_interval",
                  "hotdesk_max_hours must be >= 0 and hotdesk_check_interval 1..3600 s")
    for name in ("phone_staging_dir", "spool_dir"):  # Asterisk is handed these paths in AGI commands
        if any(c in getattr(s, name) for c in ' "\\\t\r\n'):
            raise bad(name, "must not contain blanks, quotes or backslashes (Asterisk plays files from it)")
    for ctx in (*s.phone_trusted_contexts, s.phone_default_context):
        if not ctx.replace("-", "").replace("_", "").isalnum():
            raise bad("phone_trusted_contexts", f"not a context name: {ctx[:40]!r}")
    if s.mailer not in ("outbox", "ews", "graph", "smtp"):
        raise bad("mailer", f"unknown mailer {s.mailer!r} (outbox, ews, graph or smtp)")
    if not 90 <= s.audit_retention_days <= 2555:
        raise bad("audit_retention_days", "must be between 90 and 2555 days (7 years)")
    if s.worker_concurrency < 1:
        raise bad("worker_concurrency", "must be at least 1")
    if s.custody_batch_size < 1:
        raise bad("custody_batch_size", "must be at least 1")
    if s.first_start_backlog < 0:
        raise bad("first_start_backlog", "must be 0 (no check) or more")
    if s.custody_max_unfinished < 1:
        raise bad("custody_max_unfinished", "must be at least 1")
    if not s.custody_retry_for > 0 or not s.discovery_retry_max > 0 or not s.stale_after > 0:
        name = next(n for n in ("custody_retry_for", "discovery_retry_max", "stale_after") if not getattr(s, n) > 0)
        raise bad(name, "must be a positive number of seconds")
    _validate_sites(s)
    if not 0 < s.listener_renew_seconds <= s.listener_lease_seconds / 2:
        raise bad("listener_renew_seconds", "must be positive and at most half of listener_lease_seconds")
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise bad("log_level", f"unknown level {s.log_level!r}")
    if s.log_format not in ("text", "json"):
        raise bad("log_format", f"unknown format {s.log_format!r} (text or json)")
    if s.metrics_cache_seconds < 0 or s.metrics_latency_window <= 0:
        raise bad("metrics_latency_window" if s.metrics_latency_window <= 0 else "metrics_cache_seconds",
                  "must be positive")
    if not 0 <= s.metrics_port < 65536:
        raise bad("metrics_port", f"port out of range: {s.metrics_port}")
    for net in s.metrics_allow_from:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise bad("metrics_allow_from", f"not an address or CIDR: {net!r}") from None
    if not s.database_url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise bad("database_url", "only sqlite:/// and postgresql+psycopg:// URLs are supported")
    _validate_paths(s)
    if s.broker_url and not s.broker_url.startswith(("redis://", "rediss://", "amqp://", "amqps://", "memory://")):
        raise bad("broker_url", "expected redis://, amqp:// or empty for the embedded transport")
    for ctx in s.internal_contexts:
        if not ctx.replace("-", "").replace("_", "").isalnum():
            raise bad("internal_contexts", f"not a dialplan context name: {ctx[:40]!r}")
    # --- web ---
    if not 0 < s.web_port < 65536:
        raise bad("web_port", f"port out of range: {s.web_port}")
    if s.web_cookie_samesite not in ("lax", "strict"):
        raise bad("web_cookie_samesite", "expected lax or strict")
    if bool(s.web_tls_cert) != bool(s.web_tls_key):
        raise bad("web_tls_key", "web_tls_cert and web_tls_key go together")
    for name in ("web_session_idle", "web_session_absolute", "web_lockout_minutes", "web_signin_rate_window"):
        if not getattr(s, name) > 0:
            raise bad(name, "must be a positive number")
    for name in ("web_lockout_threshold", "web_signin_rate_limit", "web_max_body_bytes"):
        if getattr(s, name) < 1:
            raise bad(name, "must be at least 1")
    if not 0 <= s.web_inbox_poll_seconds <= 3600:
        raise bad("web_inbox_poll_seconds", "must be 0 (never) to 3600")
    if not 0.1 <= s.web_inbox_check_seconds <= 60:
        raise bad("web_inbox_check_seconds", "must be 0.1 to 60")
    if not 1 <= s.outlook_token_minutes <= 720:
        raise bad("outlook_token_minutes", "must be 1 to 720")
    for origin in s.outlook_frame_ancestors:
        if not re.fullmatch(r"https://[A-Za-z0-9.*-]+(:[0-9]{1,5})?", origin):
            raise bad("outlook_frame_ancestors", f"{origin[:80]!r} is not an https origin (https://host[:port])")
    if s.outlook_sso_audience and not s.oidc_issuer:
        raise bad("outlook_sso_audience", "needs oidc_issuer (the SSO token is checked against its keys)")
    # --- sign-in methods: PIV/CAC and OIDC ---
    from voicemail.web.signin_settings import check_signin_settings

    check_signin_settings(s)
    _validate_mail_backends(s)
    if s.audit_checkpoint_syslog:
        from voicemail.audit.shipping import parse_syslog_url

        parse_syslog_url(s.audit_checkpoint_syslog)
    # --- directory (LDAP) and number plan: ConfigError naming the setting ---
    from voicemail.directory.from_settings import check_directory_settings

    check_directory_settings(s)
    # --- lifecycle: retention floors, quota, keyring backend, FIPS choices ---
    from voicemail.lifecycle.settings import check_lifecycle_settings

    check_lifecycle_settings(s)
    return s


# --- paths: absolute, so that no command depends on the folder it is started from ------------------
PATH_SETTINGS = ("spool_dir", "vault_dir", "keyring", "outbox_dir", "directory_file", "audit_signing_key",
                 "audit_checkpoint_file", "audit_public_key", "phone_staging_dir", "retention_records_dir",
                 "ami_tls_ca_file", "smtp_ca_file", "ldap_ca_file", "oidc_ca_file", "web_tls_cert", "web_tls_key",
                 "web_client_ca_file", "pkcs11_module")


def sqlite_path(database_url: str) -> str | None:
    """The file of a ``sqlite:///`` URL ('' for an in-memory database); None for other databases."""
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split("://", 1)[-1].removeprefix("/").split("?", 1)[0]
    return "" if path in ("", ":memory:") else path


def _validate_paths(s: Settings) -> None:
    for name in PATH_SETTINGS:
        value = getattr(s, name)
        if value and not Path(value).is_absolute():
            raise ConfigError(f"setting {name} ({env_name(name)}): must be an absolute path, got {value[:80]!r} "
                              "(a relative one would depend on the folder the command is started from)")
    path = sqlite_path(s.database_url)
    if path and not path.startswith("/"):
        raise ConfigError(f"setting database_url ({env_name('database_url')}): the SQLite file must be an absolute "
                          f"path (sqlite:////var/lib/voicemail/voicemail.db), got {path[:80]!r}")


# --- mail backends: each is checked only when it is the chosen VOICEMAIL_MAILER ---------------------
_EWS_AUTH = ("ntlm", "basic", "oauth2")
_EWS_VERSIONS = ("Exchange2013", "Exchange2013_SP1", "Exchange2016")  # as mailer.ews.SERVER_VERSIONS
_SMTP_TLS = ("starttls", "implicit", "none")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost (no DNS: any other name counts as another host)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _iana_zone(name: str) -> bool:
    import zoneinfo

    if not name or name not in zoneinfo.available_timezones():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _device_template_ok(template: str) -> bool:
    try:
        device = template.format(number="1001")
    except (KeyError, IndexError, ValueError):
        return False
    return "{number}" in template and "/" in device and not any(c in device for c in "\r\n")


def _validate_mail_backends(s: Settings) -> None:
    from urllib.parse import urlsplit

    from mailer.sanitize import is_plain_address

    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"setting {name} ({env_name(name)}): {why}")

    def required(*names: str) -> None:
        for name in names:
            if not str(getattr(s, name)).strip():
                raise bad(name, f"required with mailer = {s.mailer}")

    def https(name: str, *, loopback_http: bool = False) -> None:
        parts = urlsplit(getattr(s, name))
        plain_ok = loopback_http and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")
        if not (parts.scheme == "https" or plain_ok) or not parts.hostname:
            raise bad(name, "must be an https:// URL" + (" (http:// only on loopback)" if loopback_http else ""))

    if not s.mail_timeout > 0:
        raise bad("mail_timeout", "must be a positive number of seconds")
    if s.mailer != "outbox" and not s.mail_timeout < s.stale_after:
        raise bad("mail_timeout", f"must be below stale_after ({s.stale_after:g} s): a send may take up to "
                  "mail_timeout, and after stale_after another worker may take the notification over")
    if not 0 < s.smtp_port < 65536:
        raise bad("smtp_port", f"port out of range: {s.smtp_port}")
    for name in ("ews_sender", "graph_sender", "smtp_sender"):
        if getattr(s, name) and not is_plain_address(getattr(s, name)):
            raise bad(name, "must be a plain e-mail address like voicemail@example.org")
    if s.mailer == "ews":
        required("ews_endpoint", "ews_username", "ews_password")
        https("ews_endpoint", loopback_http=True)
        if s.ews_auth not in _EWS_AUTH:
            raise bad("ews_auth", f"expected one of {', '.join(_EWS_AUTH)}, got {s.ews_auth[:20]!r}")
        if s.ews_version not in _EWS_VERSIONS:
            raise bad("ews_version", f"expected one of {', '.join(_EWS_VERSIONS)}, got {s.ews_version[:20]!r}")
        if s.ews_auth == "oauth2":
            required("ews_tenant_id")
            https("graph_authority")
    elif s.mailer == "graph":
        required("graph_tenant_id", "graph_client_id", "graph_client_secret")
        https("graph_authority")
        https("graph_endpoint")
    elif s.mailer == "smtp":
        required("smtp_host")
        if s.smtp_tls not in _SMTP_TLS:
            raise bad("smtp_tls", f"expected one of {', '.join(_SMTP_TLS)}, got {s.smtp_tls[:20]!r}")
        if s.smtp_username and s.smtp_tls == "none":
            raise bad("smtp_username", "needs smtp_tls = starttls or implicit (no password in clear text)")
        if s.smtp_username and not s.smtp_password:
            raise bad("smtp_password", "required with smtp_username")


def load_settings(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from defaults, an optional TOML file, the environment and CLI overrides."""
    return load_settings_with_origins(config_file, environ, overrides)[0]


def load_settings_with_origins(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None,
                               overrides: Mapping[str, Any] | None = None) -> tuple[Settings, dict[str, str]]:
    """Settings as ``load_settings`` builds them, and where each value came from: ``default``,
    ``file PATH``, ``env VOICEMAIL_…`` or ``command line``."""
    environ = os.environ if environ is None else environ
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    origins = dict.fromkeys(known, "default")
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        table = data.get("voicemail", data)
        for key, raw in table.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = (parse_sites(raw, environ, _coerce) if key == "sites"
                           else _coerce(key, known[key].type, raw))
            origins[key] = f"file {path}"
    for name, f in known.items():
        raw_env = environ.get(env_name(name)) if name != "sites" else None  # sites: below
        if raw_env is not None:
            values[name] = _coerce(name, f.type, raw_env)
            origins[name] = f"env {env_name(name)}"
    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _coerce(key, known[key].type, raw)
            origins[key] = "command line"
    if (names := environ.get(env_name("sites"))) is not None:  # more sites, each from VOICEMAIL_SITE_<NAME>_*
        listed = {site.name for site in values.get("sites", ())}
        more = [{"name": n.strip()} for n in names.split(",") if n.strip() and n.strip() not in listed]
        values["sites"] = (*values.get("sites", ()), *parse_sites(more, environ, _coerce))
        origins["sites"] = f"env {env_name('sites')}"
    site = str(values.pop("site", ""))
    return for_site(_validate(dataclasses.replace(Settings(), **values)), site), origins


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
