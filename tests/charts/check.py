"""The chart checks as one command: `python -m tests.charts.check [ENV ...]` renders each environment
of this checkout (all by default) and runs every check the chart tests assert on it — the PRD
conformance checks, the wiring checks (selectors, ports, references, NetworkPolicy flows, requests
within limits) and each service's contract with its own code (probe paths, variables) — printing
one line per problem and exiting 1 when there is any.

It is the same code the tests run (test_chart_conformance.PRD_CHECKS, test_chart_contracts.WIRING_CHECKS,
chartkit.check_service_contract), without pytest's start-up: the offline labs (labs/*/lab.yaml) verify
a learner's fix with it, and a developer can run it after `make render` to see every problem at once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from shopfloor.delivery.render import ChartSet, RenderError, render_environment
from tests.charts.chartkit import ENVIRONMENTS, REPO, SERVICES, check_service_contract, load_service_app
from tests.charts.test_chart_conformance import PRD_CHECKS
from tests.charts.test_chart_contracts import WIRING_CHECKS


def problems(environments: list[str]) -> list[str]:
    found = []
    apps = {name: load_service_app(name) for name in SERVICES}
    with ChartSet(REPO) as charts, tempfile.TemporaryDirectory(prefix="chart-check-") as scratch:
        for environment in environments:
            try:
                rendered = render_environment(charts, environment)
            except RenderError as exc:
                found.append(f"{environment}: does not render: {exc}")
                continue
            for check in (*PRD_CHECKS, *WIRING_CHECKS):
                found += [f"{environment}: {check.__name__}: {problem}" for problem in check(rendered)]
            for name, app in apps.items():
                folder = Path(scratch) / environment / name
                folder.mkdir(parents=True)
                found += [
                    f"{environment}: check_service_contract: {problem}"
                    for problem in check_service_contract(rendered, app, folder)
                ]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.charts.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("environments", nargs="*", metavar="ENV", help=f"default: {' '.join(ENVIRONMENTS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.environments) - set(ENVIRONMENTS))
    if unknown:
        parser.error(f"unknown environment {', '.join(unknown)} (known: {', '.join(ENVIRONMENTS)})")
    environments = args.environments or list(ENVIRONMENTS)
    found = problems(environments)
    for problem in found:
        print(problem)
    if found:
        print(f"{len(found)} problem(s) in the charts of {REPO}")
        return 1
    checks = len(PRD_CHECKS) + len(WIRING_CHECKS)
    print(f"charts fine: {', '.join(environments)} ({checks} checks, {len(SERVICES)} services)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
