"""Per-process singletons (settings, store, Alipay client), created on first use: after the worker forks."""

from __future__ import annotations

from functools import lru_cache

from worker import defaults, metrics
from worker.alipay.client import AlipayClient, new_pool
from worker.settings import get_settings
from worker.store import Store


@lru_cache(maxsize=1)
def store() -> Store:
    settings = get_settings()
    return Store.from_url(settings.redis_url, outage_s=defaults.WORKER_REDIS_OUTAGE_S,
                          job_ttl_s=settings.job_retention_s, order_ttl_s=settings.order_retention_s)


@lru_cache(maxsize=1)
def alipay() -> AlipayClient:
    settings = get_settings()
    pool = new_pool(pool_size=max(10, settings.worker_concurrency), gateway_url=settings.gateway_url)
    return AlipayClient(settings.gateway_url, settings.app_id, settings.app_private_key,
                        settings.alipay_public_key, notify_url=settings.notify_url,
                        connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s,
                        pool=pool, on_call=metrics.gateway_call)
