"""What only the serving process knows: its AMI connection and its reconciliations (`voicemail run`)."""

from __future__ import annotations

from typing import Protocol

from voicemail.ami.client import AmiClient
from voicemail.ami.listener import Listener
from voicemail.services.listener_lease import ListenerLease


class RuntimeStatus(Protocol):
    """The listener's state, read at scrape time (cheap attribute reads, never blocking)."""

    def ami_connected(self) -> bool: ...
    def ami_connects(self) -> int: ...
    def reconciliations(self) -> int: ...
    def last_reconciled_at(self) -> float | None: ...  # epoch seconds of the last completed pass
    def listener_lease_held(self) -> bool: ...  # this process holds its site's listener lease (else: stand-by)


class ListenerRuntime:
    def __init__(self, client: AmiClient, listener: Listener, lease: ListenerLease | None = None) -> None:
        self._client = client
        self._listener = listener
        self._lease = lease

    def ami_connected(self) -> bool:
        return self._client.connected

    def ami_connects(self) -> int:
        return self._client.connects

    def reconciliations(self) -> int:
        return self._listener.reconciliations

    def last_reconciled_at(self) -> float | None:
        return self._listener.last_reconciled_at

    def listener_lease_held(self) -> bool:
        return self._lease is None or self._lease.held()
