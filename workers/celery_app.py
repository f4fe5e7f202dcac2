"""The Celery application. Tasks are acked late, prefetch one, and rejected back on worker loss."""

from __future__ import annotations

from celery import Celery
from kombu.entity import Exchange, Queue

from voicemail.config import Settings, serving_site, site_names

EMBEDDED_BROKER = "memory://localhost/"
QUEUE = "voicemail"
# Tasks that read a site's spool or act on its Asterisk: they run on that site's custody queue, where its
# spool is mounted and its AMI reached.
CUSTODY_TASKS = frozenset({"workers.tasks.seal_message", "workers.tasks.strip_message",
                           "workers.tasks.take_custody_batch", "workers.tasks.reconcile",
                           "workers.tasks.finish_shred"})


def custody_queue(site: str) -> str:
    """The queue of one site's custody tasks (``voicemail worker --site NAME`` consumes it)."""
    return f"custody.{site}"


class SiteRouter:
    """Routes a custody task to its site's queue: the task's ``site`` argument, else the site this process
    serves (the listener and reconciliation enqueue their own site's messages). Other tasks: the default
    queue, which every worker consumes. With the embedded transport everything stays on the default queue."""

    def __init__(self, site: str, *, embedded: bool) -> None:
        self.site = site
        self.embedded = embedded

    def __call__(self, name: str, args: object, kwargs: object, options: object, task: object = None,
                 **_kw: object) -> dict[str, str] | None:
        if name not in CUSTODY_TASKS or self.embedded:
            return None
        site = kwargs.get("site") if isinstance(kwargs, dict) else None
        return {"queue": custody_queue(str(site or self.site))}

app = Celery("voicemail", include=["workers.tasks", "workers.audit_tasks",
                                    "workers.lifecycle_tasks"])  # lifecycle


def quorum_queue(name: str) -> Queue:
    """A RabbitMQ quorum queue (replicated, durable) on a topic exchange of the same name: RabbitMQ's native
    delayed delivery, which Celery uses for retries with a countdown on quorum queues, needs a topic exchange."""
    exchange = Exchange(name, type="topic", durable=True)  # type: ignore[no-untyped-call]
    return Queue(name, exchange, routing_key=name, durable=True,  # type: ignore[no-untyped-call]
                 queue_arguments={"x-queue-type": "quorum"})


def rabbitmq_options(broker: str, sites: tuple[str, ...] = ()) -> dict[str, object]:
    """Queue settings for the broker: on RabbitMQ quorum queues (the default one and each site's custody
    queue), per-consumer prefetch (quorum queues refuse global QoS; worker_detect_quorum_queues switches
    it) and publisher confirms; elsewhere Celery's defaults (queues made on first use)."""
    if not broker.startswith(("amqp://", "amqps://")):
        return {"task_queues": None, "task_default_exchange": None, "task_default_exchange_type": "direct",
                "task_default_routing_key": None, "broker_transport_options": {"visibility_timeout": 3600}}
    queues = (quorum_queue(QUEUE), *(quorum_queue(custody_queue(site)) for site in sites))
    return {"task_queues": queues, "task_default_exchange": QUEUE,
            "task_default_exchange_type": "topic", "task_default_routing_key": QUEUE,
            "worker_detect_quorum_queues": True, "broker_transport_options": {"confirm_publish": True}}


def configure(settings: Settings) -> Celery:
    """Apply the settings to the one Celery app (broker, reliability options, schedule)."""
    broker = settings.broker_url or EMBEDDED_BROKER
    app.conf.update(
        broker_url=broker,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_concurrency=settings.worker_concurrency,
        # Redis re-delivers an unacked task after this long (broker_transport_options visibility_timeout, in
        # rabbitmq_options); our sweeper usually acts much sooner.
        **rabbitmq_options(broker, site_names(settings)),
        task_routes=(SiteRouter(serving_site(settings), embedded=not settings.broker_url),),
        beat_schedule={
            "sweep": {"task": "workers.tasks.sweep", "schedule": settings.sweep_interval},
            # each site's spool is reconciled by that site's workers
            **{("reconcile" if site == settings.site_name else f"reconcile-{site}"): {
                "task": "workers.tasks.reconcile", "schedule": settings.reconcile_interval, "kwargs": {"site": site}}
               for site in site_names(settings)},
        },
    )
    # --- directory (LDAP): periodic sync (incremental unless a full one is due) ---
    if settings.ldap_url and settings.ldap_sync_interval > 0:
        app.conf.beat_schedule["directory-sync"] = {"task": "workers.tasks.directory_sync",
                                                    "schedule": settings.ldap_sync_interval}
    # --- audit trail: scheduled signed checkpoint of the chain head ---
    if settings.audit_checkpoint_interval > 0:
        app.conf.beat_schedule["audit-checkpoint"] = {"task": "workers.audit_tasks.audit_checkpoint",
                                                      "schedule": settings.audit_checkpoint_interval}
    # --- lifecycle: daily retention run (safe to run twice: a database lease) ---
    if settings.retention_interval > 0:
        app.conf.beat_schedule["retention-run"] = {"task": "workers.lifecycle_tasks.retention_run",
                                                   "schedule": settings.retention_interval}
    return app
