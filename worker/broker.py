"""The Redis broker transport: kombu's, with one Redis client per channel and one list per queue.

kombu's Redis channel builds a new `redis.Redis` for every publish, acknowledgement and unacked-index write; with
redis-py 5 and later that costs about 0.15 ms of CPU each (the client fills its reply-callback table on every
construction), three times per job. A client is thread-safe and draws its connections from the channel's pool,
so one per channel does the same work.

kombu also keeps four lists per queue, one per priority step, and a worker's every BRPOP names all of them. The
service never sets a priority, so each queue is one list (a message with a priority would go to it as well).

And a publish can be held back (`held_back`): kombu and Celery make the message as always, but instead of
pushing it the channel hands it over, for the API to push in the same Redis transaction as the job it belongs
to. Everything else is kombu's own transport, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

from worker.settings import Settings

_held: ContextVar[list[tuple[str, str]] | None] = ContextVar("held_back_messages", default=None)

TRANSPORT = "worker.broker:Transport"
"""What `broker_transport` names for a Redis broker (celeryconfig.py)."""


class Channel(kombu_redis.Channel):
    priority_steps = [0]
    _client_of_pool: tuple[Any, Any] | None = None
    """(pool, client): the client is made again when kombu replaces the pool (after a fork or a disconnect)."""

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool, kept = self._client_of_pool or (None, None)
        if pool is not self.pool:
            kept = self._create_client()
            self._client_of_pool = (self.pool, kept)
        yield kept

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        held = _held.get()
        if held is None:
            super()._put(queue, message, **kwargs)
            return
        # What kombu's own _put would push, and where (the service's queues never expire).
        held.append((self._q_for_pri(queue, self._get_message_priority(message, reverse=False)), dumps(message)))


@contextmanager
def held_back() -> Iterator[list[tuple[str, str]]]:
    """Publishes on this transport inside the block, from this thread, are not sent: each becomes a (Redis list,
    message) pair in the list yielded, for the caller to LPUSH itself, as kombu would have."""
    held: list[tuple[str, str]] = []
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


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


def shares_store_redis(settings: Settings) -> bool:
    """Whether the broker is the store's own Redis on this transport (the same URL), so that a task message can
    be pushed in the same transaction as the store's records."""
    return transport_for(settings.broker_url) == TRANSPORT and settings.broker_url == settings.redis_url
