"""Swap a recording in the spool for its placeholder without the audio ever being absent.

The steps, all inside one folder descriptor (nothing is reached through a link):

1. the ``msgNNNN.txt`` there must still carry the message's msg_id;
2. the recording must hash to the sealed copy's SHA-256 (otherwise nothing is touched), or already be
   the placeholder ("already");
3. the placeholder is written to a hidden twin file ``.msgNNNN.<fmt>.<random>.vmswap`` in the same folder
   with the recording's mode, owner and times, and fsynced;
4. renameat2(RENAME_EXCHANGE) swaps twin and recording in one step, so ``msgNNNN.<fmt>`` always exists;
5. the swapped-out file is hashed again and the msg_id re-read: if both still match, it is unlinked and
   the folder fsynced ("replaced"); if Asterisk moved something in between, the swap is undone and
   SpoolChanged raised.

Where the exchange is unsupported (non-Linux, some network file systems) the fallback re-checks and
then os.replace()s the twin over the recording: still never absent, but with a small race window.
A crash between 4 and 5 leaves the recording under the ``.vmswap`` name. The next strip of the same
recording (the retry) removes such leftovers when they hash to the sealed copy's SHA-256 (or hold the
placeholder), and so does reconciliation (``FileSpool.clear_swap_leftovers``); any other leftover is
left in place and reported by FileSpool.scan.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Collection

from voicemail.domain.errors import InvalidInput, MalformedEnvelope, SpoolChanged
from voicemail.spool.envelope import MAX_ENVELOPE_BYTES
from voicemail.spool.envelope_salvage import read_envelope
from voicemail.spool.exchange import ExchangeUnsupported, rename_exchange
from voicemail.spool.leftovers import SWAP_SUFFIX, remove_if_held, swap_names, swaps_among
from voicemail.spool.placeholder import placeholder_bytes
from voicemail.spool.safe_fs import MSG_FILE, hash_fd, open_regular, read_capped

REPLACED = "replaced"
ALREADY = "already"
_HEX64 = frozenset("0123456789abcdef")


def verify_msg_id(folder_fd: int, base: str, msg_id: str) -> bytes:
    """The bytes of ``<base>.txt`` in this folder; SpoolChanged unless it carries ``msg_id`` (read as custody
    reads it: where the parser refuses the caller fields, the msg_id Asterisk wrote still counts)."""
    try:
        data = read_capped(folder_fd, f"{base}.txt", MAX_ENVELOPE_BYTES)
    except FileNotFoundError:
        raise SpoolChanged("the message's envelope is no longer at that place; look again") from None
    try:
        found = read_envelope(data)[0].msg_id
    except MalformedEnvelope:
        raise SpoolChanged("the envelope at that place no longer parses; look again") from None
    if found != msg_id:
        raise SpoolChanged("another message now lies at that place (renumbered); look again")
    return data


def replace_recording(
    folder_fd: int, base: str, fmt: str, msg_id: str, expected_sha256: str, *, use_exchange: bool = True,
    after_swap: Callable[[], None] | None = None, durable: bool = True, swaps: Collection[str] | None = None,
) -> str:
    """Replace ``<base>.<fmt>`` by the placeholder for ``fmt``. Returns REPLACED or ALREADY.

    Swap files an earlier, interrupted attempt left for this recording are removed first when they hold
    the sealed copy (same SHA-256) or the placeholder (``swaps``: the swap files of this folder as the
    caller listed them before, for many strips in one folder; None: the folder is listed here).
    ``after_swap`` runs between the exchange and the unlink (fault tests stop the process there).
    ``durable=False`` skips the twin's and the folder's fsync: the caller syncs the file system once for a
    whole batch before recording the strips.
    """
    placeholder = placeholder_bytes(fmt)
    expected = expected_sha256.lower()
    if len(expected) != 64 or not set(expected) <= _HEX64:
        raise InvalidInput("expected_sha256 must be 64 hex digits")
    name = f"{base}.{fmt}"

    verify_msg_id(folder_fd, base, msg_id)
    _clear_leftovers(folder_fd, name, expected, swaps)
    original = _hash_entry(folder_fd, name, len(placeholder) + 1)
    if original.head == placeholder:
        verify_msg_id(folder_fd, base, msg_id)
        return ALREADY
    if original.digest != expected:
        raise SpoolChanged("the recording differs from the sealed copy; it was left in place")

    twin, twin_ino = _write_twin(folder_fd, name, placeholder, original.st, durable)
    twin_holds_placeholder = True
    try:
        if use_exchange:
            try:
                rename_exchange(folder_fd, twin, name)
            except ExchangeUnsupported:
                use_exchange = False
            except FileNotFoundError:
                raise SpoolChanged("the recording vanished before the swap; look again") from None
            else:
                twin_holds_placeholder = False
                if after_swap is not None:
                    after_swap()
        if not use_exchange:
            _replace_fallback(folder_fd, twin, name, base, msg_id, expected, original.st)
            twin_holds_placeholder = False  # the twin's name no longer exists
            if durable:
                _fsync_dir(folder_fd)
            return REPLACED

        if _displaced_matches(folder_fd, twin, original.st, expected) and _still_ours(folder_fd, base, msg_id):
            os.unlink(twin, dir_fd=folder_fd)
            if durable:
                _fsync_dir(folder_fd)
            return REPLACED
        twin_holds_placeholder = _swap_back(folder_fd, twin, name, twin_ino, original.st.st_dev)
        raise SpoolChanged("the spool changed during the swap; the recording was put back")
    finally:
        if twin_holds_placeholder:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(twin, dir_fd=folder_fd)


def _clear_leftovers(folder_fd: int, name: str, expected: str, swaps: Collection[str] | None) -> None:
    for swap in swap_names(folder_fd, name) if swaps is None else swaps_among(swaps, name):
        remove_if_held(folder_fd, swap, lambda digest: digest == expected)


class _Hashed:
    def __init__(self, st: os.stat_result, digest: str, head: bytes) -> None:
        self.st = st
        self.digest = digest
        self.head = head


def _hash_entry(folder_fd: int, name: str, head: int) -> _Hashed:
    try:
        fd = open_regular(folder_fd, name)
    except FileNotFoundError:
        raise SpoolChanged("the recording is no longer at that place; look again") from None
    try:
        st = os.fstat(fd)
        digest, first = hash_fd(fd, head)
    finally:
        os.close(fd)
    return _Hashed(st, digest, first)


def _write_twin(folder_fd: int, name: str, data: bytes, like: os.stat_result,
                durable: bool = True) -> tuple[str, int]:
    """Write ``data`` to a new hidden file beside ``name`` with ``like``'s owner, mode and times."""
    twin = f".{name}.{secrets.token_hex(6)}{SWAP_SUFFIX}"
    fd = os.open(twin, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        _copy_owner(fd, like)
        os.fchmod(fd, stat.S_IMODE(like.st_mode))
        os.utime(fd, ns=(like.st_atime_ns, like.st_mtime_ns))
        if durable:
            os.fsync(fd)
        ino = os.fstat(fd).st_ino
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(twin, dir_fd=folder_fd)
        raise
    os.close(fd)
    return twin, ino


def _copy_owner(fd: int, like: os.stat_result) -> None:
    """Keep the recording's owner (needs privilege) or at least its group (if we are a member)."""
    try:
        os.fchown(fd, like.st_uid, like.st_gid)
    except PermissionError:
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, like.st_gid)


def _displaced_matches(folder_fd: int, twin: str, original: os.stat_result, expected: str) -> bool:
    """After the exchange the twin name holds what was at the recording's name: is it the recording?"""
    try:
        fd = open_regular(folder_fd, twin)
    except (FileNotFoundError, InvalidInput):
        return False
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (original.st_dev, original.st_ino):
            return False
        digest, _ = hash_fd(fd)
    finally:
        os.close(fd)
    return digest == expected


def _still_ours(folder_fd: int, base: str, msg_id: str) -> bool:
    try:
        verify_msg_id(folder_fd, base, msg_id)
    except (SpoolChanged, InvalidInput):
        return False
    return True


def _swap_back(folder_fd: int, twin: str, name: str, twin_ino: int, dev: int) -> bool:
    """Undo the exchange. Returns True when the twin name holds the placeholder again (to be unlinked).

    If Asterisk renamed our placeholder meanwhile, it is looked for among this folder's message files
    and the displaced recording is exchanged with it wherever it went. If it cannot be found, the
    recording is left under the twin name (reported by scan) rather than risk destroying it.
    """
    for candidate in _placeholder_names(folder_fd, name, twin_ino, dev):
        try:
            rename_exchange(folder_fd, twin, candidate)
        except FileNotFoundError:
            continue
        return True
    return False


def _placeholder_names(folder_fd: int, name: str, twin_ino: int, dev: int) -> list[str]:
    names = [name]
    with os.scandir(folder_fd) as entries:
        for entry in entries:
            if entry.name != name and MSG_FILE.match(entry.name) and entry.inode() == twin_ino:
                names.append(entry.name)
    found: list[str] = []
    for candidate in names:
        try:
            st = os.stat(candidate, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if (st.st_dev, st.st_ino) == (dev, twin_ino):
            found.append(candidate)
    return found


def _replace_fallback(
    folder_fd: int, twin: str, name: str, base: str, msg_id: str, expected: str, original: os.stat_result
) -> None:
    """Without an atomic exchange: re-check everything, then rename the twin over the recording."""
    verify_msg_id(folder_fd, base, msg_id)
    again = _hash_entry(folder_fd, name, 0)
    if (again.st.st_dev, again.st.st_ino) != (original.st_dev, original.st_ino) or again.digest != expected:
        raise SpoolChanged("the recording changed before the swap; it was left in place")
    os.replace(twin, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)


def _fsync_dir(folder_fd: int) -> None:
    os.fsync(folder_fd)
