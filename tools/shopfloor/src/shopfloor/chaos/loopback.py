"""The one rule every local fault obeys: it acts only on 127.0.0.0/8.

Fault and chaos traffic never leaves the machine: a proxy forwards only to a loopback upstream, an
injector acts only on services and databases reached at a loopback address. Names are not resolved
(a name could point anywhere tomorrow), except `localhost`.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class NotLoopback(ValueError):
    """A fault was aimed outside 127.0.0.0/8."""


def require_loopback_host(host: str | None, what: str) -> str:
    """`host` as an address in 127.0.0.0/8, or NotLoopback naming `what`."""
    candidate = "127.0.0.1" if host == "localhost" else (host or "")
    try:
        address = ipaddress.ip_address(candidate.strip("[]"))
    except ValueError:
        address = None
    if address is None or address not in LOOPBACK:
        raise NotLoopback(
            f"{what}: {host!r} is not a loopback address; local faults act only on 127.0.0.0/8 "
            "(give an IP address such as 127.0.0.1, not a name)"
        )
    return str(address)


def require_loopback_url(url: str, what: str) -> str:
    """The loopback host of `url` (http://127.0.0.1:8081, postgresql://u@127.0.0.1/db, ...)."""
    return require_loopback_host(urlsplit(url).hostname, what)
