"""The states of jobs, orders and refunds, as `str` enums so they serialise as themselves."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobType(StrEnum):
    PRECREATE = "precreate"
    REFUND = "refund"
    REFUND_QUERY = "refund_query"


TASK_FOR_JOB = {JobType.PRECREATE: "alipay.precreate", JobType.REFUND: "alipay.refund",
                JobType.REFUND_QUERY: "alipay.refund_query"}
"""The (stable) Celery task name that runs each type of job."""


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    """Precreate asked for; the trade does not exist at Alipay until the buyer scans."""
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_FINISHED = "TRADE_FINISHED"
    TRADE_CLOSED = "TRADE_CLOSED"
    FAILED = "FAILED"
    """The precreate failed; no QR code was issued."""

    @property
    def paid(self) -> bool:
        return self in (OrderStatus.TRADE_SUCCESS, OrderStatus.TRADE_FINISHED)

    @property
    def open(self) -> bool:
        """Still waiting for the buyer: worth polling."""
        return self in (OrderStatus.PENDING, OrderStatus.WAIT_BUYER_PAY)


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    """Reserved and sent (or about to be); counts against the refundable amount."""
    REFUND_SUCCESS = "REFUND_SUCCESS"
    FAILED = "FAILED"
    """Alipay refused it; the amount is free again."""
    UNKNOWN = "UNKNOWN"
    """Retries ran out without a definite answer; still reserved until reconciliation settles it."""
