"""Every tunable of the service in one place, with its unit. Settings may override some from the environment."""

JOB_RETENTION_S = 7 * 24 * 3600
"""Seconds a job record is kept after its last change (env `JOB_RETENTION_DAYS`)."""

ORDER_RETENTION_S = 0
"""Seconds an order record is kept after its last change; 0 keeps orders for ever (env `ORDER_RETENTION_DAYS`)."""

MAX_ATTEMPTS = 8
"""Gateway attempts a job may make before it ends `failed` (env `JOB_MAX_ATTEMPTS`)."""

RETRY_BACKOFF_BASE_S = 1.0
"""Seconds before the first retry; doubles on every attempt, with full jitter."""

RETRY_BACKOFF_CAP_S = 60.0
"""Upper bound of one retry delay in seconds (env `RETRY_BACKOFF_CAP_S`). Far below the visibility timeout."""

POLL_INTERVALS_S = (2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 10.0, 10.0, 15.0, 15.0, 30.0, 30.0, 30.0, 30.0, 60.0)
"""Seconds between trade queries, the last one repeating (env `POLL_INTERVALS_S`, comma-separated): fast while
the buyer is likely at the till (every 2 to 15 s for the first 71 s, every 30 s until 191 s), then once a minute
until the deadline, where the trade is closed anyway. Alipay's notification normally tells of a payment first;
the polls are the safety net. Once a minute keeps 10,000 waiting trades at about 167 queries/s."""

POLL_TICK_S = 1.0
"""Seconds between two runs of the scheduler that enqueues due trade polls (env `POLL_TICK_S`)."""

POLL_LEASE_S = 120.0
"""Seconds a dispatched poll owns its trade; a poll lost with its worker is dispatched again after this."""

POLL_BATCH = 500
"""Most trade polls the scheduler enqueues in one tick."""

POLLS_PER_TASK = 4
"""Trades one `poll_trades` task queries, one after the other. A Celery task costs about as much CPU as a query
(publish, deliver, acknowledge), so four to a task nearly halve the CPU of a poll; the last of them is asked
three gateway calls after the first."""

DEADLINE_RETRY_S = 2.0
"""Seconds between attempts to settle a trade at its deadline when the gateway does not answer."""

VISIBILITY_TIMEOUT_S = 3600
"""Seconds before the Redis broker redelivers an unacknowledged task (env `VISIBILITY_TIMEOUT_S`).
Must exceed every countdown (see RETRY_BACKOFF_CAP_S) and every task's run time."""

TASK_SOFT_TIME_LIMIT_S = 60
"""Seconds after which a task is asked to stop (prefork pool)."""

TASK_TIME_LIMIT_S = 90
"""Seconds after which a task's process is killed and the task redelivered (prefork pool)."""

HTTP_CONNECT_TIMEOUT_S = 5.0
"""Seconds to open a connection to the gateway (env `ALIPAY_CONNECT_TIMEOUT_S`)."""

HTTP_READ_TIMEOUT_S = 15.0
"""Seconds to wait for the gateway's answer; past it the outcome is unknown (env `ALIPAY_READ_TIMEOUT_S`)."""

WAIT_MAX_S = 30
"""Longest `wait` a client may ask for, in seconds."""

MAX_WAITERS = 48
"""Requests per API process that may hold a `wait` at once; more are answered at once with 202."""

NOTIFICATION_DEDUP_S = 3 * 24 * 3600
"""Seconds a processed `notify_id` is remembered; Alipay stops retrying after about 25 hours."""

MAX_REQUEST_BYTES = 1024 * 1024
"""Largest request body the API accepts, in bytes."""

WORKER_POOL = "threads"
"""Celery pool of the worker (env `WORKER_POOL`): threads, since a job mostly waits on the gateway; `prefork`
also works (and enforces the task time limits), at more CPU and memory per job in flight."""

WORKER_CONCURRENCY = 32
"""Tasks in flight per Celery worker (env `WORKER_CONCURRENCY`): about the gateway calls per second wanted times
the gateway's latency. With the threads pool, run one worker process per core."""

POLL_MAX_IN_FLIGHT = 10 * WORKER_CONCURRENCY
"""Most trade polls enqueued and not yet started at any moment, over all workers (env `POLL_MAX_IN_FLIGHT`).
Each tick the dispatcher tops the `polls` queue up to this and no further, so while the workers are behind, the
backlog waits in the schedule (oldest due first), not in the broker, and a poll waits in the queue for at most
about this many polls' time. It must cover what all workers together start in one POLL_TICK_S, or they idle
between ticks: a thread makes up to 10 queries a second (gateway 100 ms), so 10 per slot of one worker (320)
keeps one worker busy at the 1 s tick; raise it in proportion with more workers or a longer tick."""

EVENT_RETENTION_S = 30 * 24 * 3600
"""Seconds an order's webhook events and their delivery attempts are kept."""

WEBHOOK_RETRY_S = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0)
"""Seconds between delivery attempts of a webhook event, the last repeating (env `WEBHOOK_RETRY_S`)."""

WEBHOOK_RETRY_FOR_S = 26 * 3600
"""Seconds after its creation that an event's delivery is still retried (env `WEBHOOK_RETRY_FOR_S`)."""

WEBHOOK_TIMEOUT_S = (3.0, 10.0)
"""Connect and read timeouts of one webhook delivery, seconds."""

WEBHOOK_LEASE_S = 120.0
"""Seconds a dispatched delivery owns its order's events; a delivery lost with its worker is tried again."""

MAX_DELIVERY_ATTEMPTS_KEPT = 50
"""Delivery attempts recorded per event (the most recent ones)."""

IDEMPOTENCY_KEY_S = 48 * 3600
"""Seconds an Idempotency-Key sent with /refund is remembered."""

WORKER_REDIS_OUTAGE_S = 30.0
"""Seconds a worker keeps reconnecting to Redis before a store write fails (rides out a Redis restart)."""

API_REDIS_OUTAGE_S = 1.0
"""Seconds the API keeps reconnecting to Redis before it answers 503."""

STALE_JOB_S = 15 * 60
"""Seconds an unfinished job may go unchanged before its task is queued again (env `STALE_JOB_S`): the safety
net for a task lost with its worker while the broker could not take it back. Tasks are idempotent."""

JANITOR_EVERY_S = 60.0
"""Seconds between two looks for stale jobs."""

RECONCILE_SWEEP_S = 60.0
"""Seconds between two reconciliation sweeps of unsettled orders (env `RECONCILE_SWEEP_S`)."""

RECONCILE_AFTER_S = 300.0
"""Seconds an unsettled order goes without news before a sweep asks the gateway about it (env
`RECONCILE_AFTER_S`); also how long after our own deadline close the close is confirmed."""

RECONCILE_BATCH = 200
"""Most orders one sweep checks (env `RECONCILE_BATCH`); the rest wait for the next sweep, oldest first."""

RECONCILE_SWEEP_BUDGET_S = 40.0
"""Seconds a sweep may spend; it stops starting checks after that (below TASK_SOFT_TIME_LIMIT_S)."""

RECONCILE_SWEEP_LOCK_S = 120.0
"""Seconds the sweep lock lives: longer than any sweep may run (TASK_TIME_LIMIT_S), so it never expires under a
live sweep, and short enough that a sweep killed mid-run blocks the next ones only briefly."""

RECONCILE_REFUND_GRACE_S = 600.0
"""Seconds after a refund's job ended before a refund Alipay does not show is reported as unresolved."""

RECONCILE_AT = "10:00"
"""Beijing time after which the daily bill reconciliation of the previous day runs (env `RECONCILE_AT`, HH:MM).
Alipay has the day's bill ready by about 09:00."""

RECONCILE_BILL_TICK_S = 60.0
"""Seconds between two looks of beat for a daily bill reconciliation that is due."""

RECONCILE_BILL_RETRY_S = 900.0
"""Seconds the daily run waits before trying a day again after it failed (no bill yet, gateway down)."""

RECONCILE_BILL_TIME_LIMIT_S = 600
"""Seconds a bill reconciliation task may run before it is killed (its soft limit is 30 s earlier)."""

RECONCILE_BILL_LOCK_S = 900.0
"""Seconds the bill lock lives: longer than RECONCILE_BILL_TIME_LIMIT_S."""

RECONCILE_REPORT_RETENTION_S = 400 * 24 * 3600
"""Seconds a day's reconciliation report is kept."""

LEDGER_RETENTION_S = 400 * 24 * 3600
"""Seconds the per-day index of orders with a payment or refund (`Keys.ledger`) is kept after its last change."""
