"""The cashier page in a real headless Chromium: it shows the order, then turns paid and refunded by itself.

Uses Debian's Chromium (/usr/bin/chromium; `make test` installs it when it can), never a browser downloaded by
Playwright, and skips when it is absent. Screenshots go to a temporary folder; with UPDATE_SCREENSHOTS=1 (or
when the file is missing) they replace docs/cashier.png and docs/cashier-paid.png, which README.md shows.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.stack import ROOT, Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DOCS = ROOT / "docs"
WAIT_MS = 20_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: install Debian's "
                                                                "chromium package (make test does so as root)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[str], tuple[Page, list[str]]]]:
    """Opens a phone-sized page in a fresh context; returns it with the list its script errors go to."""
    contexts = []

    def open_(locale: str) -> tuple[Page, list[str]]:
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, locale=locale)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(f"{message.text} {message.location.get('url')}")
                if message.type == "error" else None)
        return page, errors

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    def save(page: Page, name: str) -> Path:
        target = DOCS / name
        if os.environ.get("UPDATE_SCREENSHOTS") != "1" and target.exists():
            target = tmp_path / name
        target.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(target))
        return target

    return save


def _issued_order(stack: Stack, amount: str, subject: str) -> str:
    otn = "CASH" + uuid.uuid4().hex[:16]
    response = stack.call("POST", "/qrcode", data=dict(totalAmount=amount, subject=subject, storeId="store_1",
                                                       timeoutExpress="15m", outTradeNo=otn))
    assert response.status_code in (200, 202), response.text
    assert stack.job(response.json()["job_id"])["status"] == "succeeded"
    return otn


def test_the_page_turns_paid_then_refunded_without_a_reload(browser: Browser, stack: Stack, open_page,
                                                            screenshot) -> None:
    otn = _issued_order(stack, "88.80", "Pour-over coffee")
    page, errors = open_page("en-US")
    page.goto(f"{stack.api}/orders/{otn}/pay")

    expect(page.locator("#view-pending")).to_be_visible()
    expect(page.locator("#amount")).to_have_text("¥88.80")
    expect(page.locator("#subject")).to_have_text("Pour-over coffee")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^Expires in 1[45]:\d\d$"))
    page.wait_for_function("() => { const qr = document.getElementById('qr'); return qr.complete && "
                           "qr.naturalWidth > 0; }", timeout=WAIT_MS)
    page.evaluate("window.samePage = true")
    screenshot(page, "cashier.png")

    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300
    expect(page.locator("#view-paid")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#view-pending")).to_be_hidden()
    expect(page.locator("#view-paid")).to_contain_text("Payment received")
    assert page.evaluate("window.samePage === true"), "the page was reloaded"
    screenshot(page, "cashier-paid.png")

    assert stack.refund(otn, "88.80", f"{otn}R1").status_code == 202
    expect(page.locator("#view-refunded")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#refunded-note")).to_have_text("¥88.80 of ¥88.80 has been refunded.")
    assert page.evaluate("window.samePage === true"), "the page was reloaded"
    assert errors == []


def test_the_page_speaks_chinese_and_sees_the_scan(browser: Browser, stack: Stack, open_page) -> None:
    otn = _issued_order(stack, "0.50", "测试商品")
    page, errors = open_page("zh-CN")
    page.goto(f"{stack.api}/orders/{otn}/pay")
    expect(page.locator("#scan-hint")).to_have_text("打开支付宝扫一扫付款")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^剩余付款时间 1[45]:\d\d$"))

    assert stack.sandbox_post(f"/sandbox/trades/{otn}/scan").status_code < 300
    expect(page.locator("#scan-hint")).to_have_text("已扫码，请在支付宝中确认付款", timeout=WAIT_MS)
    assert errors == []
