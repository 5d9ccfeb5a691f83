"""Fixtures the shared library's test files have in common."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from shopfloor_common.cache import RedisCache


@pytest.fixture
async def caches() -> AsyncIterator[list[RedisCache]]:
    """The Redis caches a test opens, closed after it (append each one)."""
    opened: list[RedisCache] = []
    yield opened
    for cache in opened:
        await cache.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging() (create_service_app) rewires the root logger; later tests (and pytest's
    own capture) need it back. Use it from a test file that builds service apps."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    yield
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
