"""Celery tasks, one module per job family. Tasks take ids, re-read state from the store, and are idempotent."""

from worker.tasks import janitor, poll, precreate, reconcile, refund, refund_query, webhooks  # noqa: F401
