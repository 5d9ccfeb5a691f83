"""`shopfloor alerts`: what the local receiver was told (var/local/observe/alerts.jsonl), or with
--active what an Alertmanager holds now (its API: the local one or any URL).

One row per alert and delivery: when it arrived, firing or resolved, the alert's name and
severity, the labels that say where (job, slo, route, upstream, instance) and its summary.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from shopfloor.observe.receiver import AlertEvent, read_events

WHERE = ("namespace", "job", "slo", "route", "upstream", "instance")


class AlertsError(Exception):
    """Alertmanager cannot be asked; the message says what to do."""


def where(labels: Mapping[str, str]) -> str:
    """The labels that say where, and a burn alert's windows (its two alerts differ only there)."""
    parts = [f"{name}={labels[name]}" for name in WHERE if labels.get(name)]
    if labels.get("long_window"):
        parts.append(f"windows={labels['long_window']}/{labels.get('short_window', '?')}")
    return " ".join(parts)


def _local_time(value: datetime | str) -> str:
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None) -> str:
    """Columns padded to their widest cell; on a terminal, lines cut to its width (piped output
    stays whole)."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    if width is None and sys.stdout.isatty():
        width = shutil.get_terminal_size().columns
    lines = []
    for row in [header, *rows]:
        line = "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + str(row[-1])
        lines.append(line if width is None or len(line) <= width else line[: max(width - 1, 40)] + "…")
    return "\n".join(lines)


def delivered_rows(events: Sequence[AlertEvent]) -> list[list[str]]:
    return [
        [_local_time(e.received_at), e.status, e.receiver, e.alertname, e.severity, where(e.labels), e.summary]
        for e in events
    ]


def delivered(log_file: Path, *, limit: int, as_json: bool) -> str:
    """The last `limit` alerts the local receiver got (all with limit 0), oldest first."""
    if not log_file.exists():
        if as_json:
            return "[]"
        return f"no alert delivered yet ({log_file} does not exist): `make observe` starts the local receiver"
    events = read_events(log_file)
    if limit:
        events = events[-limit:]
    if as_json:
        return orjson.dumps([e.to_json() for e in events], option=orjson.OPT_INDENT_2).decode()
    if not events:
        return f"no alert delivered yet ({log_file} is empty)"
    header = ["received", "status", "receiver", "alert", "severity", "where", "summary"]
    return table(header, delivered_rows(events))


async def fetch_active(alertmanager_url: str) -> list[dict[str, Any]]:
    url = alertmanager_url.rstrip("/") + "/api/v2/alerts"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                raise AlertsError(f"{url} answered {response.status}: {(await response.text())[:200]}")
            alerts: list[dict[str, Any]] = await response.json(content_type=None)
            return alerts
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise AlertsError(
            f"cannot reach Alertmanager at {alertmanager_url} ({type(exc).__name__}: {exc}): start `make observe`, "
            "or pass --alertmanager URL"
        ) from None


def active(alertmanager_url: str, *, as_json: bool) -> str:
    """The alerts Alertmanager holds now, oldest first: active, suppressed (silenced or inhibited)."""
    alerts = sorted(asyncio.run(fetch_active(alertmanager_url)), key=lambda a: str(a.get("startsAt", "")))
    if as_json:
        return orjson.dumps(alerts, option=orjson.OPT_INDENT_2).decode()
    if not alerts:
        return f"Alertmanager at {alertmanager_url} holds no alert"
    rows = []
    for alert in alerts:
        labels = alert.get("labels", {})
        state = alert.get("status", {})
        inhibited = state.get("inhibitedBy") or []
        status = str(state.get("state", "")) + (" (inhibited)" if inhibited else "")
        rows.append(
            [
                _local_time(str(alert.get("startsAt", ""))),
                status,
                ",".join(r.get("name", "") for r in alert.get("receivers", [])),
                labels.get("alertname", ""),
                labels.get("severity", ""),
                where(labels),
                alert.get("annotations", {}).get("summary", ""),
            ]
        )
    header = ["since", "state", "receiver", "alert", "severity", "where", "summary"]
    return table(header, rows)
