"""Atomic exchange of two directory entries: Linux renameat2(RENAME_EXCHANGE) through libc (ctypes)."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

RENAME_EXCHANGE = 2
# Errors that mean "this kernel / file system / libc cannot exchange", not "something is wrong".
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


class ExchangeUnsupported(OSError):
    """renameat2(RENAME_EXCHANGE) is not available here; use the fallback."""


def _load() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_renameat2 = _load()


def exchange_available() -> bool:
    return _renameat2 is not None


def rename_exchange(dir_fd: int, name_a: str, name_b: str) -> None:
    """Swap the entries ``name_a`` and ``name_b`` of the directory ``dir_fd`` in one atomic step.

    Both must exist (FileNotFoundError otherwise). ExchangeUnsupported when the platform cannot do it.
    """
    if _renameat2 is None:
        raise ExchangeUnsupported(errno.ENOSYS, "renameat2 is not available in this libc")
    rc = _renameat2(dir_fd, os.fsencode(name_a), dir_fd, os.fsencode(name_b), RENAME_EXCHANGE)
    if rc == 0:
        return
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        raise ExchangeUnsupported(err, os.strerror(err))
    raise OSError(err, os.strerror(err))
