"""`shopfloor check-consistency` against a small real HTTP shop (aiohttp.web on a loopback port) that
lists products and orders the way catalog, orders and the gateway do, paged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from shopfloor.cli import main
from shopfloor.measure import check_consistency as consistency
from shopfloor.measure.check_consistency import Endpoints, OrderSummary, ShopState, check_consistency, evaluate
from shopfloor_common.localserver import free_port

API_KEY = "consistency-key-0123456789"


def order(order_id: str, status: str, units: dict[str, int], age_seconds: float = 1.0) -> dict[str, Any]:
    created = (datetime.now(UTC) - timedelta(seconds=age_seconds)).isoformat()
    lines = [
        {"sku": sku, "name": sku, "quantity": n, "unit_price_cents": 100, "line_total_cents": 100 * n}
        for sku, n in units.items()
    ]
    return {"id": order_id, "status": status, "items": lines, "created_at": created, "updated_at": created}


class FakeShop:
    """Products and orders as the services list them. `prefix` is "/api" to look like the gateway;
    `after_orders_page` runs after each page of orders is served, to change the shop mid-check."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.stock: dict[str, int] = {"MUG-001": 37, "KETTLE-01": 12}
        self.orders: list[dict[str, Any]] = [
            order("ord-1", "CONFIRMED", {"MUG-001": 2}),
            order("ord-2", "PAID", {"MUG-001": 1}),
            order("ord-3", "REJECTED", {"KETTLE-01": 50}),
            order("ord-4", "CANCELLED", {"KETTLE-01": 1}),
        ]
        self.unlisted: dict[str, dict[str, Any]] = {}
        self.fail_status: int | None = None
        self.after_orders_page: Callable[[FakeShop], None] | None = None
        self.seen: list[tuple[str, str, str | None]] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"{self.prefix}/products", self.products_page)
        app.router.add_get(f"{self.prefix}/orders", self.orders_page)
        app.router.add_get(f"{self.prefix}/orders/{{order_id}}", self.one_order)
        return app

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        limit, offset = int(request.query["limit"]), int(request.query["offset"])
        assert limit <= 100
        page = {"items": items[offset : offset + limit], "total": len(items), "limit": limit, "offset": offset}
        return web.Response(body=orjson.dumps(page), content_type="application/json")

    async def products_page(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, request.query_string, request.headers.get("X-API-Key")))
        if self.fail_status is not None:
            return web.Response(status=self.fail_status, text="told to fail")
        products = [{"sku": sku, "name": sku, "stock": n} for sku, n in sorted(self.stock.items())]
        return self._page(request, products)

    async def orders_page(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, request.query_string, request.headers.get("X-API-Key")))
        response = self._page(request, self.orders)
        if self.after_orders_page is not None:
            self.after_orders_page(self)
        return response

    async def one_order(self, request: web.Request) -> web.StreamResponse:
        order_id = request.match_info["order_id"]
        known = {o["id"]: o for o in self.orders} | self.unlisted
        if order_id not in known:
            return web.Response(status=404, text="no such order")
        return web.Response(body=orjson.dumps(known[order_id]), content_type="application/json")


@pytest.fixture
async def start_shop() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(prefix: str = "") -> FakeShop:
        shop = FakeShop(prefix)
        runner = web.AppRunner(shop.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        shop.port = runner.addresses[0][1]
        runners.append(runner)
        return shop

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def shop(start_shop: Callable[..., Any]) -> FakeShop:
    started: FakeShop = await start_shop()
    return started


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consistency, "RETRY_PAUSE_SECONDS", 0.01)
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)


async def shopfloor(*argv: str | Path) -> int:
    """`shopfloor ...` in a thread, so the shop keeps answering on this test's event loop."""

    def call() -> int:
        with pytest.raises(SystemExit) as caught:
            main([str(arg) for arg in argv])
        return int(caught.value.code or 0)

    return await asyncio.to_thread(call)


def direct(shop: FakeShop) -> list[str]:
    return ["check-consistency", "--catalog-url", shop.url, "--orders-url", shop.url]


async def test_snapshot_records_stock_plus_held_and_an_untouched_shop_is_consistent(
    shop: FakeShop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    initial = tmp_path / "initial.json"
    assert await shopfloor(*direct(shop), "--snapshot", initial) == 0
    # MUG-001: 37 in stock + 2 (CONFIRMED) + 1 (PAID); REJECTED and CANCELLED orders hold nothing
    assert orjson.loads(initial.read_bytes()) == {"KETTLE-01": 12, "MUG-001": 40}

    assert await shopfloor(*direct(shop), "--initial-stock", initial) == 0
    out = capsys.readouterr().out
    assert "CONSISTENT" in out
    assert "2 products, 4 orders" in out


@pytest.mark.parametrize(
    ("break_it", "sku", "says"),
    [
        # a cancel whose release never happened: the units are neither in stock nor held
        (
            lambda s: s.orders[0].update(status="CANCELLED"),
            "MUG-001",
            "initial 40 != stock 37 + held 1 (2 unit(s) missing)",
        ),
        # a reservation made twice for one order
        (lambda s: s.stock.update({"MUG-001": 35}), "MUG-001", "(2 unit(s) missing)"),
        # a release made twice
        (lambda s: s.stock.update({"KETTLE-01": 13}), "KETTLE-01", "(1 unit(s) too many)"),
    ],
)
async def test_stock_that_does_not_add_up_is_named_by_sku(
    shop: FakeShop,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    break_it: Callable[[FakeShop], None],
    sku: str,
    says: str,
) -> None:
    initial = tmp_path / "initial.json"
    assert await shopfloor(*direct(shop), "--snapshot", initial) == 0
    break_it(shop)

    assert await shopfloor(*direct(shop), "--initial-stock", initial) == 1
    out = capsys.readouterr().out
    assert "INCONSISTENT: 1 violation(s)" in out
    [line] = [line for line in out.splitlines() if line.strip().startswith("stock ")]
    assert f" {sku}: " in line
    assert says in line


async def test_negative_stock_and_a_vanished_product_are_violations(
    shop: FakeShop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    initial = tmp_path / "initial.json"
    initial.write_text('{"MUG-001": 40, "KETTLE-01": 12, "LAMP-9": 3}')
    shop.stock["KETTLE-01"] = -1
    shop.stock["TEE-NEW"] = 5

    assert await shopfloor(*direct(shop), "--initial-stock", initial) == 1
    out = capsys.readouterr().out
    assert "negative-stock         KETTLE-01: stock is -1" in out
    assert "product-missing        LAMP-9" in out
    assert "not in the initial stock, not checked: TEE-NEW" in out


async def test_an_order_pending_too_long_is_named_and_a_young_one_is_not(
    shop: FakeShop, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.orders += [order("ord-old", "PENDING", {"MUG-001": 1}, age_seconds=120), order("ord-new", "PENDING", {})]

    assert await shopfloor(*direct(shop), "--max-pending-age", "30") == 1
    out = capsys.readouterr().out
    assert "pending-too-long       ord-old: PENDING for 120s (bound 30s)" in out
    assert "ord-new" not in out
    assert "stock not checked" in out


async def test_an_order_listed_twice_is_named(shop: FakeShop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.orders.append(order("ord-1", "CANCELLED", {"MUG-001": 2}))

    assert await shopfloor(*direct(shop)) == 1
    assert "duplicate-order        ord-1: listed 2 times (CANCELLED, CONFIRMED)" in capsys.readouterr().out


async def test_acknowledged_orders_must_exist_and_be_listed(
    shop: FakeShop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acknowledged = tmp_path / "acknowledged.txt"
    acknowledged.write_text("# ids the load generator got a 201/202 for\nord-1\n\nord-2\nord-lost\nord-hidden\nord-1\n")
    shop.unlisted["ord-hidden"] = order("ord-hidden", "CONFIRMED", {"MUG-001": 1})

    assert await shopfloor(*direct(shop), "--acknowledged", acknowledged) == 1
    out = capsys.readouterr().out
    assert "acknowledged-missing   ord-lost: acknowledged to a client but not among the orders" in out
    assert "order-not-listed       ord-hidden: readable by id but missing from the order list" in out
    assert "INCONSISTENT: 2 violation(s)" in out
    assert "4 acknowledged order id(s) checked" in out


async def test_every_page_is_read_through_the_gateway_with_the_admin_key(
    start_shop: Callable[..., Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop: FakeShop = await start_shop("/api")
    shop.stock = {f"SKU-{n:03d}": n for n in range(250)}
    shop.orders = [order(f"ord-{n}", "CONFIRMED", {"SKU-007": 1}) for n in range(230)]
    initial = tmp_path / "initial.json"
    gateway = ["check-consistency", "--gateway-url", shop.url, "--api-key", API_KEY]

    assert await shopfloor(*gateway, "--snapshot", initial) == 0
    assert orjson.loads(initial.read_bytes())["SKU-007"] == 7 + 230
    shop.orders[0]["status"] = "DELIVERED"
    assert await shopfloor(*gateway, "--initial-stock", initial, "--json") == 0

    report = orjson.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the snapshot's line
    assert report["consistent"] is True
    assert report["products"] == 250
    assert report["orders_by_status"] == {"CONFIRMED": 229, "DELIVERED": 1}
    offsets = sorted(query for path, query, _ in shop.seen if path == "/api/products")
    assert offsets == ["limit=100&offset=0"] * 2 + ["limit=100&offset=100"] * 2 + ["limit=100&offset=200"] * 2
    assert {key for _, _, key in shop.seen} == {API_KEY}


async def test_a_snapshot_is_refused_while_orders_are_pending_unless_they_settle(
    shop: FakeShop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.orders.append(order("ord-wait", "PENDING", {"MUG-001": 1}))
    initial = tmp_path / "initial.json"

    assert await shopfloor(*direct(shop), "--snapshot", initial) == 1
    assert "ord-wait" in capsys.readouterr().err
    assert not initial.exists()

    def reconcile(s: FakeShop) -> None:
        if s.orders[-1]["status"] == "PENDING":
            s.orders[-1]["status"] = "CONFIRMED"
            s.stock["MUG-001"] -= 1

    shop.after_orders_page = reconcile  # settles once the first look has seen it PENDING
    assert await shopfloor(*direct(shop), "--snapshot", initial, "--settle", "10") == 0
    assert orjson.loads(initial.read_bytes())["MUG-001"] == 40


async def test_settle_looks_again_until_the_shop_adds_up(shop: FakeShop, tmp_path: Path) -> None:
    initial = tmp_path / "initial.json"
    assert await shopfloor(*direct(shop), "--snapshot", initial) == 0
    shop.stock["MUG-001"] -= 1
    shop.orders.append(order("ord-late", "PENDING", {"MUG-001": 1}))

    def confirm(s: FakeShop) -> None:
        s.orders[-1]["status"] = "CONFIRMED"

    assert await shopfloor(*direct(shop), "--initial-stock", initial) == 1
    shop.after_orders_page = confirm
    assert await shopfloor(*direct(shop), "--initial-stock", initial, "--settle", "10") == 0


async def test_the_pending_units_are_mentioned_when_stock_is_off(shop: FakeShop) -> None:
    shop.stock["MUG-001"] -= 1
    shop.orders.append(order("ord-late", "PENDING", {"MUG-001": 1}))
    report = await check_consistency(Endpoints.direct(shop.url, shop.url), initial_stock={"MUG-001": 40})

    [violation] = report.violations
    assert (violation.kind, violation.subject) == ("stock", "MUG-001")
    assert "1 unit(s) are in PENDING orders" in violation.message


async def test_an_order_list_that_keeps_moving_is_an_error_not_a_verdict(
    shop: FakeShop, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.orders = [order(f"ord-{n}", "CONFIRMED", {}) for n in range(150)]
    shop.after_orders_page = lambda s: s.orders.insert(0, order(f"ord-new-{len(s.orders)}", "CONFIRMED", {}))

    assert await shopfloor(*direct(shop)) == 2
    assert "kept changing" in capsys.readouterr().err


async def test_a_failing_service_is_exit_2_after_retries(shop: FakeShop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.fail_status = 503
    assert await shopfloor(*direct(shop)) == 2
    assert "answered 503" in capsys.readouterr().err
    assert len([seen for seen in shop.seen if seen[0] == "/products"]) == consistency.REQUEST_ATTEMPTS


async def test_an_unreachable_shop_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/api"
    assert await shopfloor("check-consistency", "--gateway-url", nobody) == 2
    assert "ClientConnectorError" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--catalog-url", "http://127.0.0.1:1"], "both --catalog-url and --orders-url"),
        (["--gateway-url", "http://x/api", "--orders-url", "http://y"], "either --gateway-url"),
        (["--initial-stock", "{missing}"], "cannot read the initial stock"),
        (["--initial-stock", "{bad}"], "sku -> units"),
        (["--acknowledged", "{missing}"], "cannot read the acknowledged ids"),
        (["--snapshot", "{out}", "--initial-stock", "{bad}"], "--snapshot only records"),
    ],
)
async def test_usage_errors_are_exit_2_naming_the_problem(
    shop: FakeShop, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"MUG-001": -4}')
    files = {"missing": str(tmp_path / "nope"), "bad": str(bad), "out": str(tmp_path / "out.json")}
    if not any(arg.startswith("--gateway-url") or arg.startswith("--catalog-url") for arg in argv):
        argv = ["--gateway-url", shop.url, *argv]
    assert await shopfloor("check-consistency", *(arg.format(**files) for arg in argv)) == 2
    assert says in capsys.readouterr().err


def test_bad_numbers_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check-consistency", "--max-pending-age", "soon"])
    assert caught.value.code == 2
    assert "--max-pending-age" in capsys.readouterr().err


def test_evaluate_judges_a_state_without_a_shop() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    state = ShopState(
        stock={"MUG-001": 8},
        orders=[
            OrderSummary("a", "SHIPPED", now, {"MUG-001": 2}),
            OrderSummary("b", "PENDING", now - timedelta(seconds=5), {"MUG-001": 1}),
        ],
    )
    report = evaluate(
        state, target="t", initial_stock={"MUG-001": 10}, max_pending_age_seconds=4, acknowledged=["a"], now=now
    )
    assert [(v.kind, v.subject) for v in report.violations] == [("pending-too-long", "b")]
    assert not report.consistent


# --- the stock-after-hang lab's verify (shopfloor/labs/checks.py) on this shop ----------------------


def lab_state(shop: FakeShop, tmp_path: Path, orders_env: str) -> dict[str, Any]:
    """What the lab shop's /status tells verify: this shop as catalog and orders, the initial stock,
    and a deploy repository (git) whose HEAD holds `orders_env`, deployed."""
    import subprocess

    deploy = tmp_path / "deploy"
    deploy.mkdir(parents=True)
    (deploy / "orders.env").write_text(orders_env)
    identity = ["-c", "user.name=lab", "-c", "user.email=lab@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "orders"]):
        subprocess.run(["git", "-C", str(deploy), *identity, *args], check=True, capture_output=True)
    head = subprocess.run(["git", "-C", str(deploy), "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    (tmp_path / "initial.json").write_text('{"MUG-001": 41, "KETTLE-01": 12}')  # one MUG-001 unit gone
    return {
        "services": {"catalog": {"url": shop.url}, "orders": {"url": shop.url}},
        "initial_stock": str(tmp_path / "initial.json"),
        "deploy_repo": str(deploy),
        "deployed": head.stdout.strip(),
    }


async def verify_stock_after_hang(state: dict[str, Any]) -> tuple[dict[str, Any], float]:
    from shopfloor.labs.checks import run_stack_checks
    from shopfloor.labs.model import find_lab

    lab = find_lab(Path(__file__).resolve().parents[3], "stock-after-hang")
    began = asyncio.get_running_loop().time()
    checks = await run_stack_checks(Path("."), lab, state, {}, lambda on: None)
    return {c.name: c for c in checks}, asyncio.get_running_loop().time() - began


async def test_a_verify_that_fails_already_reads_the_books_once(
    shop: FakeShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unfixed lab (reconciler hourly) fails its deploy check: the books are read once, not
    given the settle time only a verify that can pass needs."""
    from shopfloor.labs import checks

    monkeypatch.setattr(checks, "CONSISTENCY_SETTLE_SECONDS", 3)
    verdict, seconds = await verify_stock_after_hang(lab_state(shop, tmp_path, "RECONCILE_INTERVAL_SECONDS=3600\n"))
    assert not verdict["orders: RECONCILE_INTERVAL_SECONDS"].ok
    assert not verdict["consistency"].ok
    assert "read once" in verdict["consistency"].message
    assert seconds < 3


async def test_a_verify_that_can_pass_gives_the_books_time_to_settle(
    shop: FakeShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopfloor.labs import checks

    monkeypatch.setattr(checks, "CONSISTENCY_SETTLE_SECONDS", 3)
    verdict, seconds = await verify_stock_after_hang(lab_state(shop, tmp_path, "VERSION=1.0.0\n"))
    assert verdict["orders: RECONCILE_INTERVAL_SECONDS"].ok
    assert not verdict["consistency"].ok  # the shop never settles: the whole settle time was given
    assert "read once" not in verdict["consistency"].message
    assert seconds >= 3

    shop.stock["MUG-001"] = 38  # the reconciler released what it held: the books add up
    verdict, _ = await verify_stock_after_hang(lab_state(shop, tmp_path / "fixed", "VERSION=1.0.0\n"))
    assert verdict["consistency"].ok, verdict["consistency"].message
