"""The reconciler: finishes what a checkout or a cancel could not.

Every RECONCILE_INTERVAL_SECONDS it claims the orders whose `reconcile_after` has come and, for
each: a PENDING order (its checkout crashed after the commit, or catalog did not answer) gets
its reservation sent again, which catalog answers idempotently, so the order becomes CONFIRMED or
REJECTED without ever being reserved twice; an order whose stock release is not confirmed gets
the release sent again. It runs in every replica; claims make that safe (see
OrderRepository.claim_due).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta

from orders.metrics import PENDING_OLDEST_AGE, RECONCILED, RELEASES_PENDING
from orders.repository import OrderRepository
from orders.service import OrderService
from orders.settings import OrdersSettings
from shopfloor_common.db import utcnow
from shopfloor_common.logs import request_id_var

log = logging.getLogger("orders.reconciler")

CONCURRENT_ORDERS = 8


class Reconciler:
    def __init__(self, service: OrderService, orders: OrderRepository, settings: OrdersSettings) -> None:
        self.service = service
        self.orders = orders
        self.settings = settings
        # Longer than working on a claimed order can take, so another replica does not take it
        # over midway; if it does anyway, catalog's idempotency keeps it harmless.
        self.lease = timedelta(
            seconds=settings.pending_timeout_seconds + settings.catalog_timeout_seconds * settings.catalog_max_attempts
        )

    async def run_once(self) -> int:
        """One pass; returns how many orders it worked on."""
        # One request id per pass: the events it writes and the calls it makes to catalog share it.
        token = request_id_var.set(f"reconcile-{uuid.uuid4().hex[:16]}")
        try:
            now = utcnow()
            order_ids = await self.orders.claim_due(now, self.settings.reconcile_batch_size, now + self.lease)
            if order_ids:
                limit = asyncio.Semaphore(CONCURRENT_ORDERS)

                async def work_on(order_id: str) -> None:
                    async with limit:
                        await self._reconcile(order_id)

                await asyncio.gather(*(work_on(order_id) for order_id in order_ids))
            await self._measure()
            return len(order_ids)
        finally:
            request_id_var.reset(token)

    async def _reconcile(self, order_id: str) -> None:
        try:
            row = await self.orders.get(order_id)
            if row.status == "PENDING":
                age = (utcnow() - row.created_at).total_seconds()
                reserved = await self.service.reserve(row)
                if reserved.status == "PENDING":
                    await self.orders.schedule(order_id, utcnow() + self.service.retry_delay)
                    outcome = "unavailable"
                else:
                    outcome = reserved.status.lower()
                    log.info("finished order %s, PENDING for %.1fs: %s", order_id, age, reserved.status)
            elif row.release_pending:
                outcome = await self.service.release(row)
            else:
                await self.orders.unschedule(order_id)
                outcome = "nothing_to_do"
        except Exception:
            # One order's trouble must not stop the others; its lease expires and it comes back.
            log.exception("reconciling order %s failed", order_id)
            outcome = "error"
        RECONCILED.labels(outcome).inc()

    async def _measure(self) -> None:
        oldest, releasing = await self.orders.backlog()
        PENDING_OLDEST_AGE.set((utcnow() - oldest).total_seconds() if oldest is not None else 0.0)
        RELEASES_PENDING.set(releasing)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop` is set; the first pass at once, which after a restart
        picks up what the previous process left behind."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("reconciler pass failed; trying again in %ss", self.settings.reconcile_interval_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.reconcile_interval_seconds)
