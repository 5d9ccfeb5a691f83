"""terraform/modules/logs: its `terraform test` (run for every module by test_terraform_cli.py) pins
the group, the key policy, the write policy and the roles; here it is shown failing on a widened
policy, and the saved Logs Insights queries are checked against the lines the services really
write (a real app with the shared library's logging and access log; CloudWatch itself is not
reachable here, so the queries are not run)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shopfloor_common.logs import configure_logging
from shopfloor_common.observability import ObservabilityMiddleware
from tests.terraform.terraformkit import (
    MODULES,
    REPO,
    TerraformWorkspace,
    assert_runs_fail,
    named,
    parse,
    replace_once,
)

# Logs Insights' own fields and the query language's words: not fields of the lines.
INSIGHTS_WORDS = {"fields", "filter", "stats", "sort", "limit", "by", "as", "and", "or", "not", "in", "asc", "desc"}
INSIGHTS_FUNCTIONS = {"count", "bin"}


def queries() -> dict[str, str]:
    return {
        label: re.sub(r"^<<-?EOT\n|\n?\s*EOT$", "", str(body["query_string"]).strip())
        for resource in parse(MODULES / "logs").get("resource", [])
        for kind, bodies in resource.items()
        if kind == "aws_cloudwatch_query_definition"
        for label, body in bodies.items()
    }


def fields_of(query: str) -> set[str]:
    """The record fields a query reads (dotted: data.service): identifiers outside strings, less
    @-fields, words, functions and the names it defines with `as`."""
    unquoted = re.sub(r'"[^"]*"', '""', query)
    defined = set(re.findall(r"\bas\s+(\w+)", unquoted))
    words = set(re.findall(r"(?<![@\w.])([A-Za-z_][\w.]*)", unquoted))
    return words - INSIGHTS_WORDS - INSIGHTS_FUNCTIONS - defined


def merge_log_key() -> str:
    """Where Fluent Bit's kubernetes filter puts a line's JSON fields (aws-for-fluent-bit's values)."""
    addons = yaml.safe_load((REPO / "argocd" / "addons" / "values.yaml").read_text(encoding="utf-8"))
    fluent_bit = addons["addons"]["aws-for-fluent-bit"]["values"]["filter"]
    assert fluent_bit["mergeLog"] == "On"
    return str(fluent_bit["mergeLogKey"])


def unmerged(fields: set[str], key: str) -> set[str]:
    """The fields of the services' lines a query reads. A field not under `key.` is marked as read
    at the top level, where Fluent Bit put none of them, so it matches no field of the lines."""
    return {
        field.removeprefix(f"{key}.") if field.startswith(f"{key}.") else f"(top level) {field}" for field in fields
    }


@pytest.fixture
def service_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[list[dict[str, Any]]]:
    """JSON lines of a small app built like the services: shopfloor_common's logging and access log,
    one good request, one that fails with a 500 and logs an error."""

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def boom(request: Request) -> PlainTextResponse:
        logging.getLogger("catalog.test").error("the database is gone")
        return PlainTextResponse("no", status_code=500)

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("catalog")
        app = ObservabilityMiddleware(Starlette(routes=[Route("/ok", ok), Route("/boom", boom)]))

        async def requests() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://catalog.test") as client:
                await client.get("/ok", headers={"X-Request-ID": "trail-1"})
                await client.get("/boom", headers={"X-Request-ID": "trail-1"})

        asyncio.run(requests())
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        yield lines
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_the_saved_queries_read_fields_the_services_write(service_lines: list[dict[str, Any]]) -> None:
    found = queries()
    assert set(found) == {"errors_by_service", "request_trail"}
    written = {key for line in service_lines for key in line}
    key = merge_log_key()
    for name, query in found.items():
        read = unmerged(fields_of(query), key)
        assert read, name
        assert read <= written, f"{name} reads {sorted(read - written)}, which no line has (under {key}.)"
    # What the filters select is in the lines: an ERROR line and a 5xx access line of one request.
    assert any(line.get("level") == "ERROR" and line.get("request_id") == "trail-1" for line in service_lines)
    assert any(line.get("status") == 500 and line.get("request_id") == "trail-1" for line in service_lines)
    assert f'{key}.level in ["ERROR", "CRITICAL"]' in found["errors_by_service"]
    assert f"{key}.status >= 500" in found["errors_by_service"]


def test_the_field_check_finds_a_field_nobody_writes() -> None:
    query = 'fields @timestamp, data.svc, service | filter data.lvl = "ERROR" | stats count(*) as n by data.svc'
    assert fields_of(query) == {"data.svc", "data.lvl", "service"}
    # A field read at the top level, not under the merge key, is not one of the lines' fields.
    assert unmerged(fields_of(query), "data") == {"svc", "lvl", "(top level) service"}
    assert unmerged({"data.service"}, "log_processed") == {"(top level) data.service"}


def test_the_module_documents_its_queries_and_is_wired_into_the_stack() -> None:
    stack = named(parse(MODULES.parent / "stack"), "module")
    assert stack["logs"]["source"] == "../modules/logs"
    assert stack["yace_iam"]["source"] == "../modules/yace-iam"
    readme = (MODULES / "logs" / "README.md").read_text(encoding="utf-8")
    for name in ("errors-by-service", "request-trail"):
        assert f"<name>/{name}" in readme


def test_the_module_test_fails_on_a_wider_policy(scratch_workspace: TerraformWorkspace) -> None:
    """One copy, two widenings that different runs pin: any log group, and any ServiceAccount."""
    main = scratch_workspace.module("logs") / "main.tf"
    replace_once(main, 'Resource = ["${local.group_arn}:*"]', 'Resource = ["*"]')
    replace_once(
        main,
        '"system:serviceaccount:${var.namespace}:${var.service_account}"',
        '"system:serviceaccount:${var.namespace}:*"',
    )
    assert_runs_fail(
        scratch_workspace.test("logs"),
        [
            "fluent_bit_writes_to_the_group_and_nothing_else",
            "on_eks_only_fluent_bit_s_service_account_assumes_the_role",
        ],
        passing="one_encrypted_group_per_environment_with_retention",
    )
