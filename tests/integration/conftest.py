"""One running stack (sandbox, worker, beat, API) shared by the integration tests of a session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.stack import Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack(redis_server, keys, tmp_path_factory) -> Iterator[Stack]:
    # The broker in a database of its own, as in production: a test that flushes the store keeps its queues.
    broker = os.environ.get("TEST_BROKER_URL") or f"redis://127.0.0.1:{redis_server.port}/3"  # see rabbitmq_variant
    s = Stack(f"redis://127.0.0.1:{redis_server.port}/1", keys, tmp_path_factory.mktemp("stack"),
              extra_env={"CELERY_BROKER_URL": broker})
    try:
        s.start_sandbox()
        s.start_api()
        s.start_worker()
        s.start_beat()
        s.wait_ready()
    except BaseException:
        s.stop()
        raise
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").clear_faults()
