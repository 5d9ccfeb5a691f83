"""A per-client rate limit on /api/*, shared by every gateway pod through Redis when REDIS_URL is set.

Fixed windows rather than a moving window: a fixed-window hit is one Redis round trip (an INCR
with its expiry in one script) and a counter in memory, while a moving window keeps a list per
client. The cost is that a client can burst up to twice the limit across a window boundary,
which is acceptable for abuse protection.

The limiter is an optional dependency, like the cache: when its Redis is down every request is
let through (fail open) and one warning is logged per outage, and Redis is then left alone for
a short back-off so an outage costs one timeout every few seconds rather than one per request.
A Redis that refuses the configuration (AUTH password, TLS trust) is let through the same way but
reported as an error, the gauge redis_misconfigured{component="ratelimit"} and /readyz "degraded":
a prod without its rate limit is visible (shopfloor_common.redis_connection).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from prometheus_client import Counter
from redis.asyncio import ConnectionPool, Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from api_gateway.settings import GatewaySettings
from shopfloor_common.errors import problem_response
from shopfloor_common.redis_connection import RedisFailure, RedisHealth, create_pool

log = logging.getLogger("api_gateway.ratelimit")

RATE_LIMITED = Counter("rate_limited_requests_total", "Requests refused with 429 by the per-client rate limit.")
RATE_LIMIT_ERRORS = Counter(
    "rate_limit_errors_total", "Rate-limit checks that failed (storage down) and let the request through."
)

OUTAGE_BACKOFF_SECONDS = 2.0


class ClientRateLimiter:
    def __init__(self, item: RateLimitItem, storage: Storage, pool: ConnectionPool | None = None) -> None:
        self.item = item
        self.storage = storage
        self._strategy = FixedWindowRateLimiter(storage)
        self._pool = pool
        self.health = RedisHealth("ratelimit", log)
        self._skip_until = 0.0
        self._in_outage = False
        window = item.get_expiry()
        self.policy_header = f"{item.amount};w={window}"

    async def allow(self, client: str) -> bool:
        """Count one request of `client`; False when it is over the limit."""
        if self._in_outage and time.monotonic() < self._skip_until:
            return True
        try:
            allowed = await self._strategy.hit(self.item, client)
        except Exception as exc:  # any storage failure must degrade to "allowed", never to an error
            self._failed(exc)
            return True
        self.health.succeeded()
        if self._in_outage:
            self._in_outage = False
            log.warning("rate-limit storage reachable again, limiting resumed")
        return allowed

    async def seconds_until_reset(self, client: str) -> int:
        try:
            stats = await self._strategy.get_window_stats(self.item, client)
        except Exception as exc:  # same degradation as allow(): the window length is a safe answer
            self._failed(exc)
            return self.item.get_expiry()
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _failed(self, exc: Exception) -> None:
        RATE_LIMIT_ERRORS.inc()
        self._skip_until = time.monotonic() + OUTAGE_BACKOFF_SECONDS
        reason = self.health.failed(exc)  # a refused configuration is logged there, as an error
        if not self._in_outage:
            self._in_outage = True
            if reason is RedisFailure.UNAVAILABLE:
                log.warning("rate-limit storage unavailable, letting requests through: %s: %s", type(exc).__name__, exc)

    async def misconfiguration(self) -> str | None:
        """Why Redis refuses the limiter's configuration, or None (readiness reports it as "degraded")."""
        if self._pool is None:
            return None
        return await self.health.probe(Redis(connection_pool=self._pool))

    async def open(self) -> None:
        """Say at start when the shared storage is unreachable or refuses us, rather than at the first request."""
        if self._pool is None:
            return
        try:
            await Redis(connection_pool=self._pool).ping()
        except Exception as exc:  # reported, never raised: the limiter fails open
            self._in_outage = True
            if self.health.failed(exc) is RedisFailure.UNAVAILABLE:
                log.warning("rate-limit storage unreachable at start, letting requests through until it answers")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        timer = getattr(self.storage, "timer", None)  # MemoryStorage's expiry task
        if timer is not None:
            timer.cancel()


def create_rate_limiter(settings: GatewaySettings) -> ClientRateLimiter | None:
    item = settings.rate_limit_item
    if item is None:
        return None
    if not settings.redis_url:
        return ClientRateLimiter(item, MemoryStorage())
    # Our own pool, so its timeouts are REDIS_TIMEOUT_SECONDS (a blackholed Redis must not hold a
    # request for the OS connect timeout) and so the lifespan can close it.
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    pool = create_pool(
        settings.redis_url,
        password=password,
        ca_file=settings.redis_ca_file,
        timeout_seconds=settings.redis_timeout_seconds,
    )
    # connection_pool is a documented RedisStorage option, but its **options annotation omits the type.
    # The URL only picks the implementation: the pool (TLS, password) is what connects.
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage(settings.redis_url, implementation="redispy", key_prefix="shopfloor:ratelimit", **options)
    return ClientRateLimiter(item, storage, pool)


def client_address(scope: Scope, trusted_proxy_hops: int) -> str:
    """The address a limit is counted against: the X-Forwarded-For entry written by the outermost
    trusted proxy, else the socket peer. Entries left of it are whatever the client claimed."""
    if trusted_proxy_hops:
        forwarded = [value for name, value in scope["headers"] if name == b"x-forwarded-for"]
        if forwarded:
            hops = b",".join(forwarded).decode("latin-1").split(",")
            if len(hops) >= trusted_proxy_hops:
                candidate = hops[-trusted_proxy_hops].strip()
                if candidate:
                    return candidate
    peer = scope.get("client")
    return str(peer[0]) if peer else "unknown"


class RateLimitMiddleware:
    """Pure ASGI, so a refused request costs one storage hit and no routing, body or validation."""

    def __init__(self, app: ASGIApp, *, limiter: ClientRateLimiter, trusted_proxy_hops: int, prefix: str) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted_proxy_hops = trusted_proxy_hops
        self.prefix = prefix
        self.prefix_slash = prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith(self.prefix_slash) or path == self.prefix):
            await self.app(scope, receive, send)
            return
        client = client_address(scope, self.trusted_proxy_hops)
        if await self.limiter.allow(client):
            await self.app(scope, receive, send)
            return
        RATE_LIMITED.inc()
        retry_after = await self.limiter.seconds_until_reset(client)
        item = self.limiter.item
        response = problem_response(
            429,
            f"more than {item.amount} requests in {item.get_expiry()}s from this client; retry after {retry_after}s",
            type_="rate-limited",
            title="Too many requests",
            headers={
                "Retry-After": str(retry_after),
                "RateLimit-Policy": self.limiter.policy_header,
                "RateLimit-Limit": str(item.amount),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry_after),
            },
        )
        await response(scope, receive, send)
