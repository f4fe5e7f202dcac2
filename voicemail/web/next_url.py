"""Where to go after signing in: the page a link or bookmark asked for, if it is safely our own.

Only a same-origin relative path is accepted: one "/" then a path (and query). Refused, so that a
crafted link cannot send someone to another site after they sign in: absolute URLs (``https://…``),
scheme-relative ``//host``, any backslash (browsers read ``/\\host`` as ``//host``), control
characters and whitespace, and the same tricks percent-encoded once or several times (``/%2F%2Fhost``,
``%5C``). The sign-in pages themselves are refused too (no loop).
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

MAX_LENGTH = 2000
_DECODE_ROUNDS = 4


def _plain_path(text: str) -> bool:
    if not text.startswith("/") or text.startswith("//"):
        return False
    if "\\" in text or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def safe_next(value: str | None) -> str | None:
    """`value` if it is a safe place to return to after sign-in, else None."""
    if not value or len(value) > MAX_LENGTH:
        return None
    text = value
    for _ in range(_DECODE_ROUNDS):  # every decoding a browser or proxy might apply must stay a plain path
        if not _plain_path(text):
            return None
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    else:
        return None  # still encoded after several rounds: not a link we made
    path = urlsplit(value).path
    if path == "/signin" or path.startswith(("/signin/", "/signout")):
        return None
    return value


def signin_url(path: str, query: str = "") -> str:
    """The sign-in page that returns to `path` (and `query`) afterwards; plain /signin for the inbox."""
    target = path + (f"?{query}" if query else "")
    if target == "/" or safe_next(target) is None:
        return "/signin"
    return "/signin?next=" + quote(target, safe="")
