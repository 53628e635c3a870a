"""The page behind a `qr_code` URL: what a buyer sees after scanning, with Scan and Pay buttons.

Opening the page changes nothing; its buttons post to the control API (`/sandbox/trades/<no>/scan|pay`) with
`next` pointing back here, so the page works without JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from sandbox.context import current_sandbox

bp = Blueprint("buyer", __name__, template_folder="templates")


@bp.get("/qr/<token>")
def page(token: str) -> Any:
    view = current_sandbox().book.view_by_token(token)
    if view is None:
        return render_template("buyer.html", trade=None, token=token), 404
    return render_template("buyer.html", trade=view, token=token, error=request.args.get("error"))
