"""kube-bench's JSON output (`kube-bench run --json`, kube-bench's check/controls.go and
check/check.go): `{"Controls": [control...], "Totals": {...}}`, where a control is
`{id, version, text, node_type, tests: [group...], total_pass, total_fail, total_warn, total_info}`,
a group `{section, desc, pass, fail, warn, info, results: [check...]}` and a check
`{test_number, test_desc, status: PASS|FAIL|WARN|INFO, scored, remediation, reason, ...}`.
A run with a single target prints one control object on its own; both are read. Log lines
before the JSON (kubectl logs prefixes, warnings) are skipped."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

STATUSES = ("PASS", "FAIL", "WARN", "INFO")


class BenchError(ValueError):
    """Not kube-bench JSON; the message says what is wrong."""


@dataclass(frozen=True)
class Result:
    control: str  # "4 Worker Node Security Configuration" / node_type
    section: str
    number: str
    description: str
    status: str
    scored: bool
    remediation: str
    reason: str


@dataclass(frozen=True)
class Report:
    benchmark: str
    results: tuple[Result, ...]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def _document(text: str) -> Any:
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise BenchError("no JSON in it (run kube-bench with --json)")
    try:
        document, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise BenchError(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return document


def _require(node: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(node, dict) or key not in node:
        raise BenchError(f"{where}: no '{key}' (is this kube-bench --json output?)")
    value = node[key]
    if kind is str and value is None:
        return ""
    if not isinstance(value, kind):
        raise BenchError(f"{where}.{key}: a {type(value).__name__}, not a {kind.__name__}")
    return value


def parse_report(text: str) -> Report:
    document = _document(text)
    if isinstance(document, dict) and "Controls" in document:
        controls = _require(document, "Controls", list, "top level")
    elif isinstance(document, dict) and "tests" in document:
        controls = [document]
    elif isinstance(document, list):
        controls = document
    else:
        raise BenchError("neither a 'Controls' list nor a control with 'tests' (is this kube-bench --json output?)")
    results: list[Result] = []
    versions = set()
    for i, control in enumerate(controls):
        where = f"Controls[{i}]"
        versions.add(str(control.get("version", "")) if isinstance(control, dict) else "")
        title = f"{_require(control, 'id', str, where)} {_require(control, 'text', str, where)}".strip()
        for j, group in enumerate(_require(control, "tests", list, where) or []):
            group_where = f"{where}.tests[{j}]"
            section = f"{_require(group, 'section', str, group_where)} {group.get('desc') or ''}".strip()
            for k, check in enumerate(_require(group, "results", list, group_where) or []):
                check_where = f"{group_where}.results[{k}]"
                status = _require(check, "status", str, check_where)
                if status not in STATUSES:
                    raise BenchError(f"{check_where}.status: {status!r}, not one of {', '.join(STATUSES)}")
                results.append(
                    Result(
                        control=title,
                        section=section,
                        number=_require(check, "test_number", str, check_where),
                        description=_require(check, "test_desc", str, check_where),
                        status=status,
                        scored=bool(check.get("scored", False)),
                        remediation=str(check.get("remediation") or ""),
                        reason=str(check.get("reason") or ""),
                    )
                )
    benchmark = ", ".join(sorted(v for v in versions if v)) or "unknown benchmark"
    return Report(benchmark=benchmark, results=tuple(results))


ACCEPTED_ROW = re.compile(r"^\|\s*`?(\d+(?:\.\d+)+)`?\s*\|")


def accepted_failures(markdown: str) -> dict[str, str]:
    """Test numbers accepted on purpose: rows of a Markdown table whose first cell is a test number
    (docs/security.md, "kube-bench failures left on purpose"), with the row's last cell as the reason."""
    accepted = {}
    for line in markdown.splitlines():
        match = ACCEPTED_ROW.match(line.strip())
        if match:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            accepted[match.group(1)] = cells[-1]
    return accepted


def _wrap(text: str, width: int) -> list[str]:
    lines = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, width) or [""]
    return lines


def render_report(report: Report, accepted: dict[str, str], *, warnings: bool = False) -> tuple[str, list[Result]]:
    """The table (text) and the failures not accepted on purpose."""
    shown = [r for r in report.results if r.status == "FAIL" or (warnings and r.status == "WARN")]
    unaccepted = [r for r in report.results if r.status == "FAIL" and r.number not in accepted]
    out = [
        f"kube-bench {report.benchmark}: {report.count('PASS')} pass, {report.count('FAIL')} fail, "
        f"{report.count('WARN')} warn, {report.count('INFO')} info",
        "",
    ]
    if not shown:
        out.append("no failures" if not warnings else "no failures or warnings")
        return "\n".join(out) + "\n", unaccepted
    header = f"{'status':<9} {'test':<8} {'scored':<6} {'check':<60} remediation"
    out += [header, "-" * len(header)]
    for result in sorted(
        shown, key=lambda r: (r.status != "FAIL", [int(p) for p in r.number.split(".") if p.isdigit()])
    ):
        status = result.status
        if status == "FAIL" and result.number in accepted:
            status = "accepted"
        check = _wrap(result.description, 60)
        remedy = _wrap(result.remediation or result.reason or "(none given)", 70)
        for i in range(max(len(check), len(remedy))):
            first = i == 0
            out.append(
                f"{status if first else '':<9} {result.number if first else '':<8} "
                f"{('yes' if result.scored else 'no') if first else '':<6} "
                f"{check[i] if i < len(check) else '':<60} {remedy[i] if i < len(remedy) else ''}".rstrip()
            )
        if result.number in accepted and result.status == "FAIL":
            out.append(f"{'':<25}accepted: {accepted[result.number]}")
    out += [
        "",
        f"{len(unaccepted)} failure(s) not accepted in docs/security.md"
        if unaccepted
        else "every failure is accepted on purpose",
    ]
    return "\n".join(out) + "\n", unaccepted
