"""Liveness, readiness and the draining state that SIGTERM switches on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shopfloor_common.errors import problem_response

ReadinessCheck = Callable[[], Awaitable[None]]
"""Raises (any exception) when the dependency it checks cannot serve now."""

DegradationProbe = Callable[[], Awaitable[str | None]]
"""Says why an optional dependency is not being used (e.g. Redis refusing the password), or None.
A degraded service still serves: it stays ready, and /readyz says what it runs without."""

log = logging.getLogger("shopfloor.health")


@dataclass
class Lifecycle:
    """Process-wide state the health endpoints report."""

    draining: bool = False
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    degradations: dict[str, DegradationProbe] = field(default_factory=dict)
    check_timeout_seconds: float = 2.0

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    def add_degradation(self, name: str, probe: DegradationProbe) -> None:
        self.degradations[name] = probe

    async def degraded(self) -> dict[str, str]:
        async def run(name: str, probe: DegradationProbe) -> tuple[str, str | None]:
            try:
                return name, await asyncio.wait_for(probe(), self.check_timeout_seconds)
            except TimeoutError:
                return name, None  # slow is an outage, not a misconfiguration: the probe's own timeout decides

        results = await asyncio.gather(*(run(n, p) for n, p in self.degradations.items()))
        return {name: reason for name, reason in results if reason is not None}

    def begin_draining(self) -> None:
        if not self.draining:
            log.info("draining: /readyz now answers 503")
        self.draining = True

    async def failing_checks(self) -> dict[str, str]:
        async def run(name: str, check: ReadinessCheck) -> tuple[str, str | None]:
            try:
                await asyncio.wait_for(check(), self.check_timeout_seconds)
            except TimeoutError:
                return name, f"no answer within {self.check_timeout_seconds}s"
            except Exception as exc:  # a check may fail in any way; all of them mean "not ready"
                return name, f"{type(exc).__name__}: {exc}"[:300]
            return name, None

        results = await asyncio.gather(*(run(n, c) for n, c in self.checks.items()))
        return {name: reason for name, reason in results if reason is not None}


def health_router(lifecycle: Lifecycle) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/livez", summary="The process is alive")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @router.get(
        "/readyz",
        summary="The service can serve now",
        responses={503: {"description": "Draining, or a required dependency is missing"}},
    )
    async def readyz() -> JSONResponse:
        if lifecycle.draining:
            failing = {"shutdown": "SIGTERM received; finishing in-flight requests"}
        else:
            failing = await lifecycle.failing_checks()
        degraded = await lifecycle.degraded() if lifecycle.degradations else {}
        extra = {"degraded": degraded} if degraded else {}
        if failing:
            return problem_response(
                503, "not ready: " + ", ".join(sorted(failing)), type_="not-ready", failing=failing, **extra
            )
        return JSONResponse({"status": "ready", "checks": sorted(lifecycle.checks), **extra})

    return router
