"""Every tunable of the sandbox in one place, each with its unit."""

from __future__ import annotations

PORT = 10087
"""TCP port `python -m sandbox` listens on when neither `--port` nor `SANDBOX_PORT` is given."""

HOST = "127.0.0.1"
"""Interface `python -m sandbox` binds when `--host` is not given."""

APP_ID = "2021000000000001"
"""The app id the sandbox registers when `SANDBOX_APP_ID` is unset (the project's development app id)."""

APP_PUBLIC_KEY_FILE = "var/keys/app_public_key.pem"
"""Where the registered app's public key is read from when `SANDBOX_APP_PUBLIC_KEY_FILE` is unset."""

PRIVATE_KEY_FILE = "var/keys/alipay_private_key.pem"
"""Where the sandbox's own signing key is read from when `SANDBOX_PRIVATE_KEY_FILE` is unset."""

SELLER_ID = "2088102177846880"
"""The merchant's Alipay user id (PID) in notifications and bills, unless `SANDBOX_SELLER_ID` is set."""

BUYER_ID = "2088722000000001"
"""The Alipay user id of the sandbox's buyer, unless a scan or pay names another."""

BUYER_LOGON_ID = "buyer@sandbox.com"
"""The sandbox buyer's account; answers show it masked (`buy***@sandbox.com`) as Alipay does."""

PRECREATE_TIMEOUT = "2h"
"""How long a precreated QR code can be paid when the request gives neither timeout_express nor
qr_code_timeout_express (the face-to-face default)."""

NOTIFY_BACKOFF_S = (2, 5, 15, 60, 240, 600, 600, 3600, 7200, 21600, 54000)
"""Seconds of sandbox time between a failed notification attempt and the next one; after the last the
notification is given up. Alipay's documented tail (4m, 10m, 10m, 1h, 2h, 6h, 15h) preceded by quick retries."""

NOTIFY_TIMEOUT_S = 5.0
"""Seconds (real time) a notification attempt waits for the merchant's answer."""

NOTIFY_WORKERS = 8
"""Notification attempts in flight at once."""

BILL_URL_TTL_S = 30
"""Seconds of sandbox time a bill download URL stays valid (Alipay's links expire after 30 s)."""

TICK_S = 0.5
"""Longest real-time pause of the background thread between two looks at expiries and due notifications."""

CALL_LOG_SIZE = 10_000
"""Gateway calls kept for `GET /sandbox/calls`; the oldest are dropped first."""

NOTIFICATION_LOG_SIZE = 10_000
"""Finished notifications kept for `GET /sandbox/notifications`; pending ones are always kept."""
