"""Gunicorn settings for the API: threads, so that clients holding a `wait` do not block the others."""

import os

bind = f"127.0.0.1:{os.environ.get('PORT', '10086')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "64"))
timeout = 60
graceful_timeout = 10
accesslog = "-"
