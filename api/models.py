"""What the client API answers, as pydantic models: their JSON schemas are the responses of the OpenAPI document.

The views build plain dicts (the store's records); these models describe them and validate nothing at run
time. Each allows fields it does not name (``additionalProperties``), so a field added later is not a breaking
change for clients that validate against the document.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import MONEY_PATTERN
from worker.events import EventType
from worker.states import JobStatus, JobType, OrderStatus, RefundStatus

AmountText = Field(pattern=MONEY_PATTERN, examples=["88.80"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------------------------------ errors


class FieldErrorItem(BaseModel):
    """One bad parameter."""

    field: str = Field(description="The parameter as the client named it.", examples=["totalAmount"])
    code: str = Field(description="What is wrong, in snake_case: `required`, `invalid_amount`, `too_long`, ...",
                      examples=["invalid_amount"])
    message: str = Field(description="One sentence for a person.")


class ErrorDetail(BaseModel):
    """The error: a stable code for programs, a sentence for people, and the bad parameter(s)."""

    code: str = Field(description="Stable snake_case code, such as `invalid_request`, `order_not_found`, "
                                  "`conflict`, `refund_exceeds_total`, `service_unavailable`.",
                      examples=["invalid_request"])
    message: str = Field(description="One sentence for a person.", examples=["totalAmount is required."])
    field: str | None = Field(description="The (first) bad parameter, or null when no parameter is at fault.",
                              examples=["totalAmount"])
    fields: list[FieldErrorItem] | None = Field(
        default=None, description="Every bad parameter, present when a request names more than one.")


class Error(BaseModel):
    """Every 4xx and 5xx answer of the client API."""

    error: ErrorDetail


# ------------------------------------------------------------------------------------------ jobs


class SubmissionLinks(BaseModel):
    job: str = Field(description="Where to follow the job.", examples=["/jobs/0f8fad5bd9cb469fa16570867728950e"])
    order: str | None = Field(description="The order the job acts on; null for a refund query by trade_no.",
                              examples=["/orders/SEED20240101000001"])


class Submission(_Open):
    """A submission accepted and queued (or found, for a resubmission): follow `links.job`."""

    job_id: str = Field(examples=["0f8fad5bd9cb469fa16570867728950e"])
    type: JobType
    status: JobStatus
    out_trade_no: str | None = Field(description="The order's number; null for a refund query by trade_no.")
    out_request_no: str | None = Field(
        default=None, description="Refunds only: the refund's request number, the generated one when absent.")
    links: SubmissionLinks


class AlipayError(_Open):
    """Why a job failed (`error`) or why its last attempt failed (`last_error`)."""

    code: str = Field(description="Alipay's code (such as `40004`) or our own (`gateway_unavailable`, "
                                  "`gateway_outcome_unknown`, `gateway_bad_signature`).", examples=["40004"])
    msg: str | None = Field(default=None, examples=["Business Failed"])
    sub_code: str | None = Field(default=None, examples=["ACQ.CONTEXT_INCONSISTENT"])
    sub_msg: str | None = None


class Job(_Open):
    """A job as the workers last recorded it; `succeeded` and `failed` are final."""

    job_id: str = Field(examples=["0f8fad5bd9cb469fa16570867728950e"])
    type: JobType
    status: JobStatus
    attempts: int = Field(ge=0, description="Calls to Alipay so far.")
    created_at: str = Field(description="ISO 8601 with offset.", examples=["2026-11-26T01:00:00.000+00:00"])
    updated_at: str = Field(description="ISO 8601 with offset.", examples=["2026-11-26T01:00:01.250+00:00"])
    out_trade_no: str | None = None
    request: dict[str, Any] = Field(description="The parameters the job acts on, under the names clients use.")
    result: dict[str, Any] | None = Field(
        description="When succeeded: Alipay's verified response fields (`qr_code`, `refund_fee`, ...).")
    error: AlipayError | None = Field(description="When failed: why.")
    last_error: AlipayError | None = Field(default=None, description="Why the last attempt failed, if it did.")


# ------------------------------------------------------------------------------------------ orders


class Refund(_Open):
    out_request_no: str
    refund_amount: str = AmountText
    status: RefundStatus


class Order(_Open):
    """An order: the QR-code trade and its refunds, as the workers, polls and notifications left it."""

    out_trade_no: str = Field(examples=["SEED20240101000001"])
    trade_no: str | None = Field(default=None, description="Alipay's trade number, once the buyer scanned.")
    status: OrderStatus
    total_amount: str = AmountText
    refunded_amount: str = Field(pattern=MONEY_PATTERN, examples=["0.00"])
    subject: str | None = None
    store_id: str | None = None
    timeout_express: str | None = None
    expires_at: str | None = Field(default=None, description="When an unpaid order is closed; ISO 8601.")
    qr_code: str | None = Field(default=None, description="The content of the QR code, once issued.")
    buyer_logon_id: str | None = None
    buyer_user_id: str | None = None
    gmt_payment: str | None = Field(default=None, description="When it was paid, as Alipay writes it.")
    paid_via: str | None = Field(default=None, description="`poll` or `notification`.")
    closed_reason: str | None = Field(
        default=None, description="`deadline`, `deadline_not_scanned`, `cancelled`, `poll`, `notification`, "
                                  "`refunded`, ...")
    refunds: list[Refund]
    created_at: str | None = None
    updated_at: str


class DeliveryAttempt(_Open):
    at: str
    status_code: int | None = Field(default=None, description="The receiver's answer, when it answered.")
    error: str | None = Field(default=None, description="The network error, when it did not.")
    duration_ms: int | None = None


class OrderEvent(_Open):
    """One change of an order, as delivered to its `callbackUrl`, with the delivery's state."""

    id: str = Field(examples=["evt_6f1c0b4f8e6a4b7c9d2e3f4a5b6c7d8e"])
    type: EventType
    created_at: str
    order: dict[str, Any] = Field(description="The order as it was after the change.")
    delivery: Literal["pending", "delivered", "failed"]
    attempts: list[DeliveryAttempt]


class OrderEvents(BaseModel):
    out_trade_no: str
    events: list[OrderEvent] = Field(description="Oldest first.")


# ------------------------------------------------------------------------------------------ the rest


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unready"]
    reasons: list[str] = Field(description="What is not ready, such as `workers: none answered a ping`.")


class BuyerStatus(_Open):
    """What the cashier page shows the buyer: no buyer identity, no job data."""

    out_trade_no: str
    status: OrderStatus | None
    view: Literal["pending", "paid", "closed", "refunded"]
    total_amount: str | None
    refunded_amount: str
    subject: str | None
    store_id: str | None
    expires_at: str | None
    seconds_left: int | None = Field(description="Seconds until the QR code expires; null while unknown.")
    qr_code_ready: bool


class ReconciliationReport(_Open):
    """One day's reconciliation of Alipay's bill against the orders here."""

    date: str = Field(description="The day reconciled, yyyy-MM-dd (Beijing time).", examples=["2026-11-25"])
    generated_at: str | None = None
    counts: dict[str, Any] | None = Field(default=None, description="Payments and refunds on each side, "
                                                                    "orders compared, discrepancies, repairs.")
    totals: dict[str, Any] | None = Field(default=None, description="Amounts on each side, as money strings.")
    discrepancies: list[dict[str, Any]] | None = Field(default=None, description="What differed, order by order.")


class SweepResult(_Open):
    """The counts of the last sweep of unsettled orders (open trades, refunds in flight)."""


class AlipayNotification(_Open):
    """Alipay's asynchronous notification (form fields); only the ones the service reads are named."""

    notify_id: str | None = None
    notify_time: str | None = None
    notify_type: str | None = None
    app_id: str | None = None
    seller_id: str | None = None
    out_trade_no: str | None = None
    trade_no: str | None = None
    trade_status: str | None = Field(default=None, examples=["TRADE_SUCCESS"])
    total_amount: str | None = None
    refund_fee: str | None = None
    out_biz_no: str | None = None
    gmt_payment: str | None = None
    gmt_refund: str | None = None
    buyer_id: str | None = None
    buyer_logon_id: str | None = None
    sign_type: str | None = Field(default=None, examples=["RSA2"])
    sign: str | None = None


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Error, Submission, Job, Order, OrderEvents, Health, Readiness, BuyerStatus, ReconciliationReport, SweepResult,
    AlipayNotification,
)
"""Every model whose schema the OpenAPI document carries under ``components/schemas``."""
