"""The Redis broker transport, holding one Redis client per channel.

kombu's Redis channel builds a new `redis.Redis` for every publish, acknowledgement and unacked-index write; with
redis-py 5 and later that costs about 0.15 ms of CPU each (the client fills its reply-callback table on every
construction), three times per job. A client is thread-safe and draws its connections from the channel's pool,
so one per channel does the same work. Everything else is kombu's own transport, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from kombu.transport import redis as kombu_redis

TRANSPORT = "worker.broker:Transport"
"""What `broker_transport` names for a Redis broker (celeryconfig.py)."""


class Channel(kombu_redis.Channel):
    _held: tuple[Any, Any] | None = None
    """(pool, client): the client is made again when kombu replaces the pool (after a fork or a disconnect)."""

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool, held = self._held or (None, None)
        if pool is not self.pool:
            held = self._create_client()
            self._held = (self.pool, held)
        yield held


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The transport to use for `broker_url`: ours for a plain Redis URL, kombu's choice for anything else."""
    return TRANSPORT if urlsplit(broker_url).scheme in ("redis", "rediss") else None


def publish_options(broker_url: str) -> dict[str, Any]:
    """What a publisher to `broker_url` passes to `send_task` beyond the message. On this transport a message for
    the default exchange goes straight into its queue's list, so kombu's declaring of the queue before every
    publish (about 50 µs, most of it copying the queue object) is left out: the workers declare their queues
    when they start. On other brokers (RabbitMQ) the declaration stays, so that no message is sent to a queue
    that does not exist yet."""
    return {"declare": []} if transport_for(broker_url) == TRANSPORT else {}
