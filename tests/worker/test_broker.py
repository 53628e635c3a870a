"""The broker transport against a real Redis server: kombu's Redis transport with one held client per channel."""

from __future__ import annotations

import pytest
from kombu import Connection, Queue

from worker import broker


@pytest.fixture
def url(redis_server, redis_db) -> str:
    return redis_server.url.rsplit("/", 1)[0] + "/15"


def test_a_redis_broker_gets_the_held_client_transport_and_others_keep_kombus() -> None:
    assert broker.transport_for("redis://h:6379/0") == broker.TRANSPORT
    assert broker.transport_for("rediss://h:6380/0") == broker.TRANSPORT
    assert broker.transport_for("amqp://guest@h//") is None
    assert broker.transport_for("sentinel://h:26379") is None
    assert broker.publish_options("redis://h/0") == {"declare": []}
    assert broker.publish_options("amqp://guest@h//") == {}


def test_publishing_and_acknowledging_share_one_client_until_the_pool_is_replaced(url: str, redis_db,
                                                                                 monkeypatch) -> None:
    made = []
    create = broker.Channel._create_client

    def counting(self, asynchronous=False):
        client = create(self, asynchronous)
        if not asynchronous:
            made.append(client)
        return client

    monkeypatch.setattr(broker.Channel, "_create_client", counting)
    queue = Queue("held-client-test")
    with Connection(url, transport=broker.TRANSPORT, transport_options={"visibility_timeout": 60}) as conn:
        channel = conn.channel()
        assert isinstance(channel, broker.Channel)
        producer = conn.Producer(channel)
        for number in range(5):
            producer.publish({"n": number}, routing_key=queue.name, declare=[queue], serializer="json")
        received = []
        with conn.Consumer(queue, callbacks=[lambda body, message: (received.append(body["n"]), message.ack())],
                           channel=channel):
            while len(received) < 5:
                conn.drain_events(timeout=5)
        assert received == [0, 1, 2, 3, 4]
        assert redis_db.hlen("unacked") == 0 and redis_db.llen(queue.name) == 0
        assert len(made) == 1  # five publishes, five unacked-index writes, five acknowledgements
        channel._disconnect_pools()  # as after a fork or a lost connection
        producer.publish({"n": 5}, routing_key=queue.name, declare=[queue], serializer="json")
        assert len(made) == 2 and made[1].connection_pool is channel.pool is not made[0].connection_pool
        assert redis_db.llen(queue.name) == 1


def test_each_queue_is_one_list_whatever_the_priority_and_a_held_back_publish_is_not_sent(url: str, redis_db) -> None:
    queue = Queue("one-list-test")
    with Connection(url, transport=broker.TRANSPORT) as conn:
        producer = conn.Producer(conn.channel())
        producer.publish({"n": 1}, routing_key=queue.name, declare=[queue], priority=9)
        with broker.held_back() as held:
            producer.publish({"n": 2}, routing_key=queue.name, declare=[queue])
        assert [key for key in redis_db.keys(f"{queue.name}*") if redis_db.type(key) == b"list"] == [b"one-list-test"]
        assert redis_db.llen(queue.name) == 1
        (key, message), = held
        assert key == queue.name and '"delivery_info"' in message
        redis_db.lpush(key, message)
        received = []
        with conn.Consumer(queue, callbacks=[lambda body, m: (received.append(body["n"]), m.ack())]):
            while len(received) < 2:
                conn.drain_events(timeout=5)
        assert sorted(received) == [1, 2], "a held-back message pushed by hand is an ordinary message"
