"""Answers the extension-mobility flow's requests for one call, and AstDB over the service's AMI
connection for code that runs in worker threads.

``AmiDeskDb`` sends DBPut / DBGet / DBDel (``voicemail.ami.astdb``) on the AMI client's event loop
from any other thread and waits for the reply (``timeout`` seconds at most).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from voicemail.ami.actions import ActionRunner
from voicemail.ami.astdb import db_del, db_get, db_put
from voicemail.phone.effects import DeskSignIn, DeskSignOut, DeskState, DeskStatus
from voicemail.services.hotdesk import FAMILY, HotdeskService

log = logging.getLogger(__name__)
T = TypeVar("T")


class AmiDeskDb:
    def __init__(self, client: ActionRunner, loop: asyncio.AbstractEventLoop | None = None, *,
                 family: str = FAMILY, timeout: float = 15.0) -> None:
        self._client = client
        self._loop = loop
        self._family = family
        self._timeout = timeout

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the AMI client runs on (called from that loop before the first use)."""
        self._loop = loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("AmiDeskDb used before attach()")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout)

    def put(self, device: str, value: str) -> None:
        self._run(db_put(self._client, self._family, device, value))

    def get(self, device: str) -> str | None:
        return self._run(db_get(self._client, self._family, device))

    def delete(self, device: str) -> bool:
        return self._run(db_del(self._client, self._family, device))


class HotdeskPort:
    """One call's requests, for the device named by the dialplan."""

    def __init__(self, service: HotdeskService, device: str, *, source: str) -> None:
        self._service = service
        self._device = device
        self.source = source

    def answer(self, request: object) -> object:
        if isinstance(request, DeskStatus):
            return DeskState(self._service.signed_in(self._device))
        if isinstance(request, DeskSignIn):
            return self._service.sign_in(self._device, request.extension, request.pin, source=self.source)
        if isinstance(request, DeskSignOut):
            return self._service.sign_out(self._device, source=self.source)
        raise TypeError(f"not an extension-mobility request: {type(request).__name__}")

    def close(self) -> None:
        """Nothing to clean up: a sign-in is one request, done whole or not at all."""
