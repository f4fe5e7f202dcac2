"""`voicemail keys init` (the keyring). Rotation, retirement and the signing key add their commands to this group
(voicemail/cli/lifecycle.py, voicemail/cli/audit.py)."""

from __future__ import annotations

import click

from voicemail.cli.common import config_option, handle_errors, settings_from


def register(main: click.Group) -> None:
    @main.group()
    def keys() -> None:
        """Key management."""

    @keys.command("init")
    @config_option
    @handle_errors
    def keys_init(config_file: str | None) -> None:
        """Create the keyring (a 0600 file with a new key-encryption key). Refuses to overwrite one."""
        from voicemail.keys.backend import create_backend  # lifecycle: file or PKCS#11 backend

        settings = settings_from(config_file)
        ring = create_backend(settings)
        if settings.keyring_backend == "pkcs11":  # lifecycle
            click.echo(f"KEK {ring.current_kek_id()} generated inside PKCS#11 token {settings.pkcs11_token_label} "
                       "(non-extractable)")
            return
        click.echo(f"keyring created at {settings.keyring} (current key {ring.current_kek_id()}); back it up "
                   "somewhere safe: without it no message can be opened")

