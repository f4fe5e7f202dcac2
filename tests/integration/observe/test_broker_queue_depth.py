"""The Celery queue's depth as /metrics reports it, asked of the real Redis and RabbitMQ."""

from __future__ import annotations

import uuid

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from voicemail.observe.broker import QueueDepth, queue_depth

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _publish(url: str, queue: str, n: int) -> None:
    exchange = Exchange(queue, type="direct")  # type: ignore[no-untyped-call]  # kombu ships no type hints here
    with Connection(url) as conn:  # type: ignore[no-untyped-call]
        producer = conn.Producer()
        q = Queue(queue, exchange, routing_key=queue, auto_delete=False)  # type: ignore[no-untyped-call]
        for i in range(n):
            producer.publish({"i": i}, exchange=exchange, routing_key=queue, declare=[q], serializer="json")


@pytest.mark.redis
def test_redis_queue_depth_counts_waiting_tasks_and_empty_is_zero(redis_url: str) -> None:
    assert queue_depth(redis_url, "voicemail") == QueueDepth(True, 0)  # Redis keeps no empty list
    _publish(redis_url, "voicemail", 3)
    depth = queue_depth(redis_url, "voicemail")
    assert depth.reachable and depth.messages == 3


def test_rabbitmq_queue_depth_counts_waiting_tasks() -> None:
    queue = f"voicemail-depth-{uuid.uuid4().hex[:8]}"
    try:
        assert queue_depth(AMQP_URL, queue).messages == 0  # not declared yet: nothing waits
        _publish(AMQP_URL, queue, 2)
        depth = queue_depth(AMQP_URL, queue)
        assert depth.reachable and depth.messages == 2
    finally:
        with Connection(AMQP_URL) as conn:  # type: ignore[no-untyped-call]
            conn.default_channel.queue_delete(queue)


def test_unreachable_broker_is_reported_not_raised() -> None:
    depth = queue_depth("redis://127.0.0.1:1/0", "voicemail", timeout=1.0)
    assert depth == QueueDepth(False, None)
    assert queue_depth("", "voicemail").messages is None  # embedded transport: not known
