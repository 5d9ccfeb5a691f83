"""`shopfloor check-consistency`: does the shop's stock add up with its orders?

Checked only through the services' public HTTP APIs (the gateway's /api, or catalog and orders
directly), so a chaos experiment, a lab or a test can point it at any environment:

- stock: for every product, initial stock = current stock + units held by orders in a status
  that holds stock (CONFIRMED, PAID, SHIPPED, DELIVERED); and no stock below zero;
- no order has been PENDING for longer than a bound (the reconciler's period plus slack);
- no order id is listed twice;
- every order id a client was told about (the acknowledged file) exists, exactly once.

"Initial stock" is not something the services keep, so it is recorded beforehand:
`--snapshot FILE` writes {sku: stock + held} at a quiet moment, and `--initial-stock FILE` checks
against it later. A snapshot taken while orders are PENDING could be off by their units (their
reservations may or may not have happened), so it is refused until they have settled.

The check reads two lists one after the other, so it means something only while the shop is
quiet: run it after the traffic of an experiment has stopped. `settle_seconds` re-checks until the
answer is consistent or the time is up, for a shop that is still finishing PENDING orders or the
stock releases of cancelled ones (orders' reconciler retries both).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from shopfloor_common.contracts.catalog import MAX_PAGE_SIZE
from shopfloor_common.contracts.orders import HOLDS_STOCK

REQUEST_TIMEOUT_SECONDS = 10.0
# A gateway or service that is restarting answers 502/503/504 or refuses for a moment; a few tries
# keep a check run right after an experiment from failing on that alone.
REQUEST_ATTEMPTS = 4
RETRY_PAUSE_SECONDS = 1.0
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# An order list that moves while it is paged (a new order shifts every page by one) shows an
# order twice or not at all; it is read again this many times before giving up.
LISTING_ATTEMPTS = 3


class ConsistencyError(Exception):
    """The check could not be made (a service unreachable, an unexpected answer, a bad file)."""


@dataclass(frozen=True)
class Endpoints:
    """Where products and orders are listed: `<products_base>/products`, `<orders_base>/orders`."""

    products_base: str
    orders_base: str
    api_key: str | None = None

    @classmethod
    def through_gateway(cls, gateway_url: str, api_key: str | None = None) -> Endpoints:
        """`gateway_url` is the public API root, e.g. http://127.0.0.1:8000/api."""
        base = gateway_url.rstrip("/")
        return cls(base, base, api_key)

    @classmethod
    def direct(cls, catalog_url: str, orders_url: str, api_key: str | None = None) -> Endpoints:
        return cls(catalog_url.rstrip("/"), orders_url.rstrip("/"), api_key)

    def describe(self) -> str:
        if self.products_base == self.orders_base:
            return self.products_base
        return f"catalog {self.products_base}, orders {self.orders_base}"


@dataclass(frozen=True)
class OrderSummary:
    id: str
    status: str
    created_at: datetime
    units: Mapping[str, int]  # sku -> quantity over the order's lines


@dataclass(frozen=True)
class ShopState:
    stock: Mapping[str, int]
    orders: Sequence[OrderSummary]

    def units_in(self, statuses: Collection[str]) -> Counter[str]:
        units: Counter[str] = Counter()
        for order in self.orders:
            if order.status in statuses:
                units.update(order.units)
        return units

    @property
    def held(self) -> Counter[str]:
        return self.units_in(HOLDS_STOCK)

    @property
    def pending(self) -> list[OrderSummary]:
        return [order for order in self.orders if order.status == "PENDING"]


@dataclass(frozen=True)
class Violation:
    kind: str
    subject: str  # the sku or order id
    message: str


@dataclass
class ConsistencyReport:
    target: str
    products: int
    orders_by_status: Mapping[str, int]
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.violations

    def render(self) -> str:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(self.orders_by_status.items())) or "none"
        total = sum(self.orders_by_status.values())
        lines = [f"consistency of {self.target}: {self.products} products, {total} orders ({counts})"]
        if self.consistent:
            lines.append("CONSISTENT")
        else:
            lines.append(f"INCONSISTENT: {len(self.violations)} violation(s)")
            lines += [f"  {v.kind:<22} {v.subject}: {v.message}" for v in self.violations]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "consistent": self.consistent,
            "products": self.products,
            "orders_by_status": dict(self.orders_by_status),
            "violations": [asdict(v) for v in self.violations],
            "notes": self.notes,
        }


# --- reading the shop --------------------------------------------------------------------------------


class _Reader:
    def __init__(self, session: aiohttp.ClientSession, endpoints: Endpoints) -> None:
        self.session = session
        self.endpoints = endpoints

    async def get(self, url: str, params: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """(status, the JSON body of a 200 or the start of any other body) of a GET, tried again while
        the service is briefly away."""
        failure = ""
        for attempt in range(REQUEST_ATTEMPTS):
            if attempt:
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
            try:
                async with self.session.get(url, params=params) as response:
                    body = await response.read()
                    if response.status in RETRYABLE_STATUSES:
                        failure = f"answered {response.status}: {body[:300].decode(errors='replace')}"
                        continue
                    if response.status != 200:
                        return response.status, body[:300].decode(errors="replace")
                    try:
                        return response.status, orjson.loads(body)
                    except orjson.JSONDecodeError:
                        raise ConsistencyError(
                            f"GET {url} answered {response.status} with a body that is not JSON: {body[:200]!r}"
                        ) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ConsistencyError(f"GET {url} failed after {REQUEST_ATTEMPTS} attempts: {failure}")

    async def pages(self, url: str, what: str) -> tuple[list[dict[str, Any]], set[int]]:
        """Every item of a paged list, and the `total`s the pages reported (more than one: it moved)."""
        items: list[dict[str, Any]] = []
        totals: set[int] = set()
        offset = 0
        while True:
            status, page = await self.get(url, {"limit": str(MAX_PAGE_SIZE), "offset": str(offset)})
            if status != 200 or not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise ConsistencyError(f"GET {url} answered {status}, not a page of {what}: {str(page)[:300]}")
            batch = page["items"]
            items += batch
            totals.add(int(page.get("total", 0)))
            offset += len(batch)
            if not batch or offset >= int(page.get("total", 0)):
                return items, totals

    async def stock(self) -> dict[str, int]:
        products, _ = await self.pages(f"{self.endpoints.products_base}/products", "products")
        try:
            return {str(p["sku"]): int(p["stock"]) for p in products}
        except (KeyError, TypeError, ValueError) as exc:
            raise ConsistencyError(f"a product without a usable sku/stock: {exc}") from None

    async def orders(self) -> list[OrderSummary]:
        url = f"{self.endpoints.orders_base}/orders"
        for _ in range(LISTING_ATTEMPTS):
            raw, totals = await self.pages(url, "orders")
            if totals == {len(raw)}:
                break
        else:
            raise ConsistencyError(
                "the order list kept changing while it was read: run the check once the traffic has stopped"
            )
        return [_order_summary(order) for order in raw]

    async def order_exists(self, order_id: str) -> bool:
        status, _ = await self.get(f"{self.endpoints.orders_base}/orders/{order_id}")
        return status == 200


def _order_summary(order: Any) -> OrderSummary:
    try:
        created_at = datetime.fromisoformat(str(order["created_at"]))
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        units: Counter[str] = Counter()
        for line in order["items"]:
            units[str(line["sku"])] += int(line["quantity"])
        return OrderSummary(str(order["id"]), str(order["status"]), created_at, dict(units))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConsistencyError(f"an order that does not look like one ({exc}): {str(order)[:300]}") from None


@contextlib.asynccontextmanager
async def _reader(endpoints: Endpoints) -> AsyncIterator[_Reader]:
    headers = {"X-API-Key": endpoints.api_key} if endpoints.api_key else {}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS, connect=min(3.0, REQUEST_TIMEOUT_SECONDS))
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        yield _Reader(session, endpoints)


async def read_state(endpoints: Endpoints) -> ShopState:
    async with _reader(endpoints) as reader:
        orders = await reader.orders()
        stock = await reader.stock()
    return ShopState(stock, orders)


# --- judging it --------------------------------------------------------------------------------------


def evaluate(
    state: ShopState,
    *,
    target: str,
    initial_stock: Mapping[str, int] | None,
    max_pending_age_seconds: float,
    acknowledged: Collection[str] = (),
    now: datetime | None = None,
) -> ConsistencyReport:
    """The violations in `state`; pure, so the rules are testable without a shop."""
    now = now or datetime.now(UTC)
    report = ConsistencyReport(
        target=target, products=len(state.stock), orders_by_status=Counter(o.status for o in state.orders)
    )
    violations = report.violations
    held, pending_units = state.held, state.units_in({"PENDING"})

    for sku, stock in sorted(state.stock.items()):
        if stock < 0:
            violations.append(Violation("negative-stock", sku, f"stock is {stock}"))
    if initial_stock is None:
        report.notes.append("stock not checked: no initial stock given (take one with --snapshot first)")
    else:
        for sku, initial in sorted(initial_stock.items()):
            if sku not in state.stock:
                violations.append(
                    Violation("product-missing", sku, f"in the initial stock ({initial}) but no longer in catalog")
                )
                continue
            stock, units_held = state.stock[sku], held.get(sku, 0)
            difference = initial - (stock + units_held)
            if difference:
                hint = (
                    f"; {pending_units[sku]} unit(s) are in PENDING orders, whose reservations may not be settled"
                    if pending_units.get(sku)
                    else ""
                )
                direction = "missing" if difference > 0 else "too many"
                violations.append(
                    Violation(
                        "stock",
                        sku,
                        f"initial {initial} != stock {stock} + held {units_held} "
                        f"({abs(difference)} unit(s) {direction}){hint}",
                    )
                )
        unchecked = sorted(set(state.stock) - set(initial_stock))
        if unchecked:
            report.notes.append(f"not in the initial stock, not checked: {', '.join(unchecked)}")

    for order in state.pending:
        age = (now - order.created_at).total_seconds()
        if age > max_pending_age_seconds:
            violations.append(
                Violation(
                    "pending-too-long",
                    order.id,
                    f"PENDING for {age:.0f}s (bound {max_pending_age_seconds:g}s), since {order.created_at:%H:%M:%S}",
                )
            )

    listed = Counter(order.id for order in state.orders)
    for order_id, count in sorted(listed.items()):
        if count > 1:
            statuses = ", ".join(sorted(o.status for o in state.orders if o.id == order_id))
            violations.append(Violation("duplicate-order", order_id, f"listed {count} times ({statuses})"))

    for order_id in sorted(set(acknowledged)):
        if order_id not in listed:
            violations.append(
                Violation("acknowledged-missing", order_id, "acknowledged to a client but not among the orders")
            )
    if acknowledged:
        report.notes.append(f"{len(set(acknowledged))} acknowledged order id(s) checked")
    return report


async def check_consistency(
    endpoints: Endpoints,
    *,
    initial_stock: Mapping[str, int] | None = None,
    max_pending_age_seconds: float = 60.0,
    acknowledged: Collection[str] = (),
    settle_seconds: float = 0.0,
) -> ConsistencyReport:
    """Read the shop and judge it; while inconsistent, read again every second for up to
    `settle_seconds`. Raises ConsistencyError when it cannot read the shop."""
    deadline = time.monotonic() + settle_seconds
    while True:
        state = await read_state(endpoints)
        report = evaluate(
            state,
            target=endpoints.describe(),
            initial_stock=initial_stock,
            max_pending_age_seconds=max_pending_age_seconds,
            acknowledged=acknowledged,
        )
        if report.consistent or time.monotonic() >= deadline:
            break
        await asyncio.sleep(1.0)
    await _explain_missing(endpoints, report)
    return report


async def _explain_missing(endpoints: Endpoints, report: ConsistencyReport) -> None:
    """An acknowledged order missing from the list but readable by id is a listing bug, not a lost order."""
    missing = [v for v in report.violations if v.kind == "acknowledged-missing"]
    if not missing:
        return
    async with _reader(endpoints) as reader:
        for index, violation in enumerate(report.violations):
            if violation in missing and await reader.order_exists(violation.subject):
                report.violations[index] = Violation(
                    "order-not-listed", violation.subject, "readable by id but missing from the order list"
                )


@dataclass(frozen=True)
class Snapshot:
    initial_stock: dict[str, int]
    pending: list[str]  # ids of PENDING orders, which make the snapshot unsafe


async def take_snapshot(endpoints: Endpoints, *, settle_seconds: float = 0.0) -> Snapshot:
    """Initial stock as of now (stock + held, per sku); waits up to `settle_seconds` for PENDING
    orders to settle, and names them when they did not."""
    deadline = time.monotonic() + settle_seconds
    while True:
        state = await read_state(endpoints)
        pending = sorted(order.id for order in state.pending)
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(1.0)
    held = state.held
    return Snapshot({sku: stock + held.get(sku, 0) for sku, stock in sorted(state.stock.items())}, pending)


# --- files ---------------------------------------------------------------------------------------------


def read_initial_stock(path: Path) -> dict[str, int]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConsistencyError(f"cannot read the initial stock {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConsistencyError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(sku, str) and isinstance(n, int) and not isinstance(n, bool) and n >= 0 for sku, n in data.items()
    ):
        raise ConsistencyError(f'{path}: expected a JSON object of sku -> units >= 0, like {{"MUG-001": 40}}')
    return dict(data)


def write_initial_stock(path: Path, initial_stock: Mapping[str, int]) -> None:
    path.write_bytes(orjson.dumps(dict(initial_stock), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def read_acknowledged(path: Path) -> list[str]:
    """Order ids, one a line; blank lines and lines starting with # are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConsistencyError(f"cannot read the acknowledged ids {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# --- the command ---------------------------------------------------------------------------------------


def _endpoints(args: argparse.Namespace, default_edge_port: Callable[[], int]) -> Endpoints:
    api_key = args.api_key or os.environ.get("ADMIN_API_KEY") or None
    direct = (args.catalog_url, args.orders_url)
    if any(direct):
        if args.gateway_url or not all(direct):
            raise ConsistencyError("give either --gateway-url, or both --catalog-url and --orders-url")
        return Endpoints.direct(args.catalog_url, args.orders_url, api_key)
    gateway_url = args.gateway_url or f"http://127.0.0.1:{default_edge_port()}/api"
    return Endpoints.through_gateway(gateway_url, api_key)


def run_check_consistency(args: argparse.Namespace, *, default_edge_port: Callable[[], int]) -> int:
    """`shopfloor check-consistency`: 0 consistent (or snapshot written), 1 not, 2 could not check."""
    try:
        endpoints = _endpoints(args, default_edge_port)
        if args.snapshot is not None:
            if args.initial_stock is not None or args.acknowledged is not None:
                raise ConsistencyError("--snapshot only records the initial stock: check in a later run")
            return _snapshot(endpoints, args.snapshot, args.settle)
        initial_stock = read_initial_stock(args.initial_stock) if args.initial_stock is not None else None
        acknowledged = read_acknowledged(args.acknowledged) if args.acknowledged is not None else []
        report = asyncio.run(
            check_consistency(
                endpoints,
                initial_stock=initial_stock,
                max_pending_age_seconds=args.max_pending_age,
                acknowledged=acknowledged,
                settle_seconds=args.settle,
            )
        )
    except ConsistencyError as exc:
        print(f"shopfloor check-consistency: {exc}", file=sys.stderr)
        return 2
    print(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode() if args.json else report.render())
    return 0 if report.consistent else 1


def _snapshot(endpoints: Endpoints, path: Path, settle_seconds: float) -> int:
    snapshot = asyncio.run(take_snapshot(endpoints, settle_seconds=settle_seconds))
    if snapshot.pending:
        print(
            f"not written: {len(snapshot.pending)} order(s) still PENDING, whose stock may or may not be reserved "
            f"yet: {', '.join(snapshot.pending[:20])}{' ...' if len(snapshot.pending) > 20 else ''}; "
            "take the snapshot when they have settled (or give --settle SECONDS)",
            file=sys.stderr,
        )
        return 1
    write_initial_stock(path, snapshot.initial_stock)
    units = sum(snapshot.initial_stock.values())
    print(
        f"initial stock of {endpoints.describe()} written to {path}: {len(snapshot.initial_stock)} skus, {units} units"
    )
    return 0
