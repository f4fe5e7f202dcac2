"""How many tasks wait in the Celery queue on the broker (RabbitMQ or Redis), asked with a short timeout."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

TIMEOUT = 2.0


@dataclass(frozen=True)
class QueueDepth:
    reachable: bool
    messages: int | None  # None: not known (embedded transport, or the broker did not answer)


def queue_depth(broker_url: str, queue: str, timeout: float = TIMEOUT) -> QueueDepth:
    """A passive declare (RabbitMQ) or the list's length (Redis, through kombu): nothing is created."""
    if not broker_url or broker_url.startswith("memory://"):
        return QueueDepth(True, None)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(_ask, broker_url, queue, timeout).result(timeout=timeout + 1)
    except FutureTimeout:
        return QueueDepth(False, None)
    except Exception:  # the queue does not exist yet, or the broker refused: not reachable for our purpose
        return QueueDepth(False, None)
    finally:
        pool.shutdown(wait=False)


def _ask(broker_url: str, queue: str, timeout: float) -> QueueDepth:
    from kombu.connection import Connection

    with Connection(broker_url, connect_timeout=timeout, transport_options={"socket_timeout": timeout,  # type: ignore[no-untyped-call]
                                                                            "max_retries": 0}) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        channel = conn.default_channel
        try:
            declared = channel.queue_declare(queue=queue, passive=True)
        except Exception as exc:  # Redis keeps no empty list; RabbitMQ: no worker declared it yet
            if "NOT_FOUND" in str(exc) or "NOT_FOUND" in repr(exc.args):
                return QueueDepth(True, 0)
            raise
        return QueueDepth(True, int(declared.message_count))
