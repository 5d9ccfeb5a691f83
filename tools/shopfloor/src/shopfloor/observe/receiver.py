"""The local alert receiver: the end of the local Alertmanager's webhook.

Each delivery (Alertmanager's webhook payload, version 4: receiver, status, alerts, group and
common labels) is appended as one JSON line, with the time it arrived, to a file
(var/local/observe/alerts.jsonl), which `shopfloor alerts` lists; code waiting for an alert
(the end-to-end test, chaos runs, labs) asks the running receiver with `wait_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from shopfloor_common.localserver import LOCAL_HOST

PATH = "/alerts"
# Where `shopfloor run --observe` keeps the deliveries and `shopfloor alerts` reads them (repo-relative).
DEFAULT_ALERTS_FILE = Path("var") / "local" / "observe" / "alerts.jsonl"


@dataclass(frozen=True)
class AlertEvent:
    """One alert of one delivery: what was said about it, to which receiver, and when."""

    received_at: datetime
    receiver: str
    status: str  # firing or resolved
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str = ""
    monotonic: float | None = None  # time.monotonic() at arrival, for a running receiver's callers

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary", "")

    def matches(self, labels: Mapping[str, str], status: str | None = None) -> bool:
        return (status is None or self.status == status) and all(self.labels.get(k) == v for k, v in labels.items())

    def to_json(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at.isoformat(),
            "receiver": self.receiver,
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
        }


class ReceiverError(Exception):
    """The deliveries file cannot be read; the message names the line."""


def events_of(delivery: Mapping[str, Any], received_at: datetime, monotonic: float | None = None) -> list[AlertEvent]:
    """The alerts of one webhook delivery."""
    alerts = delivery.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("a webhook delivery has a list `alerts`")
    events = []
    for alert in alerts:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise ValueError("every alert of a webhook delivery has `labels`")
        events.append(
            AlertEvent(
                received_at=received_at,
                receiver=str(delivery.get("receiver", "")),
                status=str(alert.get("status", delivery.get("status", ""))),
                labels={str(k): str(v) for k, v in alert["labels"].items()},
                annotations={str(k): str(v) for k, v in (alert.get("annotations") or {}).items()},
                starts_at=str(alert.get("startsAt", "")),
                ends_at=str(alert.get("endsAt", "")),
                monotonic=monotonic,
            )
        )
    return events


def read_events(log_file: Path) -> list[AlertEvent]:
    """Every alert delivered to the receiver that writes `log_file`, oldest first."""
    events: list[AlertEvent] = []
    for number, line in _lines(log_file):
        try:
            record = orjson.loads(line)
            received_at = datetime.fromisoformat(record["received_at"])
            events += events_of(record, received_at)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ReceiverError(f"{log_file}:{number}: not a delivery the local receiver wrote ({exc})") from None
    return events


def _lines(log_file: Path) -> Iterator[tuple[int, str]]:
    with log_file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


class AlertReceiver:
    """An aiohttp server on loopback taking Alertmanager's webhook deliveries at /alerts."""

    def __init__(self, log_file: Path, *, host: str = LOCAL_HOST, port: int = 0) -> None:
        self.log_file = log_file
        self.host = host
        self.port = port
        self.events: list[AlertEvent] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"

    async def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        app = web.Application()
        app.router.add_post(PATH, self._deliver)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _deliver(self, request: web.Request) -> web.Response:
        arrived, received_at = time.monotonic(), datetime.now(UTC)
        try:
            delivery = orjson.loads(await request.read())
            if not isinstance(delivery, dict):
                raise ValueError("a webhook delivery is a JSON object")
            events = events_of(delivery, received_at, arrived)
        except (orjson.JSONDecodeError, ValueError) as exc:
            return web.json_response(
                {
                    "type": "about:blank",
                    "title": "Not an Alertmanager webhook delivery",
                    "status": 400,
                    "detail": str(exc),
                },
                status=400,
                content_type="application/problem+json",
            )
        line = orjson.dumps({"received_at": received_at.isoformat(), **delivery}) + b"\n"
        with self.log_file.open("ab") as handle:
            handle.write(line)
        async with self._arrived:
            self.events += events
            self._arrived.notify_all()
        return web.Response(status=200)

    async def wait_for(
        self,
        labels: Mapping[str, str],
        *,
        status: str = "firing",
        after: float | None = None,
        timeout_seconds: float = 60.0,
    ) -> AlertEvent:
        """The first alert delivered with `labels` (a subset) and `status`, arrived after the
        monotonic time `after` (default: any). TimeoutError naming what was received instead."""

        def found() -> AlertEvent | None:
            for event in self.events:
                arrived_after = after is None or (event.monotonic is not None and event.monotonic >= after)
                if arrived_after and event.matches(labels, status):
                    return event
            return None

        async with self._arrived:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), timeout_seconds)
            event = found()
        if event is None:
            seen = ", ".join(f"{e.alertname}{{{_brief(e.labels)}}} {e.status}" for e in self.events) or "nothing"
            raise TimeoutError(f"no {status} alert with {dict(labels)} within {timeout_seconds:g}s; received: {seen}")
        return event


def _brief(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k in {"job", "slo", "severity"})
