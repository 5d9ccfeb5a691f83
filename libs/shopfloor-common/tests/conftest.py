"""Fixtures the shared library's test files have in common."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shopfloor_common.cache import RedisCache


@pytest.fixture
async def caches() -> AsyncIterator[list[RedisCache]]:
    """The Redis caches a test opens, closed after it (append each one)."""
    opened: list[RedisCache] = []
    yield opened
    for cache in opened:
        await cache.close()
