"""The worker side: Celery app, tasks, the Alipay client and the Redis store. Never imports Flask or `api`."""
