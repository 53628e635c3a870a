"""Run the integration suite again with RabbitMQ as the Celery broker (Redis stays the store).

`make test` calls this after the main run. It uses a vhost of its own on the RabbitMQ at 127.0.0.1:5672
(created with rabbitmqctl and deleted afterwards), so it never touches anyone else's queues; when no RabbitMQ
answers, it says so and skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid

HOST, PORT = "127.0.0.1", 5672


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=2):
            return True
    except OSError:
        return False


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def main() -> int:
    if not rabbitmq_answers():
        print(f"RabbitMQ variant skipped: nothing answers on {HOST}:{PORT}.")
        return 0
    if shutil.which("rabbitmqctl") is None:
        print("RabbitMQ variant skipped: RabbitMQ answers but rabbitmqctl is missing to make a private vhost.")
        return 0
    vhost = f"alipay-worker-test-{uuid.uuid4().hex[:8]}"
    try:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"RabbitMQ variant skipped: could not create a vhost ({exc}).")
        return 0
    print(f"RabbitMQ variant: integration tests with CELERY_BROKER_URL=amqp://guest:***@{HOST}:{PORT}/{vhost}")
    env = dict(os.environ, TEST_BROKER_URL=f"amqp://guest:guest@{HOST}:{PORT}/{vhost}")
    try:
        return subprocess.call([sys.executable, "-m", "pytest", "tests/integration", "-m", "not redis_broker",
                                "-p", "no:cacheprovider", *sys.argv[1:]], env=env)
    finally:
        try:
            rabbitmqctl("delete_vhost", vhost)
        except (subprocess.SubprocessError, OSError):
            print(f"could not delete the vhost {vhost}")


if __name__ == "__main__":
    raise SystemExit(main())
