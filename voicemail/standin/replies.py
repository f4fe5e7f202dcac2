"""Action replies framed like manager.c's ``astman_send_*`` helpers."""

from __future__ import annotations

from voicemail.ami.parser import AmiMessage
from voicemail.standin.wire import Headers, encode


def _id(m: AmiMessage) -> Headers:
    aid = m.get("ActionID")
    return [("ActionID", aid)] if aid else []


def response(m: AmiMessage, resp: str, message: str | None = None, *, listflag: str | None = None,
             extra: Headers | None = None) -> bytes:
    """``astman_send_response_full``: Response, ActionID, EventList, Message, then ``extra``."""
    headers: Headers = [("Response", resp), *_id(m)]
    if listflag:
        headers.append(("EventList", listflag))
    if message is not None:
        headers.append(("Message", message))
    headers += extra or []
    return encode(headers, bare_lf_in="Message")


def ack(m: AmiMessage, message: str) -> bytes:
    return response(m, "Success", message)


def error(m: AmiMessage, message: str) -> bytes:
    return response(m, "Error", message)


def listack(m: AmiMessage, message: str) -> bytes:
    return response(m, "Success", message, listflag="start")


def start_ack(m: AmiMessage, body: Headers) -> bytes:
    """``astman_start_ack`` + appended lines: Response, ActionID, then ``body``."""
    return encode([("Response", "Success"), *_id(m), *body])


def list_item(m: AmiMessage, event: str, body: Headers) -> bytes:
    return encode([("Event", event), *_id(m), *body])


def list_complete(m: AmiMessage, event: str, count: int) -> bytes:
    return encode([("Event", event), *_id(m), ("EventList", "Complete"), ("ListItems", str(count))])
