"""The container the tasks use in this process: built once from settings (the composition root)."""

from __future__ import annotations

import os
import threading

from celery.signals import worker_process_init

from voicemail.app import Container, build_container
from voicemail.config import load_settings

_lock = threading.Lock()
_container: Container | None = None


def install(container: Container) -> None:
    global _container
    with _lock:
        _container = container


def container() -> Container:
    """The installed container, or one built from VOICEMAIL_CONFIG + the environment (plain `celery`)."""
    global _container
    with _lock:
        if _container is None:
            from workers.tasks import enqueue_custody, enqueue_finish_shred, enqueue_seal

            settings = load_settings(os.environ.get("VOICEMAIL_CONFIG") or None)
            _container = build_container(settings, on_new=enqueue_seal, on_new_batch=enqueue_custody,
                                         on_shred_elsewhere=enqueue_finish_shred)
        return _container


@worker_process_init.connect
def _after_fork(**_kwargs: object) -> None:
    """A forked pool process must not share the parent's database connections."""
    with _lock:
        if _container is not None:
            _container.after_fork()
