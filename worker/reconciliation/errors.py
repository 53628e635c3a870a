"""What can stop a reconciliation run, sorted by what to do about it.

    ReconciliationError        every failure of a bill reconciliation run; `str()` is one line for a person
    ├── BillNotAvailable       Alipay has no bill for that day (yet): BILL_NOT_EXIST; try again later
    ├── BillFormatError        the downloaded bill cannot be read, or its 合计 lines disagree with its rows
    └── ReconciliationBusy     another run holds the lock; nothing was done

Gateway failures (asking for the link, downloading the zip) are raised as they come, as
`worker.alipay.errors.AlipayError`: all of them are safe to retry with a new link.
"""

from __future__ import annotations

from datetime import date


class ReconciliationError(Exception):
    """A bill reconciliation run could not be completed; nothing was repaired and no report was written."""


class BillNotAvailable(ReconciliationError):
    """Alipay says there is no bill for the day (BILL_NOT_EXIST): too early, or a day before the account."""

    def __init__(self, day: date, sub_code: str = "BILL_NOT_EXIST") -> None:
        super().__init__(f"Alipay has no trade bill for {day.isoformat()} ({sub_code}); "
                         "a day's bill is ready the next morning (Beijing time)")
        self.day = day
        self.sub_code = sub_code


class BillFormatError(ReconciliationError):
    """The bill is not the zipped GBK CSV Alipay documents, or its totals contradict its rows."""


class ReconciliationBusy(ReconciliationError):
    """Another reconciliation run holds the lock: this one did nothing. Safe to try again later."""
