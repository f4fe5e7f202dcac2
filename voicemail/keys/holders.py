"""Other records whose secrets are wrapped by the KEKs, besides the messages' data keys.

Rotation re-wraps them too, and a KEK is not retired while any of them still references it. Today:
the TOTP secrets of local web accounts (``web_accounts.totp_*``), through the account store's
own ``totp_wrapped_by`` / ``rewrap_totp``.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Engine

from voicemail.domain.ports import Keyring


class KeyHolder(Protocol):
    name: str

    def wrapped_by(self, kek_id: str) -> int: ...

    def rewrap(self) -> int:
        """Re-wrap everything not under the current KEK; returns how many."""
        ...


class TotpSecrets:
    name = "web account TOTP secrets"

    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        from voicemail.web.accounts_store import AccountStore

        self._store = AccountStore(engine, keyring=keyring)

    def wrapped_by(self, kek_id: str) -> int:
        return self._store.totp_wrapped_by(kek_id)

    def rewrap(self) -> int:
        return self._store.rewrap_totp()


def default_holders(engine: Engine, keyring: Keyring) -> list[KeyHolder]:
    return [TotpSecrets(engine, keyring)]
