"""alipay.requeue_stale_jobs: the safety net that keeps a job from staying unfinished for ever.

Acknowledgement after the task (acks_late) already brings back the task of a worker that died. This catches
what that cannot: a task that failed while Redis or the broker was unreachable, so that nothing could be
written or queued. Such a job stops changing; after STALE_JOB_S its task is queued again with the same job id,
which is safe because every task re-sends the job's own identity and transitions are monotonic.
"""

from __future__ import annotations

import logging
import time

from worker import services
from worker.celery_app import app
from worker.settings import get_settings
from worker.states import TASK_FOR_JOB, JobStatus, JobType

log = logging.getLogger(__name__)

BATCH = 200


@app.task(name="alipay.requeue_stale_jobs")
def requeue_stale_jobs() -> int:
    """Queue again every unfinished job that has not changed for STALE_JOB_S; returns how many."""
    store = services.store()
    requeued = 0
    for job_id in store.stale_jobs(time.time() - get_settings().stale_job_s, BATCH):
        job = store.get_job(job_id)
        if job is None or JobStatus(job["status"]).final:
            store.forget_active(job_id)
            continue
        log.warning("job %s (%s) unchanged since %s; queued again", job_id, job["type"], job["updated_at"])
        app.send_task(TASK_FOR_JOB[JobType(job["type"])], args=[job_id])
        requeued += 1
    return requeued
