"""How a view finds the sandbox it belongs to (one per Flask app, in `app.extensions`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from sandbox.core import Sandbox

EXTENSION = "sandbox"


def current_sandbox() -> Sandbox:
    sandbox: Sandbox = current_app.extensions[EXTENSION]
    return sandbox
