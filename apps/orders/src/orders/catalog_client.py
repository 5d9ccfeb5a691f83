"""What orders asks catalog (prices, reserve, release) and how each answer is read.

Every call is idempotent, so every call may be retried: prices are a read, and a reservation is
keyed by the order id at catalog (reserving the same order again reserves nothing more;
releasing again gives nothing more back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from shopfloor_common.client import ServiceClient, UpstreamResponse, UpstreamUnavailable
from shopfloor_common.contracts.catalog import MAX_PAGE_SIZE, Product, ProductPage, Reservation
from shopfloor_common.errors import Problem

log = logging.getLogger("orders.catalog")

CATALOG_RETRY_AFTER_SECONDS = 2

ReserveOutcome = Literal["reserved", "refused", "unavailable"]
ReleaseOutcome = Literal["released", "absent", "unavailable"]


@dataclass(frozen=True)
class ReserveResult:
    outcome: ReserveOutcome
    reason: str


def catalog_unavailable(reason: str) -> Problem:
    return Problem(
        503,
        f"catalog is unavailable ({reason}); no order was created, retry with the same Idempotency-Key",
        type_="catalog-unavailable",
        headers={"Retry-After": str(CATALOG_RETRY_AFTER_SECONDS)},
    )


def _problem_of(response: UpstreamResponse) -> dict[str, Any]:
    try:
        body = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def refusal_reason(response: UpstreamResponse) -> str:
    """Why catalog refused a reservation, naming the skus when it says which."""
    problem = _problem_of(response)
    problem_type = str(problem.get("type", ""))
    if problem_type.endswith("/insufficient-stock") and isinstance(problem.get("insufficient"), list):
        short = ", ".join(
            f"{item.get('sku')} (requested {item.get('requested')}, available {item.get('available')})"
            for item in problem["insufficient"]
            if isinstance(item, dict)
        )
        return f"insufficient stock: {short}"
    if problem_type.endswith("/product-not-found") and isinstance(problem.get("unknown_skus"), list):
        return "unknown sku: " + ", ".join(str(sku) for sku in problem["unknown_skus"])
    detail = str(problem.get("detail", "")) or response.body[:200].decode("utf-8", "replace")
    return f"catalog refused the reservation ({response.status}): {detail}"


class CatalogStock:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def products(self, skus: Sequence[str]) -> dict[str, Product]:
        """The products with these skus (at most MAX_PAGE_SIZE), by sku; unknown skus are absent.
        Raises a 503 Problem when catalog cannot answer."""
        assert len(skus) <= MAX_PAGE_SIZE
        try:
            response = await self.client.request(
                "GET", "/products", params={"skus": ",".join(skus), "limit": str(MAX_PAGE_SIZE)}
            )
        except UpstreamUnavailable as exc:
            raise catalog_unavailable(exc.reason) from None
        if response.status != 200:
            log.error("catalog answered %s to a price lookup: %s", response.status, response.body[:500])
            raise catalog_unavailable(f"it answered {response.status} to a price lookup")
        try:
            page = ProductPage.model_validate_json(response.body)
        except ValidationError:
            log.exception("catalog sent a product page orders cannot read")
            raise catalog_unavailable("it sent an unreadable product page") from None
        return {product.sku: product for product in page.items}

    async def reserve(self, order_id: str, lines: Sequence[tuple[str, int]]) -> ReserveResult:
        body = {"order_id": order_id, "items": [{"sku": sku, "quantity": quantity} for sku, quantity in lines]}
        try:
            response = await self.client.request("POST", "/reservations", json=body, idempotent=True)
        except UpstreamUnavailable as exc:
            return ReserveResult("unavailable", str(exc))
        if response.status in (200, 201):
            try:
                reservation = Reservation.model_validate_json(response.body)
            except ValidationError:
                log.exception("catalog sent a reservation orders cannot read")
                return ReserveResult("unavailable", "catalog sent an unreadable reservation")
            if reservation.status == "reserved":
                return ReserveResult("reserved", "stock reserved at catalog")
            # Only a cancel releases, and a cancelled order is never reserved again; say so loudly.
            log.error("catalog holds the reservation of PENDING order %s as released", order_id)
            return ReserveResult("refused", "catalog holds this order's reservation as released already")
        if response.status in (408, 429) or response.status >= 500:
            return ReserveResult("unavailable", f"catalog answered {response.status}")
        return ReserveResult("refused", refusal_reason(response))

    async def release(self, order_id: str) -> ReleaseOutcome:
        """`absent` means catalog has no reservation for the order (yet)."""
        try:
            response = await self.client.request("POST", f"/reservations/{order_id}/release", idempotent=True)
        except UpstreamUnavailable as exc:
            log.warning("releasing order %s: %s", order_id, exc)
            return "unavailable"
        if response.status == 200:
            return "released"
        if response.status == 404:
            return "absent"
        log.error("catalog answered %s to releasing order %s: %s", response.status, order_id, response.body[:500])
        return "unavailable"

    async def wait_ready(self, timeout_seconds: float, poll_seconds: float = 0.25) -> bool:
        """Whether catalog's /readyz says ready within the time given."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                if (await self.client.request("GET", "/readyz")).status == 200:
                    return True
            except UpstreamUnavailable:
                pass
            if time.monotonic() + poll_seconds > deadline:
                return False
            await asyncio.sleep(poll_seconds)
