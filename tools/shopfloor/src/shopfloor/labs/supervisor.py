"""The lab shop: one background process that runs the shop for `shopfloor lab`, so that `start`
returns and later `status`, `verify` and `reset` act on the same running shop.

    python -m shopfloor.labs.supervisor --repo R --state var/labs/stack [--postgres URL] [--redis URL]

It runs, until asked to stop (POST /stop on its control port, or SIGTERM):

- the shop (LocalStack on PostgreSQL and Redis, behind the chaos fault proxies) with a real
  Prometheus and Alertmanager (ObservedStack: the lab profile's alerts fire within seconds, the
  local receiver writes <state>/observe/alerts.jsonl) and every service's log lines in <state>/logs;
- customers: a gentle, bounded load through the edge (product reads and checkouts of the product
  LAB-HOT), so the SLIs and alerts have traffic to judge, as in production;
- a deploy repository, <state>/deploy (git): one `<service>.env` per service, `VERSION=` (the
  release running) and settings (KEY=VALUE). Every second the supervisor syncs it, as Argo CD
  would: a service whose file changed at HEAD is restarted with it. This is how a learner rolls a
  release back (`git revert`) or changes a setting (edit, `git commit`);
- a kubelet: a service process that exits on its own (or is killed: `kill <pid>`, the local
  `kubectl delete pod`) is started again a second later.

A lab's fault is injected on POST /inject (chaos/faults.yaml's local entry, with shopfloor.chaos.inject,
or for releases and configuration a commit to the deploy repository) and removed on POST /reset,
which also restores every service's file to the healthy release. <state>/state.json says where
everything is (ports, pids, files); the control port answers on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from shopfloor.chaos.inject import ChaosTarget, InjectError, Injector, injector_for
from shopfloor.chaos.proxy import DependencyProxies, ProxyMode
from shopfloor.labs.common import HOT_SKU, INITIAL_VERSION, STATE_FILE, read_env_file, write_env_file
from shopfloor.labs.model import Lab, LabError, catalogue_faults, find_lab
from shopfloor.local.stack import StackError, StackOptions
from shopfloor.observe.local_stack import ObservedStack, ObserveOptions

HOT_STOCK = 1_000_000
SYNC_SECONDS = 1.0
RESTART_DELAY_SECONDS = 1.0
SNAPSHOT_FILE = "initial-stock.json"
GIT_AUTHOR = ["-c", "user.name=shopfloor lab", "-c", "user.email=lab@localhost"]
# Customers: the load is bounded per tick and each request by a timeout, so a broken shop is never hammered.
CUSTOMER_TIMEOUT = aiohttp.ClientTimeout(total=8)
# Every request of the lab shop comes from 127.0.0.1: the customers, verify's load (as fast as the
# shop answers), the reset's probes and the learner's curls. Under the gateway's default limit
# (1200/minute a client) verify's load was answered 429 for a third of a run's requests, which
# judges nothing (the SLIs count 5xx), and a reset waited up to 40 s for the window to pass. The
# limiter still runs (on Redis: the cache-outage lab shows its errors), above that traffic.
LAB_RATE_LIMIT = "100000/minute"
# Settings of the developer's shell that would point the services elsewhere.
FOREIGN = {"REDIS_URL", "DATABASE_URL", "ADMIN_API_KEY", "S3_BUCKET", "IMAGE_DIR", "SHOPFLOOR_FAULTS"}


def switch_spec(fault: str, parameters: Mapping[str, Any]) -> str:
    """The fault switch's SHOPFLOOR_FAULTS syntax for one fault: name[:param=value]..."""
    parts = [fault]
    for key, value in parameters.items():
        if key == "limit_megabytes":
            continue  # the injector's, not the switch's
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        parts.append(f"{key}={text}")
    return ":".join(parts)


class LabShop:
    def __init__(
        self, repo: Path, state: Path, *, postgres_url: str, redis_url: str, customers_per_second: float
    ) -> None:
        self.repo = repo
        self.state = state
        self.postgres_url = postgres_url
        self.redis_url = redis_url
        self.customers_per_second = customers_per_second
        self.normal_customers = customers_per_second
        self.proxies = DependencyProxies()
        self.observed: ObservedStack | None = None
        self.target: ChaosTarget | None = None
        self.deploy = state / "deploy"
        self.original: dict[str, dict[str, str]] = {}
        self.version_env: dict[tuple[str, str], dict[str, str]] = {}  # what each release's code does
        self.code_faults: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # a bug in every release
        self.deployed_head = ""
        self.deployed_files: dict[str, str] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.expected_down: set[str] = set()
        self.injectors: list[tuple[str, Injector]] = []
        self.lab: str | None = None
        self.injected_at: float | None = None
        self.customers_on = asyncio.Event()
        self.customer_stats = {"requests": 0, "failed": 0}
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = asyncio.Event()
        self.busy = asyncio.Lock()
        self.control_port = 0
        self.log: list[str] = []

    # --- the shop ---------------------------------------------------------------------------------

    @property
    def shop(self) -> Any:
        assert self.observed is not None
        return self.observed.shop

    def say(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        self.log.append(line)
        del self.log[:-200]
        print(line, flush=True)

    async def start(self) -> None:
        environ = {k: v for k, v in os.environ.items() if k not in FOREIGN}
        environ.setdefault("LOG_LEVEL", "INFO")
        prefix = "shopfloor_lab_" + hashlib.sha256(str(self.state.resolve()).encode()).hexdigest()[:8]
        options = StackOptions(
            repo=self.repo,
            state_dir=self.state / "shop",
            free_ports=True,
            edge_port=0,
            environ=environ,
            postgres_url=self.postgres_url,
            postgres_prefix=prefix,
            temporary_databases=True,
            redis_url=self.redis_url,
            log_dir=self.state / "logs",
            extra_env={"RATE_LIMIT": LAB_RATE_LIMIT},
            ready_timeout_seconds=60,
        )
        options = await self.proxies.prepare(options)
        self.observed = ObservedStack(
            options,
            ObserveOptions(prometheus_port=0, alertmanager_port=0, state_dir=self.state / "observe"),
            say=self.say,
        )
        await self.observed.start()
        self.target = ChaosTarget(self.shop, self.proxies, hot_sku=HOT_SKU)
        self.original = {name: dict(env) for name, env in self.shop.environments.items()}
        self.locks = {name: asyncio.Lock() for name in self.original}
        await self._create_hot_product()
        await self._init_deploy()
        self.customers_on.set()
        self.tasks = [
            asyncio.create_task(self._sync_loop()),
            asyncio.create_task(self._kubelet_loop()),
            asyncio.create_task(self._customers_loop()),
        ]

    async def _create_hot_product(self) -> None:
        product = {"sku": HOT_SKU, "name": "Lab hot product", "category": "lab", "price_cents": 100, "stock": HOT_STOCK}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(
                f"{self.shop.url('catalog')}/products", json=product, headers={"X-API-Key": self.shop.admin_key.value}
            ) as answer,
        ):
            if answer.status not in (201, 409):
                raise StackError(f"creating {HOT_SKU} answered {answer.status}: {await answer.text()}")

    # --- the deploy repository ------------------------------------------------------------------

    async def git(self, *args: str) -> str:
        git = shutil.which("git")
        if git is None:
            raise InjectError("the lab's deploy repository needs git on the PATH")
        result = await asyncio.to_thread(
            subprocess.run,
            [git, *GIT_AUTHOR, "-C", str(self.deploy), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise InjectError(f"git {' '.join(args)}: {(result.stderr or result.stdout).strip()[:400]}")
        return result.stdout.strip()

    def healthy_files(self) -> dict[str, str]:
        return {f"{name}.env": write_env_file({"VERSION": INITIAL_VERSION}) for name in self.original}

    async def _init_deploy(self) -> None:
        if self.deploy.exists():
            shutil.rmtree(self.deploy)
        self.deploy.mkdir(parents=True)
        await self.git("init", "-q", "-b", "main")
        # The learner's commits and reverts work on a machine with no git identity configured.
        await self.git("config", "user.name", "shopfloor learner")
        await self.git("config", "user.email", "learner@localhost")
        for name, text in self.healthy_files().items():
            (self.deploy / name).write_text(text, encoding="utf-8")
        await self.git("add", "-A")
        await self.git("commit", "-q", "-m", f"release {INITIAL_VERSION} of every service")
        self.deployed_head = await self.git("rev-parse", "HEAD")
        self.deployed_files = self.healthy_files()

    async def commit(self, service: str, values: Mapping[str, str | None], message: str) -> None:
        """Change settings of one service's file (None removes one) and commit."""
        path = self.deploy / f"{service}.env"
        current = read_env_file(path.read_text(encoding="utf-8")) if path.exists() else {}
        for key, value in values.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = str(value)
        path.write_text(write_env_file(current), encoding="utf-8")
        await self.git("add", "-A")
        await self.git("commit", "-q", "--allow-empty", "-m", message)

    def effective_env(self, service: str, file_text: str) -> dict[str, str]:
        settings = read_env_file(file_text)
        version = settings.pop("VERSION", INITIAL_VERSION)
        env = dict(self.original[service])
        env.update(settings)
        hidden = dict(self.version_env.get((service, version), {}))
        if "SHOPFLOOR_FAULTS" in hidden and env.get("SHOPFLOOR_FAULTS"):
            hidden["SHOPFLOOR_FAULTS"] = f"{env['SHOPFLOOR_FAULTS']};{hidden['SHOPFLOOR_FAULTS']}"
        env.update(hidden)
        return env

    async def sync(self, *, force: set[str] | None = None) -> list[str]:
        """Deploy what HEAD says: restart each service whose file (or hidden behaviour) changed."""
        head = await self.git("rev-parse", "HEAD")
        restarted = []
        for name in self.original:
            try:
                text = await self.git("show", f"HEAD:{name}.env")
            except InjectError:
                text = ""
            if text.strip() == self.deployed_files.get(f"{name}.env", "").strip() and name not in (force or set()):
                continue
            env = self.effective_env(name, text + "\n")
            try:
                await self._restart(name, env)
            except StackError as exc:
                self.say(f"sync: {name} did not become ready with {head[:8]}: {exc}")
            self.deployed_files[f"{name}.env"] = text
            restarted.append(name)
        if head != self.deployed_head:
            self.say(f"sync: deployed {head[:8]} ({', '.join(restarted) or 'no service changed'})")
        self.deployed_head = head
        return restarted

    async def _restart(self, name: str, env: dict[str, str]) -> None:
        async with self.locks[name]:
            self.shop.environments[name] = env
            process = self.shop.processes.get(name)
            if process is not None and process.returncode is None:
                await self.shop.stop_service(name)
            failure = await self.shop.start_service(name)
            if failure:
                raise StackError(failure)
            await self._apply_code_faults(name)

    async def _apply_code_faults(self, service: str) -> None:
        for fault, parameters in self.code_faults.get(service, []):
            url = f"{self.shop.url(service)}/admin/faults/{fault}"
            headers = {"X-API-Key": self.shop.admin_key.value}
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                    session.put(url, json=parameters, headers=headers) as answer,
                ):
                    if answer.status != 200:
                        self.say(f"{service} refused the {fault} fault: {answer.status} {(await answer.text())[:200]}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.say(f"{service}: could not switch {fault} on: {exc}")

    async def _switch_off(self, service: str, faults: list[tuple[str, dict[str, Any]]]) -> bool:
        """Whether every one of `faults` is off in `service` (DELETE /admin/faults/<fault>)."""
        headers = {"X-API-Key": self.shop.admin_key.value}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                for fault, _ in faults:
                    async with session.delete(
                        f"{self.shop.url(service)}/admin/faults/{fault}", headers=headers
                    ) as answer:
                        if answer.status != 204:
                            self.say(f"{service} kept the {fault} fault: {answer.status}; restarting it")
                            return False
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.say(f"{service}: could not switch its faults off ({exc}); restarting it")
            return False
        return True

    async def _sync_loop(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(SYNC_SECONDS)
            if self.busy.locked():
                continue
            with contextlib.suppress(InjectError, StackError, OSError):
                async with self.busy:
                    await self.sync()

    async def _kubelet_loop(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(RESTART_DELAY_SECONDS)
            for name, process in list(self.shop.processes.items()):
                if process.returncode is None or name in self.expected_down or self.locks[name].locked():
                    continue
                async with self.locks[name]:
                    if self.shop.processes[name].returncode is None:
                        continue
                    self.say(f"kubelet: {name} exited ({process.returncode}); starting it again")
                    with contextlib.suppress(StackError, OSError):
                        if not await self.shop.start_service(name):
                            await self._apply_code_faults(name)

    # --- customers -----------------------------------------------------------------------------

    async def _customers_loop(self) -> None:
        if self.customers_per_second <= 0:
            return
        async with aiohttp.ClientSession(timeout=CUSTOMER_TIMEOUT) as session:
            in_flight: set[asyncio.Task[None]] = set()
            while not self.stopping.is_set():
                await self.customers_on.wait()
                await asyncio.sleep(1 / self.customers_per_second)
                if len(in_flight) >= 32:  # bounded: a hung shop does not pile up requests
                    continue
                task = asyncio.create_task(self._one_customer(session))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)

    async def _one_customer(self, session: aiohttp.ClientSession) -> None:
        base = self.shop.edge_url
        try:
            if random.random() < 0.3:  # noqa: S311 - a traffic mix, not a secret
                order = {"items": [{"sku": HOT_SKU, "quantity": 1}], "customer": {"name": "Lab", "email": "lab@x.io"}}
                headers = {"Idempotency-Key": f"lab-{uuid.uuid4().hex}"}
                async with session.post(f"{base}/api/orders", json=order, headers=headers) as answer:
                    status = answer.status
            else:
                path = random.choice(["/api/products", f"/api/products/{HOT_SKU}", "/api/products/MUG-001"])  # noqa: S311
                async with session.get(base + path) as answer:
                    status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            status = 599
        self.customer_stats["requests"] += 1
        self.customer_stats["failed"] += status >= 500

    # --- labs ----------------------------------------------------------------------------------

    async def inject(self, lab: Lab) -> None:
        if self.lab is not None:
            raise InjectError(f"lab {self.lab} is running on this shop: `shopfloor lab reset {self.lab}` first")
        assert self.target is not None
        catalogue = catalogue_faults(self.repo)
        stack = lab.stack
        self.lab = lab.id
        self.customers_on.set()
        deliver = stack.get("deliver", "runtime")
        release = stack.get("release", {})
        faults = []
        for fault_id in lab.faults:
            local = dict(catalogue[fault_id]["local"])
            local.update(stack.get("fault_parameters", {}).get(fault_id, {}))
            faults.append((fault_id, local.pop("kind"), local))
        for entry in stack.get("history", []):
            await self.commit(entry["service"], entry["set"], entry["message"])
        if stack.get("history"):
            await self.sync()
        if lab.verify.get("consistency"):
            await self.snapshot()
        for fault_id, kind, local in faults:
            service = str(local.get("service", ""))
            if kind == "switch" and deliver == "code":
                # A bug in the code of every release: switched on through the admin API once the
                # service is ready (at start it could keep the service from ever becoming ready),
                # and again after every restart, so neither a restart nor a redeploy removes it.
                parameters = {k: v for k, v in local.items() if k not in ("service", "fault")}
                self.code_faults.setdefault(service, []).append((str(local["fault"]), parameters))
                await self._apply_code_faults(service)
                continue
            if kind == "release" or (kind == "switch" and deliver == "release"):
                if kind == "release":
                    env = dict(local["env"])
                else:
                    parameters = {k: v for k, v in local.items() if k not in ("service", "fault")}
                    env = {"SHOPFLOOR_FAULTS": switch_spec(str(local["fault"]), parameters)}
                version = str(release.get("version", "1.1.0"))
                self.version_env[(service, version)] = env
                message = release.get("message", f"{service}: release {version}")
                await self.commit(service, {"VERSION": version}, message)
                await self.sync()
            elif kind == "env":
                message = release.get("message", f"{service}: configuration change")
                await self.commit(service, dict(local["env"]), message)
                await self.sync()
            else:
                injector = injector_for({"kind": kind, **local}, self.target)
                self.injectors.append((fault_id, injector))
                if kind in ("stop", "signal") and local.get("signal") != "KILL":
                    self.expected_down.add(service)
                await injector.inject()
        self.injected_at = time.time()
        peak = stack.get("traffic", {}).get("customers_per_second")
        if peak:
            self.customers_per_second = float(peak)
        seconds = stack.get("traffic", {}).get("fault_seconds")
        if seconds:
            # The incident is over by itself (a hang, a failover window): what it left behind is the lab.
            await asyncio.sleep(float(seconds))
            await self._remove_injectors()
        if stack.get("traffic", {}).get("quiet_after"):
            # The shop is closed (for the night): no customer moves the books while they are checked.
            self.customers_on.clear()
        later = stack.get("traffic", {}).get("after_seconds")
        if later:
            await asyncio.sleep(float(later))  # time passes: what the incident left behind gets old
        self.say(f"lab {lab.id}: started")

    async def snapshot(self) -> None:
        """The initial stock for the consistency checker, taken while the shop is quiet."""
        from shopfloor.measure.check_consistency import Endpoints, take_snapshot, write_initial_stock

        self.customers_on.clear()
        try:
            await asyncio.sleep(1)
            endpoints = Endpoints.direct(self.shop.url("catalog"), self.shop.url("orders"))
            snap = await take_snapshot(endpoints, settle_seconds=30)
            write_initial_stock(self.state / SNAPSHOT_FILE, snap.initial_stock)
        finally:
            self.customers_on.set()

    async def _remove_injectors(self) -> None:
        while self.injectors:
            fault_id, injector = self.injectors.pop()
            try:
                await injector.remove()
            except (InjectError, StackError, OSError) as exc:
                self.say(f"removing {fault_id}: {exc}")
        self.expected_down.clear()

    async def reset(self) -> None:
        """Every fault removed, every service on the healthy release, customers on."""
        await self._remove_injectors()
        self.version_env.clear()
        # Their running processes still carry the fault: switched off through the admin API (the
        # fault switch gives back what it held), restarted only where that did not work.
        coded = {service for service, faults in self.code_faults.items() if not await self._switch_off(service, faults)}
        self.code_faults.clear()
        for name, text in self.healthy_files().items():
            (self.deploy / name).write_text(text, encoding="utf-8")
        await self.git("add", "-A")
        await self.git("commit", "-q", "--allow-empty", "-m", f"reset: every service back to release {INITIAL_VERSION}")
        changed = coded | {name for name in self.original if self.shop.processes[name].returncode is not None}
        changed |= {
            n
            for n, env in self.shop.environments.items()
            if env != self.effective_env(n, self.healthy_files()[f"{n}.env"])
        }
        await self.sync(force=changed)
        await self.wait_serving()
        self.lab = None
        self.injected_at = None
        self.customers_per_second = self.normal_customers
        self.customers_on.set()
        self.say("reset: the shop is healthy")

    async def wait_serving(self, timeout_seconds: float = 60.0) -> bool:
        """Until a product read and a checkout through the edge both succeed three times in a row
        (the callers' circuit breakers close a few seconds after a restart), at most `timeout_seconds`."""
        order = {"items": [{"sku": HOT_SKU, "quantity": 1}], "customer": {"name": "Lab", "email": "lab@x.io"}}
        deadline = time.monotonic() + timeout_seconds
        good = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(f"{self.shop.edge_url}/api/products/MUG-001") as read:
                        read_ok = read.status == 200
                    headers = {"Idempotency-Key": f"lab-reset-{uuid.uuid4().hex}"}
                    async with session.post(f"{self.shop.edge_url}/api/orders", json=order, headers=headers) as buy:
                        buy_ok = buy.status == 201
                except (aiohttp.ClientError, TimeoutError):
                    read_ok = buy_ok = False
                good = good + 1 if read_ok and buy_ok else 0
                if good >= 3:
                    return True
                await asyncio.sleep(0.5)
        self.say(f"the shop did not serve within {timeout_seconds:g}s of the reset")
        return False

    async def fault_active(self) -> dict[str, bool]:
        """Whether each fault of the running lab is still in effect (the tolerate rule)."""
        if self.lab is None:
            return {}
        lab = find_lab(self.repo, self.lab)
        catalogue = catalogue_faults(self.repo)
        result = {}
        for fault_id in lab.faults:
            local = catalogue[fault_id]["local"]
            kind = local["kind"]
            if kind == "proxy":
                proxy = self.proxies.get(local["dependency"], local.get("service"))
                through = [
                    name
                    for name, env in self.shop.environments.items()
                    if proxy.address in " ".join(v for k, v in env.items() if k.endswith("_URL"))
                ]
                result[fault_id] = proxy.mode != ProxyMode.PASS and bool(through)
            elif kind == "switch":
                result[fault_id] = await self._switch_on(local["service"], local["fault"])
            elif kind == "lock":
                result[fault_id] = any(fid == fault_id and inj.injected for fid, inj in self.injectors)
            else:
                result[fault_id] = any(fid == fault_id and inj.injected for fid, inj in self.injectors)
        return result

    async def _switch_on(self, service: str, fault: str) -> bool:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.get(f"{self.shop.url(service)}/metrics") as answer,
            ):
                text = await answer.text()
        except (aiohttp.ClientError, TimeoutError):
            return False
        return f'shopfloor_fault_active{{fault="{fault}"}} 1.0' in text

    def status(self) -> dict[str, Any]:
        observed = self.observed
        assert observed is not None
        return {
            "pid": os.getpid(),
            "lab": self.lab,
            "injected_at": self.injected_at,
            "control_url": f"http://127.0.0.1:{self.control_port}",
            "edge_url": self.shop.edge_url,
            "gateway_url": self.shop.edge_url + "/api",
            "prometheus_url": observed.prometheus_url,
            "alertmanager_url": observed.alertmanager_url,
            "alerts_file": str(observed.alerts_file),
            "logs_dir": str(self.state / "logs"),
            "deploy_repo": str(self.deploy),
            "deployed": self.deployed_head,
            "initial_stock": str(self.state / SNAPSHOT_FILE),
            "postgres_url": self.postgres_url,
            **{
                f"{name}_database_url": self.postgres_url.rsplit("/", 1)[0] + "/" + database
                for name, database in self._databases().items()
            },
            "databases": self._databases(),
            "admin_key_file": str(self.state / "shop" / "admin-key"),
            "customers": dict(self.customer_stats, on=self.customers_on.is_set()),
            "services": {
                name: {
                    "url": self.shop.url(name),
                    "pid": process.pid if process.returncode is None else None,
                    # running = up and ready: not exited, and no restart (rollout, kubelet) under way
                    "running": process.returncode is None and not self.locks[name].locked(),
                    "release": read_env_file(self.deployed_files.get(f"{name}.env", "")).get(
                        "VERSION", INITIAL_VERSION
                    ),
                }
                for name, process in self.shop.processes.items()
            },
            "log": self.log[-20:],
        }

    def _databases(self) -> dict[str, str]:
        databases = self.shop.databases
        if not hasattr(databases, "database_name"):
            return {}
        return {name: databases.database_name(name) for name in ("catalog", "orders")}

    async def stop(self) -> None:
        self.stopping.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._remove_injectors()
        if self.observed is not None:
            await self.observed.stop()
        await self.proxies.stop()


# --- the control port ----------------------------------------------------------------------------


def write_state(state: Path, data: Mapping[str, Any]) -> None:
    path = state / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def control_app(shop: LabShop, done: asyncio.Event) -> web.Application:
    async def status(_request: web.Request) -> web.Response:
        return web.json_response(shop.status())

    async def inject(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            lab = find_lab(shop.repo, str(body.get("lab", "")))
        except LabError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        async with shop.busy:
            running = shop.lab
            try:
                await shop.inject(lab)
            except (InjectError, StackError, OSError) as exc:
                if running is None:  # half a lab helps nobody: take back what was injected
                    with contextlib.suppress(InjectError, StackError, OSError):
                        await shop.reset()
                return web.json_response({"error": str(exc)}, status=409)
        write_state(shop.state, shop.status())
        return web.json_response(shop.status())

    async def reset(_request: web.Request) -> web.Response:
        try:
            async with shop.busy:
                await shop.reset()
        except (InjectError, StackError) as exc:
            return web.json_response({"error": str(exc)}, status=409)
        write_state(shop.state, shop.status())
        return web.json_response(shop.status())

    async def fault_active(_request: web.Request) -> web.Response:
        return web.json_response(await shop.fault_active())

    async def customers(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("on"):
            shop.customers_on.set()
        else:
            shop.customers_on.clear()
        return web.json_response({"on": shop.customers_on.is_set()})

    async def sync(_request: web.Request) -> web.Response:
        async with shop.busy:
            restarted = await shop.sync()
        return web.json_response({"deployed": shop.deployed_head, "restarted": restarted})

    async def serving(request: web.Request) -> web.Response:
        try:
            timeout = min(float(request.query.get("timeout", "60")), 120.0)
        except ValueError:
            return web.json_response({"error": "timeout: seconds expected"}, status=400)
        return web.json_response({"serving": await shop.wait_serving(timeout)})

    async def stop(_request: web.Request) -> web.Response:
        done.set()
        return web.json_response({"stopping": True})

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_post("/inject", inject)
    app.router.add_post("/reset", reset)
    app.router.add_get("/fault-active", fault_active)
    app.router.add_post("/customers", customers)
    app.router.add_post("/sync", sync)
    app.router.add_get("/serving", serving)
    app.router.add_post("/stop", stop)
    return app


async def serve(args: argparse.Namespace) -> int:
    state: Path = args.state
    await asyncio.to_thread(state.mkdir, parents=True, exist_ok=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    shop = LabShop(
        args.repo, state, postgres_url=args.postgres, redis_url=args.redis, customers_per_second=args.customers
    )
    runner = web.AppRunner(control_app(shop, done), access_log=None)
    try:
        write_state(state, {"pid": os.getpid(), "starting": True})
        await shop.start()
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server  # aiohttp keeps the bound port only there
        shop.control_port = int(server.sockets[0].getsockname()[1])
        write_state(state, shop.status())
        shop.say(f"lab shop ready: {shop.shop.edge_url}")
        await done.wait()
    except (StackError, InjectError, OSError) as exc:
        write_state(state, {"pid": os.getpid(), "error": str(exc)})
        print(f"lab shop failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        await runner.cleanup()
        await shop.stop()
        (state / STATE_FILE).unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shopfloor.labs.supervisor")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--customers", type=float, default=4.0, help="customer requests per second")
    args = parser.parse_args(argv)
    raise SystemExit(asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
