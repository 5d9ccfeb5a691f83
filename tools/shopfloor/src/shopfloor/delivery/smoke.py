"""`shopfloor smoke`: the post-deployment smoke test, the same program everywhere.

It checks the public endpoints a shopper's browser uses, through the edge: the product list, one
product (the first one listed), the API description and, when a frontend is expected, the page at
`/`; and that nothing internal answers there (/metrics, /livez, /readyz, /admin/faults: 404).
It runs against `make run`, a kind cluster (`make kind-smoke`) and, as Argo CD's PostSync Job,
inside every cluster after each sync. For that Job this module uses the standard library only: the
Job runs it with a stock Python image (argocd/smoke-test), without installing anything.

Exit status: 0 every check passed, 1 a check failed (each failure named), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

USER_AGENT = "shopfloor-smoke/1"


class SmokeFailure(Exception):
    """One check failed; the message says what was expected and what came back."""


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise SmokeFailure(f"not JSON ({self.content_type or 'no content type'}): {self.body[:120]!r}") from None


@dataclass(frozen=True)
class Target:
    base_url: str
    host_header: str | None = None
    timeout_seconds: float = 5.0

    def get(self, path: str) -> Reply:
        # The scheme is checked to be http(s) before a Target is made (run_smoke).
        url = self.base_url.rstrip("/") + path
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
        if self.host_header:
            request.add_header("Host", self.host_header)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310 (http(s) only, checked in main)
                return Reply(response.status, response.headers.get("Content-Type", ""), response.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.headers.get("Content-Type", ""), exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SmokeFailure(f"GET {path}: no answer: {reason}") from None


def _expect_status(path: str, reply: Reply, status: int) -> None:
    if reply.status != status:
        raise SmokeFailure(f"GET {path}: status {reply.status}, want {status}: {reply.body[:200]!r}")


def check_product_list(target: Target, state: dict[str, str]) -> str:
    path = "/api/products?limit=1"
    reply = target.get(path)
    _expect_status(path, reply, 200)
    page = reply.json()
    if not isinstance(page, dict) or not isinstance(page.get("items"), list) or "total" not in page:
        raise SmokeFailure(f"GET {path}: not a product page: {reply.body[:200]!r}")
    if not page["items"]:
        raise SmokeFailure(f"GET {path}: the catalog is empty (total {page['total']}): was it seeded?")
    state["sku"] = str(page["items"][0]["sku"])
    return f"{page['total']} products"


def check_one_product(target: Target, state: dict[str, str]) -> str:
    sku = state["sku"]
    path = f"/api/products/{quote(sku, safe='')}"
    reply = target.get(path)
    _expect_status(path, reply, 200)
    product = reply.json()
    if not isinstance(product, dict) or product.get("sku") != sku:
        raise SmokeFailure(f"GET {path}: another product came back: {reply.body[:200]!r}")
    return sku


def check_unknown_product_is_a_problem(target: Target, state: dict[str, str]) -> str:
    path = "/api/products/smoke-test-no-such-sku"
    reply = target.get(path)
    _expect_status(path, reply, 404)
    if not reply.content_type.startswith("application/problem+json"):
        raise SmokeFailure(f"GET {path}: 404 as {reply.content_type!r}, want application/problem+json")
    return "404 problem+json"


def check_openapi(target: Target, state: dict[str, str]) -> str:
    path = "/api/openapi.json"
    reply = target.get(path)
    _expect_status(path, reply, 200)
    document = reply.json()
    if not isinstance(document, dict) or "openapi" not in document or "/api/products" not in document.get("paths", {}):
        raise SmokeFailure(f"GET {path}: not the API's OpenAPI document")
    return f"OpenAPI {document['openapi']}"


def check_frontend(target: Target, state: dict[str, str]) -> str:
    reply = target.get("/")
    _expect_status("/", reply, 200)
    if not reply.content_type.startswith("text/html"):
        raise SmokeFailure(f"GET /: {reply.content_type!r}, want text/html")
    return "text/html"


# Served on each service's management port only (shopfloor_common.server.MANAGEMENT_PREFIXES);
# through the edge they must be unknown. Copied, not imported: this module is the standard library only.
INTERNAL_PATHS = ("/metrics", "/livez", "/readyz", "/admin/faults")


def check_internal_paths_hidden(target: Target, state: dict[str, str]) -> str:
    exposed = []
    for path in INTERNAL_PATHS:
        reply = target.get(path)
        if reply.status != 404:
            exposed.append(f"{path} answers {reply.status}")
    if exposed:
        raise SmokeFailure("internal paths on the public edge: " + ", ".join(exposed))
    return "404 for " + " ".join(INTERNAL_PATHS)


Check = Callable[[Target, dict[str, str]], str]


def checks(*, expect_frontend: bool) -> list[tuple[str, Check]]:
    selected: list[tuple[str, Check]] = [
        ("product list", check_product_list),
        ("one product", check_one_product),
        ("unknown product", check_unknown_product_is_a_problem),
        ("API description", check_openapi),
        ("nothing internal", check_internal_paths_hidden),
    ]
    if expect_frontend:
        selected.append(("frontend page", check_frontend))
    return selected


def run_checks(target: Target, *, expect_frontend: bool) -> list[str]:
    """One pass over every check; returns the failures (empty when all passed), prints each result."""
    failures: list[str] = []
    state: dict[str, str] = {}
    for name, check in checks(expect_frontend=expect_frontend):
        if check is check_one_product and "sku" not in state:
            failures.append(f"{name}: skipped, no product listed")
            continue
        try:
            detail = check(target, state)
        except SmokeFailure as exc:
            failures.append(f"{name}: {exc}")
            print(f"FAIL {name}: {exc}", flush=True)
        else:
            print(f"ok   {name}: {detail}", flush=True)
    return failures


def smoke(target: Target, *, expect_frontend: bool, wait_seconds: float, interval_seconds: float = 2.0) -> int:
    """Pass when every check passes within `wait_seconds` (a sync's pods may still be starting)."""
    deadline = time.monotonic() + wait_seconds
    attempt = 1
    while True:
        print(f"smoke test of {target.base_url} (attempt {attempt})", flush=True)
        failures = run_checks(target, expect_frontend=expect_frontend)
        if not failures:
            print("smoke test passed", flush=True)
            return 0
        if time.monotonic() + interval_seconds > deadline:
            print(f"smoke test FAILED: {len(failures)} check(s)", file=sys.stderr, flush=True)
            for failure in failures:
                print(f"  {failure}", file=sys.stderr)
            return 1
        attempt += 1
        time.sleep(interval_seconds)  # polling a remote system: nothing to await


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", required=True, help="the public root, e.g. http://localhost:8000")
    parser.add_argument("--host-header", help="Host header to send (in-cluster, through the ingress controller)")
    parser.add_argument(
        "--expect-frontend", action="store_true", help="also check that / serves the web UI's HTML page"
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="keep retrying failed checks this long (default 0)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="per request (default 5)")


def run_smoke(args: argparse.Namespace) -> int:
    if not str(args.base_url).startswith(("http://", "https://")):
        print(f"shopfloor smoke: --base-url must be an http(s) URL, got {args.base_url!r}", file=sys.stderr)
        return 2
    target = Target(args.base_url, host_header=args.host_header, timeout_seconds=args.timeout)
    return smoke(target, expect_frontend=args.expect_frontend, wait_seconds=max(args.wait, 0.0))


def main(argv: Sequence[str] | None = None) -> None:
    """Standalone entry point: `python smoke.py --base-url URL` (the in-cluster Job runs it so)."""
    parser = argparse.ArgumentParser(prog="smoke", description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    raise SystemExit(run_smoke(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
