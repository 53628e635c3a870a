"""Gunicorn settings for the API: threads, so that clients holding a `wait` do not block the others."""

import os

# Underscored: gunicorn reads every public global of this file as a setting.
from gunicorn.glogging import Logger as _GunicornLogger

from worker import logging_json as _logging_json

_ACCESS_LOG = os.environ.get("ACCESS_LOG", "0").strip().lower() in ("1", "true", "yes", "on")

bind = f"127.0.0.1:{os.environ.get('PORT', '10086')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "64"))
timeout = 60
graceful_timeout = 10
accesslog = "-" if _ACCESS_LOG else None
"""Off unless ACCESS_LOG=1 (gunicorn's own default): a line per request costs about a tenth of the API's CPU
per submission, and a proxy in front usually keeps the access log already."""


class _Logger(_GunicornLogger):
    """gunicorn's logger, but access lines only with ACCESS_LOG=1: a `logconfig_dict` alone turns them on."""

    def access(self, resp, req, environ, request_time):
        if _ACCESS_LOG:
            super().access(resp, req, environ, request_time)


logger_class = _Logger
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
logconfig_dict = _logging_json.gunicorn_logconfig()
"""Error log, access log and the app's own loggers as JSON lines on stderr (worker/logging_json.py)."""


def child_exit(server, worker):
    """A worker process ended: drop its live samples from the shared metrics directory (worker/metrics.py)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
