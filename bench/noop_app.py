"""The engine baseline: a Celery app with one task that does nothing, on the service's own Celery settings
(broker, acks_late, prefetch 1, JSON, no result backend) but a queue of its own, and on kombu's own Redis
transport: the raw engine, without the service's changes to it (worker/broker.py).

`celery -A bench.noop_app worker --queues bench-noop` runs it; `publish(n)` sends `n` tasks.
"""

from __future__ import annotations

import time

from celery import Celery
from kombu import Queue

QUEUE = "bench-noop"

app = Celery("bench_noop")
app.config_from_object("celeryconfig")
app.conf.update(broker_transport=None, task_default_queue=QUEUE, task_queues=(Queue(QUEUE),), task_routes={},
                beat_schedule={}, imports=())


@app.task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """Nothing: what is left is the engine's own cost per task."""


def publish(count: int) -> float:
    """Send `count` no-op tasks from this thread; returns the CPU seconds this thread spent sending them."""
    started = time.thread_time()
    for _ in range(count):
        app.send_task(noop.name)  # as the API sends its jobs: by name, a producer from the pool each time
    return time.thread_time() - started
