"""The Celery application: configured from `celeryconfig`, tasks from `worker.tasks`."""

from celery import Celery

from worker import celery_hooks  # noqa: F401 - JSON logs, each task's log context, metrics bookkeeping

app = Celery("alipay_worker")
app.config_from_object("celeryconfig")
app.conf.imports = ("worker.tasks",)

import worker.tasks  # noqa: E402,F401  - registers the tasks on `app`
