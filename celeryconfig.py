"""Celery settings: the service's settings mapped onto Celery's lowercase keys, and nothing else."""

from kombu import Queue

from worker import defaults
from worker.broker import transport_for
from worker.settings import get_settings

_settings = get_settings()

broker_url = _settings.broker_url
broker_transport = transport_for(broker_url)
"""kombu's Redis transport with one client per channel and one list per queue (worker/broker.py); kombu's own
for other brokers."""
broker_connection_retry_on_startup = True
broker_transport_options = {
    "visibility_timeout": _settings.visibility_timeout_s,
    # Sweep for messages of dead workers often enough that a short visibility timeout means a short wait.
    "unacked_restore_interval": min(10, max(1, _settings.visibility_timeout_s // 4)),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 3,
    "socket_timeout": 10,
}
result_backend = None
task_ignore_result = True
"""Results live in the store, written by the tasks themselves."""

task_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
timezone = "UTC"
enable_utc = True

task_acks_late = True
"""A task is acknowledged only when it has finished: a worker that dies mid-call loses nothing."""
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_soft_time_limit = defaults.TASK_SOFT_TIME_LIMIT_S
task_time_limit = defaults.TASK_TIME_LIMIT_S
worker_pool = _settings.worker_pool
worker_concurrency = _settings.worker_concurrency
worker_hijack_root_logger = False
worker_send_task_events = False
broker_heartbeat = 0

task_default_queue = "payments"
task_queues = (Queue("payments"), Queue("polls"), Queue("webhooks"))
"""Queues per task family, all consumed by every worker unless it is started with --queues."""
task_routes = {
    "alipay.poll_trade": {"queue": "polls"},
    "alipay.poll_trades": {"queue": "polls"},
    "alipay.close_trade": {"queue": "polls"},
    "alipay.dispatch_polls": {"queue": "polls"},
    "alipay.reconcile_sweep": {"queue": "polls"},
    "alipay.reconcile_bill": {"queue": "polls"},
    "webhooks.dispatch": {"queue": "webhooks"},
    "webhooks.deliver": {"queue": "webhooks"},
}

beat_schedule = {
    "dispatch-due-polls": {
        "task": "alipay.dispatch_polls",
        "schedule": _settings.poll_tick_s,
        "options": {"expires": max(_settings.poll_tick_s * 5, 5.0)},
    },
    "requeue-stale-jobs": {
        "task": "alipay.requeue_stale_jobs",
        "schedule": max(1.0, min(defaults.JANITOR_EVERY_S, _settings.stale_job_s / 2)),
        "options": {"expires": defaults.JANITOR_EVERY_S},
    },
    "dispatch-due-webhooks": {
        "task": "webhooks.dispatch",
        "schedule": _settings.poll_tick_s,
        "options": {"expires": max(_settings.poll_tick_s * 5, 5.0)},
    },
    "reconcile-sweep": {
        "task": "alipay.reconcile_sweep",
        "schedule": _settings.reconcile_sweep_s,
        "options": {"expires": _settings.reconcile_sweep_s},
    },
    # The daily bill run is a frequent tick, not a crontab: beat's clock is UTC, Alipay's day is Beijing's, and
    # a tick also catches up after beat was down at RECONCILE_AT and retries a bill that was not ready yet.
    "reconcile-daily-bill": {
        "task": "alipay.reconcile_bill",
        "schedule": defaults.RECONCILE_BILL_TICK_S,
        "options": {"expires": defaults.RECONCILE_BILL_TICK_S},
    },
}

# The Redis visibility timeout is read in three places by Celery and kombu; keep them equal, and above every
# countdown a task may ask for (defaults.RETRY_BACKOFF_CAP_S, POLL_LEASE_S).
result_backend_transport_options = {"visibility_timeout": _settings.visibility_timeout_s}
visibility_timeout = _settings.visibility_timeout_s
