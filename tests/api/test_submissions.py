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
