"""The SLO source (observability/slos.yaml), read and checked.

Everything generated from it (recording rules, burn-rate alerts, dashboards, k6 thresholds) reads
it through `load_slos`, so a mistake in the file is reported once, naming the field, before any
file is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from shopfloor.models import StrictModel

SLO_FILE = Path("observability") / "slos.yaml"
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class SloError(Exception):
    """The SLO source is not usable; the message names the field."""


def duration_seconds(text: str) -> int:
    """A Prometheus duration of one unit (30d, 1h, 5m, 5s) in seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like 5m, 1h or 30d: {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """Seconds as the largest whole Prometheus unit: 3600 -> 1h, 4320 -> 72m."""
    for unit in ("d", "h", "m", "s"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    raise ValueError(f"not a whole number of seconds: {seconds}")


def checked_duration(text: str) -> str:
    """A field validator: `text` unchanged when it is a duration (duration_seconds), else ValueError."""
    duration_seconds(text)
    return text


class BurnAlert(StrictModel):
    alert: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    severity: Literal["critical", "warning"]
    factor: float = Field(gt=0)
    long: str
    short: str

    _durations = field_validator("long", "short")(checked_duration)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnAlert:
        if duration_seconds(self.short) >= duration_seconds(self.long):
            raise ValueError(f"short window {self.short} must be shorter than the long window {self.long}")
        return self


class LabProfile(StrictModel):
    compress: int = Field(ge=1)
    scrape_interval: str

    _durations = field_validator("scrape_interval")(checked_duration)


class Request(StrictModel):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    route: str = Field(pattern=r"^/")


class Availability(StrictModel):
    objective: float = Field(gt=0, lt=100)


class Latency(StrictModel):
    objective: float = Field(gt=0, lt=100)
    threshold_seconds: float = Field(gt=0)


class Journey(StrictModel):
    name: str
    description: str
    service: str
    requests: list[Request] = Field(min_length=1)
    path: list[str] = Field(min_length=1)
    availability: Availability
    latency: Latency

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"a journey name is lower-case words joined by '-', got {value!r}")
        return value

    @model_validator(mode="after")
    def _answered_by_its_first_service(self) -> Journey:
        if self.path[0] != self.service:
            raise ValueError(f"path must start at the service that answers the journey ({self.service})")
        return self


class SloSource(StrictModel):
    window: str
    burn_alerts: list[BurnAlert] = Field(min_length=1)
    lab: LabProfile
    journeys: list[Journey] = Field(min_length=1)

    _durations = field_validator("window")(checked_duration)

    @model_validator(mode="after")
    def _unique_journeys(self) -> SloSource:
        names = [journey.name for journey in self.journeys]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"journeys named twice: {', '.join(twice)}")
        return self


@dataclass(frozen=True)
class Slo:
    """One objective: a journey's availability or latency."""

    journey: Journey
    sli: Literal["availability", "latency"]

    @property
    def name(self) -> str:
        return f"{self.journey.name}-{self.sli}"

    @property
    def objective(self) -> float:
        """As a ratio: 99.9 % -> 0.999."""
        target = self.journey.availability if self.sli == "availability" else self.journey.latency
        return round(target.objective / 100, 10)

    @property
    def error_budget(self) -> float:
        return round(1 - self.objective, 10)

    @property
    def latency_threshold(self) -> float | None:
        return self.journey.latency.threshold_seconds if self.sli == "latency" else None


def slos(source: SloSource) -> Iterator[Slo]:
    for journey in source.journeys:
        yield Slo(journey, "availability")
        yield Slo(journey, "latency")


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{where}: {error['msg']}"


def parse_slos(text: str, *, origin: str = str(SLO_FILE), services: set[str] | None = None) -> SloSource:
    """The SLO source from YAML text; SloError naming every problem. `services` (when given) are
    the names a journey's `service` and `path` may use; latency thresholds must be bucket bounds
    of the services' request-duration histogram."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SloError(f"{origin}: not valid YAML: {exc}") from None
    try:
        source = SloSource.model_validate(document)
    except ValidationError as exc:
        raise SloError(f"{origin}:\n" + "\n".join("  " + _describe(e) for e in exc.errors())) from None
    problems = []
    buckets = duration_buckets()
    for index, journey in enumerate(source.journeys):
        if journey.latency.threshold_seconds not in buckets:
            problems.append(
                f"journeys.{index}.latency.threshold_seconds: {journey.latency.threshold_seconds:g} is not a bucket "
                f"bound of http_request_duration_seconds ({', '.join(f'{b:g}' for b in buckets)})"
            )
        for name in [journey.service, *journey.path]:
            if services is not None and name not in services:
                problems.append(
                    f"journeys.{index}: no service named {name!r} under apps/ ({', '.join(sorted(services))})"
                )
    lab_scrape = duration_seconds(source.lab.scrape_interval)
    for alert in source.burn_alerts:
        short = duration_seconds(alert.short) // source.lab.compress
        if short < 4 * lab_scrape:
            problems.append(
                f"lab: {alert.short} / {source.lab.compress} = {short}s holds fewer than 4 scrapes every "
                f"{source.lab.scrape_interval}: rates over it would be noise"
            )
        if duration_seconds(alert.short) % source.lab.compress or duration_seconds(alert.long) % source.lab.compress:
            problems.append(f"lab: windows {alert.long}/{alert.short} do not divide by compress={source.lab.compress}")
    if problems:
        raise SloError(f"{origin}:\n" + "\n".join("  " + p for p in problems))
    return source


def duration_buckets() -> tuple[float, ...]:
    """The bucket bounds of http_request_duration_seconds, from the shared library that defines it."""
    from shopfloor_common.observability import HTTP_DURATION

    return tuple(float(bound) for bound in HTTP_DURATION._upper_bounds if bound != float("inf"))


def load_slos(repo: Path) -> SloSource:
    from shopfloor.local.discovery import discover_services

    path = repo / SLO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SloError(f"{path}: {exc.strerror}") from None
    return parse_slos(text, origin=str(SLO_FILE), services={s.name for s in discover_services(repo)})
