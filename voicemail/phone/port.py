"""CallPort: answers the menu's requests for one call with the same services the web uses.

Blocking (database, vault): the driver runs ``answer`` in a worker thread. A save or a delete is decided
in the database and answered at once; Asterisk's side follows in the background (``save_to_old``,
``delete(later=True)`` of the mailbox services). The signed-in caller is
a ``Viewer`` owning exactly the one mailbox, so the mailbox services decide and audit exactly as for the
web (a play is ``audio.play`` with source ``phone <channel id>``). ``close()`` removes everything the
call left: staging files and greeting recordings that were not kept; and, like VoiceMailMain, it moves
the new messages the caller heard to Old.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import InvalidInput, InvalidMailbox, VoicemailError
from voicemail.domain.mailbox import InboxQuery, MailboxService, Viewer
from voicemail.domain.models import MailboxRef
from voicemail.phone import effects as fx
from voicemail.phone.staging import StagingDir
from voicemail.services.phone_pins import PinService
from voicemail.services.shred import AuditSink

log = logging.getLogger(__name__)

STAGE_PREFIX = "vmmenu-"
PAGE = 200


@dataclass(frozen=True)
class PortSettings:
    spool_dir: Path  # app_voicemail's spool as Asterisk sees it (greetings are recorded there)
    default_context: str = "default"  # voicemail context of a mailbox number typed on the phone
    site: str = ""  # the site of the Asterisk the calls come from (as a MailboxRef names it; "" = default)
    audit_site: str = ""  # with several sites, that site's name, recorded in the menu's own audit events


class CallPort:
    def __init__(self, services: MailboxService, pins: PinService, staging: StagingDir, audit: AuditSink,
                 settings: PortSettings, timezone_of: Callable[[MailboxRef], str], *, source: str) -> None:
        self._services = services
        self._pins = pins
        self._staging = staging
        self._audit = audit
        self._settings = settings
        self._timezone_of = timezone_of
        self.source = source
        self.viewer: Viewer | None = None
        self._staged: dict[str, Path] = {}
        self._heard: list[str] = []  # new messages played: to Old when the call ends
        self._scratch: dict[str, Path] = {}  # greeting -> path stem of the last recording not yet kept

    # --- the requests --------------------------------------------------------------------------------
    def answer(self, request: fx.Request) -> object:
        handler = getattr(self, f"_on_{type(request).__name__}")
        return handler(request)

    def _on_Login(self, req: fx.Login) -> fx.LoginOutcome:
        ref = self._mailbox(req.mailbox)
        if self._pins.verify(ref, req.pin, source=self.source) != "ok" or ref is None:
            return fx.LoginOutcome(False)
        self.viewer = Viewer(account=f"phone:{ref}", roles=frozenset(), mailboxes=(ref,), source=self.source)
        return fx.LoginOutcome(True, self._timezone_of(ref) or "UTC", self._on_ListMessages(fx.ListMessages("INBOX")),
                               self._on_ListMessages(fx.ListMessages("Old")))

    def _on_ListMessages(self, req: fx.ListMessages) -> tuple[fx.MessageInfo, ...]:
        viewer, ref = self._signed_in()
        out: list[fx.MessageInfo] = []
        while True:
            page = self._services.inbox(viewer, ref, InboxQuery(folder=req.folder, sort="oldest", offset=len(out),
                                                                limit=PAGE))
            for item in page.items:
                # the disclosure rule: the digits of an internal caller, nothing about anyone else
                digits = item.caller_number if item.caller_kind == "internal" else None
                out.append(fx.MessageInfo(item.id, item.folder, item.received_at, item.urgent,
                                          digits if digits and digits.isdigit() else None))
            if not page.items or len(out) >= page.total:
                return tuple(out)

    def _on_Stage(self, req: fx.Stage) -> str | None:
        viewer, _ = self._signed_in()
        self._on_Unstage(fx.Unstage(req.message_id))
        try:
            stream = self._services.audio(viewer, req.message_id, None, "browser")  # audited as audio.play
        except VoicemailError as exc:
            log.info("phone menu: message %s cannot be played now (%s)", req.message_id, type(exc).__name__)
            return None
        try:
            path = self._staging.write(STAGE_PREFIX, ".wav", stream.chunks)
        finally:
            for close in stream.close:
                if callable(close):
                    close()
        self._staged[req.message_id] = path
        return str(path.with_suffix(""))

    def _on_Unstage(self, req: fx.Unstage) -> None:
        path = self._staged.pop(req.message_id, None)
        if path is not None:
            self._staging.remove(path)

    def _on_Heard(self, req: fx.Heard) -> None:
        if req.message_id not in self._heard:
            self._heard.append(req.message_id)

    def _on_Save(self, req: fx.Save) -> bool:
        viewer, _ = self._signed_in()
        if req.message_id in self._heard:
            self._heard.remove(req.message_id)
        return self._try(lambda: self._services.save_to_old(viewer, req.message_id), "save")

    def _on_Delete(self, req: fx.Delete) -> bool:
        viewer, _ = self._signed_in()
        if req.message_id in self._heard:
            self._heard.remove(req.message_id)
        return self._try(lambda: self._services.delete(viewer, req.message_id, later=True), "delete")

    def _on_CheckNewPin(self, req: fx.CheckNewPin) -> str | None:
        _, ref = self._signed_in()
        return self._pins.check_new(ref, req.pin)

    def _on_ChangePin(self, req: fx.ChangePin) -> bool:
        viewer, ref = self._signed_in()
        try:
            self._pins.set_pin(ref, req.pin, actor=viewer.account, source=self.source)
        except InvalidInput:
            return False
        return True

    def _on_RecordTarget(self, req: fx.RecordTarget) -> str:
        folder = self._folder()
        folder.mkdir(parents=True, exist_ok=True)
        self._drop_scratch(req.greeting)
        stem = folder / f"{STAGE_PREFIX}{req.greeting}-{secrets.token_hex(8)}"
        self._scratch[req.greeting] = stem
        return str(stem)

    def _on_KeepGreeting(self, req: fx.KeepGreeting) -> bool:
        stem = self._scratch.pop(req.greeting, None)
        if stem is None:
            return False
        recorded = _files_of(stem)
        if not recorded:
            return False
        for old in _files_of(self._folder() / req.greeting):
            old.unlink(missing_ok=True)  # a format recorded earlier must not outlive the new greeting
        for path in recorded:
            os.replace(path, stem.parent / f"{req.greeting}{path.suffix}")
        self._greeting_event(req.greeting, "recorded")
        return True

    def _on_GreetingExists(self, req: fx.GreetingExists) -> bool:
        return bool(_files_of(self._folder() / req.greeting))

    def _on_RemoveGreeting(self, req: fx.RemoveGreeting) -> bool:
        found = _files_of(self._folder() / req.greeting)
        for path in found:
            path.unlink(missing_ok=True)
        if found:
            self._greeting_event(req.greeting, "removed")
        return bool(found)

    # --- the end of the call -------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the call's staging files and unkept recordings, and move the new messages it played to
        Old (each move is recorded whole or not at all, then carried out in the background; idempotent,
        never raises)."""
        heard, self._heard = self._heard, []
        for message_id in heard:
            with contextlib.suppress(Exception):
                self._on_Save(fx.Save(message_id))
        for message_id in list(self._staged):
            with contextlib.suppress(OSError):
                self._on_Unstage(fx.Unstage(message_id))
        for greeting in list(self._scratch):
            with contextlib.suppress(OSError):
                self._drop_scratch(greeting)

    # --- helpers -------------------------------------------------------------------------------------
    def _mailbox(self, text: str) -> MailboxRef | None:
        try:
            return MailboxRef.parse(text, self._settings.default_context).on_site(self._settings.site)
        except InvalidMailbox:
            return None

    def _signed_in(self) -> tuple[Viewer, MailboxRef]:
        if self.viewer is None:
            raise InvalidInput("not signed in")
        return self.viewer, self.viewer.mailboxes[0]

    def _folder(self) -> Path:
        _, ref = self._signed_in()
        return self._settings.spool_dir / ref.context / ref.mailbox

    def _drop_scratch(self, greeting: str) -> None:
        stem = self._scratch.pop(greeting, None)
        if stem is not None:
            for path in _files_of(stem):
                path.unlink(missing_ok=True)

    def _try(self, act: Callable[[], object], what: str) -> bool:
        try:
            act()
        except VoicemailError as exc:
            log.warning("phone menu: %s failed: %s", what, type(exc).__name__)
            return False
        return True

    def _greeting_event(self, greeting: str, result: str) -> None:
        viewer, ref = self._signed_in()
        self._audit.append(AuditEvent(actor=viewer.account, action="phone.greeting", source=self.source,
                                      details={"mailbox": str(ref), "greeting": greeting, "result": result,
                                               **({"site": self._settings.audit_site}
                                                  if self._settings.audit_site else {})}))


def _files_of(stem: Path) -> list[Path]:
    """``stem.<ext>`` files (one per format Asterisk wrote)."""
    if not stem.parent.is_dir():
        return []
    return sorted(p for p in stem.parent.iterdir()
                  if p.is_file() and not p.is_symlink() and p.stem == stem.name and p.suffix)
