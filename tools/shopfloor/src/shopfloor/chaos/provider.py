"""The Chaos Toolkit provider of the local experiments (chaos/experiments/<fault>.yaml).

`chaos run` executes the experiment in its own process, but the local stack, its processes and its
fault proxies belong to the `shopfloor chaos run` session that started it. So the provider does not
act itself: it asks the session, over a loopback HTTP control endpoint (shopfloor.chaos.runner's
ControlServer), to inject or remove the catalogued fault. The session gives `chaos run` the
endpoint's URL (configuration `shopfloor_control_url`, from SHOPFLOOR_CHAOS_CONTROL_URL) and a
token for this run (configuration `shopfloor_control_token`, from SHOPFLOOR_CHAOS_TOKEN).

Standard library only: `chaos run` imports it, and it must not pull the services' dependencies in.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

TOKEN_HEADER = "X-Shopfloor-Chaos-Token"  # noqa: S105 - a header name, not a password
TIMEOUT_SECONDS = 120.0  # a restart of a service (a killed one) takes a few seconds on a busy machine


class ControlError(Exception):
    """The session refused or could not be reached; chaoslib records the activity as failed."""


def _call(
    action: str, fault: str, configuration: dict[str, Any] | None, secrets: dict[str, Any] | None
) -> dict[str, Any]:
    base = str((configuration or {}).get("shopfloor_control_url") or "")
    token = str((configuration or {}).get("shopfloor_control_token") or "")
    host = urlsplit(base).hostname or ""
    if not base or not (host == "localhost" or host.startswith("127.")):
        raise ControlError(
            f"no loopback shopfloor chaos session at {base!r}: run the experiment with `shopfloor chaos run {fault}`, "
            "which starts the stack and gives this provider its control URL"
        )
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL, checked above
        f"{base.rstrip('/')}/faults/{fault}/{action}",
        method="POST",
        headers={TOKEN_HEADER: token, "Accept": "application/json"},
        data=b"{}",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            result: dict[str, Any] = json.loads(answer.read() or b"{}")
            return result
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ControlError(f"the session answered {exc.code} to {action} {fault}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ControlError(f"cannot reach the shopfloor chaos session at {base}: {exc}") from None


def inject_fault(
    fault: str, configuration: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Inject the catalogued fault `fault` (chaos/faults.yaml) on the session's local stack."""
    return _call("inject", fault, configuration, secrets)


def remove_fault(
    fault: str, configuration: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Remove it (the experiment's rollback; safe when it was never injected)."""
    return _call("remove", fault, configuration, secrets)
