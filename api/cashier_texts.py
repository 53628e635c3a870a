"""Every text of the cashier page, in Chinese and English; `language()` picks one for a request.

Keys are shared by both languages. `{time}`, `{amount}` and `{total}` are filled in by the page's script.
"""

from __future__ import annotations

from flask import Request

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "html_lang": "en",
        "title": "Pay with Alipay",
        "scan": "Scan with Alipay to pay",
        "scanned": "Scanned. Confirm the payment in Alipay.",
        "preparing": "Preparing the QR code…",
        "qr_alt": "Alipay QR code for this order",
        "amount": "Amount",
        "store": "Store",
        "order": "Order no.",
        "expires_in": "Expires in {time}",
        "days": "d",
        "expired": "This QR code has expired.",
        "paid": "Payment received",
        "paid_note": "Thank you. You may close this page.",
        "closed": "This order is closed",
        "closed_note": "It can no longer be paid. Ask the cashier for a new QR code.",
        "refunded": "Refunded",
        "refunded_note": "¥{amount} of ¥{total} has been refunded.",
        "not_found": "Order not found",
        "not_found_note": "No order with this number is known here. Check the link, or ask the cashier.",
    },
    "zh": {
        "html_lang": "zh-CN",
        "title": "支付宝付款",
        "scan": "打开支付宝扫一扫付款",
        "scanned": "已扫码，请在支付宝中确认付款",
        "preparing": "正在生成二维码…",
        "qr_alt": "本订单的支付宝付款码",
        "amount": "金额",
        "store": "门店",
        "order": "订单号",
        "expires_in": "剩余付款时间 {time}",
        "days": "天",
        "expired": "二维码已过期",
        "paid": "支付成功",
        "paid_note": "谢谢惠顾，可以关闭本页面。",
        "closed": "订单已关闭",
        "closed_note": "此订单已无法付款，请向收银员索取新的二维码。",
        "refunded": "已退款",
        "refunded_note": "已退款 ¥{amount}（订单金额 ¥{total}）。",
        "not_found": "找不到订单",
        "not_found_note": "没有这个订单号的订单，请检查链接或咨询收银员。",
    },
}


def language(request: Request) -> str:
    """`?lang=zh|en` when given; else the first of the buyer's `Accept-Language` (by quality) that is zh* or
    en*, so `zh-CN,en` is Chinese and `en,zh` English; English when neither appears."""
    asked = request.args.get("lang", "").lower()
    if asked in LANGUAGES:
        return asked
    for tag, _quality in request.accept_languages:  # highest quality first
        primary = tag.lower().replace("_", "-").split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE
