"""Every local injector against one real LocalStack (catalog, orders, api-gateway on temporary
PostgreSQL databases and Redis, behind dependency proxies): the effect is real, and remove()
brings back a shop whose every /readyz answers 200.

The stack is shared by the module (a start costs ~20 s here); each test leaves it healthy.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from shopfloor.chaos.inject import (
    INJECTORS,
    ChaosTarget,
    EnvFault,
    InjectError,
    LockFault,
    MemoryLimit,
    ProxyFault,
    ReleaseFault,
    SignalFault,
    StopFault,
    StressFault,
    SwitchFault,
    injector_for,
)
from shopfloor.chaos.loopback import NotLoopback
from shopfloor.chaos.proxy import DependencyProxies
from shopfloor.local.databases import PostgresDatabases
from shopfloor.local.stack import LocalStack, StackError, StackOptions
from shopfloor_common.faults import fault_parameters, parse_fault_spec

pytestmark = pytest.mark.e2e
# The tests on the shared stack run on the module's event loop, where the stack lives.
on_stack = pytest.mark.asyncio(loop_scope="module")

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("catalog", "orders", "api-gateway")
HOT_SKU = "MUG-001"
OTHER_SKU = "KETTLE-01"
POSTGRES = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
QUICK = aiohttp.ClientTimeout(total=10)


def missing_dependency(request: pytest.FixtureRequest, what: str, how: str) -> None:
    """The root conftest's helper (skip here, fail under CI=true); in importlib mode it is not
    importable by name, so it is taken from the loaded plugin."""
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == str(REPO / "conftest.py"):
            plugin.missing_dependency(what, how)
    raise AssertionError("the root conftest.py is not loaded")


def clean_environment() -> dict[str, str]:
    foreign = {"REDIS_URL", "DATABASE_URL", "ADMIN_API_KEY", "SHOPFLOOR_FAULTS", "LOG_LEVEL", "ACCESS_LOG"}
    return {k: v for k, v in os.environ.items() if k not in foreign and not k.endswith("_URL")}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def target(request: pytest.FixtureRequest) -> AsyncIterator[ChaosTarget]:
    with tempfile.TemporaryDirectory(prefix="shopfloor-chaos-") as scratch:
        options = StackOptions(
            repo=REPO,
            state_dir=Path(scratch),
            only=SERVICES,
            free_ports=True,
            edge_port=None,
            environ=clean_environment(),
            postgres_url=POSTGRES.replace("postgresql+asyncpg://", "postgresql://"),
            temporary_databases=True,
            redis_url=REDIS,
            skip_seed=("orders",),
            service_env={"api-gateway": {"RATE_LIMIT": "off"}},
        )
        proxies = DependencyProxies(postgres=("catalog",))
        options = await proxies.prepare(options)
        stack = LocalStack(options)
        try:
            await stack.start()
        except StackError as exc:
            await proxies.stop()
            missing_dependency(
                request, f"a LocalStack on PostgreSQL and Redis ({exc})", "Start PostgreSQL and Redis on 127.0.0.1."
            )
        try:
            yield ChaosTarget(stack, proxies, hot_sku=HOT_SKU)
        finally:
            await stack.stop()
            await proxies.stop()


async def get(url: str, *, timeout: float = 10) -> tuple[int, str, float]:
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.get(url) as response,
    ):
        return response.status, await response.text(), time.perf_counter() - started


async def statuses_of(url: str, count: int) -> list[int]:
    async with aiohttp.ClientSession(timeout=QUICK) as session:
        statuses = []
        for _ in range(count):
            async with session.get(url) as response:
                await response.read()
                statuses.append(response.status)
        return statuses


async def checkout(stack: LocalStack, sku: str) -> tuple[int, str, float]:
    body = {"items": [{"sku": sku, "quantity": 1}], "customer": {"name": "Chaos", "email": "chaos@example.com"}}
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession(timeout=QUICK) as session,
        session.post(
            f"{stack.url('api-gateway')}/api/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        ) as response,
    ):
        return response.status, await response.text(), time.perf_counter() - started


async def assert_healthy(stack: LocalStack, within: float = 20) -> None:
    """Every service's /readyz answers 200 (waiting up to `within` seconds for it)."""
    deadline = time.monotonic() + within
    for service in SERVICES:
        while True:
            try:
                status, body, _ = await get(f"{stack.url(service)}/readyz", timeout=3)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, body = 0, repr(exc)
            if status == 200:
                break
            assert time.monotonic() < deadline, f"{service} /readyz: {status} {body[:300]}"
            await asyncio.sleep(0.2)


async def eventually(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


# --- no stack needed ---------------------------------------------------------------------------


def catalogue_locals() -> list[dict[str, Any]]:
    document = yaml.safe_load((REPO / "chaos" / "faults.yaml").read_text(encoding="utf-8"))
    return [fault["local"] for fault in document["faults"] if fault.get("local")]


async def test_every_local_fault_of_the_catalogue_has_an_injector_and_valid_parameters(tmp_path: Path) -> None:
    idle = ChaosTarget(LocalStack(StackOptions(repo=REPO, state_dir=tmp_path)))
    locals_ = catalogue_locals()
    assert {local["kind"] for local in locals_} == set(INJECTORS)  # every kind is used, every kind exists

    for local in locals_:
        injector = injector_for(local, idle)
        if isinstance(injector, SwitchFault):
            fault_parameters(injector.fault, injector.parameters)  # the switch takes them
        if isinstance(injector, (EnvFault, ReleaseFault)) and "SHOPFLOOR_FAULTS" in injector.env:
            assert parse_fault_spec(injector.env["SHOPFLOOR_FAULTS"])

    with pytest.raises(InjectError, match="no local injector of kind 'teleport'"):
        injector_for({"kind": "teleport"}, idle)
    with pytest.raises(InjectError, match="colour"):
        injector_for({"kind": "stop", "service": "catalog", "colour": "red"}, idle)
    with pytest.raises(InjectError, match="local_why_not"):
        injector_for(None, idle)


async def test_injectors_refuse_targets_outside_loopback(tmp_path: Path) -> None:
    stack = LocalStack(StackOptions(repo=REPO, state_dir=tmp_path))
    idle = ChaosTarget(stack, hot_sku=HOT_SKU)
    with pytest.raises(InjectError, match=r"127\.0\.0\.0/8"):
        EnvFault(idle, service="orders", env={"CATALOG_URL": "http://10.0.0.7:8081"})
    with pytest.raises(InjectError, match=r"127\.0\.0\.0/8"):
        ReleaseFault(idle, service="orders", env={"CATALOG_URL": "http://catalog.example.com"})
    EnvFault(idle, service="orders", env={"CATALOG_URL": "http://catalog.invalid:8081"})  # never resolves: allowed

    stack.databases = PostgresDatabases("postgresql://postgres@10.1.2.3:5432/postgres")
    with pytest.raises(NotLoopback, match="catalog's database"):
        await LockFault(idle, database="catalog").inject()


def test_memory_limit_by_rlimit_ends_in_a_kill(tmp_path: Path) -> None:
    """Where no memory cgroup can be made: the allocator refuses at the rlimit and the switch kills
    its own process, as the OOM killer would."""
    script = tmp_path / "grow.py"
    script.write_text(
        "import asyncio, sys\n"
        "from shopfloor_common.faults import FaultSwitch\n"
        "async def main():\n"
        "    switch = FaultSwitch('grower')\n"
        "    print('ready', flush=True)\n"
        "    sys.stdin.readline()\n"
        "    await switch.set('memory', {'megabytes_per_second': 400})\n"
        "    await asyncio.sleep(30)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        limit = MemoryLimit.apply(child.pid, 200, prefer_cgroup=False)
        assert limit.how == "rlimit"
        child.stdin.write("go\n")
        child.stdin.flush()
        started = time.monotonic()
        code = child.wait(timeout=20)
        output = child.stdout.read()
    finally:
        child.kill()
    assert code == -9, output
    assert "the allocator refused more memory" in output
    print(f"rlimit 200 MB, 400 MB/s: killed after {time.monotonic() - started:.1f}s")


# --- on the running stack ----------------------------------------------------------------------


@on_stack
async def test_signal_kill_takes_catalog_away_and_remove_restarts_it(target: ChaosTarget) -> None:
    stack = target.stack
    old_pid = stack.processes["catalog"].pid
    kill = SignalFault(target, service="catalog", signal="KILL")

    await kill.inject()
    assert stack.processes["catalog"].returncode == -9
    status, body, _ = await get(f"{stack.url('api-gateway')}/api/products/{HOT_SKU}")
    assert status == 503
    assert "catalog" in body

    await kill.remove()
    await kill.remove()  # twice is fine
    assert stack.processes["catalog"].pid != old_pid
    await assert_healthy(stack)
    assert (await get(f"{stack.url('api-gateway')}/api/products/{HOT_SKU}"))[0] == 200


@on_stack
async def test_signal_stop_freezes_orders_until_cont(target: ChaosTarget) -> None:
    stack = target.stack
    freeze = SignalFault(target, service="orders", signal="STOP")

    await freeze.inject()
    try:
        with pytest.raises(TimeoutError):
            await get(f"{stack.url('orders')}/livez", timeout=1)  # accepted by the kernel, never answered
        assert stack.processes["orders"].returncode is None
    finally:
        await freeze.remove()
    await freeze.remove()
    status, _, took = await get(f"{stack.url('orders')}/livez")
    assert status == 200
    assert took < 1
    await assert_healthy(stack)


@on_stack
async def test_stop_takes_a_service_down_cleanly_and_remove_starts_it(target: ChaosTarget) -> None:
    stack = target.stack
    down = StopFault(target, service="api-gateway")

    await down.inject()
    assert stack.processes["api-gateway"].returncode == 0  # SIGTERM: a clean exit
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(f"{stack.url('api-gateway')}/livez")

    await down.remove()
    await down.remove()
    await assert_healthy(stack)


@on_stack
async def test_switch_errors_fail_catalog_and_show_in_its_metrics(target: ChaosTarget) -> None:
    stack = target.stack
    errors = injector_for({"kind": "switch", "service": "catalog", "fault": "errors", "ratio": 1.0}, target)

    await errors.inject()
    try:
        status, _, _ = await get(f"{stack.url('catalog')}/products/{HOT_SKU}")
        metrics = (await get(f"{stack.url('catalog')}/metrics"))[1]
    finally:
        await errors.remove()
    await errors.remove()

    assert status == 500
    assert 'shopfloor_fault_active{fault="errors"} 1.0' in metrics
    assert (await get(f"{stack.url('catalog')}/products/{HOT_SKU}"))[0] == 200
    assert 'shopfloor_fault_active{fault="errors"} 0.0' in (await get(f"{stack.url('catalog')}/metrics"))[1]


@on_stack
async def test_switch_memory_under_a_limit_ends_in_a_kill_and_a_restart(target: ChaosTarget) -> None:
    stack = target.stack
    old_pid = stack.processes["catalog"].pid
    leak = SwitchFault(target, service="catalog", fault="memory", megabytes_per_second=200, limit_megabytes=300)

    started = time.monotonic()
    await leak.inject()
    try:
        assert leak.limit is not None
        how = leak.limit.how
        assert await eventually(lambda: _async(leak.killed_with is not None), 20), "catalog was not killed"
        killed_after = time.monotonic() - started
        assert leak.killed_with == -9  # SIGKILL: the OOM killer, or the switch at the rlimit
        await assert_healthy(stack, within=30)  # restarted, as a kubelet would
    finally:
        await leak.remove()
    await leak.remove()
    assert stack.processes["catalog"].pid != old_pid
    print(f"memory 200 MB/s under a 300 MB limit ({how}): killed after {killed_after:.1f}s")
    await assert_healthy(stack)


async def _async(value: Any) -> Any:
    return value


@on_stack
async def test_proxy_latency_and_blackhole_on_catalogs_database(target: ChaosTarget) -> None:
    stack = target.stack
    readyz = f"{stack.url('catalog')}/readyz"
    baseline = min([(await get(readyz))[2] for _ in range(3)])

    slow = injector_for(
        {"kind": "proxy", "dependency": "postgres", "service": "catalog", "mode": "latency", "latency_ms": 150},
        target,
    )
    await slow.inject()
    try:
        slowed = min([(await get(readyz))[2] for _ in range(3)])
    finally:
        await slow.remove()
    print(f"catalog /readyz: {baseline * 1000:.0f} ms, with 150 ms on its database {slowed * 1000:.0f} ms")
    assert slowed - baseline >= 0.15

    blackhole = ProxyFault(target, dependency="postgres", service="catalog", mode="blackhole")
    await blackhole.inject()
    try:
        status, body, took = await get(readyz)
    finally:
        await blackhole.remove()
    await blackhole.remove()
    assert status == 503
    assert "database" in body
    assert took >= 1.9  # found by the check's timeout, not refused
    await assert_healthy(stack)


@on_stack
async def test_proxy_reset_of_redis_is_tolerated(target: ChaosTarget) -> None:
    stack = target.stack
    redis_down = injector_for({"kind": "proxy", "dependency": "redis", "mode": "reset"}, target)

    await redis_down.inject()
    try:
        statuses = [(await get(f"{stack.url('api-gateway')}/api/products/{HOT_SKU}"))[0] for _ in range(5)]
    finally:
        await redis_down.remove()
    assert statuses == [200] * 5
    assert target.proxies is not None
    assert target.proxies.get("redis").stats.reset > 0  # the services really did try, and were reset
    await assert_healthy(stack)


@on_stack
async def test_lock_on_the_hot_product_makes_its_checkouts_wait(target: ChaosTarget) -> None:
    stack = target.stack
    assert (await checkout(stack, HOT_SKU))[0] == 201
    lock = injector_for({"kind": "lock", "database": "catalog", "table": "products", "hot": True}, target)

    await lock.inject()
    try:
        hot_status, _, hot_took = await checkout(stack, HOT_SKU)
        other_status, _, other_took = await checkout(stack, OTHER_SKU)
    finally:
        await lock.remove()
    await lock.remove()
    after_status, _, after_took = await checkout(stack, HOT_SKU)

    print(f"checkout of the locked sku: {hot_status} after {hot_took:.2f}s; another sku {other_took:.2f}s")
    assert hot_status in (202, 503)
    assert hot_took >= 1.5  # orders waited for catalog, which waited for the lock
    assert other_status == 201
    assert other_took < 1
    assert after_status == 201
    assert after_took < 1
    await assert_healthy(stack)


@on_stack
async def test_env_bad_config_makes_checkouts_503_naming_catalog(target: ChaosTarget) -> None:
    stack = target.stack
    bad_config = injector_for(
        {"kind": "env", "service": "orders", "env": {"CATALOG_URL": "http://catalog.invalid:8081"}}, target
    )

    await bad_config.inject()
    try:
        status, body, _ = await checkout(stack, OTHER_SKU)
        assert stack.environments["orders"]["CATALOG_URL"] == "http://catalog.invalid:8081"
    finally:
        await bad_config.remove()
    await bad_config.remove()

    assert status == 503
    assert "catalog" in body
    assert stack.environments["orders"]["CATALOG_URL"] != "http://catalog.invalid:8081"
    assert (await checkout(stack, OTHER_SKU))[0] == 201
    await assert_healthy(stack)


@on_stack
async def test_release_is_deployed_from_git_and_rolled_back_with_git_revert(target: ChaosTarget) -> None:
    stack = target.stack
    release = injector_for(
        {"kind": "release", "service": "api-gateway", "env": {"SHOPFLOOR_FAULTS": "errors=0.5:routes=/api/orders"}},
        target,
    )
    orders_list = f"{stack.url('api-gateway')}/api/orders?limit=1"

    await release.inject()
    try:
        statuses = await statuses_of(orders_list, 60)
        products = (await get(f"{stack.url('api-gateway')}/api/products/{HOT_SKU}"))[0]
    finally:
        await release.remove()
    await release.remove()

    assert 15 <= statuses.count(500) <= 45, statuses
    assert set(statuses) == {200, 500}
    assert products == 200  # only the release's routes fail
    assert "SHOPFLOOR_FAULTS" not in stack.environments["api-gateway"]
    assert [(await get(orders_list))[0] for _ in range(10)] == [200] * 10
    assert isinstance(release, ReleaseFault)
    log = subprocess.run(
        ["git", "-C", str(release.repository), "log", "--format=%s"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert log[0].startswith('Revert "api-gateway: release with SHOPFLOOR_FAULTS=errors=0.5')
    assert log[1] == "api-gateway: release with SHOPFLOOR_FAULTS=errors=0.5:routes=/api/orders"
    assert (release.repository / "api-gateway.env").read_text() == ""
    await assert_healthy(stack)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _stress_workers() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("stress-ng"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@on_stack
async def test_stress_pins_cpu_workers_to_the_services_cpus(
    target: ChaosTarget, request: pytest.FixtureRequest
) -> None:
    if shutil.which("stress-ng") is None:
        missing_dependency(request, "stress-ng", "apt-get install stress-ng (.ci/run installs it).")
    stack = target.stack
    before = set(_stress_workers())
    stress = injector_for({"kind": "stress", "service": "catalog", "cpu_workers": 2}, target)
    assert isinstance(stress, StressFault)

    await stress.inject()
    try:
        await asyncio.sleep(0.5)
        workers = [pid for pid in _stress_workers() if pid not in before]
        ticks = {pid: _cpu_ticks(pid) for pid in workers}
        catalog_cpus = os.sched_getaffinity(stack.processes["catalog"].pid)
        affinities = {pid: os.sched_getaffinity(pid) for pid in workers}
        await asyncio.sleep(1.0)
        burned = sum(_cpu_ticks(pid) - ticks[pid] for pid in workers if Path(f"/proc/{pid}").exists())
    finally:
        await stress.remove()
    await stress.remove()

    assert len(workers) >= 3  # stress-ng itself and its two CPU workers
    assert all(cpus == catalog_cpus for cpus in affinities.values())
    # Clock ticks (1/100 s) in one second: up to 200 on an idle 2-core machine, far fewer when
    # other work shares it; either way the workers burned CPU for real.
    print(f"stress-ng: {len(workers) - 1} workers on CPUs {sorted(catalog_cpus)}: {burned / 100:.2f} CPU-s in 1 s")
    assert burned >= 10, burned
    assert not [pid for pid in _stress_workers() if pid not in before]
    await assert_healthy(stack)


@on_stack
async def test_stress_without_stress_ng_says_how_to_install_it(
    target: ChaosTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InjectError, match="apt-get install stress-ng"):
        await StressFault(target, service="catalog").inject()


def test_the_stack_has_no_stray_cgroups() -> None:
    root = MemoryLimit.CGROUP_V1
    if root.is_dir():
        assert not [p for p in root.rglob("shopfloor-chaos-*") if re.match(r"shopfloor-chaos-\d+-", p.name)]
