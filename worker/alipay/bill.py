"""Reconciliation bills: ask alipay.data.dataservice.bill.downloadurl.query for a link, then fetch the zip.

The link expires about 30 seconds after it is issued, so `download` follows `download_url` at once; both are
read-only and safe to repeat (a failed download needs a fresh link).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import requests

from .client import AlipayClient, transport_error
from .errors import AlipayError, GatewayHTTPError, MalformedResponse

METHOD = "alipay.data.dataservice.bill.downloadurl.query"
DOWNLOAD = "bill.download"
"""The `method` recorded on errors of the file download itself."""

_BILL_DATE = re.compile(r"\d{4}-\d{2}(-\d{2})?")
_ZIP_MAGIC = b"PK"


def download_url(client: AlipayClient, *, bill_date: date | str, bill_type: str = "trade") -> str:
    """The short-lived URL of a daily (`yyyy-MM-dd`) or monthly (`yyyy-MM`) bill.

    `bill_type` is "trade" (acquiring) or "signcustomer" (account movements). No bill yet gives a BusinessError
    (sub_code such as BILL_NOT_EXIST); today's bill never exists.

    Sample answer::

        {"code": "10000", "msg": "Success",
         "bill_download_url": "http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=X&userId=X&fileType=X&bizDates=X&downloadFileName=X&fileId=X"}
    """  # noqa: E501
    if isinstance(bill_date, datetime):
        raise TypeError("bill_date is a date, not a datetime")
    text = bill_date.isoformat() if isinstance(bill_date, date) else bill_date
    if not _BILL_DATE.fullmatch(text):
        raise ValueError("bill_date must be yyyy-MM-dd or yyyy-MM")
    if not bill_type:
        raise ValueError("bill_type is required")
    fields: dict[str, Any] = client.call(METHOD, {"bill_type": bill_type, "bill_date": text})
    url = fields.get("bill_download_url")
    if not isinstance(url, str) or not url:
        raise MalformedResponse(f"{METHOD}: the answer has no bill_download_url", method=METHOD)
    return url


def download(
    client: AlipayClient | requests.Session,
    url: str,
    *,
    timeout: tuple[float, float] = (5.0, 30.0),
) -> bytes:
    """Fetch the bill zip at `url` in one GET and return its bytes.

    Raises GatewayUnreachable / GatewayHTTPError (retry, with a new link if this one may have expired),
    OutcomeUnknown for a broken transfer, and MalformedResponse when the answer is not a zip (for example an
    expiry page). Uses the client's pooled session when given a client.
    """
    session = client.session if isinstance(client, AlipayClient) else client
    error: AlipayError | None = None
    try:
        answer = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        error = transport_error(DOWNLOAD, exc, timeout[1])
    if error is not None:
        raise error
    status = answer.status_code
    if status == 429 or status >= 500:
        raise GatewayHTTPError(f"{DOWNLOAD}: HTTP {status}", method=DOWNLOAD, status_code=status)
    if status != 200:
        raise MalformedResponse(f"{DOWNLOAD}: HTTP {status}", method=DOWNLOAD, status_code=status)
    content: bytes = answer.content
    if not content.startswith(_ZIP_MAGIC):
        raise MalformedResponse(
            f"{DOWNLOAD}: the answer is not a zip file", method=DOWNLOAD, status_code=status
        )
    return content
