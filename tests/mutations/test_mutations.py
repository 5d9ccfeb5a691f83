"""The mutation list stays current, and the runner's verdicts are right.

The list is checked against the code as it is now (every file exists, every find text occurs
exactly once, every test named exists), so a change that moves guarded code fails here, in
`make test`, instead of rotting until the next `make mutate`. The runner itself runs on a tiny
throwaway repository: a mutation its test catches, one nothing tests, a stale one, one that hangs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.mutations import mutate

MUTATIONS = mutate.load()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_each_mutation_applies_to_the_current_code(mutation: mutate.Mutation) -> None:
    assert mutate.problems(mutation, mutate.REPO) == [], (
        f"{mutation.id} no longer applies; update tests/mutations/mutations.yaml to the guarded code as it is now"
    )


def test_the_list_covers_every_invariant_the_run_is_kept_for() -> None:
    areas = {m.area for m in MUTATIONS}
    wanted = {
        "overselling",
        "all-or-nothing reservation",
        "releasing twice",
        "idempotency",
        "order lifecycle",
        "reconciler",
        "SIGTERM drain",
        "probes",
        "replicas",
        "prod manual sync",
        "double submit in the browser",
        "burn-rate windows",
        "burn-rate factors",
        "runbook link",
        "alert labels",
        "fault switch refused in prod",
        "fault switch without the admin key",
        "lab verification",
    }
    assert wanted <= areas, f"no mutation for {sorted(wanted - areas)}"


def test_the_documented_table_lists_every_mutation() -> None:
    """docs/testing.md carries the last full run; a mutation added since is not in it yet."""
    text = mutate.DOCS_FILE.read_text(encoding="utf-8")
    block = text[text.index(mutate.BEGIN_MARK) : text.index(mutate.END_MARK)]
    missing = [m.id for m in MUTATIONS if f"| `{m.id}` |" not in block]
    assert not missing, f"run `make mutate` to record {missing} in docs/testing.md"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- {id: a, area: x, file: f, find: b, replace: c, why: w}", "missing tests"),
        ("- {id: a, area: x, file: f, find: b, replace: b, tests: [t], why: w}", "replace is the same as find"),
        ("- {id: a, area: x, file: f, find: b, replace: c, tests: [t], why: w, note: n}", "unknown field(s) note"),
        (
            "- {id: a, area: x, file: f, find: b, replace: c, tests: [t], why: w}\n"
            "- {id: a, area: x, file: f, find: d, replace: c, tests: [t], why: w}",
            "mutation 'a': duplicate id",
        ),
    ],
)
def test_a_malformed_list_is_refused_naming_the_entry(entry: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "mutations.yaml"
    path.write_text("mutations:\n" + textwrap.indent(entry, "  ") + "\n")
    with pytest.raises(mutate.MutationListError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mutate.load(path)


TINY_LIST = """
mutations:
  - id: add-subtracts
    area: sums
    file: libs/calc/src/calc.py
    find: "return a + b"
    replace: "return a - b"
    tests: [tests/test_calc.py]
    why: caught by test_add
  - id: mul-powers
    area: products
    file: libs/calc/src/calc.py
    find: "return a * b"
    replace: "return a ** b"
    tests: [tests/test_calc.py]
    why: nothing tests mul
  - id: gone
    area: sums
    file: libs/calc/src/calc.py
    find: "return a / b"
    replace: "return a // b"
    tests: [tests/test_calc.py]
    why: the code it targeted was removed
  - id: ambiguous
    area: sums
    file: libs/calc/src/calc.py
    find: "return a"
    replace: "return 0"
    tests: [tests/test_calc.py]
    why: matches two places
  - id: add-hangs
    area: sums
    file: libs/calc/src/calc.py
    find: "return a + b"
    replace: "while True: pass"
    tests: [tests/test_calc.py]
    timeout: 3
    why: the tests never finish
"""


@pytest.fixture
def tiny_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "tiny"
    (repo / "libs" / "calc" / "src").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "libs" / "calc" / "src" / "calc.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
    )
    (repo / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    (repo / "mutations.yaml").write_text(TINY_LIST)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    # The original's src/ on PYTHONPATH, as the editable installs are for the real repo: the runner
    # must put the scratch copy's before it, or no mutation would ever be seen by the tests.
    monkeypatch.setenv("PYTHONPATH", str(repo / "libs" / "calc" / "src"))
    # The tiny tests need none of the virtualenv's pytest plugins; loading them costs seconds a run.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return repo


def test_the_runner_tells_killed_survived_stale_and_timeout_apart(tiny_repo: Path) -> None:
    lines: list[str] = []
    outcomes = mutate.run(mutate.load(tiny_repo / "mutations.yaml"), tiny_repo, report=lines.append)

    results = {o.mutation.id: o.result for o in outcomes}
    assert results == {
        "add-subtracts": "killed",
        # Run after a killed mutant: passing also shows the copy was reset in between.
        "mul-powers": "survived",
        "gone": "stale",
        "ambiguous": "stale",
        "add-hangs": "timeout",
    }
    details = {o.mutation.id: o.detail for o in outcomes}
    assert "test_add" in details["add-subtracts"]
    assert "occurs 0 times" in details["gone"]
    assert "occurs 2 times" in details["ambiguous"]
    assert mutate.kill_rate(outcomes) == pytest.approx(0.2)
    assert "[1/5] add-subtracts: KILLED" in "\n".join(lines)
    # The original is never touched.
    assert "return a + b" in (tiny_repo / "libs" / "calc" / "src" / "calc.py").read_text()


def test_a_failing_baseline_stops_the_run(tiny_repo: Path) -> None:
    (tiny_repo / "tests" / "test_calc.py").write_text("def test_broken():\n    assert False\n")
    killed_only = [m for m in mutate.load(tiny_repo / "mutations.yaml") if m.id == "add-subtracts"]
    with pytest.raises(SystemExit, match="the tests fail without any mutation"):
        mutate.run(killed_only, tiny_repo, report=lambda _: None)


def test_the_table_is_written_between_the_markers(tmp_path: Path) -> None:
    docs = tmp_path / "testing.md"
    docs.write_text(f"# Before\n\n{mutate.BEGIN_MARK}\nold table\n{mutate.END_MARK}\n\nAfter.\n")
    mutation = MUTATIONS[0]
    mutate.write_docs([mutate.Outcome(mutation, "killed", 12.3)], 75.0, docs)

    text = docs.read_text()
    assert "old table" not in text
    assert text.startswith("# Before")
    assert text.endswith("After.\n")
    assert "1 mutations: 1 killed; kill rate 100%; 1.2 min wall clock" in text
    assert f"| `{mutation.id}` | {mutation.area} | `{mutation.file}` |" in text


def test_a_partial_run_replaces_only_its_rows_and_says_so(tmp_path: Path) -> None:
    docs = tmp_path / "testing.md"
    docs.write_text(f"{mutate.BEGIN_MARK}\n{mutate.END_MARK}\n")
    first, second = MUTATIONS[0], MUTATIONS[1]
    mutate.write_docs([mutate.Outcome(first, "killed", 5), mutate.Outcome(second, "survived", 7)], 60.0, docs)
    mutate.update_docs([mutate.Outcome(second, "killed", 9)], docs)

    text = docs.read_text()
    assert "Last full run: 2 mutations: 1 killed, 1 survived; kill rate 50%" in text
    assert f"Rerun alone since: `{second.id}` killed." in text
    assert (
        f"| `{first.id}` | {first.area} | `{first.file}` | `{Path(first.tests[0].split('::')[0]).name}` | killed | 5 |"
        in text
    )
    assert f"| `{second.id}` |" in text
    assert "| survived |" not in text
    assert text.count(f"| `{second.id}` |") == 1


def test_make_mutate_refuses_an_unknown_id() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.mutations.mutate", "--only", "no-such-mutation"],
        cwd=mutate.REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(mutate.REPO)},
        check=False,
    )
    assert result.returncode == 2
    assert "no mutation with id no-such-mutation" in result.stderr
