"""Our own Alipay client pointed at a stack's sandbox, for tests that set up gateway state directly."""

from __future__ import annotations

from tests.integration.stack import APP_ID, Stack
from worker.alipay.client import AlipayClient


def client_for(stack: Stack) -> AlipayClient:
    return AlipayClient(f"{stack.sandbox}/gateway.do", APP_ID, stack.keys.app, stack.keys.alipay.public_key())
