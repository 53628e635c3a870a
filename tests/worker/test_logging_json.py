"""JSON log lines: one object per record, the task's context, and nothing secret or identifying."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from worker import logging_json
from worker.alipay import signing
from worker.logging_json import REDACTED, JsonFormatter, RedactingFilter, mask, redact


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own whose lines land in a string, through the same handler set-up as the services."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(secrets=("api-key-0123456789",)))
    log = logging.getLogger("tests.logging_json")
    log.handlers, log.propagate = [handler], False
    log.setLevel(logging.DEBUG)
    logging_json.clear()
    yield log, stream
    logging_json.clear()
    log.handlers = []


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_object_on_one_line(logger) -> None:
    log, stream = logger
    log.warning("two\nlines and\u2028a separator, 中文 kept")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert list(entry)[:4] == ["time", "level", "logger", "message"]
    assert entry["level"] == "WARNING" and entry["logger"] == "tests.logging_json"
    assert entry["message"] == "two\nlines and\u2028a separator, 中文 kept"
    stamp = datetime.fromisoformat(entry["time"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0


def test_an_exception_stays_on_the_line(logger) -> None:
    log, stream = logger
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    [entry] = lines(stream)
    assert entry["message"] == "failed" and "ValueError: boom" in entry["exception"]


def test_the_bound_context_and_extra_fields_are_carried(logger) -> None:
    log, stream = logger
    logging_json.bind(task="alipay.refund", task_id="t-1", job_id="j-1")
    logging_json.bind(out_trade_no="ORDER_1", attempt=2, ignored=None)
    log.info("calling")
    log.info("other order", extra={"out_trade_no": "ORDER_2", "amount": "1.00", "nested": {"a": 1}})
    logging_json.clear()
    log.info("after the task")
    with logging_json.log_context(out_trade_no="ORDER_3"):
        log.info("inside a block")
    log.info("after the block")
    first, second, third, fourth, fifth = lines(stream)
    assert {k: first[k] for k in logging_json.CONTEXT_FIELDS} == {
        "task": "alipay.refund", "task_id": "t-1", "job_id": "j-1", "out_trade_no": "ORDER_1", "attempt": 2}
    assert "ignored" not in first
    assert second["out_trade_no"] == "ORDER_2" and second["amount"] == "1.00" and "nested" not in second
    assert not set(logging_json.CONTEXT_FIELDS) & set(third)
    assert fourth["out_trade_no"] == "ORDER_3" and "out_trade_no" not in fifth


def test_gunicorn_access_lines_carry_the_request_fields_but_no_header(logger) -> None:
    log, stream = logger
    access = logging.getLogger("gunicorn.access")
    access.handlers, access.propagate = log.handlers, False
    access.setLevel(logging.INFO)
    try:
        atoms = {"h": "127.0.0.1", "m": "GET", "U": "/jobs/x", "s": "200", "M": 3, "B": 42, "a": "curl/8",
                 "{authorization}i": "Bearer api-key-0123456789"}
        access.info('%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms', atoms)
    finally:
        access.handlers, access.propagate = [], True
        access.setLevel(logging.NOTSET)
    [entry] = lines(stream)
    assert entry["message"] == '127.0.0.1 "GET /jobs/x" 200 42 3ms'
    assert (entry["method"], entry["path"], entry["status"], entry["duration_ms"]) == ("GET", "/jobs/x", 200, 3)
    assert "api-key-0123456789" not in stream.getvalue()


@pytest.mark.parametrize("text", [
    "POST /gateway.do?app_id=2021&sign_type=RSA2&sign=Ixl4hf%2Buub7Sjgtp5jX6&version=1.0",
    "params {'sign': 'Ixl4hf+uub7Sjgtp5jX6==', 'sign_type': 'RSA2'}",
    '{"sign": "Ixl4hf+uub7Sjgtp5jX6==", "sign_type": "RSA2"}',
    "webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
])
def test_signatures_are_redacted_and_sign_type_kept(text: str) -> None:
    clean = redact(text)
    assert REDACTED in clean
    assert "Ixl4hf" not in clean and "K5oZfz" not in clean
    if "sign_type" in text:
        assert "RSA2" in clean


def test_keys_and_api_keys_are_redacted() -> None:
    key = signing.generate_private_key()
    pem = signing.pem_private(key)
    body = "".join(pem.strip().splitlines()[1:-1])
    text = (f"loaded {pem} and app_private_key={body[:40]} then bare {body} and "
            "Authorization: Bearer api-key-0123456789 and token api-key-0123456789")
    clean = redact(text, secrets=("api-key-0123456789",))
    assert "BEGIN" not in clean and body[:40] not in clean and body[100:160] not in clean
    assert "api-key-0123456789" not in clean and "Authorization: " in clean


def test_passwords_in_urls_are_redacted() -> None:
    assert redact("redis://:s3cret-pw@10.0.0.1:6379/0") == f"redis://:{REDACTED}@10.0.0.1:6379/0"
    assert redact("amqp://user:s3cret-pw@mq/vhost") == f"amqp://user:{REDACTED}@mq/vhost"
    assert redact("redis://:**@127.0.0.1:6379/1") == "redis://:**@127.0.0.1:6379/1"  # masked by kombu already


def test_buyer_identities_are_masked() -> None:
    text = ("buyer_logon_id=buyer@example.com&buyer_id=2088102177846880 "
            "{'buyer_user_id': '2088102177849999', 'seller_id': '2088102177841234'} "
            "buyer_logon_id: abc***@example.com")
    clean = redact(text)
    assert "buyer@example.com" not in clean and "buy***@example.com" in clean
    assert "2088102177846880" not in clean and "2088102177849999" not in clean
    assert "2088********6880" in clean and "abc***@example.com" in clean
    assert redact(clean) == clean


def test_mask() -> None:
    assert mask("someone@example.com") == "som***@example.com"
    assert mask("13812345678") == "1381***5678"
    assert mask("abc***@example.com") == "abc***@example.com"
    assert mask("short") == "***"


def test_the_filter_scrubs_messages_arguments_extras_and_tracebacks(logger) -> None:
    log, stream = logger
    log.info("call %s", "https://gw/gateway.do?sign=abcDEF123%2B&x=1",
             extra={"authorization": "Bearer api-key-0123456789", "buyer_logon_id": "buyer@example.com",
                    "note": "app_private_key=abcdef"})
    try:
        raise RuntimeError("answer sign=abcDEF123 for buyer_user_id=2088102177849999")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    first, second = lines(stream)
    assert first["message"] == f"call https://gw/gateway.do?sign={REDACTED}&x=1"
    assert first["authorization"] == REDACTED and first["buyer_logon_id"] == "buy***@example.com"
    assert first["note"] == f"app_private_key={REDACTED}"
    assert "abcDEF123" not in text and "2088102177849999" not in text and "api-key-0123456789" not in text
    assert "RuntimeError" in second["exception"]


def test_configure_logging_owns_the_root_logger_and_quiets_urllib3() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("urllib3").level)
    stream = io.StringIO()
    try:
        logging_json.configure_logging("DEBUG", stream=stream)
        logging_json.configure_logging("DEBUG", stream=stream)  # idempotent: still one handler
        assert len(root.handlers) == 1
        logging.getLogger("urllib3.connectionpool").debug("http://gw:80 \"POST /gateway.do?sign=x HTTP/1.1\" 200")
        logging.getLogger("celery.app.trace").info("Task %s succeeded", "alipay.precreate[1]")  # per task: quiet
        logging.getLogger("celery.app.trace").error("Task %s raised", "alipay.precreate[1]")
        [entry] = lines(stream)
        assert entry["logger"] == "celery.app.trace" and entry["message"] == "Task alipay.precreate[1] raised"
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("urllib3").setLevel(saved[2])
        logging.getLogger("celery.app.trace").setLevel(logging.NOTSET)
        logging.captureWarnings(False)


def test_the_gunicorn_logconfig_is_a_valid_dictconfig() -> None:
    import logging.config

    config = logging_json.gunicorn_logconfig()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        [handler] = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)
        assert logging.getLogger("gunicorn.access").propagate and not logging.getLogger("gunicorn.access").handlers
        assert logging.getLogger("urllib3").level == logging.INFO
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])


def test_secrets_from_env() -> None:
    found = logging_json.secrets_from_env({"API_KEYS": "key-number-one, k2 ,", "WEBHOOK_SECRET": "whsec_c2VjcmV0"})
    assert "key-number-one" in found and "whsec_c2VjcmV0" in found and "c2VjcmV0" in found
    assert "k2" not in found  # too short to replace safely


def test_each_celery_task_starts_and_ends_with_a_context_of_its_own() -> None:
    from types import SimpleNamespace

    from worker import celery_hooks

    logging_json.bind(job_id="left over from the last task")
    celery_hooks._start_task_context(task_id="t-2", task=SimpleNamespace(name="alipay.precreate"))
    assert logging_json.current_context() == {"task": "alipay.precreate", "task_id": "t-2"}
    celery_hooks._end_task_context()
    assert logging_json.current_context() == {}


def test_a_field_too_big_for_the_fast_encoder_is_still_written(logger) -> None:
    log, stream = logger
    log.warning("big", extra={"count": 2**70, "ratio": 0.5})
    [entry] = lines(stream)
    assert entry["count"] == 2**70 and entry["ratio"] == 0.5 and entry["message"] == "big"
