"""What a submission queues: one message per new job, carrying what its task needs to start without a read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api import create_app
from worker.settings import Settings
from worker.store import Store

QRCODE = {"totalAmount": "88.80", "subject": "coffee", "storeId": "store_1", "timeoutExpress": "5m",
          "outTradeNo": "SUBMIT_0001"}


class Recorder:
    """A Celery app that keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send_task(self, name: str, **options: Any) -> None:
        self.sent.append((name, options))


def _settings(keys: Any, broker: str) -> Settings:
    return Settings.from_env({"ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
                              "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")),
                              "CELERY_BROKER_URL": broker})


@pytest.mark.parametrize(("broker", "options"), [("redis://127.0.0.1:1/0", {"declare": []}),
                                                 ("amqp://guest:guest@127.0.0.1:1//", {})])
def test_a_new_precreate_queues_its_records_as_written_and_a_repeat_queues_nothing(keys, redis_db, broker: str,
                                                                                   options: dict) -> None:
    queue = Recorder()
    store = Store(redis_db)
    client = create_app({"SETTINGS": _settings(keys, broker), "STORE": store, "CELERY": queue,
                         "TESTING": True}).test_client()
    first = client.post("/qrcode", data=QRCODE)
    again = client.post("/qrcode", data=QRCODE)
    assert first.status_code == again.status_code == 202
    assert len(queue.sent) == 1
    name, sent = queue.sent[0]
    job_id = first.get_json()["job_id"]
    assert name == "alipay.precreate" and sent["args"] == [job_id]
    assert sent["kwargs"]["out_trade_no"] == "SUBMIT_0001"
    job, order = (orjson.loads(record) for record in sent["kwargs"]["queued"])
    assert job == store.get_job(job_id) and order == store.get_order("SUBMIT_0001")
    assert "coffee" not in sent["kwargsrepr"] and "SUBMIT_0001" in sent["kwargsrepr"]
    assert {key: sent[key] for key in options} == options and ("declare" in sent) == bool(options)


def test_a_refund_query_queues_only_its_job_id(keys, redis_db) -> None:
    queue = Recorder()
    client = create_app({"SETTINGS": _settings(keys, "redis://127.0.0.1:1/0"), "STORE": Store(redis_db),
                         "CELERY": queue, "TESTING": True}).test_client()
    answer = client.post("/refund_query", data={"out_trade_no": "SUBMIT_0002", "out_request_no": "R1"})
    assert answer.status_code == 202, answer.get_json()
    name, sent = queue.sent[0]
    assert name == "alipay.refund_query" and sent["args"] == [answer.get_json()["job_id"]] and sent["kwargs"] == {}


def test_with_the_broker_on_the_store_redis_the_task_is_pushed_in_the_same_write(keys, redis_server, redis_db,
                                                                                monkeypatch) -> None:
    import base64

    from celery import Celery
    from kombu.transport import redis as kombu_redis

    from worker import broker

    def no_separate_push(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the message was pushed on its own, not with the job")

    monkeypatch.setattr(kombu_redis.Channel, "_put", no_separate_push)

    url = redis_server.url.rsplit("/", 1)[0] + "/15"
    celery = Celery("submissions-test", broker=url, set_as_current=False)
    celery.conf.update(broker_transport=broker.TRANSPORT, task_default_queue="payments")
    store = Store(redis_db)
    client = create_app({"SETTINGS": _settings(keys, url), "STORE": store, "CELERY": celery, "QUEUE_WITH_JOB": True,
                         "TESTING": True}).test_client()
    first = client.post("/qrcode", data=QRCODE)
    again = client.post("/qrcode", data=QRCODE)
    other = client.post("/qrcode", data=dict(QRCODE, totalAmount="1.00"))
    assert first.status_code == again.status_code == 202 and other.status_code == 409
    assert redis_db.llen("payments") == 1, "one message, pushed with the job; none for the repeat or the conflict"
    envelope = orjson.loads(redis_db.lindex("payments", 0))
    args, kwargs, _ = orjson.loads(base64.b64decode(envelope["body"]))
    job_id = first.get_json()["job_id"]
    assert envelope["headers"]["task"] == "alipay.precreate" and envelope["headers"]["id"]
    assert envelope["properties"]["delivery_info"]["routing_key"] == "payments"
    assert args == [job_id] and kwargs["out_trade_no"] == "SUBMIT_0001"
    assert [orjson.loads(r) for r in kwargs["queued"]] == [store.get_job(job_id), store.get_order("SUBMIT_0001")]
    celery.close()


def test_a_task_that_cannot_be_made_leaves_nothing_written(keys, redis_db) -> None:
    class Unreachable:
        conf = None

        def send_task(self, name: str, **options: Any) -> None:
            raise ConnectionError("broker down")

    store = Store(redis_db)
    client = create_app({"SETTINGS": _settings(keys, "redis://127.0.0.1:1/0"), "STORE": store,
                         "CELERY": Unreachable(), "QUEUE_WITH_JOB": True, "TESTING": True}).test_client()
    answer = client.post("/qrcode", data=QRCODE)
    assert answer.status_code == 503
    assert store.get_order("SUBMIT_0001") is None and redis_db.dbsize() == 0
