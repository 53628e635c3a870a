"""One sandbox: its clock, trades, notifier, faults, call log and bill links, plus the background thread
that closes expired trades and delivers due notifications."""

from __future__ import annotations

import logging
import threading

from sandbox import defaults
from sandbox.bill import BillLinks
from sandbox.calls import CallLog
from sandbox.clock import SandboxClock
from sandbox.config import SandboxConfig
from sandbox.faults import FaultPlan
from sandbox.notifier import Notifier
from sandbox.trades import TradeBook

log = logging.getLogger(__name__)


class Sandbox:
    """Everything the views share. Each part has its own lock; none is held while another part is called."""

    def __init__(self, config: SandboxConfig, clock: SandboxClock | None = None) -> None:
        self.config = config
        self.clock = clock or SandboxClock()
        self.faults = FaultPlan()
        self.calls = CallLog()
        self.bills = BillLinks()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.notifier = Notifier(self.clock, config.private_key, config.app_id, self.faults, self.wake,
                                 backoff_s=config.notify_backoff_s, timeout_s=config.notify_timeout_s)
        self.book = TradeBook(self.clock, self._emit, seller_id=config.seller_id)
        self.clock.on_advance(self.wake)

    def _emit(self, url: str, fields: dict[str, str]) -> None:
        self.notifier.enqueue(url, fields)

    def wake(self) -> None:
        """Ask the background thread to look at expiries and due notifications now."""
        self._wake.set()

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-background", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and abandon notification attempts not yet started."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.notifier.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.book.sweep()
                self.notifier.run_due()
            except Exception:
                log.exception("sandbox background pass failed")
            now = self.clock.now()
            upcoming = [t for t in (self.notifier.next_due(), self.book.next_expiry()) if t is not None]
            pause = defaults.TICK_S
            if upcoming:
                pause = min(pause, max(0.01, (min(upcoming) - now).total_seconds()))
            self._wake.wait(pause)
