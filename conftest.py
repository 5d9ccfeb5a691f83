"""Fixtures every suite may use: real PostgreSQL and Redis, each test on its own database, and a
Redis of its own with TLS and a password, as ElastiCache runs.

PostgreSQL and Redis are real servers (TEST_DATABASE_URL / TEST_REDIS_URL, defaulting to
127.0.0.1); the TLS Redis is a redis-server started here. Without them a test that needs them is
skipped with a message saying how to provide them, except under CI=true, where it fails: CI must
never go green by skipping.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def _redis_url_of_this_worker(url: str) -> str:
    """Under pytest-xdist each worker flushes a Redis database of its own (the one after the base
    database for gw0, and so on), so workers never empty each other's data."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, database = url.rpartition("/")
    return f"{base}/{(int(database or 0) + 1 + int(worker[2:])) % 16}"


# Set back into the environment, so suites that read TEST_REDIS_URL themselves get the same one.
TEST_REDIS_URL = os.environ["TEST_REDIS_URL"] = _redis_url_of_this_worker(
    os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_dependency(what: str, how: str) -> None:
    """Skip on a developer's machine, fail in CI."""
    message = f"{what} is not reachable. {how}"
    if IN_CI:
        pytest.fail(message + " (CI=true: failing instead of skipping)")
    pytest.skip(message)


async def _admin_execute(sql: str) -> None:
    import asyncpg  # imported here so SQLite-only runs do not need the server

    dsn = TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"shopfloor_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        missing_dependency(
            f"PostgreSQL at {TEST_DATABASE_URL} ({exc})",
            "Start PostgreSQL 15+ on 127.0.0.1:5432 (trust auth for user postgres) "
            "or set TEST_DATABASE_URL=postgresql+asyncpg://user:pass@host:port/db.",
        )
    base, _, _ = TEST_DATABASE_URL.rpartition("/")
    yield f"{base}/{name}"
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/test.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run a test once on SQLite and once on PostgreSQL: the repository logic must hold on both."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A Redis database emptied before and after the test."""
    from redis.asyncio import Redis

    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        await client.flushdb()
    except OSError as exc:
        await client.aclose()
        missing_dependency(
            f"Redis at {TEST_REDIS_URL} ({exc})",
            "Start Redis 7 on 127.0.0.1:6379 or set TEST_REDIS_URL=redis://host:port/db.",
        )
    except Exception as exc:
        await client.aclose()
        missing_dependency(f"Redis at {TEST_REDIS_URL} ({exc})", "Set TEST_REDIS_URL to a reachable Redis.")
    yield TEST_REDIS_URL
    await client.flushdb()
    await client.aclose()


# --- Redis with TLS and AUTH, as ElastiCache runs it -------------------------------------------


@dataclass(frozen=True)
class TlsRedis:
    """A redis-server on 127.0.0.1 that speaks TLS only and requires `password`. Its certificate is
    for the IP address 127.0.0.1 only (not "localhost"), signed by `ca_file`; `other_ca_file` is a
    CA that signed nothing of it."""

    port: int
    password: str
    ca_file: Path
    other_ca_file: Path

    def url(self, password: str | None = None, host: str = "127.0.0.1") -> str:
        credentials = f":{password}@" if password else ""
        return f"rediss://{credentials}{host}:{self.port}/0"

    def client_options(self) -> dict[str, object]:
        return {"password": self.password, "ssl_ca_certs": str(self.ca_file), "socket_timeout": 2}


def _write_certificates(folder: Path) -> tuple[Path, Path, Path, Path]:
    """A throwaway CA, a server certificate it signs (IP 127.0.0.1), and an unrelated CA."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey,
                    *, ca: bool) -> x509.Certificate:  # fmt: skip
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    ca_key, other_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    paths = (folder / "ca.pem", folder / "server.pem", folder / "server-key.pem", folder / "other-ca.pem")
    paths[0].write_bytes(pem(certificate("test CA", ca_key, "test CA", ca_key, ca=True)))
    paths[1].write_bytes(pem(certificate("redis", server_key, "test CA", ca_key, ca=False)))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths[3].write_bytes(pem(certificate("unrelated CA", other_key, "unrelated CA", other_key, ca=True)))
    return paths


@pytest.fixture(scope="session")
def tls_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    import redis

    from shopfloor_common.localserver import free_port

    server = shutil.which("redis-server")
    if server is None:
        missing_dependency("redis-server", "Install Redis 7 built with TLS (apt-get install redis-server).")
    assert server is not None
    folder = tmp_path_factory.mktemp("tls-redis")
    ca, certificate, key, other_ca = _write_certificates(folder)
    tls = TlsRedis(port=free_port(), password=uuid.uuid4().hex, ca_file=ca, other_ca_file=other_ca)
    log = (folder / "redis.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (an argument list, no shell)
        [server, "--port", "0", "--tls-port", str(tls.port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(certificate), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
         "--tls-auth-clients", "no", "--requirepass", tls.password, "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=tls.port, ssl=True, **tls.client_options())  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    try:
        while True:
            if process.poll() is not None:
                output = (folder / "redis.log").read_text(errors="replace")
                if "TLS" in output and ("not" in output or "support" in output):
                    missing_dependency("redis-server with TLS", f"Use a redis-server built with TLS:\n{output}")
                pytest.fail(f"redis-server with TLS did not start:\n{output}")
            try:
                client.ping()
                break
            except (redis.ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail("redis-server with TLS did not answer PING within 10 s")
                time.sleep(0.05)
        yield tls
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def tls_redis(tls_redis_server: TlsRedis) -> Iterator[TlsRedis]:
    """The TLS Redis, emptied before and after the test."""
    import redis

    options = tls_redis_server.client_options()
    client = redis.Redis(host="127.0.0.1", port=tls_redis_server.port, ssl=True, **options)  # type: ignore[arg-type]
    client.flushall()
    yield tls_redis_server
    client.flushall()
    client.close()


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Whole test modules go to one worker (their module-scoped stacks start once), and the suites
    that share a session-wide workspace (terraform's initialised providers, the built images) each
    go whole to one worker, so nothing expensive is done twice.

    The longest scope is handed out first: the lab READMEs (one lab shop, every local-stack lab in
    turn: minutes of one worker, mostly waiting on the shop) would otherwise come in xdist's order
    (most tests first) and, started late, run alone at the end of the suite."""
    from xdist.scheduler import LoadScopeScheduling

    shared = ("tests/terraform/", "tests/images/")
    first = ("tests/labs/test_lab_docs.py",)

    class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            for folder in shared:
                if path.startswith(folder):
                    return folder
            scope: str = super()._split_scope(nodeid)
            return scope

        def _assign_work_unit(self, node: object) -> None:
            for scope in reversed(first):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return SuiteScheduling(config, log)
