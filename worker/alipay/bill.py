"""Reconciliation bills: ask alipay.data.dataservice.bill.downloadurl.query for a link, then fetch the zip.

The link expires about 30 seconds after it is issued, so `download` follows `download_url` at once; both are
read-only and safe to repeat (a failed download needs a fresh link).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

import urllib3
from requests.utils import requote_uri

from .client import AlipayClient, exchange
from .errors import GatewayHTTPError, MalformedResponse, OutcomeUnknown

METHOD = "alipay.data.dataservice.bill.downloadurl.query"
DOWNLOAD = "bill.download"
"""The `method` recorded on errors of the file download itself."""

MAX_REDIRECTS = 30
"""Redirects the download follows (a bill link may redirect); the gateway's own calls follow none."""

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
    client: AlipayClient | urllib3.PoolManager,
    url: str,
    *,
    timeout: tuple[float, float] = (5.0, 30.0),
) -> bytes:
    """Fetch the bill zip at `url` in one GET and return its bytes.

    Raises GatewayUnreachable / GatewayHTTPError (retry, with a new link if this one may have expired),
    OutcomeUnknown for a broken transfer, and MalformedResponse when the answer is not a zip (for example an
    expiry page). Uses the client's connection pool when given a client. Redirects are followed (up to
    MAX_REDIRECTS), each hop one GET without retry.
    """
    pool = client.pool if isinstance(client, AlipayClient) else client
    url = requote_uri(url)  # normalised: unreserved characters unescaped, the rest quoted once
    for _ in range(MAX_REDIRECTS + 1):
        answer, content = exchange(pool, DOWNLOAD, "GET", url, timeout=timeout)
        location = answer.get_redirect_location()
        if not location:
            break
        url = urljoin(url, requote_uri(location))
    else:
        raise OutcomeUnknown(f"{DOWNLOAD}: more than {MAX_REDIRECTS} redirects", method=DOWNLOAD)
    status = answer.status
    if status == 429 or status >= 500:
        raise GatewayHTTPError(f"{DOWNLOAD}: HTTP {status}", method=DOWNLOAD, status_code=status)
    if status != 200:
        raise MalformedResponse(f"{DOWNLOAD}: HTTP {status}", method=DOWNLOAD, status_code=status)
    if not content.startswith(_ZIP_MAGIC):
        raise MalformedResponse(
            f"{DOWNLOAD}: the answer is not a zip file", method=DOWNLOAD, status_code=status
        )
    return content
